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
# # 00 · Introduction: what it means to generate
#
# A notebook series after Hung-yi Lee's lecture **"Unsupervised Learning: Generation"** (ML 2016, National Taiwan University).
#
# **Learning goals.** After this notebook you can
# 1. say what "generation" means in the lecture, and why being able to *create* data is a test of understanding it;
# 2. name the three families of generative models the lecture covers and what each one generates from;
# 3. find your way around the series: the two data sets, the order of the notebooks, sliders, exercises and checkpoints.

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
from matplotlib.figure import Figure

from helpers.core.data import load_digits, load_pokemon
from helpers.evaluate.sprite_stats import NEAR, background_colours
from helpers.notebook.plot import show_digits, show_sprites
from helpers.notebook.setup_check import check_setup, report
from helpers.notebook import setup
from helpers.registry import describe, recipes

gen = setup(seed=0)  # one seed per notebook: reruns draw the same pictures

# %% [markdown]
# ## 1. Creation
#
# > *"What I cannot create, I do not understand."* — Richard Feynman (quoted on slide 3 of the lecture)
#
# A classifier learns to *tell apart* things it is shown. A generative model learns enough about the data to *make new examples* of it: draw a Pokémon nobody has drawn, write a digit nobody has written. To do that it has to capture the structure of the data itself — which pixels go together, which colours sit next to which — with no labels at all. That is why the lecture files generation under **unsupervised learning**.
#
# Mathematically, a generative model is a probability distribution $P(x)$ over whole images $x$ that we can **sample** from (draw new $x$) and, for some families, **evaluate** (how likely is this $x$?). The series builds such models and checks both.

# %% [markdown]
# ## 2. The two data sets
#
# **Pokémon** (the lecture's running example, slides 8-10): 792 sprites of 20×20 pixels. Their colours were clustered into 167, so every pixel is one *index* into a colour map — a category, not an RGB number. The files come from the course's web page; the first call to `load_pokemon()` downloads them into `data/pokemon/` and checks them (shape, values, checksum).
#
# **Digits**: scikit-learn's 1,797 hand-written digits of 8×8 pixels with 17 grey levels. They ship inside scikit-learn, so they need no download, and they are small: every digits model of the series trained in at most a few minutes on the CPU, while the longest-training Pokémon model took more than an hour (the cell after the next prints both, from the shipped **checkpoints**: the files in `data/checkpoints/` that hold a trained model's weights, so that a notebook loads a model instead of training it; section 4 says more).
#
# Both come with a fixed split (train / validation / test) that every notebook shares, so numbers compare across notebooks. Models learn from the training split; the validation split decides when to stop and which settings to keep; the test split is **held out**: no model trains on it, so a score there says how well a model does on images it has never seen. Settings are meant to be chosen on the validation split; where the series looked at test scores while choosing (it set itself targets on the test split, as README.md's tuning notes say, and notebook 02's completion explorer shows whichever of two finished models scores lower there), a test score may be a little optimistic (notebook 05 §7 says so for its MADE-decoder VAE).

# %%
# NBVAL_CHECK_OUTPUT
# (the marker above is for the series' tests: they re-run this cell and compare its printed output with the stored one)
pokemon, digits = load_pokemon(), load_digits()
poke_train, poke_valid, poke_test = pokemon.split()
dig_train, dig_valid, dig_test = digits.split()
white = (pokemon.images == 0).mean()
print(f"Pokémon: {pokemon.images.shape[0]} sprites of {pokemon.images.shape[1]}x{pokemon.images.shape[2]}, "
      f"{len(pokemon.colormap)} colours, colour 0 (white background) = {white:.1%} of pixels")
print(f"  split train/valid/test = {len(poke_train)}/{len(poke_valid)}/{len(poke_test)}; "
      f"poke_train: shape {tuple(poke_train.shape)}, dtype {poke_train.dtype}")
print(f"Digits: {digits.images.shape[0]} images of {digits.images.shape[1]}x{digits.images.shape[2]}, grey levels {digits.images.min()}..{digits.images.max()}")
print(f"  split train/valid/test = {len(dig_train)}/{len(dig_valid)}/{len(dig_test)}")

# %%
# how long the shipped models took to train (their checkpoints record it; `python -m helpers.registry list` shows all)
trained = {name: (r.data, describe(name)["meta"]) for name, r in recipes().items() if r.data in ("digits", "pokemon")}
assert all(meta.get("seconds") for _, meta in trained.values())  # every model records its training time
longest = {data: max((meta["seconds"], name, meta["device"]) for name, (d, meta) in trained.items() if d == data)
           for data in ("digits", "pokemon")}
for data, (seconds, name, device) in longest.items():
    count = sum(d == data for d, _ in trained.values())
    print(f"longest training among the {count} {data} models: {name}, {seconds / 60:.1f} min, trained on: {device}")
