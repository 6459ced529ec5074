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
# 1. write an autoencoder (encoder → code → decoder) whose reconstruction error is a proper $-\log P(x \mid c)$ in nats (natural-log units, section 1) for grey levels, and read how the same loss works for 1-of-N colours (each pixel one category out of N) in the series' convolutional Pokémon autoencoder (convolutions are explained in section 2);
# 2. show where feeding a *random* code to an autoencoder's decoder gives garbage, and measure how digit-like random codes decode;
# 3. read a 2-D code space: decode a grid of codes, scatter the encoded data in the same plane, and drag through it with sliders.

# %%
# On Colab (Google's hosted notebooks, notebook 00 §4), or wherever this series is not installed: fetch
# it once (the series' package `helpers` and the trained models, "checkpoints") and import from that
# copy. After `make lab` (the README's set-up command) helpers is installed and this cell does nothing.
import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("helpers") is None:
    series = os.path.abspath("generation-notebooks")
    if not os.path.isdir(series):
        repository = os.environ.get("GENERATION_REPOSITORY",
                                    "https://github.com/generation-notebooks/generation-notebooks")
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", repository, series], check=True)
    sys.path.insert(0, series)

# %%
# Setup: in every notebook a cell like this one (imports and one seed) follows the fetch cell above. helpers is this repository's small package.
# %matplotlib inline
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from helpers.models.autoencoders import (ae_loss, decode_images, encode_means, image_quality, prior_codes,
                                         prior_sample_quality)
from helpers.evaluate.digits import digit_classifier
from helpers.registry import get, recipe
from helpers.core.data import load_digits, load_pokemon
from helpers.notebook.plot import code_grid, plot_history, scatter_codes, show_code_grid, show_digits, show_sprites
from helpers.core.train import TrainConfig, evaluate, fit
from helpers.notebook import setup
from helpers.notebook.widgets import LatentPanel, decoder_render

gen = setup(seed=0)  # one seed per notebook: reruns draw the same pictures
digits, pokemon = load_digits(), load_pokemon()
dig_train, dig_valid, dig_test = digits.split()
lab_train, lab_valid, lab_test = digits.split_labels()
poke_train, poke_valid, poke_test = pokemon.split()
print(f"digits: {len(dig_train)} train / {len(dig_valid)} validation / {len(dig_test)} test; "
      f"Pokémon: {len(poke_train)} train / {len(poke_valid)} validation / {len(poke_test)} test sprites")

# %% [markdown]
# ## 1. Encoder → code → decoder (slide 16)
#
# An **encoder** $E$ maps an image $x$ to a short code $c = E(x)$; a **decoder** $D$ maps the code back to an image. Both are neural networks, trained together so that the output is "as close as possible" to the input.
#
# *As close as possible* needs a measure. Our pixels are **categories** — 17 grey levels for digits, one of 167 colours for Pokémon — so the decoder outputs, for every pixel, a softmax over the categories (the **softmax** turns a vector of scores $a_k$ into probabilities $e^{a_k} / \sum_j e^{a_j}$), and the reconstruction error is the cross-entropy summed over pixels:
#
# $$\mathrm{rec}(x) \;=\; -\log P\big(x \mid c = E(x)\big) \;=\; -\sum_{\text{pixels } p} \log \operatorname{softmax}\big(D(c)_p\big)_{x_p} \qquad \text{(nats per image)}.$$
#
# That is a real negative log-likelihood, the unit every model of the series reports (a decoder that knows nothing pays $64 \ln 17 \approx 181$ nats per digit; a **nat** is the unit of a natural logarithm, $-\ln P$, as a bit is that of $-\log_2 P$). For Pokémon this is the lecture's **1-of-N** encoding: colour number 23 is not "between" 22 and 24, so regressing colour numbers (as if they were ordered) would be the wrong loss, and regressing RGB values would draw in-between colours that are not in the palette (notebook 01 shows this).
#
# The digits model here has a **2-dimensional** code (slides 17-18), so we can look at the code space itself. Encoder and decoder are small MLPs (multilayer perceptrons: fully connected layers with a nonlinearity between them; here two hidden layers of 256 units; ELU, the activation $x$ for $x > 0$ and $e^x - 1$ below, a smooth variant of ReLU, $\max(0, x)$). Here it is, written out: `code` is $E$, `decode` is $D$ (17 **logits** per pixel: unnormalised scores that the softmax turns into the 17 levels' probabilities), `loss` is the mean of $\mathrm{rec}(x)$ over a **batch** (a group of images processed together).

# %%
class AE(nn.Module):
    """Slide 16: x (B, 8, 8) grey levels 0..16 -> code c (B, latent) -> logits (B, 8, 8, 17)."""

    def __init__(self, latent: int = 2, hidden: int = 256, side: int = 8, levels: int = 17):
        super().__init__()
        self.side, self.levels = side, levels
        self.encoder = nn.Sequential(nn.Linear(side * side, hidden), nn.ELU(),
                                     nn.Linear(hidden, hidden), nn.ELU(), nn.Linear(hidden, latent))
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ELU(),
                                     nn.Linear(hidden, hidden), nn.ELU(), nn.Linear(hidden, side * side * levels))

    def code(self, x: torch.Tensor) -> torch.Tensor:  # c = E(x), grey levels scaled to [0, 1]
        return self.encoder(x.flatten(1).float() / (self.levels - 1))

    def decode(self, c: torch.Tensor) -> torch.Tensor:  # D(c): per pixel, logits over the levels
        return self.decoder(c).view(len(c), self.side, self.side, self.levels)

    def loss(self, x: torch.Tensor) -> torch.Tensor:  # batch mean of -log P(x | c), summed over pixels
        logits = self.decode(self.code(x))
        nll = F.cross_entropy(logits.flatten(0, 2), x.flatten(), reduction="none")
        return nll.view(len(x), -1).sum(1).mean()


# %% [markdown]
# Train it briefly (8 **epochs**, passes over the 1,000 training digits, with Adam, an optimiser that keeps running averages of each parameter's **gradients** (how much the loss changes when that parameter changes) and of their squares, and scales each step, whose base size is the **learning rate**, by them): the reconstruction error falls from 182 nats, about what the know-nothing decoder pays.

# %%
# NBVAL_CHECK_OUTPUT
# (the marker above is for the series' tests: they re-run this cell and compare its printed output with the stored one)
torch.manual_seed(0)
demo = AE(latent=2)
# evaluate(model, loss_fn, data): the mean of loss_fn over data in batches, in eval mode (model.eval(): layers that act
# differently while training, such as dropout, stop doing so; these have none), without gradients
before = evaluate(demo, ae_loss, dig_valid)  # ae_loss(model, x) is model.loss(x)
demo_hist = fit(demo, ae_loss, dig_train, dig_valid, TrainConfig(epochs=8, patience=None), progress=False)  # patience=None: all 8 epochs run (the shipped model below is trained with early stopping, explained there)
print(f"validation reconstruction error: {before:.0f} nats before training, {demo_hist.valid[-1]:.0f} after 8 epochs")

# %% [markdown]
# The package keeps the same model, tested, as `helpers.models.autoencoders.Autoencoder`; `get("digits_ae_2d")` loads one trained for longer (`python -m helpers.registry train digits_ae_2d`, with **early stopping** on the validation digits: training stops once the validation error has gone `patience` epochs without a new best, and keeps the weights of its best epoch; it took seconds, printed below with its epochs and patience). Its layers are ours with one extra level of naming (`encoder.body.0.weight` is our `encoder.0.weight`), so its weights load into our `AE`, and then both must give the same loss on the same test digits:

# %%
# NBVAL_CHECK_OUTPUT
cfg_ae2 = recipe("digits_ae_2d")  # its model config (.model) and training config (.train)
ae2, info_ae2 = get("digits_ae_2d")
mine = AE(latent=cfg_ae2.model.latent, hidden=cfg_ae2.model.hidden)
mine.load_state_dict({k.replace("body.", ""): v for k, v in ae2.state_dict().items()})
with torch.no_grad():
    ours, theirs = mine.eval().loss(dig_test).item(), ae2.eval().loss(dig_test).item()
print(f"test loss, this notebook's AE with the shipped weights: {ours:.5f} nats per digit")
print(f"test loss, helpers.models.autoencoders.Autoencoder:            {theirs:.5f} nats per digit")
assert abs(ours - theirs) < 1e-5
print(f"shipped model: trained {len(info_ae2['history'].train)} epochs in {info_ae2['history'].seconds:.1f} s "
      f"(best validation epoch {info_ae2['history'].best_epoch + 1}, patience {cfg_ae2.train.patience}), "
      f"validation error {evaluate(ae2, ae_loss, dig_valid):.0f} nats")
assert len(info_ae2["history"].train) == 39 and info_ae2["history"].best_epoch + 1 == 24
assert len(info_ae2["history"].train) == info_ae2["history"].best_epoch + 1 + cfg_ae2.train.patience  # stopped early
assert info_ae2["history"].seconds < 60  # the prose: seconds, not minutes
assert 95 < evaluate(ae2, ae_loss, dig_valid) < 105

# %% [markdown]
# The two training runs side by side. Left, this notebook's 8 epochs; right, the shipped model's run. Look at the validation curve (orange): it flattens near 100 nats while the training error keeps falling; its lowest point is epoch 24 (dotted line, printed above), and training stopped at epoch 39, keeping the weights of that best epoch.

# %%
fig = Figure(figsize=(10, 3.2), layout="constrained")
a, b = fig.subplots(1, 2)
plot_history(demo_hist, ax=a, ylabel="rec. error (nats / image)", title="this notebook's AE, 8 epochs")
plot_history(info_ae2["history"], ax=b, ylabel="rec. error (nats / image)", title="the shipped one (early stopping)")
fig

# %% [markdown]
# How good are the reconstructions? Top: eight held-out test digits; bottom: what comes back through a code of only **two numbers**. For every pixel the decoder gives a probability to each of the 17 grey levels; the pictures show each pixel's **expected grey level**, the levels averaged with those probabilities as weights, $\sum_v v\, P(x_p = v \mid c)$. Where the decoder is unsure between levels, the average falls between them, so uncertain strokes look grey.

# %%
# NBVAL_CHECK_OUTPUT
x = dig_test[:8]
# encode_means(model, x): the codes E(x) = model.code(x), in eval mode; decode_images(model, c): D(c) as pictures
recon = decode_images(ae2, encode_means(ae2, x))
print(f"test reconstruction error: {evaluate(ae2, ae_loss, dig_test):.1f} nats per digit")
fig = Figure(figsize=(6, 1.9), layout="constrained")
a, b = fig.subplots(2, 1)
show_digits(x, ax=a, title="test digits")
show_digits(recon, ax=b, title="reconstructed from a 2-number code")
fig

# %% [markdown]
# **Takeaway.** Two numbers keep the gist of about half of these eight (the three 6s and the second 4 come back as the same digit) and lose the details; the 9 comes back as something between a 9 and an 8, and the 3, the first 4 and the 1 come back blurred or as another digit. The bottleneck, the short code every image must pass through, forces the network to find what the images have in common.

# %% [markdown]
# ## 2. Pokémon, 1-of-N colours
#
# The same recipe on the lecture's Pokémon, with a 10-number code. The encoder first looks each pixel's colour up in a learned **embedding** table, a row of 16 learned numbers for each colour index (colours are categories, so the network gets a vector per colour instead of its number), then, after one convolution that keeps the size (a **convolution** slides a small learned filter, its **kernel**, a few pixels wide, over the picture and computes one weighted sum of the pixels under it at every position), two strided convolutions shrink 20×20 to 5×5 (a stride-2 convolution moves its kernel two pixels at a time, so it halves the picture's height and width); the decoder's **transposed** convolutions double it back (a transposed convolution runs a strided one in reverse: each input pixel adds a kernel-sized patch, weighted by its value, to an output twice as high and wide), and it ends with 167 logits per pixel. The cell below prints the shape after each layer for one sprite, then shows held-out test sprites and their reconstructions (each pixel drawn in its most probable colour).

# %%
# NBVAL_CHECK_OUTPUT
poke_ae, info_pae = get("pokemon_ae")
shapes = []  # (layer, output shape) for one sprite, through the encoder and then the decoder
layers = [poke_ae.encoder.embed, *poke_ae.encoder.body, *poke_ae.decoder.body]
hooks = [m.register_forward_hook(lambda m, i, o: shapes.append(f"{type(m).__name__} {tuple(o.shape[1:])}"))
         for m in layers if not isinstance(m, torch.nn.ELU)]
with torch.no_grad():
    poke_ae.decoder(poke_ae.encoder(poke_test[:1]))
for h in hooks:
    h.remove()
print("one sprite through the Pokémon AE (shapes without the batch axis):\n  " + "\n  ".join(shapes))
assert shapes[0] == "Embedding (20, 20, 16)" and "Conv2d (48, 5, 5)" in shapes and shapes[-1] == "Conv2d (167, 20, 20)"
xp = poke_test[:8]
recon_p = decode_images(poke_ae, encode_means(poke_ae, xp), how="mode")
rec_p = evaluate(poke_ae, ae_loss, poke_test)
print(f"Pokémon test reconstruction error: {rec_p:.0f} nats per sprite ({rec_p / 400:.2f} nats per pixel)")
hist_p, max_epochs_p = info_pae["history"], info_pae["config"]["train"]["epochs"]
print(f"trained on {len(poke_train)} sprites: {len(hist_p.train)} of at most {max_epochs_p} epochs, stopped early "
      f"(best validation epoch {hist_p.best_epoch + 1})")
assert len(poke_train) == 640 and len(poke_test) == 80
assert max_epochs_p == 50 and len(hist_p.train) == 28 and hist_p.best_epoch + 1 == 18
fig = Figure(figsize=(7, 2.2), layout="constrained")
a, b = fig.subplots(2, 1)
show_sprites(xp, pokemon.colormap, ax=a, title="test Pokémon")
show_sprites(recon_p, pokemon.colormap, ax=b, title="reconstructed from a 10-number code")
fig

# %% [markdown]
# Which colours do the reconstructions use? Count the colours of the training sprites' pixels, and the colours the decoder draws (most probable colour per pixel) when it reconstructs all 80 test sprites; both counts leave out white (the background, colour 0), so each share is a share of non-white pixels:

# %%
# NBVAL_CHECK_OUTPUT
train_px = poke_train.flatten()
train_share = torch.bincount(train_px[train_px != 0], minlength=len(pokemon.colormap)).float()
train_share /= train_share.sum()
drawn = decode_images(poke_ae, encode_means(poke_ae, poke_test), how="mode").flatten()
drawn_share = torch.bincount(drawn[drawn != 0], minlength=len(pokemon.colormap)).float()
drawn_share /= drawn_share.sum()
top_train = int(train_share.argmax())  # the most common colour besides white
top_drawn = int(drawn_share.argmax())
for name, k in [("most common non-white colour of the training pixels", top_train),
                ("colour the reconstructions draw most", top_drawn)]:
    print(f"{name}: #{k} {tuple(int(v) for v in pokemon.colormap[k])}, {train_share[k]:.1%} of the non-white training pixels, "
          f"{drawn_share[k]:.0%} of the reconstructions' non-white pixels")
