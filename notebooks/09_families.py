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
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 09 · The three families side by side
#
# The lecture names three ways to generate (slides 5 and 15): **component by component** (notebooks 01-03), the **autoencoder** family (04-07) and the **generative adversarial network** (08). Each notebook judged its family on its own terms. This one puts them next to each other on the same 640 training sprites and 80 held-out sprites: how a GAN's pictures evolve while it trains, what its code does under sliders, and then pictures, likelihoods, speed and four sprite statistics for one model of each family (and notebook 02's 2-D model), and last whether a classifier can tell samples from real sprites, for the one-pass families and a GAN trained with augmentation (152 held-out sprites: the 72 validation and 80 test sprites together).
#
# **Learning goals.** After this notebook you can
# 1. read the "evolution of generation" figure and the sliders of a generator, and say what they show and what they do not;
# 2. compare models of different families with the measures each one allows: an exact likelihood, a bound, or none;
# 3. judge samples with statistics computed on many of them (such as the number of separate blobs in a sprite), and say why a distance to the nearest training sprite must count figure pixels only (the pixels that are not background) (over all 400 pixels a blank canvas would score much closer to the training set than real sprites do);
# 4. judge whole samples with a classifier that tries to tell them from real sprites, and say why a change that moves the averages towards real sprites need not fool it;
# 5. write the figure-pixel distance and the blob count yourself.

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
import math
import time

import numpy as np
import torch
from matplotlib.figure import Figure

from helpers.core.data import load_pokemon
from helpers.evaluate.sprite_stats import DARK, NEAR, STATS, background_colours, dark_colours, distance, sprite_stats, summary
from helpers.evaluate.two_sample import CHOSEN_TEMPERATURE, c2st, nearest_figure_distance
from helpers.models.autoencoders import decode_images
from helpers.models.image_gan import ImageGAN, colour_tv
from helpers.notebook import setup
from helpers.notebook.plot import show_digits, show_sprites
from helpers.notebook.widgets import LatentPanel, sweep_codes
from helpers.registry import get, recipe

gen = setup(seed=0, threads=2)
pokemon = load_pokemon()
poke = pokemon.split()
cmap = pokemon.colormap
gan_d, info_d = get("gan_digits")
gan_p, info_p = get("gan_pokemon")
zp = torch.randn(3, gan_p.cfg.latent, generator=torch.Generator().manual_seed(5))  # notebook 08's Pokémon codes
print(f"sprites: {len(poke[0])} training, {len(poke[1])} validation, {len(poke[2])} held-out (test)")
assert (len(poke[0]), len(poke[2])) == (640, 80)

# %% [markdown]
# ## 1. The evolution of generation
#
# Notebook 08 trained two GANs, on digits and on Pokémon. A GAN's generator turns a **code** $z$, a vector of random numbers drawn from a fixed distribution (the **prior**, here the standard normal $\mathcal N(0, I)$), into a picture. It is trained against a **discriminator**, a second network that learns to tell the generator's pictures from real ones, and the generator learns from the discriminator's judgement to make its pictures harder to tell apart. The **VAE** (variational autoencoder) of notebook 05 has a **decoder**, the half of the model that turns a code into a picture, which does the same with its own codes. While training, the same 8 codes were rendered at 8 moments (stored inside the checkpoint, the `evolution` buffer). Read down a column: one $z$'s picture, from the untrained generator's noise (top row) to the final picture (bottom row). On the left, after 571 steps every column shows much the same sparse, broken shape; by step 1,143 they are readable digits, yet several columns keep switching digit, some until the last rows (a 9 becomes a 5, a 6 becomes a 0, and late on a 9 opens into a 0-like loop). On the right the noise turns into patches of colour with dark speckles that keep changing shape to the end, and none becomes a recognisable creature.

# %% tags=["readme"]
fig = Figure(figsize=(12, 6), layout="constrained")
a, b = fig.subplots(1, 2)
for ax, g, draw in [(a, gan_d, lambda x, ax, t: show_digits(x, ncols=8, ax=ax, title=t)),
                    (b, gan_p, lambda x, ax, t: show_sprites(x, cmap, ncols=8, ax=ax, title=t))]:
    steps = ", ".join(str(int(s)) for s in g.evolution_steps)
    draw(g.evolution.long().flatten(0, 1), ax, f"rows: steps {steps}")
fig

# %% [markdown]
# ## 2. Sliders over z
#
# The latent panel of notebook 05 takes any function from a code to a picture, so it works for the generator unchanged: one slider per dimension of $z$ (8 for digits, 16 for Pokémon, printed below) and a "sample from the prior" button. It needs a live kernel; below it, a static sweep of two dimensions for pages where widgets cannot run.

# %%
print(f"code sizes: digits GAN {gan_d.cfg.latent}, Pokémon GAN {gan_p.cfg.latent}")
assert (gan_d.cfg.latent, gan_p.cfg.latent) == (8, 16)


def render(g: ImageGAN):
    def picture(z):
        idx = g.generate(z[None])[0]
        if g.cfg.data == "digits":
            return 1.0 - idx.numpy() / 16.0  # ink dark on white, as show_digits draws it
        return cmap[idx.numpy()].astype(np.float32) / 255.0
    return picture


gan_panel = LatentPanel(render(gan_p), gan_p.cfg.latent, scale=14, generator=torch.Generator().manual_seed(2),
                        z0=zp[0])
