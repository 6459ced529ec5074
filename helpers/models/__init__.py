"""One module per family of the lecture: ``autoregressive`` (pixel models' shared base),
``pixel_lstm``, ``pixel_cnn``, ``autoencoders``, ``vae``, ``gaussian``, ``mixtures``, ``elbo``,
``adversarial`` (toy GANs and the GAN losses), ``image_gan`` and ``audio`` (WaveNet).
Each family's ``fit_*`` holds its loss and the held-out metrics it records.

May import: ``helpers.core``, ``helpers.evaluate`` and other ``helpers.models`` modules;
never ``helpers.registry``, ``helpers.notebook`` or the grader.
"""