assert tuple(pokemon.colormap[0]) == (255, 255, 255) and top_train != top_drawn
assert tuple(pokemon.colormap[top_drawn]) == (82, 82, 82) and 0.5 < drawn_share[top_drawn] < 0.7
assert tuple(pokemon.colormap[top_train]) == (49, 49, 49) and drawn_share[top_train] < 0.3
assert 0.08 < train_share[top_train] < 0.095 and 0.05 < train_share[top_drawn] < 0.065

# %% [markdown]
# **Takeaway.** With 640 training sprites and a training run that stopped early (28 epochs, best at epoch 18, printed above), the reconstructions are rough. Some keep the silhouette and some colours (the first and the last sprite); others lose parts or colours: the second comes back as a small blue fragment, the seventh as a grey shape without its top half, the fourth keeps a green patch at the top (its leaves are green) but loses its purple and blue-grey body, which comes back in dark greys, and gains a long red-orange stroke and peach, pink and yellow patches that are not its own, the fifth and sixth as dark-grey blobs. Over all 80 test sprites one dark grey dominates what the decoder draws: (82, 82, 82), 5.8% of the non-white training pixels, makes up 60% of the non-white pixels the decoder draws for them (a total over the sprites: in some of the eight above it is a small share). It is not the most common non-white colour of the data (that is the darker (49, 49, 49), 8.8% of the non-white training pixels, 20% of the drawn ones). (Notebook 05 asks for more than reconstruction.)

# %% [markdown]
# ## 3. Slide 16's question: decode a *random* code
#
# Keep only the decoder and feed it a code nobody encoded. Does a new image come out? To generate this way we need a distribution to draw the codes from; the distribution a model's codes are drawn from when it generates is called its **prior** (over codes). Notebook 05's variational autoencoder trains its codes to follow $N(0, I)$ (defined below), so $N(0, I)$ is its prior. A plain autoencoder has **no prior of its own**: nothing in its training says which codes are "random". So we try two code distributions; below, "prior" means whichever of the two we draw the codes from. The fairest guess is a Gaussian fitted to the codes of the training images (their mean and covariance), so that random codes at least share the mean and spread of the data's codes (whether they land near the training codes themselves is measured below). A Gaussian $N(\mu, \Sigma)$ is the bell-shaped distribution with mean vector $\mu$ and covariance matrix $\Sigma$ (how much the coordinates vary, alone and together); $I$ is the identity matrix, so $N(0, I)$ draws each coordinate independently from a standard normal. To draw from the fitted one, the code below takes the Cholesky factor $L$ of the covariance (the lower-triangular matrix with $L L^\top = \Sigma$) and turns $N(0, I)$ noise $e$ into $\mu + L e$, which has exactly that mean and covariance. Besides the fitted Gaussian we also try the standard normal $N(0, I)$ itself, the prior of notebook 05's *variational* autoencoder (a reference model, introduced below).