gan_panel

# %%
digit_panel = LatentPanel(render(gan_d), gan_d.cfg.latent, scale=20, generator=torch.Generator().manual_seed(2))
digit_panel

# %%
vals = np.linspace(-2, 2, 7)
sweep = gan_p.generate(sweep_codes(zp[0], (0, 1), vals))
fig = Figure(figsize=(6, 6), layout="constrained")
show_sprites(sweep, cmap, ncols=7, ax=fig.subplots(), title="Pokémon GAN: rows z[0] = -2 … 2, columns z[1] = -2 … 2")
fig

# %% [markdown]
# ## 3. One model of each family, on the same sprites
#
# Four models: two of the component-by-component family and one each of the other two families, each from the notebook that teaches it. They are the lecture's **LSTM-512** of notebook 02 (`pixel_lstm512_wd`: a recurrent network, a long short-term memory of 512 cells, that reads the sprite's pixels one at a time and gives the probabilities of the next pixel's colour), notebook 02's **2-D model** (the gated PixelCNN `context2d_96x10`: a stack of convolutions masked so that each pixel's colour probabilities are computed from pixels drawn before it, read as a 2-D picture (the rows above it, and the pixels to its left in its row) rather than as one long sequence; "gated": each layer after the first multiplies a tanh branch by a sigmoid branch, the gate, whose values between 0 and 1 decide how much of it passes; 02 also averages three such models), the lecture's **VAE** with a 10-D code (sizes printed below) of notebook 05 (not 05's PixelVAE, the "what it takes" step) and the **GAN** of notebook 08. Each draws 64 sprites from scratch with the same seed: the two pixel-by-pixel models at the temperature notebook 02 chose for each (a **temperature** τ divides a model's scores for the colours of the next pixel before they become probabilities: τ < 1 sharpens each pixel's distribution towards its likely colours, τ > 1 flattens it towards rare ones, τ = 1 is the model's own distribution); notebook 02 chose it with a classifier that tries to tell drawings from real validation sprites (section 5 explains that test; `CHOSEN_TEMPERATURE`, printed below; the likelihoods below are those of τ = 1), the VAE with $z$ from the prior and each pixel's most probable colour, the GAN with each pixel's most probable colour. We time each draw.

# %%
lstm, info_lstm = get("pixel_lstm512_wd")
cnn, info_cnn = get("context2d_96x10")
pvae, info_pvae = get("pokemon_vae")
N = 64
tau = CHOSEN_TEMPERATURE
print(f"temperatures chosen in notebook 02: LSTM-512 τ = {tau['pixel_lstm512_wd']}, 2-D model τ = {tau['context2d_96x10']}")
print(f"the VAE's code: {pvae.cfg.latent} dimensions; the 2-D model: {cnn.cfg.layers} gated layers of {cnn.cfg.channels} channels; "
      f"the LSTM-512: {lstm.lstm.num_layers} LSTM layer of {lstm.cfg.hidden} cells")
assert (pvae.cfg.latent, cnn.cfg.layers, lstm.lstm.num_layers, lstm.cfg.hidden) == (10, 10, 1, 512)
drawers = {
    "LSTM-512 (02)": lambda g: lstm.sample(N, generator=g, temperature=tau["pixel_lstm512_wd"]),
    "2-D model (02)": lambda g: cnn.sample(N, generator=g, temperature=tau["context2d_96x10"]),
    "VAE, 10-D (05)": lambda g: decode_images(pvae, pvae.sample_prior(N, g), "mode"),
    "GAN (08)": lambda g: gan_p.sample(N, generator=g),
}
drawn, seconds = {}, {}
for name, draw in drawers.items():
    t0 = time.perf_counter()
    with torch.no_grad():
        drawn[name] = draw(torch.Generator().manual_seed(1))
    seconds[name] = time.perf_counter() - t0
    print(f"{name:15s}: {N} sprites in {seconds[name]:6.2f} s (times depend on the machine and its load)")
lstm_name, cnn_name, vae_name, gan_name = drawers

# %% tags=["readme"]
fig = Figure(figsize=(15, 3.6), layout="constrained")
shown = {"held-out sprites": poke[2], **drawn}
for ax, (name, x) in zip(fig.subplots(1, len(shown)), shown.items()):
    show_sprites(x[:16], cmap, ncols=4, ax=ax, title=name)
fig.suptitle("real held-out sprites and the first 16 of each model's 64 samples, drawn from scratch "
             "(the LSTM and the 2-D model at the τ notebook 02 chose)")
fig

# %% [markdown]
# By eye: the 2-D model's samples are mostly one figure with a dark outline, its regions of colour sprinkled with stray pixels of other colours; the LSTM's figures are more broken up into separate specks; the VAE's are solid grey blobs (mostly a single grey; section 4 prints which, and how its darkness compares with the dark grey real sprites use most) and patches of colour on a lot of white; the GAN's are speckled patches of colour, often several per sprite. Section 4 counts such things over all 64 samples of each family instead of trusting the 16 shown: the LSTM does draw more separate blobs per sprite than the 2-D model, as the eye saw, while by outline and by colours per sprite the two are about equal.