assert all(meta["device"].startswith("cpu") for d, meta in trained.values() if d == "digits")  # "on the CPU"
assert longest["digits"][0] < 10 * 60 and longest["pokemon"][0] > 60 * 60  # minutes for digits, hours for Pokémon

# %% [markdown]
# Real data, before any model: 32 Pokémon from the training split and 32 digits. Look at how most sprites are a body with a dark outline on a white background (the white colour 0 printed above), how most of the bodies still reach at least one edge of their frame (the cell counts them), and how blocky the digits are at 8×8 pixels, yet still readable.

# %%
fig = Figure(figsize=(11, 4.2), layout="constrained")
left, right = fig.subplots(1, 2, width_ratios=[1, 1])
show_sprites(poke_train[:32], pokemon.colormap, ncols=8, ax=left, title="Pokémon (20×20, 167 colours)")
show_digits(dig_train[:32], ncols=8, ax=right, title="Digits (8×8, 17 grey levels)")
rgb = pokemon.colormap.astype(int)
steps = np.abs(rgb[:, None] - rgb[None]).max(-1)  # (167, 167): the largest RGB difference of two palette colours
twinned = int(((steps <= NEAR).sum(1) > 1).sum())  # colours with another within NEAR RGB steps in every channel
near_white = int(background_colours(pokemon.colormap).sum())  # white and the colours within NEAR steps of it
print(f"the colour map: {twinned} of its {len(rgb)} colours have a near-twin (another colour within {NEAR} RGB steps "
      f"in every channel); {near_white} colours are white or within {NEAR} steps of it")
assert twinned > len(rgb) // 2 and near_white >= 3  # Exercise 1: "near-identical ones"
shown = poke_train[:32].numpy()
border = np.concatenate([shown[:, 0], shown[:, -1], shown[:, :, 0], shown[:, :, -1]], axis=1)  # (32, 80) edge pixels
touching = int((border != 0).any(axis=1).sum())
print(f"{touching} of the 32 sprites shown have a non-white pixel on an edge of their frame")
assert touching > 16  # "most"
fig

# %% [markdown]
# ## 3. Three families of generative models
#
# The lecture names three ways to build $P(x)$ you can sample from:
#
# | family | how an image is made | notebooks |
# |---|---|---|
# | **Component by component** (the lecture's example is PixelRNN, a recurrent neural network, **RNN**, that reads the pixels drawn so far) | one pixel at a time, each drawn from $P(x_i \mid x_1,\dots,x_{i-1})$, the distribution of pixel $i$ given the pixels before it | 01, 02, 03 |
# | **Autoencoder → variational autoencoder (VAE)** | an autoencoder learns to squeeze an image into a short code and rebuild it (an encoder and a decoder); the VAE makes the codes random, so that a random code $z$ put into the decoder gives a whole new image | 04, 05, 06, 07 |
# | **Generative adversarial network (GAN)** | **noise** (a random input vector, like the VAE's random code) into a generator, a network trained against a discriminator that tells real from fake | 08 |
#
# Notebook 09 then sets the three families side by side on the same sprites.
#
# The picture below shows the first family's idea on a real sprite: the image appears in raster order, one pixel after another, row by row from the top. Read it left to right: the tips of the ears come first (after 40 and 100 pixels), the olive patch of its lowest rows at the end (from about pixel 320). Notebook 01 starts exactly here.

# %%
sprite = poke_test[0].numpy()
steps = [0, 40, 100, 160, 220, 280, 340, 400]
not_yet = np.stack([np.arange(400).reshape(20, 20) >= s for s in steps])  # True: not generated yet
fig = show_sprites(np.broadcast_to(sprite, not_yet.shape), pokemon.colormap, ncols=len(steps), scale=1.3,
                   covered=not_yet, title="Component by component: a held-out sprite after 0, 40, 100, … 400 "
                   "pixels in raster order (blue-grey: not yet drawn)")
fig

