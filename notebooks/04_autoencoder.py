# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,nbgrader,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Autoencoders: a code in the middle
#
# The lecture's second family (slides 15-18): instead of drawing an image pixel by pixel, squeeze it through a short **code** and rebuild it from there. If the part that rebuilds, the **decoder**, can turn *any* code into an image, it looks like a generator. Does it work?
#
# **Learning goals.** After this notebook you can
# 1. write an autoencoder (encoder → code → decoder) whose reconstruction error is a proper $-\log P(x \mid c)$ in nats, for grey levels and for 1-of-N colours;
# 2. explain, with pictures, why feeding a *random* code to an autoencoder's decoder mostly gives garbage;
# 3. read a 2-D code space: decode a grid of codes, scatter the encoded data in the same plane, and drag through it with sliders.

# %%
# Setup: the same first cell in every notebook. helpers is this repository's small package.
# %matplotlib inline
import numpy as np
import torch
from matplotlib.figure import Figure

from helpers.autoencoders import Autoencoder, ae_loss, decode_images, digits_net, encode_means
from helpers.registry import get, recipe
from helpers.data import load_digits, load_pokemon
from helpers.plot import code_grid, plot_history, scatter_codes, show_code_grid, show_digits, show_sprites
from helpers.train import TrainConfig, evaluate, fit, seed_everything
from helpers.widgets import LatentPanel, decoder_render

gen = seed_everything(0)  # one seed per notebook: reruns draw the same pictures
digits, pokemon = load_digits(), load_pokemon()
dig_train, dig_valid, dig_test = digits.split()
lab_train, lab_valid, lab_test = digits.split_labels()
poke_train, poke_valid, poke_test = pokemon.split()

# %% [markdown]
# ## 1. Encoder → code → decoder (slide 16)
#
# An **encoder** $E$ maps an image $x$ to a short code $c = E(x)$; a **decoder** $D$ maps the code back to an image. Both are neural networks, trained together so that the output is "as close as possible" to the input.
#
# *As close as possible* needs a measure. Our pixels are **categories** — 17 grey levels for digits, one of 167 colours for Pokémon — so the decoder outputs, for every pixel, a softmax over the categories, and the reconstruction error is the cross-entropy summed over pixels:
#
# $$\mathrm{rec}(x) \;=\; -\log P\big(x \mid c = E(x)\big) \;=\; -\sum_{\text{pixels } p} \log \operatorname{softmax}\big(D(c)_p\big)_{x_p} \qquad \text{(nats per image)}.$$
#
# That is a real negative log-likelihood, the unit every model of the series reports (a decoder that knows nothing pays $64 \ln 17 \approx 181$ nats per digit). For Pokémon this is the lecture's **1-of-N** encoding: colour number 23 is not "between" 22 and 24, so regressing RGB numbers would be the wrong loss.
#
# The digits model here has a **2-dimensional** code (slides 17-18), so we can look at the code space itself. Its encoder and decoder are small MLPs:

# %%
cfg_ae2 = recipe("digits_ae_2d")  # its model config (.model) and training config (.train)
ae2, info_ae2 = get("digits_ae_2d")  # trained by `make checkpoints`
print(ae2)
print(f"\ncode length {cfg_ae2.model.latent}; trained {len(info_ae2['history'].train)} epochs "
      f"(best validation epoch {info_ae2['history'].best_epoch + 1})")

# %% [markdown]
# The checkpoint was trained by `python -m helpers.registry train digits_ae_2d` (a few minutes). To see that nothing magic happens there, the next cell trains a fresh copy with the same loss for a few seconds: the reconstruction error falls from about 181 nats (the know-nothing decoder) within a few epochs.

# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
demo = Autoencoder(digits_net(2))
before = evaluate(demo, ae_loss, dig_valid)
demo_hist = fit(demo, ae_loss, dig_train, dig_valid, TrainConfig(epochs=8, patience=None), progress=False)
print(f"validation reconstruction error: {before:.0f} nats before training, "
      f"{demo_hist.valid[-1]:.0f} after 8 epochs "
      f"(the shipped model reaches {evaluate(ae2, ae_loss, dig_valid):.0f})")

# %%
fig = Figure(figsize=(10, 3.2), layout="constrained")
a, b = fig.subplots(1, 2)
plot_history(demo_hist, ax=a, ylabel="rec. error (nats / image)", title="a fresh autoencoder, 8 epochs")
plot_history(info_ae2["history"], ax=b, ylabel="rec. error (nats / image)", title="the shipped one (early stopping)")
fig

# %% [markdown]
# How good are the reconstructions? Top: eight held-out test digits; bottom: what comes back through a code of only **two numbers**. The decoder draws each pixel's *expected* grey level.