# %% [markdown]
# **Numbers for each.** Held-out likelihood where the model has one, as **bits per pixel**: $-\log_2$ of the probability the model gives each held-out pixel's colour, averaged over the pixels (fewer bits = the model predicts real sprites better; a **nat** is the same with the natural logarithm, 1 nat = 1.44 bits) (exact for the two pixel-by-pixel models; for the VAE the −ELBO (the negative evidence lower bound, which notebooks 05 and 07 explain) on the test sprites stored with its checkpoint, an estimate of an upper bound on bits (notebook 05 prints it in nats); none for the GAN), how far the colour histogram is from the training sprites' (`colour_tv`: each pixel's RGB colour falls into one of 8 × 8 × 8 cells; the **total variation** between two histograms is half the sum of the absolute differences of their shares, the share of pixels that would have to move to another cell to turn one into the other: 0 = identical, 1 = no cell in common) and how much of each sample's **figure** differs from its nearest training sprite. That last measure counts only figure pixels (non-background in the sample or in the training sprite; **background** is white and the near-whites within 8 RGB steps of it, `background_colours`, which the eye cannot tell from white) and takes the training sprites and their mirror images; 0 is a copy. It compares colour indices, so two near-identical palette entries (notebook 08 §4) count as different colours; the references below are measured the same way. Counting all 400 pixels instead would reward empty pictures: a mostly white sample agrees with every sprite's background (the cell prints that version too, for the blank canvas and the held-out sprites). To read it we print it beside three references: the real held-out sprites (which are not copies), a blank white canvas and plain grey discs.

# %%
bits = {
    lstm_name: f"{info_lstm['metrics']['test_bpp']:.2f} (exact)",
    cnn_name: f"{info_cnn['metrics']['test_bpp']:.2f} (exact)",
    vae_name: f"{info_pvae['metrics']['test_neg_elbo_nats'] / (400 * math.log(2)):.2f} (-ELBO estimate)",
    gan_name: "none: a GAN has no likelihood",
}
tv, novel, closest = {}, {}, {}
BINS = 8  # colour_tv's cells per RGB channel
print(f"colour TV: RGB cut into {BINS} x {BINS} x {BINS} cells; background: white and the colours within {NEAR} "
      f"RGB steps of it in every channel (background_colours)")
assert (BINS, NEAR) == (8, 8), "the text above says 8 x 8 x 8 cells and 8 RGB steps"
print(f"{'model':15s} {'held-out bits/pixel':30s} {'s per sprite':>12s} {'colour TV':>10s} {'figure differs':>15s}"
      f" {'(closest sample)':>17s}")
for name, x in drawn.items():
    tv[name] = colour_tv(x, poke[0], gan_p.palette, bins=BINS)
    differs = nearest_figure_distance(x, poke[0], cmap)
    novel[name], closest[name] = float(np.median(differs)), float(np.min(differs))
    print(f"{name:15s} {bits[name]:30s} {seconds[name] / N:12.4f} {tv[name]:10.2f} {novel[name]:14.0%} {closest[name]:17.0%}")
grey_idx = int(np.abs(cmap[:, :3].astype(float) - 128).sum(1).argmin())  # the palette's colour nearest mid-grey
yy, xx = np.mgrid[:20, :20]
references = {
    f"real held-out sprites ({len(poke[2])})": poke[2],
    "a blank white canvas": np.zeros((1, 20, 20), dtype=np.int64),
    "plain grey discs (radius 4, 6, 8)": np.stack([np.where((yy - 9.5) ** 2 + (xx - 9.5) ** 2 <= r * r, grey_idx, 0)
                                                   for r in (4, 6, 8)]),
}
ref_novel, ref_closest = {}, {}
for name, x in references.items():
    differs = nearest_figure_distance(x, poke[0], cmap)
    ref_novel[name], ref_closest[name] = float(np.median(differs)), float(np.min(differs))
    print(f"reference: {name:34s} figure differs from the nearest training sprite: {ref_novel[name]:.0%} (median), "
          f"{ref_closest[name]:.0%} (closest)")
train_both = np.concatenate([np.asarray(poke[0]), np.asarray(poke[0])[:, :, ::-1]]).reshape(-1, 400)  # with mirrors
all_pixels = {name: float(np.median([(np.asarray(x).reshape(400) != train_both).mean(1).min() for x in references[name]]))
              for name in (f"real held-out sprites ({len(poke[2])})", "a blank white canvas")}
print("counting all 400 pixels instead: " + ", ".join(f"{k} {v:.0%}" for k, v in all_pixels.items()))
assert all_pixels["a blank white canvas"] < all_pixels[f"real held-out sprites ({len(poke[2])})"] / 2

# %% [markdown]
# **Reading the numbers** (the cell below holds each sentence to them):
# - **Likelihood:** only the two pixel-by-pixel models have an exact one, and the 2-D model's is the better of the two. The VAE has a bound, far above both, and the GAN has none, so likelihood cannot rank all four.
# - **Speed:** the pixel-by-pixel models draw one pixel at a time, so they are by far the slowest, the 2-D model slower still than the LSTM (for every pixel it computes a new column of the horizontal stack of each of its eleven layers, the first one and ten gated ones, and at the start of each row a new row of each vertical stack, where the LSTM takes one step of its one layer); the VAE and the GAN draw a sprite in one pass.
# - **Colours:** the two pixel-by-pixel models match the training sprites' colour mix best; the VAE and the GAN are far off (section 4 shows one reason for the VAE: it paints much of its figure in one grey).
# - **Copies:** no family copies: every family's median sample differs from its nearest training sprite in most of the pixels that are figure in either of the two, about as much as a real held-out sprite does, and even each family's closest sample differs in more than 70% of them, as the closest held-out sprite does (75%; all printed). The same measure gives a plain grey disc a similar median score, and a blank canvas the largest possible, so it rules out copies (0 would be one) and says nothing more; it cannot rank the families.

