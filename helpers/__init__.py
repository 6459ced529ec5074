"""The package the notebooks of "Unsupervised Learning: Generation" import.

Five layers; a module imports only from its own layer's package or from a layer above it in
this list (``tests/test_layout.py`` checks it):

- ``helpers.core``: data sets and splits, the training loop and seeds, checkpoints, and the
  model contract (``GenerativeModel``) with the small tools every family shares;
- ``helpers.evaluate``: judges of generated samples (digit classifier, sprite statistics, the
  classifier two-sample test); they know data, never a model family;
- ``helpers.models``: one module per family of the lecture (autoregressive pixels, PixelCNN,
  pixel LSTM, autoencoders, VAEs, Gaussians and mixtures, the ELBO, GANs, WaveNet);
- ``helpers.registry``: every shipped model by name (its recipe, checkpoint and training command);
- ``helpers.notebook``: what only a notebook needs: figures, sliders, the completion explorer,
  the set-up check and the one-line ``setup`` of every notebook's second cell (after the Colab cell).

The autograder is a package of its own, ``grader`` (not shipped to students); it imports
``helpers.core`` only. Importing any of these runs nothing.
"""

__version__ = "0.1.0"