# %%
def fitted_codes(model: nn.Module, data: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """n codes from N(mean, covariance) of the model's codes of data."""
    c = encode_means(model, data).double()
    chol = torch.linalg.cholesky(torch.cov(c.T))
    return (c.mean(0) + torch.randn(n, c.shape[1], generator=generator, dtype=torch.double) @ chol.T).float()


codes_train = encode_means(ae2, dig_train)
spread = codes_train.abs().quantile(0.99).item()
z_dig = fitted_codes(ae2, dig_train, 16, gen)
z_poke_fit = fitted_codes(poke_ae, poke_train, 16, gen)
z_poke = torch.randn(16, 10, generator=gen)
fig = Figure(figsize=(12, 4.6), layout="constrained")
a, b = fig.subfigures(1, 2, width_ratios=[1, 1.3])
show_digits(decode_images(ae2, z_dig), ax=a.subplots(), ncols=4, title="digits AE, 2-D code:\n16 codes from the fitted Gaussian")
c, d = b.subplots(2, 1)
show_sprites(decode_images(poke_ae, z_poke_fit, how="mode"), pokemon.colormap, ax=c,
             title="Pokémon AE, 10-D code: 16 codes from the fitted Gaussian")
show_sprites(decode_images(poke_ae, z_poke, how="mode"), pokemon.colormap, ax=d,
             title="Pokémon AE: 16 codes from N(0, I)")
fig

# %% [markdown]
# Two measurements for these pictures. For the digits, a judge: a **logistic-regression digit classifier** (a linear layer and a softmax over the 10 classes, fitted to the training digits and their labels; `helpers.evaluate.digits.digit_classifier`) says which digit each of the 16 pictures looks like and how sure it is. For Pokémon, where the random codes land: the distance from each of 500 fitted-Gaussian codes to its nearest encoded training sprite, against the distance from each training code to its nearest *other* training code.

# %%
# NBVAL_CHECK_OUTPUT
clf = digit_classifier(dig_train, lab_train)
proba = clf.predict_proba((decode_images(ae2, z_dig).flatten(1) / 16).numpy())
print("digits, the 16 pictures row by row, as classifier label (confidence):")
for row in range(4):
    print("  " + "  ".join(f"{int(k)} ({p:.2f})" for k, p in zip(proba[4 * row: 4 * row + 4].argmax(1),
                                                           proba[4 * row: 4 * row + 4].max(1))))
n_half, n_sure = int((proba.max(1) > 0.5).sum()), int((proba.max(1) > 0.9).sum())
n_low = int((proba.max(1) < 0.505).sum())  # at or below 0.50 as printed (two decimals)
n_just = int(((proba.max(1) >= 0.505) & (proba.max(1) < 0.6)).sum())
print(f"confidence above 0.5: {n_half} of 16; above 0.9: {n_sure} of 16; "
      f"at or below 0.50 as printed: {n_low}; between 0.50 and 0.60: {n_just}")
assert n_half == 11 and n_sure == 6 and n_low == 5 and n_just == 2

codes_p = encode_means(poke_ae, poke_train)
nn_own = torch.cdist(codes_p, codes_p).fill_diagonal_(float("inf")).min(1).values
nn_fit = torch.cdist(fitted_codes(poke_ae, poke_train, 500, torch.Generator().manual_seed(1)), codes_p).min(1).values
nn_test = torch.cdist(encode_means(poke_ae, poke_test), codes_p).min(1).values
print(f"Pokémon, median distance to the nearest encoded training sprite: {nn_fit.median():.1f} from a fitted-Gaussian "
      f"code, {nn_own.median():.1f} from a training code (to another one), {nn_test.median():.1f} from a test code")
assert 25 < nn_own.median() < 35 and nn_own.median() < nn_fit.median() < 1.15 * nn_own.median()
assert nn_test.median() < nn_own.median()

# %% [markdown]
# The lecture's claim, checked. **Pokémon, N(0, I) (bottom right):** garbage, as the lecture says: squares mostly filled with dark grey and scattered patches of colour (with some white specks and corners), not even a silhouette on white. **Pokémon, fitted Gaussian (top right):** dark-grey blobs on white with a few colour patches; a silhouette, now and then something creature-shaped, but no Pokémon. These codes do not land unusually far from the data: their median distance to the nearest encoded training sprite, 31.9, is close to the 29.5 between a training code and its nearest other one (and 27.7 for the test sprites' codes, whose reconstructions above are rough too). In ten dimensions 640 codes are sparse: the typical (median) code is about that far from its nearest neighbour, so distance alone does not set these random codes apart from the data's. **Digits (left):** a mix. Six pictures are clear digits (classifier confidence above 0.9: the three 0s, a 6, a 5 and one it calls a 4); most of the other ten are blurred blends of strokes, and the classifier is unsure of them (five at or below 0.50, two more only just above). So "random codes give garbage" holds for the Pokémon code drawn from N(0, I), and codes from the fitted Gaussian give blobs, no Pokémon; for the 2-D digits code, codes from the fitted Gaussian give some clear digits and many blends. Section 4 shows where the digits' codes lie.
#
# ### Measured: how digit-like are random codes?
#
# Pictures of 16 codes prove little, so we measure 500. Two judges, both computed by `helpers.models.autoencoders.prior_sample_quality` on the decoded pictures (the expected grey level of each pixel):
# - **confidence**: the logistic-regression digit classifier `clf` from above; the mean over samples of its top class probability. High = looks like one definite digit.
# - **nearest training digit**: the mean Euclidean distance (pixels scaled to [0, 1]) from each sample to its nearest training digit. Low = close to real data (but a blur of two digits can also be close).
#
# **A reference from notebook 05.** Notebook 05 builds the *variational* autoencoder (VAE); here it is only a reference, a model built to answer slide 16's question. Its training adds noise to the code and a penalty that pulls the codes of the training images towards $N(0, I)$, so that codes drawn from $N(0, I)$ are codes the decoder was trained on. Notebook 05 also trains the same network with that penalty switched off, on reconstruction alone: it still adds noise to its code during training (noise it can shrink to almost nothing), but nothing pulls its codes towards $N(0, I)$, so, like this AE, it has no prior of its own. Its code has 8 numbers.
#
# So three models, all decoding with pixels independent given the code: this AE (2-D code), the 8-D reconstruction-only model (`digits_vae_rec_only`) and the 8-D VAE (`digits_vae`). As a yardstick, the held-out test digits themselves, judged by `image_quality(dig_test, dig_train, clf)` (same module): it applies the same two judges to pictures given directly instead of decoded from random codes.

# %%
# NBVAL_CHECK_OUTPUT
rec_only, _ = get("digits_vae_rec_only")
vae, _ = get("digits_vae")
print(f"code sizes: AE {ae2.cfg.latent}, reconstruction-only {rec_only.cfg.latent}, VAE {vae.cfg.latent} numbers")
assert (ae2.cfg.latent, rec_only.cfg.latent, vae.cfg.latent) == (2, 8, 8)  # the labels below
rows = {"test digits (real)": image_quality(dig_test, dig_train, clf)}
for label, model, prior in [("AE 2-D, fitted Gaussian", ae2, "fitted"), ("AE 2-D, N(0, I)", ae2, "standard"),
                            ("rec.-only 8-D, fitted Gaussian", rec_only, "fitted"),
                            ("rec.-only 8-D, N(0, I)", rec_only, "standard"), ("VAE 8-D, N(0, I)", vae, "standard")]:
    rows[label] = prior_sample_quality(model, dig_train, lab_train, n=500, seed=0, prior=prior, clf=clf)
print(f"{f'{len(dig_test)} real digits / 500 decoded codes':32s} {'confidence':>10s} {'nearest train':>14s}")
for label, q in rows.items():
    print(f"{label:32s} {q['confidence']:10.2f} {q['nearest_train']:14.2f}")
conf = {k: q["confidence"] for k, q in rows.items()}
_printed = {"test digits (real)": (0.86, 1.20), "AE 2-D, fitted Gaussian": (0.69, 1.15), "AE 2-D, N(0, I)": (0.52, 1.23),
            "rec.-only 8-D, fitted Gaussian": (0.66, 1.27), "rec.-only 8-D, N(0, I)": (0.55, 1.66),
            "VAE 8-D, N(0, I)": (0.61, 1.25)}  # the values the prose below cites
assert all(abs(rows[k]["confidence"] - c) < 0.006 and abs(rows[k]["nearest_train"] - d) < 0.006
           for k, (c, d) in _printed.items())
assert conf["VAE 8-D, N(0, I)"] > max(conf["AE 2-D, N(0, I)"], conf["rec.-only 8-D, N(0, I)"]) + 0.03
assert conf["AE 2-D, fitted Gaussian"] > conf["VAE 8-D, N(0, I)"] + 0.03
assert conf["rec.-only 8-D, fitted Gaussian"] > conf["VAE 8-D, N(0, I)"] + 0.03
assert max(v for k, v in conf.items() if k != "test digits (real)") < conf["test digits (real)"] - 0.1

# %%
fig = Figure(figsize=(10, 3.4), layout="constrained")
a, b = fig.subplots(1, 2)
names, colours = list(rows), ["0.5"] + ["tab:blue"] * 2 + ["tab:orange"] * 2 + ["tab:green"]
for ax, key, title in [(a, "confidence", "classifier confidence (higher: more digit-like)"),
                       (b, "nearest_train", "distance to nearest training digit (lower: closer)")]:
    ax.barh(names[::-1], [rows[k][key] for k in names[::-1]], color=colours[::-1])
    ax.set_title(title, fontsize=10)
b.set_yticks([])
fig

# %% [markdown]
# What to look at (grey: real test digits; blue: the AE; orange: reconstruction only; green: the VAE):
# - With codes from $N(0, I)$, the VAE's decoder gives the most confident digits of the three models (0.61, against 0.52 and 0.55).
# - With the fitted Gaussian, both autoencoders' samples are more confident than the VAE's: 0.69 for the 2-D AE and 0.66 for the 8-D reconstruction-only model, against 0.61. The VAE needs no fitted Gaussian: its $N(0, I)$ is fixed before training.
# - Every model's random codes stay below the real digits' confidence (0.86).

# %% [markdown]
# The pictures behind the numbers: the first 16 of the 500 codes of each row, decoded (the same codes the table judged, drawn by `prior_codes` with the same seed; each picture is the decoder's expected grey level). Look at the second and fourth panels, the two autoencoders fed $N(0, I)$ codes. The 2-D AE draws mostly 3s and closed loops that the classifier calls 8s (its labels, printed), one much like the next (why is part of Exercise 4). The 8-D model's pictures differ from each other, with grey haze on the background and broken strokes; a few are still a recognisable digit (the 2 third in the top row), others are scribbles. From the fitted Gaussian (first and third panels), both draw varied, mostly digit-like shapes, and the VAE's $N(0, I)$ codes (last panel) give pictures like those.

# %%
fig = Figure(figsize=(13, 3.3), layout="constrained")
judged = [("AE 2-D, fitted Gaussian", ae2, "fitted"), ("AE 2-D, N(0, I)", ae2, "standard"),
          ("rec.-only 8-D, fitted Gaussian", rec_only, "fitted"), ("rec.-only 8-D, N(0, I)", rec_only, "standard"),
          ("VAE 8-D, N(0, I)", vae, "standard")]
panel_labels = {}  # the classifier's top label for each of the 16 pictures of a panel
for ax, (label, model, prior) in zip(fig.subplots(1, 5), judged):
    pics = decode_images(model, prior_codes(model, dig_train, 500, seed=0, prior=prior)[:16])
    show_digits(pics, ncols=4, ax=ax, title=label.replace(", fitted", ",\nfitted").replace(", N(0", ",\nN(0"))
    panel_labels[label] = clf.predict((pics.flatten(1) / 16).numpy())
for label in ("AE 2-D, N(0, I)", "rec.-only 8-D, N(0, I)"):
    counts = np.bincount(panel_labels[label], minlength=10)
    print(f"{label}: the classifier labels the 16 pictures " + ", ".join(f"{n}x {k}" for k, n in enumerate(counts) if n))
_ae_labels = np.bincount(panel_labels["AE 2-D, N(0, I)"], minlength=10)
assert _ae_labels[3] + _ae_labels[8] >= 13  # the prose: mostly 3s and 8s
fig

# %% [markdown]
# How much each autoencoder changes when its codes come from $N(0, I)$ instead of the fitted Gaussian, and why, is Exercise 4.

# %% [markdown]
# ### Where do the random codes land?
#
# A decoder was trained only on the codes of training images. So for each autoencoder, in its own code space, we draw 500 fresh codes from each prior and measure two things: the median distance from a code to its **nearest training code** (the first row of each model gives the typical spacing: the median distance from a training code to its nearest *other* one), and the **neighbour agreement**: among the 10 training codes nearest to the code, the share that carry the most common label of the ten, averaged over the codes (1.0: all ten are one digit; low: several classes crowd there). Distances in the 2-D and the 8-D code space are not comparable with each other, only with each model's own spacing.

# %%
# NBVAL_CHECK_OUTPUT
gen_land = torch.Generator().manual_seed(2)
land = {}
print(f"{'codes':48s} {'nearest training code':>21s} {'neighbour agreement':>20s}")
for name, model in [("AE 2-D", ae2), ("rec.-only 8-D", rec_only)]:
    c_train = encode_means(model, dig_train)
    z_std = torch.randn(500, c_train.shape[1], generator=gen_land)
    z_fit = fitted_codes(model, dig_train, 500, gen_land)
    for prior, z in [("training codes (to another one)", c_train), ("fitted Gaussian", z_fit), ("N(0, I)", z_std)]:
        d = torch.cdist(z, c_train)
        if z is c_train:
            d.fill_diagonal_(float("inf"))  # a training code's nearest *other* training code
        near = lab_train[d.topk(10, largest=False).indices]  # labels of the 10 nearest training codes
        agree = torch.stack([torch.bincount(row, minlength=10).max() for row in near]).float() / 10
        land[f"{name}, {prior}"] = (d.min(1).values.median().item(), agree.mean().item())
        print(f"{name + ', ' + prior:48s} {land[f'{name}, {prior}'][0]:21.2f} {land[f'{name}, {prior}'][1]:20.2f}")
sp2, fit2, std2 = (land[f"AE 2-D, {p}"] for p in ("training codes (to another one)", "fitted Gaussian", "N(0, I)"))
sp8, fit8, std8 = (land[f"rec.-only 8-D, {p}"] for p in ("training codes (to another one)", "fitted Gaussian", "N(0, I)"))
assert std2[0] < 0.85 * sp2[0] and std2[1] < fit2[1] - 0.08 and std2[1] < sp2[1] - 0.1
assert std8[0] > 2 * sp8[0] and std8[0] > fit8[0] + 0.5
_land_printed = {"AE 2-D, training codes (to another one)": (0.14, 0.75), "AE 2-D, fitted Gaussian": (0.20, 0.70),
                 "AE 2-D, N(0, I)": (0.09, 0.56), "rec.-only 8-D, training codes (to another one)": (2.10, 0.91),
                 "rec.-only 8-D, fitted Gaussian": (3.84, 0.71), "rec.-only 8-D, N(0, I)": (4.87, 0.68)}
assert all(abs(land[k][0] - d) < 0.006 and abs(land[k][1] - a) < 0.006 for k, (d, a) in _land_printed.items())

# %% [markdown]
# The table, read row by row. For the 2-D AE, the median distance from an $N(0, I)$ code to its nearest training code is 0.09, below the spacing of training codes (0.14), and its neighbour agreement is 0.56, against 0.70 for fitted-Gaussian codes and 0.75 for training codes. For the 8-D model, an $N(0, I)$ code lies 4.87 from its nearest training code, against a spacing of 2.10 (fitted-Gaussian codes: 3.84). What these numbers mean for each model's pictures is Exercise 4 (b).

# %% [markdown]
# ## 4. Looking at the 2-D code (slides 17-18)
#
# With a 2-D code we can decode a whole grid of codes and draw the results as one picture, the way slide 18 does, and put the encoded training digits in the same plane. Nothing fixes the *scale* of an autoencoder's code, so first we measure where the codes lie:

# %%
both_in = (codes_train.abs() <= spread).all(1).float().mean().item()
print(f"99% of all the training codes' coordinates (both coordinates pooled) lie within ±{spread:.1f}; "
      f"{both_in:.1%} of the training codes have both coordinates within ±{spread:.1f}")
assert abs(spread - 8.3) < 0.05 and abs(both_in - 0.98) < 0.001

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
# Left and right share their axes: every point on the right is a training digit, and the picture at the same place on the left is what the decoder draws there. Digits of one class form clusters and arms; **between them are holes** that no training image fills, the corners most of all. The decoder still draws a crisp digit almost everywhere, holes included: it carries the nearest cluster's digit far beyond its data (0s in the top-left corner, 4s and 9s top right, 1-like strokes bottom left, 5s bottom right). A few pictures are blurred, mostly in the centre of the grid, where the 9s, 3s, 8s, 2s, 1s and 5s of the scatter crowd together (the 4s sit just above it). Measured with section 3's classifier, on the grid cells whose code is farther than one grid step from every training code:

# %%
# NBVAL_CHECK_OUTPUT
grid_codes = torch.from_numpy(code_grid(wide)).float()
in_hole = torch.cdist(grid_codes, codes_train).min(1).values > wide[1] - wide[0]
hole_pics = decode_images(ae2, grid_codes[in_hole])
hole_conf = clf.predict_proba((hole_pics.flatten(1) / 16).numpy()).max(1)
print(f"grid cells in holes (no training code within one grid step): {int(in_hole.sum())} of {len(grid_codes)}")
print(f"classifier confidence on their pictures: mean {hole_conf.mean():.2f} (real test digits: "
      f"{rows['test digits (real)']['confidence']:.2f}); above 0.5 for {(hole_conf > 0.5).mean():.0%} of them")
assert 30 < int(in_hole.sum()) < 70
assert hole_conf.mean() > rows["test digits (real)"]["confidence"] - 0.05 and (hole_conf > 0.5).mean() > 0.9

# %% [markdown]
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
# **Takeaway.** The encoder decides where codes live and at what scale. For this 2-D autoencoder the holes do not decode to garbage: the decoder draws confident digits there too, by extending its clusters (mean classifier confidence 0.89 on the 47 hole cells, against 0.86 for real test digits), so a code in a hole decodes to *some* digit, though not one the data put there. Codes drawn from $N(0, I)$ are another matter: section 3's table scores them lower for both digit autoencoders, and the Pokémon AE's $N(0, I)$ codes decoded to garbage (its fitted-Gaussian codes to blobs, no Pokémon). How much each digit autoencoder loses with $N(0, I)$ codes, and why, is Exercise 4. Notebook 05's VAE is trained so that its codes follow $N(0, I)$, the prior it will be sampled from.

# %% [markdown]
# ## 5. Drag through the code: sliders
#
# Two sliders move the code $(z_1, z_2)$; the picture is the decoder's output for that code, redrawn as you drag. "Encode this image" puts the sliders at the code of a test digit (pick it by number). "random code, N(0, I)" draws a code from the standard normal: that is **not** sampling from the autoencoder's own prior (a plain autoencoder has none); it is slide 16's random code, and the grid above shows where it can land. The panel is `helpers.notebook.widgets.LatentPanel`: it takes any decoder and draws PNG bytes, so an update is fast enough to drag smoothly (the cell below prints the median time, which varies from machine to machine and run to run).
#
# The sliders need a live Jupyter kernel (here the Python process that runs the notebook's cells, not a convolution's kernel) in JupyterLab (`make lab`). Where widgets cannot render (a static page, the log of the series' automated test run), the decoded grid at the start of section 4 is this sweep frozen: the sliders span the same ±8.3.

# %%
panel = LatentPanel(decoder_render(ae2), 2, encode=lambda im: encode_means(ae2, im[None])[0],
                    images=dig_test, limit=round(spread, 1), scale=20, generator=gen)
panel.prior_button.description = "random code, N(0, I)"  # an AE has no prior of its own to sample from
panel.encode(0)
panel.widget

# %%
# timings vary from run to run, so this cell has no NBVAL_CHECK_OUTPUT marker: the tests run it but do not compare its output
times = panel.time_update(n=20)
print(f"one slider update (value change -> new PNG): median {1000 * np.median(times):.1f} ms; "
      f"under 50 ms, fast enough to drag smoothly: {np.median(times) < 0.05}")

# %% [markdown]
# ## Summary
#
# - An autoencoder is encoder → code → decoder, trained to reconstruct. With categorical pixels (17 grey levels, 167 colours) the reconstruction error is $-\log P(x \mid c)$ in nats.
# - A short code keeps the gist of many images and loses the rest: two numbers bring back about half of eight test digits as the same digit; ten numbers bring back some Pokémon's silhouettes and colours, while others lose parts or colours, and one dark grey, (82, 82, 82), makes up 60% of the non-white pixels drawn for the 80 test sprites.
# - The decoder of a plain autoencoder is **not** a generator: it has no prior of its own, so nothing says which codes to draw. With the 10-D Pokémon code, $N(0, I)$ codes decode to garbage and codes from a Gaussian fitted to the training codes to dark-grey blobs (no Pokémon among the 16 drawn in section 3). With the 2-D digits code even the holes between the clusters of encoded digits decode to confident digits (0.89), and codes from a Gaussian fitted to the training codes give a mix of clear digits and blends (confidence 0.69, against 0.86 for real digits). What drawing from $N(0, I)$ instead changes is measured in section 3's table.
# - Notebook 05 gives the decoder a prior of its own with the variational autoencoder: noise on the code and a pull towards $N(0, I)$, so that $N(0, I)$ codes are the kind it was trained on (in section 3's table the classifier is more confident about its $N(0, I)$ samples than about either autoencoder's $N(0, I)$ samples, though less than about both autoencoders' fitted-Gaussian ones).
#
# ## Exercises
#
# **Exercise 1 (diagnose).** Which digits does the 2-number code keep best, and which worst? Section 1 printed only the average over all test digits. For the shipped model `ae2` (not the 8-epoch `demo`):
# 1. the starting point, adapted from `AE.loss` of section 1 (its lines, for `ae2`, without the final average over the images): every **test** digit's reconstruction error $\mathrm{rec}(x)$ in nats per image, a tensor `rec_per_image` of shape `(len(dig_test),)`;
# 2. the diagnosis itself: average it over the test digits of each class (labels `lab_test`) and report it in **nats per pixel**: a tensor `rec_by_class` of shape `(10,)`, entry `k` for the digit `k`.

# %% nbgrader={"grade": false, "grade_id": "ex1_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
with torch.no_grad():
    logits = ae2.eval().decode(ae2.code(dig_test))
    nll = F.cross_entropy(logits.flatten(0, 2), dig_test.flatten(), reduction="none")
rec_per_image = nll.view(len(dig_test), -1).sum(1)
rec_by_class = torch.stack([rec_per_image[lab_test == k].mean() for k in range(10)]) / 64
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex1_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
assert type(rec_per_image) is torch.Tensor and rec_per_image.shape == (len(dig_test),), (
    f"rec_per_image should be a tensor with one error per test digit, shape ({len(dig_test)},), "
    f"got {getattr(rec_per_image, 'shape', type(rec_per_image))}")
assert abs(float(rec_per_image.mean()) - evaluate(ae2, ae_loss, dig_test)) < 0.01, (
    f"the mean of rec_per_image is {float(rec_per_image.mean()):.2f}, but ae2's mean test error, "
    f"evaluate(ae2, ae_loss, dig_test), is {evaluate(ae2, ae_loss, dig_test):.2f} nats per image")
assert type(rec_by_class) is torch.Tensor and rec_by_class.shape == (10,), (
    f"rec_by_class should be a tensor of shape (10,), got {getattr(rec_by_class, 'shape', type(rec_by_class))}")
assert bool((rec_by_class > 0).all() and (rec_by_class < np.log(17)).all()), (
    "in nats per pixel, every class's error should be positive and below ln 17, the uniform guess's; "
    f"got {[round(float(v), 2) for v in rec_by_class]}")
### BEGIN HIDDEN TESTS
with torch.no_grad():
    _lg = ae2.eval().decode(ae2.code(dig_test))
    _per = F.cross_entropy(_lg.flatten(0, 2), dig_test.flatten(), reduction="none").view(len(dig_test), -1).sum(1)
assert torch.allclose(rec_per_image.detach().float(), _per, atol=1e-3), "rec_per_image: nats per image, summed over the 64 pixels"
_ref = torch.stack([_per[lab_test == k].mean() for k in range(10)]) / 64
assert torch.allclose(rec_by_class.detach().float(), _ref, atol=1e-4), (
    f"rec_by_class: got {[round(float(v), 3) for v in rec_by_class]}, expected {[round(float(v), 3) for v in _ref]}: "
    "the mean over each class's test digits, in nats per pixel")
### END HIDDEN TESTS
_order = rec_by_class.argsort()
print(f"Exercise 1 passes the visible checks (more run when it is graded). Nats per pixel by class: "
      + ", ".join(f"{k}: {float(v):.2f}" for k, v in enumerate(rec_by_class)))
print(f"best kept: the {int(_order[0])}s; worst kept: the {int(_order[-1])}s")

# %% [markdown]
# **Exercise 2.** Decode the **midpoint** between the codes of the first two test images, `dig_test[0]` and `dig_test[1]` (whatever digits they show: their labels are `lab_test[0]` and `lab_test[1]`): with the shipped model `ae2` (not the 8-epoch `demo`), encode both with `encode_means`, average the two codes, and decode with `decode_images` (its default `how="mean"`: expected grey levels). Store the (8, 8) picture of expected grey levels in `mid`. Does it look like either digit? (Notebook 05 returns to this "interpolation".)

# %% nbgrader={"grade": false, "grade_id": "ex2_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
c01 = encode_means(ae2, dig_test[:2])
mid = decode_images(ae2, c01.mean(0, keepdim=True))[0]
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex2_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
assert type(mid) is torch.Tensor and mid.shape == (8, 8), (
    f"mid should be an (8, 8) tensor, got {getattr(mid, 'shape', type(mid))}; decode one code and take [0]")
assert mid.is_floating_point(), (
    f"mid should hold expected grey levels (floats), got dtype {mid.dtype}: decode with how=\"mean\", not \"mode\"")
assert float(mid.min()) >= 0 and float(mid.max()) <= 16, "mid should hold expected grey levels, between 0 and 16"
### BEGIN HIDDEN TESTS
_c = encode_means(ae2, dig_test[:2])
_ref = decode_images(ae2, ((_c[0] + _c[1]) / 2)[None])[0]
_c_demo = encode_means(demo, dig_test[:2])
assert not torch.allclose(mid, decode_images(demo, ((_c_demo[0] + _c_demo[1]) / 2)[None])[0], atol=1e-4), (
    "that is the 8-epoch demo model's midpoint; use ae2")
assert torch.allclose(mid, _ref, atol=1e-4), "mid is not the decoding of the average of the two test codes"
### END HIDDEN TESTS
print("Exercise 2 passes the visible checks (more run when it is graded); the midpoint decodes to:")
show_digits(torch.stack([dig_test[0], mid, dig_test[1]]), ncols=3,
            title=f"dig_test[0] (a {int(lab_test[0])}) · midpoint · dig_test[1] (a {int(lab_test[1])})")


# %% [markdown]
# **Exercise 3 (build and train).** Write the training loop yourself. `train_epochs(model, data, epochs, batch_size, lr, generator)` uses one Adam optimiser (learning rate `lr`), created once before the first epoch so that its running averages carry over, on **all** of the model's parameters; in each epoch it shuffles the images with `torch.randperm(len(data), generator=generator)` and, for each minibatch in that order (the last one may be smaller), computes `model.loss(batch)`, zeroes the gradients (`opt.zero_grad()`), back-propagates (`loss.backward()`: the gradient of the loss with respect to every parameter) and steps (`opt.step()`: the optimiser moves each parameter against its gradient), the three calls of one training step that `fit` makes for you. It returns the list of the per-batch losses as Python floats. The test trains a fresh `AE` with a 4-number code for two epochs and checks that the validation loss fell by more than 20 nats (when graded, also that the mean of the last five batch losses is more than 10 nats below that of the first five) and that the **encoder** learned too (a loop that only updates the decoder can lower the loss for a while).

# %% nbgrader={"grade": false, "grade_id": "ex3_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_epochs(model: nn.Module, data: torch.Tensor, epochs: int = 2, batch_size: int = 64, lr: float = 1e-3,
                 generator: torch.Generator | None = None) -> list[float]:
    ### BEGIN SOLUTION
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(data), generator=generator)
        for start in range(0, len(data), batch_size):
            loss = model.loss(data[order[start : start + batch_size]])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex3_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(1)