# %%
# the claims of the text above, checked on every run
held_novel = ref_novel[f"real held-out sprites ({len(poke[2])})"]
exact = {lstm_name: info_lstm["metrics"]["test_bpp"], cnn_name: info_cnn["metrics"]["test_bpp"]}
vae_bound = info_pvae["metrics"]["test_neg_elbo_nats"] / (400 * math.log(2))
assert exact[cnn_name] < exact[lstm_name] < vae_bound, "the 2-D model has the best likelihood, the VAE's bound is above both"
assert seconds[cnn_name] > seconds[lstm_name], "the 2-D model is the slowest"
assert seconds[lstm_name] > 5 * max(seconds[vae_name], seconds[gan_name]), "one pass is far faster than 400 steps"
assert max(tv[lstm_name], tv[cnn_name]) < 0.5 * min(tv[vae_name], tv[gan_name]), "pixel-by-pixel models match the colours"
assert all(v > 0.7 and abs(v - held_novel) < 0.1 for v in novel.values()), "no copies: about as far as held-out sprites"
held_closest = ref_closest[f"real held-out sprites ({len(poke[2])})"]
assert held_closest > 0.7 and all(v > 0.7 and abs(v - held_closest) < 0.1 for v in closest.values()), "even the closest is no copy"
assert ref_novel["a blank white canvas"] == 1.0 and abs(ref_novel["plain grey discs (radius 4, 6, 8)"] - held_novel) < 0.1
print("checked: the 2-D model has the best likelihood and is the slowest; the pixel-by-pixel models match the colours; "
      "no family copies, and a plain disc scores like a real sprite")

# %% [markdown]
# ## 4. How Pokémon-like are the samples?
#
# The four statistics of notebook 02 (§6) on the same 64 samples per family, against the 80 held-out test sprites. A colour counts as **dark** when its luminance, the brightness the eye sees, $0.299R + 0.587G + 0.114B$ on a 0-1 scale (the Rec. 601 weights), is below 0.3 (`DARK`). The statistics: the share of **background** (white and near-white, as in section 3), the number of separate **blobs** (a creature is one), the share of the figure's border drawn in a **dark outline** colour, the number of distinct **colours**, and their distance from the held-out sprites' (in units of the held-out sprites' spread; 0 = the same means).

# %%
looks = {"held-out sprites": summary(poke[2], cmap)} | {name: summary(x, cmap) for name, x in drawn.items()}
apart = {name: distance(s, poke[2], cmap) for name, s in looks.items()}
bits["held-out sprites"] = ""
print(f"{'':18s}" + "".join(f"{k:>12s}" for k in STATS) + f"{'distance':>10s}   held-out bits/pixel")
for name, s in looks.items():
    print(f"{name:18s}" + "".join(f"{s[k]:12.2f}" for k in STATS) + f"{apart[name]:10.2f}   {bits[name]}")
vae_x = drawn[vae_name].numpy()
vae_figure = vae_x[~background_colours(cmap)[vae_x]]
vae_main = int(np.bincount(vae_figure).argmax())
vae_main_share = float((vae_figure == vae_main).mean())
print(f"the VAE's figures: {vae_main_share:.0%} of their pixels are one colour, RGB {tuple(int(c) for c in cmap[vae_main])}")
held_x = poke[2].numpy() if torch.is_tensor(poke[2]) else poke[2]
held_main = int(np.bincount(held_x[~background_colours(cmap)[held_x]]).argmax())
luminance = lambda c: float(np.dot(cmap[c][:3], [0.299, 0.587, 0.114]) / 255)  # Rec. 601, as the outline statistic
print(f"the held-out sprites' most common non-background colour: RGB {tuple(int(c) for c in cmap[held_main])}, "
      f"luminance {luminance(held_main):.2f}; the VAE's {luminance(vae_main):.2f}; outline-dark means below {DARK}")

# %% [markdown]
# **Reading the table.** Statistic by statistic:
# - **Blobs:** a real sprite is almost always one figure. The 2-D model comes closest; the LSTM drops specks beside its figure, and the GAN scatters its figure over several patches.
# - **Colours:** at the temperature notebook 02 chose, the two pixel-by-pixel models draw far too many colours per sprite (nearly twice as many as real sprites); the VAE and the GAN draw fewer than half as many.
# - **Outline:** the pixel-by-pixel models come closest to real sprites, though they outline their figures somewhat less often (their share of dark border pixels, printed in the table, is about 0.1 below the real sprites'). The VAE does so far less often (0.25 against 0.71 in the table): its figures are mostly one grey (printed under the table), lighter than the dark grey real sprites use most (luminance 0.19, printed) and just above the luminance under which a colour counts as outline-dark.
# - **Background:** the GAN's share of background (white and the near-white greys) is close to the real one, though it paints it in near-whites, never in pure white; on average more than half of a VAE sprite is background.
#
# Summed up in one number, the distance over the four statistics (the root mean square of the four gaps, each in units of the held-out sprites' spread), the four models are close to each other (printed: between about 1.9 and 2.2), the VAE's a little the furthest: each of the other three is nearest to real sprites in something (the 2-D model in blobs, one of the two pixel-by-pixel models in outline, where both sit about 0.1 below the real sprites, the GAN in background and in colours) and far in something else; the VAE is nearest in none. The classifier of notebook 02 chose τ = 1.1 for the pixel-by-pixel models, though for the LSTM these four averages would pick a lower τ (02 §6 prints which; for the 2-D model they were not computed at other τ, but its colours, nearly twice the real sprites' in the table above, point the same way): four averages are not "looks like a sprite". No single number ranks the families; each measure answers its own question.