# %% [markdown]
# ## 4. How to use the series
#
# - **Order.** Work through the notebooks in number order: 00 → 09. Each of 01-09 states its goals at the top, teaches one idea per section and ends with a summary and exercises.
# - **Running.** Every notebook runs top to bottom in under two minutes on two CPU cores (`make bench` times each one run alone: the table in `benchmarks/latest.md`). Models that take longer to train are trained once by `make checkpoints` and shipped in `data/checkpoints/`; a notebook loads them ("train or load"). What a notebook trains itself is small: short demonstration runs and, in 08, toy GANs on 2-D points, trained from scratch (08 prints each run's time). Delete a checkpoint and the notebook trains it again.
# - **Where.** In JupyterLab on your machine (`make lab`), or with nothing installed: every notebook opens in Colab (Google's hosted notebooks) or Binder (a free service that starts a notebook server for a public repository) from the README or the web edition, and the first code cell of each notebook fetches the series (its `helpers` package and the checkpoints with it) when `helpers` cannot be imported, as on Colab. The web edition (`make book`) is for reading: outputs, figures and math, with no **kernel** (the Python process that runs a notebook's cells); only a few of its panels run in the page (below).
# - **Sliders.** Notebooks 02, 04, 05 and 09 have sliders: drag them and the pictures change. They need a running kernel (JupyterLab, Colab, Binder). The web edition runs 05's panels in the page itself, with no kernel, and for 02 a panel of its own around the LSTM-512 (the notebook's explorer uses the 2-D model); for 04's and 09's it shows a note where the panel would be, and the notebook's static figures of the same codes stand in.
# - **Exercises.** Each notebook ends with exercises. Write your answer in the cell marked as the solution (in the student version it raises `NotImplementedError` until you replace that line); the test cell after it tells you what is wrong. Teachers get a student version with the solutions removed.
# - **Seeds.** `setup(seed=0)` in the setup cell (the second code cell, after the Colab fetch cell; 01, 03 and 08, whose small networks run faster on one thread, also pass `threads=1`, and 02 and 09 pass `threads=2`; the others use torch's default) seeds Python, NumPy and torch, which makes every rerun on the same machine draw the same pictures and print the same numbers, except the times that some cells print (how long a training run or a batch of samples took), which depend on the machine and how busy it is. Another kind of CPU can print numbers of trained models that differ in the last digit shown (float rounding differs), and a GAN trained there ends elsewhere. `setup` also makes the CPU treat numbers too small for float32's normal range (below about 1e-38) as 0: some CPUs, Intel's among them, compute such numbers very slowly, and the trained convolutional pixel-by-pixel models (PixelCNNs: networks that compute each pixel's distribution from small windows of its neighbours, the same small filter slid over the whole image, which is what "convolutional" means) of 02 and 09 produce them (`make bench`, block `denormals`, times one evaluation of such a model both ways).
#
# ## 5. Set-up check
#
# If you got this far, the cells above have already imported torch, NumPy and matplotlib and loaded both data sets (the Pokémon files were downloaded by `load_pokemon()` in section 2, the first time). This cell goes through the main packages the series needs one by one, with its version, among them ipywidgets, which only the sliders of later notebooks use, Pillow, the image library that matplotlib and the sliders draw with, SciPy, which the sprite statistics use, and scikit-learn, which besides the digits supplies the Gaussian mixture (a weighted sum of Gaussian bell curves, notebook 06's subject) that notebook 06 checks its own against; it checks torch's version against the tested one and loads both data sets again. If a line says MISSING, it says how to fix it; a WARNING (say, another torch version on Colab) lets you go on. (Had torch, NumPy, matplotlib, Pillow or SciPy been missing, the setup cell at the top would already have stopped with an `ImportError`; a missing scikit-learn would have stopped section 2's `load_digits()`, and a missing tqdm the first download in section 2, whose progress bar it draws. ipywidgets is first needed in later notebooks, so this check is where a missing one shows first. `make lab`, run from the repository root, installs everything.)

# %%
checks = check_setup()
print(report(checks))
assert all(c.ok for c in checks), "fix the MISSING lines above, then run this cell again"

# %% [markdown]
# ## Summary
#
# - Generating data is a test of understanding it; a generative model is a distribution $P(x)$ we can sample from.
# - The series follows the lecture's three families: component by component, autoencoders/VAEs, GANs.
# - Pokémon pixels are **categories** (one of 167 colours), digits have 17 grey levels; both have fixed splits.
#
# ## Exercises
#
# The splits are torch tensors: `poke_train` is a `(640, 20, 20)` tensor of colour indices (`torch.int64`, 64-bit integers, also called "long"; both printed in section 2) (`poke_valid` and `poke_test` are the same kind of tensor, with 72 and 80 sprites), while `pokemon.images`, all 792 sprites, is a NumPy array.
#
# **Exercise 1.** How many *different* colours does the first training Pokémon, `poke_train[0]`, use, counting its white background (colour 0) as one of them? Count colour indices, not the shades your eye tells apart: the 167 clustered colours include near-identical ones (section 2's figure cell counts them), so the answer is larger than what you see in section 2's picture (where `poke_train[0]` is the top-left sprite). Store the number in `n_colours`, an integer: a Python `int`, a NumPy `int64` or `int32`, or a one-element integer torch tensor.

# %% nbgrader={"grade": false, "grade_id": "ex1_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
n_colours = len(torch.unique(poke_train[0]))
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex1_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
assert not isinstance(n_colours, bool) and (
    any(type(n_colours) is _t for _t in (int, np.int64, np.int32))
    or (type(n_colours) is torch.Tensor and n_colours.numel() == 1 and not n_colours.is_floating_point())), (
    f"n_colours should be an integer, got {type(n_colours).__name__}; use len(...) or int(...)")