# %%
# NBVAL_CHECK_OUTPUT
x = dig_test[:8]
recon = decode_images(ae2, encode_means(ae2, x))
print(f"test reconstruction error: {evaluate(ae2, ae_loss, dig_test):.1f} nats per digit "
      f"({evaluate(ae2, ae_loss, dig_test) / 64:.2f} nats per pixel)")
fig = Figure(figsize=(6, 1.9), layout="constrained")
a, b = fig.subplots(2, 1)
show_digits(x, ax=a, title="test digits")
show_digits(recon, ax=b, title="reconstructed from a 2-number code")
fig

# %% [markdown]
# **Takeaway.** Two numbers keep the gist (which digit, roughly which style) and lose details. The bottleneck forces the network to find what the images have in common.

# %% [markdown]
# ## 2. Pokémon, 1-of-N colours
#
# The same recipe on the lecture's Pokémon, with a 10-number code. The encoder first looks each pixel's colour up in a learned embedding table (colours are categories), then two strided convolutions shrink 20×20 to 5×5; the decoder mirrors that and ends with 167 logits per pixel. Below, held-out test sprites and their reconstructions (each pixel drawn in its most probable colour).

# %%
# NBVAL_CHECK_OUTPUT
poke_ae, info_pae = get("pokemon_ae")
xp = poke_test[:8]
recon_p = decode_images(poke_ae, encode_means(poke_ae, xp), how="mode")
rec_p = evaluate(poke_ae, ae_loss, poke_test)
print(f"Pokémon test reconstruction error: {rec_p:.0f} nats per sprite ({rec_p / 400:.2f} nats per pixel)")
fig = Figure(figsize=(7, 2.2), layout="constrained")
a, b = fig.subplots(2, 1)
show_sprites(xp, pokemon.colormap, ax=a, title="test Pokémon")
show_sprites(recon_p, pokemon.colormap, ax=b, title="reconstructed from a 10-number code")
fig

# %% [markdown]
# **Takeaway.** With 640 training sprites and a short training run, the reconstructions keep the silhouette and a few main colours; where the decoder is unsure it falls back on the most common colour of the data set besides white, the dark grey of outlines. (Notebook 05 asks for more than reconstruction.)

# %% [markdown]
# ## 3. Slide 16's question: decode a *random* code
#
# Keep only the decoder and feed it a code nobody encoded. Does a new image come out? For the digits we draw 2-D codes uniformly over the square that the training codes occupy (section 4 measures it); for Pokémon, 10-D codes from a standard normal $N(0, I)$.

# %%
codes_train = encode_means(ae2, dig_train)
spread = codes_train.abs().quantile(0.99).item()
z_dig = (torch.rand(16, 2, generator=gen) * 2 - 1) * spread
z_poke = torch.randn(16, 10, generator=gen)
fig = Figure(figsize=(12, 2.8), layout="constrained")
a, b = fig.subplots(1, 2)
show_digits(decode_images(ae2, z_dig), ax=a, title="digits AE: 16 random 2-D codes")
show_sprites(decode_images(poke_ae, z_poke, how="mode"), pokemon.colormap, ax=b,
             title="Pokémon AE: 16 random 10-D codes")
fig

# %% [markdown]
# Mostly garbage, clearly so for Pokémon: grey blobs and scattered green, no creature. Some digits come out fine, others are thick smears or half-digits: those codes landed where no training digit was encoded. Nothing in the training asked the decoder to do anything sensible there. Section 4 shows where those places are.

# %% [markdown]
# ## 4. Looking at the 2-D code (slides 17-18)
#
# With a 2-D code we can decode a whole grid of codes and draw the results as one picture, the way slide 18 does, and put the encoded training digits in the same plane. Nothing fixes the *scale* of an autoencoder's code, so first we measure where the codes lie:

# %%
print(f"99% of the training codes lie within ±{spread:.1f} in both coordinates")

# %%
wide = np.linspace(-spread, spread, 13)
fig = Figure(figsize=(12, 5.4), layout="constrained")
a, b = fig.subplots(1, 2)
show_code_grid(decode_images(ae2, torch.from_numpy(code_grid(wide))) / 16, wide, ax=a,
               title=f"decoded grid of codes over the data's range, ±{spread:.1f}")
scatter_codes(codes_train, lab_train, ax=b, lim=spread + (wide[1] - wide[0]) / 2,
              title="encoded training digits, same plane")
fig

# %% [markdown]
# Left and right share their axes: every point on the right is a training digit, and the picture at the same place on the left is what the decoder draws there. Digits of one class form clusters and arms; **between them are holes** that no training image fills, and there the decoder draws whatever its weights happen to give: smeared mixtures, or the nearest arm's digit stretched far beyond its data.
#
# Slide 18 draws codes from −1.5 to 1.5. For this autoencoder that window is a small patch in the middle, where several classes crowd together:

# %%
values = np.linspace(-1.5, 1.5, 13)
fig = Figure(figsize=(12, 5.4), layout="constrained")
a, b = fig.subplots(1, 2)
show_code_grid(decode_images(ae2, torch.from_numpy(code_grid(values))) / 16, values, ax=a,
               title="decoded grid of codes, −1.5 … 1.5 (slide 18's window)")
scatter_codes(codes_train, lab_train, ax=b, lim=1.5 + (values[1] - values[0]) / 2,
              title="encoded training digits in that window")
fig

# %% [markdown]
# **Takeaway.** The encoder decides where codes live and at what scale; the decoder is good only where codes were seen. Notebook 05's VAE pulls the codes into a fixed window around 0 and fills it.

# %% [markdown]
# ## 5. Drag through the code: sliders
#
# Two sliders move the code $(z_1, z_2)$; the picture is the decoder's output for that code, redrawn as you drag. "Encode this image" puts the sliders at the code of a test digit (pick it by number). The panel is `helpers.widgets.LatentPanel`: it takes any decoder and draws PNG bytes, so an update takes a few milliseconds.
#
# The sliders need a live kernel in JupyterLab (`make lab`). Where widgets cannot render (a static page, a CI log), the grid above is the same sweep frozen.

# %%
panel = LatentPanel(decoder_render(ae2), 2, encode=lambda im: encode_means(ae2, im[None])[0],
                    images=dig_test, limit=round(spread + 0.5), scale=20, generator=gen)
panel.encode(0)
panel.widget

# %%
# timings vary from run to run, so nbval does not compare this cell's output
times = panel.time_update(n=20)
print(f"one slider update (value change -> new PNG): median {1000 * np.median(times):.0f} ms or less: "
      f"{np.median(times) < 0.05}")

# %% [markdown]
# ## Summary
#
# - An autoencoder is encoder → code → decoder, trained to reconstruct. With categorical pixels (17 grey levels, 167 colours) the reconstruction error is $-\log P(x \mid c)$ in nats.
# - A short code keeps the gist of an image: two numbers for a digit, ten for a Pokémon.
# - The decoder of a plain autoencoder is **not** a generator: random codes fall into holes between the clusters of encoded data, and decode to garbage.
# - Notebook 05 fixes this with the variational autoencoder: noise on the code and a pull towards $N(0, I)$.
#
# ## Exercises
#
# **Exercise 1.** Report the digits autoencoder's reconstruction error on the **test** split in **nats per pixel**, as a float `rec_per_pixel`. (`ae_loss(model, x)` is the mean over images of the nats per image.)

# %% nbgrader={"grade": false, "grade_id": "ex1_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
with torch.no_grad():
    rec_per_pixel = ae_loss(ae2, dig_test).item() / 64
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex1_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
assert type(rec_per_pixel) is float, f"rec_per_pixel should be a float, got {type(rec_per_pixel).__name__}"
_want = evaluate(ae2, ae_loss, dig_test) / 64
assert abs(rec_per_pixel - _want) < 1e-3, (
    f"got {rec_per_pixel:.4f}, expected {_want:.4f}; did you divide the nats per image by the 64 pixels, "
    "and use dig_test?")
assert rec_per_pixel < np.log(17), "an autoencoder should beat the uniform guess, ln 17 nats per pixel"
print(f"Exercise 1 correct: {rec_per_pixel:.3f} nats per pixel")

# %% [markdown]
# **Exercise 2.** Decode the **midpoint** between the codes of test digits 0 and 1: encode both with `encode_means`, average the two codes, and decode with `decode_images`. Store the (8, 8) picture of expected grey levels in `mid`. Does it look like either digit? (Notebook 05 returns to this "interpolation".)

# %% nbgrader={"grade": false, "grade_id": "ex2_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
c01 = encode_means(ae2, dig_test[:2])
mid = decode_images(ae2, c01.mean(0, keepdim=True))[0]
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex2_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
assert type(mid) is torch.Tensor and mid.shape == (8, 8), (
    f"mid should be an (8, 8) tensor, got {getattr(mid, 'shape', type(mid))}; decode one code and take [0]")
_c = encode_means(ae2, dig_test[:2])
_ref = decode_images(ae2, ((_c[0] + _c[1]) / 2)[None])[0]
assert torch.allclose(mid, _ref, atol=1e-4), "mid is not the decoding of the average of the two test codes"
print("Exercise 2 correct; the midpoint decodes to:")
show_digits(torch.stack([dig_test[0], mid, dig_test[1]]), ncols=3, title="digit 0 · midpoint · digit 1")