# %%
# the claims above, checked on every run
held = looks["held-out sprites"]
fam = [lstm_name, cnn_name, vae_name, gan_name]
others = [n for n in fam if n != vae_name]
assert max(fam, key=apart.get) == vae_name and max(apart.values()) - min(apart[n] for n in fam) < 0.4
assert held["blobs"] < 1.2 and min(fam, key=lambda n: abs(looks[n]["blobs"] - held["blobs"])) == cnn_name
assert min(fam, key=lambda n: abs(looks[n]["background"] - held["background"])) == gan_name
assert min(fam, key=lambda n: abs(looks[n]["colours"] - held["colours"])) == gan_name
assert looks[lstm_name]["blobs"] > held["blobs"] + 0.5 and looks[gan_name]["blobs"] > held["blobs"] + 0.5
assert all(1.8 < looks[n]["colours"] / held["colours"] < 2.2 for n in (lstm_name, cnn_name))  # "nearly twice"
assert max(looks[vae_name]["colours"], looks[gan_name]["colours"]) < held["colours"] / 2
assert all(0.05 < held["outline"] - looks[n]["outline"] < 0.15 for n in (lstm_name, cnn_name))
assert min(fam, key=lambda n: abs(looks[n]["outline"] - held["outline"])) in (lstm_name, cnn_name)
print(f"pure white (colour 0) in the GAN's samples: {(drawn[gan_name] == 0).float().mean():.1%} of pixels; "
      f"in the held-out sprites: {(poke[2] == 0).float().mean():.1%}")
assert not (drawn[gan_name] == 0).any(), "the GAN paints its background in near-whites, never in colour 0"
assert looks[vae_name]["outline"] < held["outline"] / 2
assert looks[lstm_name]["blobs"] > looks[cnn_name]["blobs"] + 0.3, "the LSTM draws more separate blobs (section 3)"
assert abs(looks[lstm_name]["outline"] - looks[cnn_name]["outline"]) < 0.05, "about equal outline (section 3)"
assert abs(looks[lstm_name]["colours"] / looks[cnn_name]["colours"] - 1) < 0.1, "about equal colours (section 3)"
assert vae_main_share > 0.5 and np.ptp(cmap[vae_main]) < 10 and 70 < cmap[vae_main].mean() < 100, "a solid grey"
assert luminance(held_main) < DARK < luminance(vae_main) < DARK + 0.1, "lighter than the real outline grey, just not dark"
assert dark_colours(cmap)[held_main] and not dark_colours(cmap)[vae_main]
assert abs(looks[gan_name]["background"] - held["background"]) < 0.05 and looks[vae_name]["background"] > 0.5
print("checked: the table's order and each statistic's sentence")

# %% [markdown]
# ## 5. Can a classifier tell them from real sprites? And a GAN trained with augmentation
#
# Four averages miss much of what makes a sprite look like one. Notebook 02 (§6) judges drawings with the **classifier two-sample test** (C2ST; Lopez-Paz and Oquab, ICLR 2017; `helpers.evaluate.two_sample.c2st`): a small convolutional network is trained to tell drawn sprites from real ones, and its accuracy is measured on sprites it was not trained on (cross-validation with `FOLDS` parts, printed below: the sprites are cut into that many parts and each part is classified by a network trained on the others; repeated `REPEATS` times with new parts and new weights; ± is the spread over the repeats). If the drawings came from the same distribution as the real sprites, no classifier could beat chance, 50%; the further above, the more visibly they differ. A first line calibrates it: real against real (the held-out sprites against as many training sprites).
#
# Here it judges the two families that draw a sprite in one pass, against all 152 held-out sprites (the 72 validation and the 80 test sprites), with 152 samples each: the VAE and the GAN of section 3, and one more GAN. The two pixel-by-pixel models are left out: notebook 02 tests them (against its validation sprites) and chose their τ with this test, and drawing 152 more sprites with them would lengthen this notebook (section 3 prints their time per sprite).
#
# **The GAN with differentiable augmentation.** 640 training sprites are few for a GAN. DiffAugment (Zhao et al., NeurIPS 2020) is a remedy designed for small data sets, where, its authors found, the discriminator comes to recognise the few real images it is shown: every image the discriminator judges, real or generated, is first changed at random, shifted by a few pixels and with a square blanked out (a **cutout**, painted in the image's top-left colour). Both changes are differentiable, so the generator still gets its gradient through them; and because real and generated images are changed alike, the generator gains nothing by drawing shifted or cut-out sprites. `gan_pokemon_diffaug` is section 3's GAN (the networks and remedies of notebook 08) trained this way, and for twice as many steps (the cell below prints its settings): with one run of each, what changes between the two GANs cannot be split between the augmentation and the longer training.