_m = AE(latent=4)
_enc0, _dec0 = _m.encoder[0].weight.detach().clone(), _m.decoder[-1].weight.detach().clone()
_before = evaluate(_m, ae_loss, dig_valid)
_losses = train_epochs(_m, dig_train, epochs=2, batch_size=64, lr=1e-3, generator=torch.Generator().manual_seed(0))
assert all(type(p) is nn.Parameter for p in _m.parameters()), (
    f"train_epochs should train the model's weights in place, not replace them: got "
    f"{sorted({type(p).__name__ for p in _m.parameters()})}")
_after = evaluate(_m, ae_loss, dig_valid)
_nb = -(-len(dig_train) // 64)
assert type(_losses) is list and all(type(v) is float for v in _losses), "return a list of Python floats (loss.item())"
assert len(_losses) == 2 * _nb, (
    f"got {len(_losses)} losses; two epochs of batches of 64 from {len(dig_train)} digits, the last batch of each "
    f"epoch smaller, give {2 * _nb}")
assert _after < _before - 20, f"validation loss {_before:.1f} -> {_after:.1f} nats: it should fall by more than 20"
assert not torch.equal(_m.decoder[-1].weight, _dec0), "the decoder's weights did not change"
assert not torch.equal(_m.encoder[0].weight, _enc0), (
    "the encoder's weights did not change: give the optimizer all of model.parameters()")
### BEGIN HIDDEN TESTS
assert np.mean(_losses[-5:]) < np.mean(_losses[:5]) - 10, "the training losses should fall over the two epochs"
_grad_enc = torch.autograd.grad(_m.loss(dig_valid), _m.encoder[0].weight)[0]
assert float(_grad_enc.abs().sum()) > 0, "no gradient reaches the encoder"
_c = encode_means(_m, dig_valid)
assert float(_c.std(0).min()) > 1e-3, "the trained encoder gives (almost) the same code to every digit"


class _Spy(nn.Module):  # a model whose loss records the batches it is given (data: the numbers 0..9)
    def __init__(self):
        super().__init__()
        self.w, self.seen = nn.Parameter(torch.zeros(())), []

    def loss(self, batch):  # a batch of another class than torch.Tensor is recorded by its class name
        self.seen.append(batch.flatten().tolist() if type(batch) is torch.Tensor else type(batch).__name__)
        return (self.w - batch.float().mean()) ** 2


def _batches(seed, epochs=2):
    _spy = _Spy()
    train_epochs(_spy, torch.arange(10), epochs=epochs, batch_size=4, lr=1e-3,
                 generator=torch.Generator().manual_seed(seed))
    return _spy.seen


_b0, _b0again, _b1 = _batches(0), _batches(0), _batches(1)
assert all(type(b) is list for b in _b0 + _b0again + _b1), (
    f"model.loss should be given torch.Tensor batches (slices of data), got {[b for b in _b0 if type(b) is not list]}")
assert [len(b) for b in _b0] == [4, 4, 2] * 2, (
    f"10 items in batches of 4 for two epochs should give batches of 4, 4, 2 twice, got sizes {[len(b) for b in _b0]}")
_ep1, _ep2 = sum(_b0[:3], []), sum(_b0[3:], [])
assert sorted(_ep1) == sorted(_ep2) == list(range(10)), "each epoch should use every item exactly once"
assert _b0 == _b0again, "the same generator seed should give the same batches: shuffle with the generator you are given"
assert _b0 != _b1, "the order of the batches does not depend on the generator: shuffle each epoch with torch.randperm"
assert _ep1 != _ep2, "both epochs see the items in the same order: draw a new permutation in every epoch"
_spy_lr = _Spy()  # Adam's first step moves a parameter by about lr, whatever the gradient's size
train_epochs(_spy_lr, torch.arange(10), epochs=1, batch_size=10, lr=0.1, generator=torch.Generator().manual_seed(0))
assert type(_spy_lr.w) is nn.Parameter, f"train_epochs replaced the model's parameter by a {type(_spy_lr.w).__name__}"
assert abs(abs(_spy_lr.w.item()) - 0.1) < 0.01, (
    f"with lr=0.1 one Adam step should move the parameter by about 0.1, it moved {abs(_spy_lr.w.item()):.4f}: "
    "pass lr to the optimizer")


class _Kick(nn.Module):  # gradient 1 on the first call of loss, 0.01 on every later one
    def __init__(self):
        super().__init__()
        self.w, self.calls = nn.Parameter(torch.zeros(())), 0

    def loss(self, batch):
        self.calls += 1
        return self.w * (1.0 if self.calls == 1 else 0.01)


_kick = _Kick()  # one batch per epoch, two epochs: two Adam steps, the second with a 100x smaller gradient
train_epochs(_kick, torch.arange(10), epochs=2, batch_size=10, lr=0.1, generator=torch.Generator().manual_seed(0))
assert type(_kick.w) is nn.Parameter, f"train_epochs replaced the model's parameter by a {type(_kick.w).__name__}"
_w_ref = nn.Parameter(torch.zeros(()))
_opt_ref = torch.optim.Adam([_w_ref], lr=0.1)  # the reference: one optimizer whose state carries over
for _g in (1.0, 0.01):
    _opt_ref.zero_grad()
    (_w_ref * _g).backward()
    _opt_ref.step()
assert abs(_kick.w.item() - _w_ref.item()) < 1e-4, (
    f"after two epochs the parameter is at {_kick.w.item():.4f}, but one Adam optimizer kept across the epochs puts it "
    f"at {_w_ref.item():.4f} (a fresh Adam in each epoch moves it by lr at every step, to -0.2): create the optimizer "
    "once, before the epochs, so that its running averages carry over")
### END HIDDEN TESTS
print(f"Exercise 3 passes the visible checks (more run when it is graded): validation loss {_before:.0f} -> "
      f"{_after:.0f} nats in {len(_losses)} steps; first batch {_losses[0]:.0f}, last {_losses[-1]:.0f}")

# %% [markdown]
# **Exercise 4 (read the measurement).** Two models of section 3's table were judged twice, once with codes from the fitted Gaussian and once with codes from $N(0, I)$: the 2-D AE and the 8-D reconstruction-only model. How much does each lose when the codes come from $N(0, I)$?
#
# (a) Write `prior_effect(rows)`. `rows` maps labels of the form `"MODEL, PRIOR"` (PRIOR is `fitted Gaussian` or `N(0, I)`, which itself contains a comma: split off PRIOR by checking which of the two names the label ends with; the real digits' label ends with neither) to dicts with keys `"confidence"` and `"nearest_train"`, like section 3's `rows`. For every MODEL that has **both** a fitted-Gaussian and an $N(0, I)$ row, return `MODEL -> (change in confidence, change in nearest-train distance)`, each change being the $N(0, I)$ value minus the fitted-Gaussian value, as Python floats. Skip rows that have no partner (the VAE's, the real digits'). Apply it to section 3's `rows` and store the result in `effect`.

# %% nbgrader={"grade": false, "grade_id": "ex4_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def prior_effect(rows: dict[str, dict[str, float]]) -> dict[str, tuple[float, float]]:
    ### BEGIN SOLUTION
    out = {}
    for label, q in rows.items():
        if not label.endswith(", N(0, I)"):  # the fitted-Gaussian rows are read as partners below
            continue
        model = label.removesuffix(", N(0, I)")
        if f"{model}, fitted Gaussian" in rows:
            fit_q = rows[f"{model}, fitted Gaussian"]
            out[model] = (float(q["confidence"] - fit_q["confidence"]),
                          float(q["nearest_train"] - fit_q["nearest_train"]))
    return out
    ### END SOLUTION


effect = prior_effect(rows)

# %% nbgrader={"grade": true, "grade_id": "ex4_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
assert type(effect) is dict, f"prior_effect should return a dict, got {type(effect).__name__}"
assert all(type(k) is str for k in effect), f"the keys should be the models' names (str), got {list(effect)!r}"
assert sorted(effect) == ["AE 2-D", "rec.-only 8-D"], (
    f"expected one entry per model with both priors, 'AE 2-D' and 'rec.-only 8-D', got {sorted(effect)}")
assert all(type(v) is tuple and len(v) == 2 and all(type(u) is float for u in v) for v in effect.values()), (
    "each value should be a tuple of two Python floats: (change in confidence, change in distance)")
### BEGIN HIDDEN TESTS
for _mod in ("AE 2-D", "rec.-only 8-D"):
    _n, _f = rows[f"{_mod}, N(0, I)"], rows[f"{_mod}, fitted Gaussian"]
    _want = (_n["confidence"] - _f["confidence"], _n["nearest_train"] - _f["nearest_train"])
    assert np.allclose(effect[_mod], _want, atol=1e-6), (
        f"{_mod}: got {effect[_mod]}, expected {_want}: N(0, I) minus fitted Gaussian, confidence first")
_toy = {"real": {"confidence": 0.9, "nearest_train": 1.0},
        "A, N(0, I)": {"confidence": 0.2, "nearest_train": 3.0},
        "A, fitted Gaussian": {"confidence": 0.7, "nearest_train": 1.5},
        "B, N(0, I)": {"confidence": 0.6, "nearest_train": 1.1},
        "C, fitted Gaussian": {"confidence": 0.4, "nearest_train": 2.0}}
_got = prior_effect(_toy)
assert type(_got) is dict and all(type(k) is str for k in _got) and all(
    type(v) is tuple and len(v) == 2 and all(type(u) is float for u in v) for v in _got.values()), (
    f"on other rows prior_effect should still return a dict of str -> tuple of two Python floats, got "
    f"{type(_got).__name__} {_got!r}")
assert sorted(_got) == ["A"], f"only model A has both rows, got {sorted(_got)}"
assert np.allclose(_got["A"], (-0.5, 1.5)), f"model A: expected (-0.5, 1.5), got {_got['A']}"
assert effect["rec.-only 8-D"][1] > effect["AE 2-D"][1] + 0.2 and effect["AE 2-D"][1] > 0  # the model answer's claims
assert effect["AE 2-D"][0] < effect["rec.-only 8-D"][0] < 0
### END HIDDEN TESTS
print("Exercise 4 (a) passes the visible checks (more run when it is graded). From the fitted Gaussian to N(0, I):")
for _mod, (_dc, _dd) in effect.items():
    print(f"  {_mod:14s} confidence {_dc:+.2f}, distance to the nearest training digit {_dd:+.2f}")

# %% [markdown]
# (b) In one paragraph (4-6 sentences): which model's pictures move farther from the training digits when its codes come from $N(0, I)$, and which loses more confidence? Cite the four changes printed above, and explain each with section 3's pictures of the decoded codes, the end of section 3 (*Where do the random codes land?*: where each model's $N(0, I)$ codes lie compared with its training codes) and section 4's −1.5 … 1.5 grid. A teacher grades this answer.

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex4_written", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# The 8-D reconstruction-only model's pictures move much farther from the training digits (distance +0.39, against +0.08 for the 2-D AE), while the 2-D AE loses more confidence (−0.18, against −0.11). Neither model was trained towards $N(0, I)$, but the 2-D AE's $N(0, I)$ codes land among its training codes (0.09 from the nearest, against a spacing of 0.14), so its pictures stay about as close to training digits (1.23 against 1.15); they pile up, though, in the centre where several classes crowd (neighbour agreement 0.56, against 0.70 for fitted-Gaussian codes; in section 4's −1.5 … 1.5 grid the pictures are 9s, 3s and dark blends between them and 8s, with thick dark strokes in the upper right, and the scatter there mixes 2s, 3s, 5s, 8s and 9s, with 1s, 2s and 8s in the upper right), so the classifier is less sure of them (0.52 against 0.69 in section 3's table; the −0.18 above is the difference before rounding). The 8-D model's fitted-Gaussian codes already land far from its training codes (3.84, against a spacing of 2.10) and still decode to pictures 1.27 from the nearest training digit; its $N(0, I)$ codes land farther still (4.87), deeper into space where its decoder never trained, and there it draws pictures farther from every training digit (1.66, against 1.20 for the real test digits), of which the classifier is still 0.55 sure on average. So the two lose confidence for different reasons, and the 8-D model loses less of it (−0.11) although its codes land farther out. Section 3's pictures show why: far from its data the 8-D decoder draws hazy pictures with grey backgrounds and broken strokes, which the distance to the nearest training digit punishes most, but they differ from each other and a few still hold one clear digit (a 2), while the 2-D AE's codes stay near the data but in the centre where classes meet, so it draws mostly 3s and 8-like loops, blends the classifier is unsure of (section 4's grid shows those blends there).
# ### END SOLUTION