n_colours = int(n_colours)
assert 2 <= n_colours <= 167, (
    f"{n_colours} colours: a sprite has its white background and at least one body colour, and there are only 167")
### BEGIN HIDDEN TESTS
assert n_colours == int(np.unique(poke_train[0].numpy()).size), "not the number of distinct colour indices in poke_train[0]"
### END HIDDEN TESTS
print("Exercise 1 passes the visible checks (more run when it is graded):", n_colours, "colours")

# %% [markdown]
# **Exercise 2 (the simplest model fitted to the data).** Section 1 said a generative model is a distribution $P(x)$ that we can sample from and, for some families, evaluate. The crudest model fitted to the data ignores all structure but the colour frequencies: it draws **every pixel independently** from one colour distribution $q$, so $\log_2 P(x)=\sum_{\text{pixels } j}\log_2 q(x_j)$. This is, up to its smoothing, the baseline the component-by-component models of notebook 02 are measured against (there it is called the "unigram"); notebook 02 measures how much letting each pixel depend on the ones before it saves.
#
# Build it in two steps.
# 1. Fit $q$ on the **training** split by counting colours with add-one smoothing, $q(k)=\dfrac{\#\{\text{training pixels of colour } k\}+1}{\#\{\text{training pixels}\}+167}$, so that no colour gets probability 0 (a held-out pixel of a colour absent from training would otherwise be impossible). Store it in `freq`, a float tensor of shape `(167,)`.
# 2. Score the **held-out** sprites `poke_test` with it: store in `bits_per_pixel` (a float: a Python float, or a NumPy one) the mean of $-\log_2 q(x_j)$ over all their pixels — how many bits per pixel this model needs to encode sprites it has never seen. (Why bits: a code that gives each outcome of probability $p$ a codeword of $-\log_2 p$ bits, short ones for likely outcomes, is the shortest possible on average, so $-\log_2 P(x)$ is the length of $x$ in the model's best code. Notebook 02 uses this unit throughout.)
#
# Once the test passes it prints your number beside uniform guessing, $\log_2 167$ bits per pixel, and how much knowing the colour frequencies alone saves.

# %% nbgrader={"grade": false, "grade_id": "ex2_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
counts = torch.bincount(poke_train.flatten(), minlength=167).double()
freq = (counts + 1) / (counts.sum() + 167)
bits_per_pixel = float(-torch.log2(freq[poke_test.flatten()]).mean())
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex2_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
assert type(freq) is torch.Tensor and freq.is_floating_point(), f"freq should be a float tensor, got {type(freq).__name__}"
assert freq.shape == (167,), f"freq should have shape (167,), got {tuple(freq.shape)}"
assert bool((freq > 0).all()), (
    f"{int((freq <= 0).sum())} colours get probability <= 0; with add-one smoothing every colour gets some")
assert abs(float(freq.sum()) - 1) < 1e-5, f"freq should sum to 1, sums to {float(freq.sum()):.6f}"
assert any(type(bits_per_pixel) is _t for _t in (float, np.float64, np.float32)), (
    f"bits_per_pixel should be a float, got {type(bits_per_pixel).__name__}; use float(...)")
uniform_bits = float(np.log2(167))
assert 0 < bits_per_pixel < uniform_bits, (
    f"bits_per_pixel = {bits_per_pixel:.3f}: a per-pixel cost fitted to the colours should lie between 0 and "
    f"the {uniform_bits:.2f} bits of uniform guessing over 167 colours")
### BEGIN HIDDEN TESTS
ref_counts = np.zeros(167)
np.add.at(ref_counts, poke_train.numpy().ravel(), 1.0)
ref_freq = (ref_counts + 1) / (ref_counts.sum() + 167)
assert np.allclose(freq.double().numpy(), ref_freq, rtol=1e-5, atol=0), (
    f"freq differs from the add-one smoothed training frequencies by up to "
    f"{np.abs(freq.double().numpy() / ref_freq - 1).max():.1e} (relative)")
ref_bits = float(-np.log2(ref_freq[poke_test.numpy().ravel()]).mean())
assert abs(bits_per_pixel - ref_bits) < 1e-4, f"bits_per_pixel = {bits_per_pixel:.4f}, expected {ref_bits:.4f}"
### END HIDDEN TESTS
print(f"Exercise 2 passes the visible checks (more run when it is graded): independent pixels "
      f"{bits_per_pixel:.2f} bits per held-out pixel, uniform guessing {uniform_bits:.2f}, "
      f"saving {uniform_bits - bits_per_pixel:.2f} bits per pixel ({20 * 20 * (uniform_bits - bits_per_pixel):.0f} per sprite)")