# %%
gan_aug, info_aug = get("gan_pokemon_diffaug")
held_all = torch.cat([poke[1], poke[2]])  # validation + test: the 152 held-out sprites
n2 = len(held_all)
side = held_all.shape[-1]  # 20 pixels
shift, hole = int(round(gan_aug.cfg.translate * side)), int(round(gan_aug.cfg.cutout * side))  # as diff_augment computes them
print(f"gan_pokemon_diffaug: each image shifted by up to {shift} pixels in each direction (translate = "
      f"{gan_aug.cfg.translate} of the {side}-pixel side, rounded half to even), a cutout square of up to {hole}x{hole} pixels, "
      f"centred on a random pixel and cut at the edge (cutout = {gan_aug.cfg.cutout} of the side); "
      f"{recipe('gan_pokemon_diffaug').train.steps} training steps, {recipe('gan_pokemon').train.steps} for section 3's GAN")
with torch.no_grad():
    one_pass = {
        vae_name: decode_images(pvae, pvae.sample_prior(n2, torch.Generator().manual_seed(1)), "mode"),
        gan_name: gan_p.sample(n2, generator=torch.Generator().manual_seed(1)),
        "GAN + DiffAugment": gan_aug.sample(n2, generator=torch.Generator().manual_seed(1)),
    }
real_set = poke[0][torch.randperm(len(poke[0]), generator=torch.Generator().manual_seed(5))[:n2]]
FOLDS, REPEATS = 5, 3
told = {"training sprites (real)": c2st(held_all, real_set, cmap, folds=FOLDS, repeats=REPEATS)}
told |= {name: c2st(held_all, x, cmap, folds=FOLDS, repeats=REPEATS) for name, x in one_pass.items()}
looks2 = {"held-out sprites": summary(held_all, cmap)} | {n: summary(one_pass[n], cmap) for n in (gan_name, "GAN + DiffAugment")}
print(f"{n2} held-out sprites against {n2} of each: the classifier's held-out accuracy (0.50 = it cannot tell), "
      f"{FOLDS}-fold cross-validation, {REPEATS} repeats")
for name, r in told.items():
    print(f"  {name:24s} {r['accuracy']:.2f} ± {r['spread']:.2f}")
print(f"the four statistics of section 4 on these {n2} (distance from the held-out sprites' statistics):")
print(f"  {'':24s}" + "".join(f"{k:>12s}" for k in STATS) + f"{'distance':>10s}")
for name, st in looks2.items():
    print(f"  {name:24s}" + "".join(f"{st[k]:12.2f}" for k in STATS) + f"{distance(st, held_all, cmap):10.2f}")

# %%
fig = Figure(figsize=(12, 3.6), layout="constrained")
shown = {"held-out sprites": held_all, **one_pass}
for ax, (name, x) in zip(fig.subplots(1, len(shown)), shown.items()):
    title = name if name not in told else f"{name}: told apart {told[name]['accuracy']:.0%}"
    show_sprites(x[:16], cmap, ncols=4, ax=ax, title=title)
fig

# %% [markdown]
# **Reading the numbers** (held by the cell below). Two real sets (held-out sprites against training sprites) are told apart a little more often than by chance, 50%, and far less often than any family's samples: that line, not 50%, is what the families are read against. The VAE's samples are told apart almost every time: grey blobs on white (section 3). Both GANs' samples are told apart about three times in four, and the augmented GAN about as often as the plain one: their accuracies, printed side by side, differ by less than their spread over the repeats (the ± column), although it trained for twice as many steps. The four statistics do see a change: the augmented GAN draws fewer separate blobs per sprite and more colours, both closer to the held-out sprites', and its distance is the smaller. In the figure its figures are more solid, with fewer specks scattered over the background; still, none is a recognisable creature, and the classifier is not fooled measurably more often. On these 640 sprites, with one training run of each, augmentation with twice the training moved the blobs and colours averages towards real sprites, and the distance over the four statistics down (which of the two did it, one run each cannot say) but did not make the samples measurably harder to tell from them. The test says *that* samples differ, not how; the figure and the statistics say how.

# %%
# the claims above, checked on every run
acc2 = {name: r["accuracy"] for name, r in told.items()}
spread2 = {name: r["spread"] for name, r in told.items()}
assert 0.5 < acc2["training sprites (real)"] < 0.6, "two real sets: a little above chance"
assert acc2[vae_name] > 0.85 and acc2[vae_name] > max(acc2[gan_name], acc2["GAN + DiffAugment"]) + 0.1
assert all(0.65 < acc2[n] < 0.82 for n in (gan_name, "GAN + DiffAugment")), "about three times in four"
assert abs(acc2["GAN + DiffAugment"] - acc2[gan_name]) < max(spread2[gan_name], spread2["GAN + DiffAugment"]), \
    "augmentation did not make the samples measurably harder (or easier) to tell apart"
held2, plain2, aug2 = looks2["held-out sprites"], looks2[gan_name], looks2["GAN + DiffAugment"]
assert recipe("gan_pokemon_diffaug").train.steps == 2 * recipe("gan_pokemon").train.steps
assert held2["blobs"] < aug2["blobs"] < plain2["blobs"] - 0.3 and plain2["colours"] < aug2["colours"] < held2["colours"]
assert distance(aug2, held_all, cmap) < distance(plain2, held_all, cmap) - 0.3
assert min(acc2[n] for n in one_pass) > acc2["training sprites (real)"] + 0.1
print("checked: calibration near chance; the VAE told apart almost always; both GANs about 3 in 4, "
      "the augmented one about as often (within the spread), though closer by the distance over the four statistics")

# %% [markdown]
# ## Summary
#
# - Each column of the evolution figure shows one code's picture during training; the sliders show that nearby codes give related pictures. Neither measures how good the pictures are.
# - Each family allows its own measures: an exact held-out likelihood (component by component), a bound (VAE), none (GAN). Where two models have exact likelihoods (the LSTM and the 2-D model) it ranks them; it says nothing about the other two.
# - The pixel-by-pixel models are the slowest to sample, by far; the VAE and the GAN draw a sprite in one pass.
# - A distance to the nearest training sprite must count figure pixels only, and even then it only rules out copies: a plain grey disc scores like a real sprite by the median.
# - On 640 training sprites, the 2-D model's samples come closest to one figure per sprite, yet by four averages the four models are close, the VAE's grey averages a little the furthest.
# - A classifier that tries to tell samples from real sprites looks at whole pictures: it tells the VAE's apart almost always and both GANs' about three times in four. A GAN trained with differentiable augmentation (and for twice as long) came closer to real sprites by the distance over the four averages (their root mean square gap) without fooling it measurably more often (the two accuracies differ by less than their spread).
#
# The lecture's summary in one line: *component-by-component* models are easy to evaluate, *autoencoders* give a usable code, *GANs* judge whole pictures instead of pixels, and each of those strengths is another's weakness.

# %% [markdown]
# ## Exercises
#
# Each exercise has a solution cell (yours to fill in) and a test cell. The test cell checks some things at once; more checks run when the work is graded.
#
# **Exercise 1 (build: the figure-pixel distance).** Section 3's "figure differs" column comes from `nearest_figure_distance`. Write your own for one sample, without calling or copying `nearest_figure_distance`: `figure_differs(sample, train, cmap)` takes one sprite `sample` (20, 20) and the training sprites `train` (N, 20, 20), both colour indices (NumPy arrays or tensors), and returns, as a float, the smallest over the training sprites **and their mirror images** (left-right flipped) of: the number of pixels that are figure in the sample *or* in the training sprite and whose colour indices differ, divided by the number of pixels that are figure in either. A pixel is figure when its colour is not background; `background_colours(cmap)` (imported in the setup cell) gives a boolean per colour index: True for white and the near-whites the eye cannot tell from it. Write it without `nearest_figure_distance`. Then store the median of your function over the first 40 held-out sprites (`poke[2][:40]`, against `poke[0]`) in `held_median`.

# %% nbgrader={"grade": false, "grade_id": "ex1_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
def figure_differs(sample, train, cmap):
    s, t = np.asarray(sample), np.asarray(train)
    t = np.concatenate([t, t[:, :, ::-1]])  # the training sprites and their mirror images
    bg = background_colours(cmap)
    union = ~bg[s][None] | ~bg[t]  # (2N, 20, 20): figure in the sample or in the training sprite
    differ = (s[None] != t) & union
    return float((differ.sum((1, 2)) / np.maximum(union.sum((1, 2)), 1)).min())


held_median = float(np.median([figure_differs(x, poke[0], cmap) for x in poke[2][:40]]))
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex1_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_train = np.asarray(poke[0])


def _fd(sample, train):  # figure_differs(sample, train, cmap), checked: a float
    v = figure_differs(sample, train, cmap)
    assert any(type(v) is _t for _t in (float, np.float64, np.float32)), f"figure_differs should return a float, got {type(v).__name__}"
    return v


_v = _fd(_train[3], _train)
assert _v == 0, f"a training sprite is a copy of itself: want 0, got {_v}"
assert _fd(_train[3][:, ::-1].copy(), _train) == 0, "a mirrored training sprite is a copy of its mirror"
assert _fd(np.zeros((20, 20), dtype=np.int64), _train) == 1, (
    "a blank canvas differs in every figure pixel of any training sprite: want 1")
assert any(type(held_median) is _t for _t in (float, np.float64, np.float32)) and 0.5 < held_median < 1, (
    f"held_median = {held_median!r}: the median over 40 held-out sprites, a share above 0.5 and below 1")
print(f"Exercise 1 passes the visible checks (more run when it is graded): held-out median {held_median:.1%}")
### BEGIN HIDDEN TESTS
import helpers.evaluate.two_sample as _ts  # noqa: E402

_some = np.concatenate([np.asarray(poke[2][40:60]), drawn[gan_name][:10].numpy(), drawn[vae_name][:10].numpy()])
_want = nearest_figure_distance(_some, _train, cmap)
_want_held = float(np.median(nearest_figure_distance(poke[2][:40], _train, cmap)))
from helpers.notebook.grading import refusing  # noqa: E402

# while figure_differs runs, the library's function refuses to work under any name it was imported as
with refusing([_ts.nearest_figure_distance], "figure_differs must be written without nearest_figure_distance"):
    _got = np.array([_fd(x, _train) for x in _some], dtype=np.float64)
    _got_t = figure_differs(torch.as_tensor(_some[0]), torch.as_tensor(_train), cmap)
assert np.allclose(_got, _want, rtol=0, atol=1e-6), (
    f"figure_differs disagrees with the reference on held-out and sampled sprites: largest gap "
    f"{np.abs(_got - _want).max():.3f} (figure = not background_colours, in either image; mirrors included; the minimum)")
assert abs(float(_got_t) - _want[0]) < 1e-6, (
    f"figure_differs on tensors gives {float(_got_t)}, on the same sprites as NumPy arrays {_want[0]}")
assert abs(held_median - _want_held) < 1e-6, f"held_median = {held_median}, want {_want_held}"
print("Exercise 1: the hidden checks pass too")
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 2 (build: count the blobs).** Section 4's `blobs` statistic is the number of separate figures in a sprite: groups of figure pixels (not background, as in exercise 1) connected through any of their **8** neighbours (diagonals count). Write `count_blobs(sprite, cmap)` that returns it as an `int` for one sprite (20, 20) of colour indices, with your own flood fill or union-find: not with a library's labelling (`scipy.ndimage.label`, `scipy.sparse.csgraph.connected_components`, networkx's `connected_components`), `sprite_stats` or `summary`. Then store in `gan_blobs` the mean of `count_blobs` over the 16 GAN samples that section 3's figure shows (the first 16 of `drawn[gan_name]`); the test prints it beside section 4's mean over all 64.

# %% nbgrader={"grade": false, "grade_id": "ex2_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
def count_blobs(sprite, cmap):
    figure = ~background_colours(cmap)[np.asarray(sprite)]
    seen, blobs = np.zeros_like(figure), 0
    h, w = figure.shape
    for r0, c0 in zip(*np.nonzero(figure)):
        if seen[r0, c0]:
            continue
        blobs += 1
        seen[r0, c0], stack = True, [(r0, c0)]
        while stack:  # flood fill through the 8 neighbours
            r, c = stack.pop()
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    rr, cc = r + dr, c + dc
                    if 0 <= rr < h and 0 <= cc < w and figure[rr, cc] and not seen[rr, cc]:
                        seen[rr, cc] = True
                        stack.append((rr, cc))
    return blobs


gan_blobs = float(np.mean([count_blobs(x, cmap) for x in drawn[gan_name][:16]]))
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex2_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_w = int(np.argmax(cmap.sum(1) < 200))  # a dark colour index
_toy = np.zeros((20, 20), dtype=np.int64)
_toy[2, 2] = _toy[3, 3] = _w  # touch at a corner: one blob
_toy[10, 10:13] = _w  # a bar: a second blob
def _blobs(sprite):  # count_blobs(sprite, cmap), checked: an int
    n = count_blobs(sprite, cmap)
    assert any(type(n) is _t for _t in (int, np.int64, np.int32)), f"count_blobs should return an int, got {type(n).__name__}"
    return int(n)


_n = _blobs(_toy)
assert _n == 2, f"two pixels touching at a corner and a separate bar: 2 blobs, got {_n}"
assert _blobs(np.zeros((20, 20), dtype=np.int64)) == 0, "a blank canvas has no blobs"
assert any(type(gan_blobs) is _t for _t in (float, np.float64, np.float32)) and 1 <= gan_blobs < 20, f"gan_blobs = {gan_blobs!r}: a mean count"
print(f"Exercise 2 passes the visible checks (more run when it is graded): the 16 GAN samples shown have {gan_blobs:.2f} "
      f"blobs on average (section 4, all 64: {looks[gan_name]['blobs']:.2f})")
### BEGIN HIDDEN TESTS
import scipy.ndimage as _nd  # noqa: E402
import scipy.sparse.csgraph as _cg  # noqa: E402
import networkx as _nx  # noqa: E402  (installed with torch)

_sprites = np.concatenate([np.asarray(poke[2]), drawn[gan_name][:32].numpy(), drawn[lstm_name][:32].numpy()])
_want = sprite_stats(_sprites, cmap)["blobs"]
_want_gan = float(sprite_stats(drawn[gan_name][:16], cmap)["blobs"].mean())
# while count_blobs runs, the library's labelling and statistics refuse to work (restored afterwards)
import helpers.evaluate.sprite_stats as _ss  # noqa: E402


from helpers.notebook.grading import refusing  # noqa: E402

# while count_blobs runs, these refuse to work under any name they were imported as (restored afterwards)
with refusing([_nd.label, _cg.connected_components, _nx.connected_components, _ss.sprite_stats, _ss.summary],
              "count_blobs must be written without a library's labelling (scipy.ndimage.label, "
              "scipy.sparse.csgraph.connected_components, networkx's connected_components), sprite_stats or summary",
              namespace=globals()):
    _got = np.array([_blobs(x) for x in _sprites], dtype=np.int64)
assert (_got == _want).all(), (
    f"count_blobs disagrees with the reference on {int((_got != _want).sum())} of {len(_sprites)} sprites "
    "(8 neighbours; figure = not background_colours)")
assert abs(gan_blobs - _want_gan) < 1e-9, f"gan_blobs = {gan_blobs}, want {_want_gan}: the mean over the first 16 GAN samples"
print("Exercise 2: the hidden checks pass too")
### END HIDDEN TESTS
