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
# # 02 · Pokémon creation, one pixel at a time
#
# Lecture slides 8-13: train a recurrent network on nothing but a pile of 20×20 Pokémon sprites, then let it *draw*: finish a half-hidden Pokémon, or invent one from a blank canvas.
#
# **Learning goals.** After this notebook you can
# 1. explain why each pixel is predicted as **one of N colours** (a softmax) rather than as an RGB number, and show what goes wrong otherwise;
# 2. measure an image model by its **held-out bits per pixel**, next to baselines that need no training to speak of;
# 3. sample from an autoregressive model correctly *and fast* (reusing the LSTM state), with greedy decoding, temperature and completion, and say what a 2-D context model (PixelCNN) adds.

# %%
# Setup: the same first cell in every notebook.
# %matplotlib inline
import math
import time

import numpy as np
import torch
from matplotlib.figure import Figure

from helpers.autoregressive import LN2, Bigram, Unigram, bits_per_pixel, complete, cover_mask, known_pixels, nats_per_pixel_loss
from helpers.completion import CompletionExplorer
from helpers.data import N_COLOURS, SIDE, load_pokemon
from helpers.pixel_cnn import horizontal_mask, vertical_mask
from helpers.pixel_lstm import PixelLSTM, PixelLSTMConfig, time_sampling
from helpers.plot import bar_table, new_axes, plot_history, show_sprites
from helpers.plot import tile
from helpers.registry import get
from helpers.train import History, seed_everything

gen = seed_everything(0)  # one seed per notebook: reruns draw the same pictures
torch.set_num_threads(max(1, min(2, torch.get_num_threads())))

# %% [markdown]
# ## 1. The data: 792 sprites, 167 colours
#
# The course collected 792 Pokémon sprites of 40×40 pixels and shrank them to **20×20**, so that a sprite is a sequence of only $T = 400$ pixels. Their colours were clustered into **167** representative colours; every pixel is stored as the *index* of its colour (0..166) in a colour map. A sprite is therefore a sentence of 400 words from a vocabulary of 167, written row by row (raster order) — exactly the setting of a language model.
#
# We use the series' fixed split: 640 sprites to train, 72 to choose when to stop, 80 held out for every number reported.

# %%
pokemon = load_pokemon()
train, valid, test = pokemon.split()
cmap = pokemon.colormap
freq = torch.bincount(train.flatten(), minlength=N_COLOURS).double() / train.numel()
print(f"train/valid/test = {len(train)}/{len(valid)}/{len(test)} sprites of {tuple(train.shape[1:])}, "
      f"{N_COLOURS} colours")
print(f"colour 0 (white) covers {float(freq[0]):.1%} of training pixels; the 10 most common colours "
      f"{float(freq.sort(descending=True).values[:10].sum()):.1%}")

# %%
fig = Figure(figsize=(13, 4.6), layout="constrained")
left, right = fig.subplots(1, 2, width_ratios=[1.15, 1])
show_sprites(train[:48], cmap, ncols=12, ax=left, title="48 of the 640 training sprites (20×20)")
order = freq.argsort(descending=True)
right.bar(np.arange(N_COLOURS), freq[order].numpy(), width=1.0, color=cmap[order.numpy()] / 255, lw=0)
right.set_yscale("log")
right.set_facecolor("0.85")  # so the white bar (index 0) shows
right.set(xlabel="colour, most to least frequent (bar drawn in its own colour)", ylabel="share of pixels (log)",
          title="Colour histogram: index 0 (white background) dominates")
fig

# %% [markdown]
# **Takeaway.** Half of every sprite is white background; a model must learn *where* the background ends. The colour spectrum has a long tail: most colours are rare.
#
# ## 2. RGB regression or 1-of-N classification? (slide 9)
#
# Slide 9 asks how to represent a pixel. Two ways to predict the next pixel $x_t$ from $x_{<t}$:
#
# - **RGB regression**: output three numbers $\hat{x}_t \in [0,1]^3$, trained with squared error $\lVert \hat{x}_t - x_t \rVert^2$. The minimiser is the **conditional mean** $\mathbb{E}[x_t \mid x_{<t}]$: if the next pixel is blue or yellow with equal chance, the prediction is a grey-green average that neither option has.
# - **1-of-N**: output a softmax over the 167 colours, trained with cross-entropy $-\log p(x_t \mid x_{<t})$. The model keeps *both* options and sampling picks one.
#
# Same network both ways (an LSTM with 128 cells, trained by `python -m helpers.registry train` for the same number of epochs): only the input/output representation differs. Both complete the bottom half of held-out sprites.

# %%
small, small_info = get("pixel_lstm128_onehot")  # 1-of-N
rgb_model, rgb_info = get("pixel_lstm128_rgb")  # RGB regression
palette = torch.from_numpy(cmap).float() / 255
show = test[[3, 10, 21, 33, 47, 64]]
half = known_pixels(0.5, SIDE)
rgb_done = rgb_model.complete(palette[show], known=half)  # conditional means: no sampling
cat_done = complete(small, show, 0.5, 1, generator=gen)[:, 0]

# How far are generated pixels from the nearest palette colour? (0 = a real colour)
gen_rgb = rgb_done.flatten(1, 2)[:, half:].reshape(-1, 3)
off = torch.cdist(gen_rgb, palette).min(1).values
real_rgb = palette[show].flatten(1, 2)[:, half:].reshape(-1, 3)
cat_rgb = palette[cat_done].flatten(1, 2)[:, half:].reshape(-1, 3)


def white_share(rgb):  # the background: all three channels above 0.95
    return float((rgb > 0.95).all(1).float().mean())


print(f"RGB regression: {float((off > 0.05).float().mean()):.0%} of generated pixels lie more than 0.05 from every "
      f"palette colour (1-of-N: 0% by construction)")
print(f"white background in the bottom halves: real {white_share(real_rgb):.0%}, "
      f"RGB regression {white_share(gen_rgb):.0%}, 1-of-N sample {white_share(cat_rgb):.0%}")

# %% tags=["readme"]
fig = Figure(figsize=(10, 4.6), layout="constrained")
axes = fig.subplots(3, 1)
mask = cover_mask(0.5, SIDE)
show_sprites(show, cmap, ncols=6, ax=axes[0], title="held-out sprites (real)")
rows = [(rgb_done.numpy(), "RGB regression (squared error): the bottom half is a muddy average"),
        (pokemon.to_rgb(cat_done), "1-of-N (softmax over 167 colours), one sample: crisp palette colours")]
for ax, (img, title) in zip(axes[1:], rows):
    ax.imshow(tile(img, 6, pad_value=0.82), interpolation="nearest")
    ax.set_title(title)
    ax.set_axis_off()
fig

# %% [markdown]
# **Takeaway.** Regression averages the possible colours into brownish greys that belong to no Pokémon; classification over colour indices keeps the palette and lets sampling commit to one colour. From here on every model is 1-of-N.
#
# ## 3. The lecture's model: an LSTM with 512 cells
#
# $$p(x) = \prod_{t=1}^{400} p(x_t \mid x_1, \dots, x_{t-1}), \qquad
# h_t, c_t = \mathrm{LSTM}\big(e(x_{t-1}) + r(\text{row}_t) + k(\text{col}_t),\; (h_{t-1}, c_{t-1})\big), \qquad
# p(x_t \mid x_{<t}) = \mathrm{softmax}(W h_t + b).$$
#
# $e(x_{t-1})$ is the 1-of-N vector of the previous colour times a matrix (an embedding; a START symbol at $t=1$); we also add embeddings of the row and column of pixel $t$, so the network need not count to 20 to know where a row ends. One layer of 512 cells, ~1.2 M parameters. Training minimises the mean of $-\log p(x_t\mid x_{<t})$ over pixels and sprites (nats per pixel), with horizontal flips, dropout 0.25 and early stopping on the validation split. `python -m helpers.registry train pixel_lstm512` trains it (seeded) and writes `data/checkpoints/pixel_lstm512.pt`; here `get` loads it (and would train it, with the same recipe, if the file were missing).

# %%
lstm, lstm_info = get("pixel_lstm512")
cnn, cnn_info = get("context2d")
print(f"LSTM-512: {sum(p.numel() for p in lstm.parameters()):,} parameters, "
      f"{len(lstm_info['history'].train)} epochs, best epoch {lstm_info['history'].best_epoch + 1}")

# %%
def in_bits(h: History) -> History:
    return History([v / LN2 for v in h.train], [v / LN2 for v in h.valid], h.best_epoch, h.seconds)


fig = Figure(figsize=(11, 3.4), layout="constrained")
a, b = fig.subplots(1, 2)
plot_history(in_bits(lstm_info["history"]), ax=a, ylabel="bits per pixel", title="LSTM-512 training curve")
plot_history(in_bits(cnn_info["history"]), ax=b, ylabel="bits per pixel", title="PixelCNN (section 8) training curve")
fig

# %% [markdown]
# A few seconds of training, as a demonstration of what the command does at every step: a copy of the model takes three Adam steps on one batch of 8 training sprites, and the loss on that batch falls.

# %%
demo = PixelLSTM(PixelLSTMConfig())
demo.load_state_dict(lstm.state_dict())
opt = torch.optim.Adam(demo.parameters(), lr=1e-3)
batch = train[:8]
t0 = time.perf_counter()
losses = []
for _ in range(3):
    loss = nats_per_pixel_loss(demo, batch)
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(float(loss.detach()) / LN2)
print(f"bits/pixel on the batch during 3 steps: {', '.join(f'{v:.3f}' for v in losses)} "
      f"({time.perf_counter() - t0:.1f} s)")

# %% [markdown]
# ## 4. Evaluation: held-out bits per pixel (slide 11)
#
# Slide 11 says evaluating a generator is hard. For a model with a likelihood there is one honest number: how surprised it is by sprites it never saw,
#
# $$\text{bits/pixel} = -\frac{1}{N \cdot 400} \sum_{n=1}^{N} \log_2 p(x^{(n)}) ,$$
#
# on the 80 held-out sprites. Two baselines need only counting: the **unigram** $p(x_t)$ = colour frequency (no context), and the **raster bigram** $p(x_t \mid x_{t-1})$ (left neighbour only). A uniform guess costs $\log_2 167 = 7.38$ bits.

# %%
# NBVAL_CHECK_OUTPUT
models = {
    "unigram (colour frequency)": Unigram(train, N_COLOURS),
    "raster bigram p(x_t | x_t-1)": Bigram(train, N_COLOURS),
    "LSTM-128, 1-of-N (section 2)": small,
    "LSTM-512 (the lecture's model)": lstm,
    "PixelCNN, 2-D context (section 8)": cnn,
}
table = {name: bits_per_pixel(m, test) for name, m in models.items()}
print(f"{'model':36s} held-out bits/pixel")
for name, v in table.items():
    print(f"{name:36s} {v:6.2f}")

# %%
bar_table(list(table), list(table.values()), xlabel="held-out bits per pixel (lower is better)",
          title="80 held-out Pokémon")

# %% [markdown]
# **Takeaway.** Context is worth bits: the left neighbour alone saves a third of the unigram's cost, and networks that see the whole prefix save more. **Honest note on the targets.** The series aims at ≤ 2.3 bits/pixel for the LSTM-512 and ≤ 2.0 for the 2-D model; the shipped checkpoints miss both. The LSTM-512 is trained to early stopping (section 3 prints its epochs) with horizontal flips and dropout on both its input (0.25) and its output (0.5): 640 sprites are few for 512 cells, and an earlier version with output dropout 0.25 alone overfit within 30 epochs and scored clearly worse. Weight decay, more augmentation than flips, or feeding the pixel above as a second input would be the next things to try. The PixelCNN shares its weights across positions and overfits less, which is why it wins here. Its recipe (configuration, training settings, data) is the entry `pixel_lstm512` of `helpers/registry.py`; `python -m helpers.registry train pixel_lstm512` retrains it.
#
# ## 5. Completion (slide 11)
#
# Hide the last part of a held-out sprite in raster order, give the model the visible pixels, and let it draw the rest: $x_t \sim p(x_t \mid x_{<t})$ for every hidden $t$, each drawn pixel fed back in. Below, with 50% and then 75% hidden: the real sprite, what the model sees (hidden pixels grey-blue), three samples, and the greedy (argmax) completion.

# %%
def completion_figure(model, sprites, cover, title, samples=3):
    drawn = complete(model, sprites, cover, samples, generator=gen)
    greedy = complete(model, sprites, cover, 1, greedy=True)
    cols = torch.cat([sprites[:, None], sprites[:, None], drawn, greedy], 1)  # (B, 2 + samples + 1, H, W)
    covered = torch.zeros(cols.shape, dtype=torch.bool)
    covered[:, 1] = cover_mask(cover, SIDE)
    fig = show_sprites(cols.flatten(0, 1), cmap, ncols=cols.shape[1], covered=covered.flatten(0, 1), scale=0.9,
                       title=f"{title}\ncolumns: real | visible {1 - cover:.0%} | {samples} samples | greedy")
    return fig


pick = test[[3, 10, 21, 47, 64]]
completion_figure(lstm, pick, 0.5, "LSTM-512 completes the bottom 50%")

# %%
completion_figure(lstm, pick, 0.75, "LSTM-512 completes the bottom 75%")

# %% [markdown]
# **Takeaway.** The visible top fixes the colours and the size; samples differ in the details and finish the outline. Greedy decoding picks the single most likely colour each time: it tends to continue runs of the same colour (often white), so its completions are flat and cautious.
#
# ## 6. Drawing from scratch (slide 12): greedy, sampling, temperature
#
# From a blank canvas greedy decoding is deterministic — every "new" Pokémon is the same — and it degenerates into the background. Sampling draws different creatures. A **temperature** $\tau$ divides the logits before the softmax, $p_\tau(x_t\mid x_{<t}) \propto p(x_t \mid x_{<t})^{1/\tau}$: $\tau < 1$ is bolder and more regular, $\tau > 1$ noisier, $\tau \to 0$ is greedy.

# %%
fig = Figure(figsize=(12, 6.2), layout="constrained")
axes = fig.subplots(2, 2).flatten()
show_sprites(lstm.sample(8, greedy=True), cmap, ncols=4, ax=axes[0], title="greedy (argmax): all identical")
for ax, tau in zip(axes[1:], (0.7, 1.0, 1.3)):
    show_sprites(lstm.sample(8, generator=gen, temperature=tau), cmap, ncols=4, ax=ax,
                 title=f"sampled, temperature τ = {tau}")
fig

# %% [markdown]
# **Takeaway.** Greedy decoding from a blank canvas picks the most likely colour (white background) again and again and never leaves it; randomness is what lets the model commit to a creature. Lower temperature gives cleaner, emptier sprites, higher temperature confetti.
#
# ## 7. Sampling speed: reuse the LSTM state
#
# An LSTM summarises the prefix $x_{<t}$ in its state $(h_t, c_t)$. To draw pixel $t$ we need one `step` from $(h_{t-1}, c_{t-1})$ — **400 steps for a whole sprite**. Public re-implementations of this lecture instead re-run the network over the whole prefix for every new pixel: $1 + 2 + \dots + 400 \approx 80{,}000$ steps, the same samples 200 times slower. Both samplers are in `helpers.pixel_lstm` and draw identical pixels from the same generator (a unit test checks it). We time 64 sprites; the re-run sampler only for its first 30 pixels (it would take minutes for all 400), its full cost extrapolated by its quadratic step count. Timings depend on the machine and on what else runs on it.

# %%
full = time_sampling(lstm, n=64, rerun=False)
part = time_sampling(lstm, n=64, pixels=30)
steps_full, steps_part = 400 * 401 / 2, 30 * 31 / 2
rerun_est = part["rerun_s"] * steps_full / steps_part
print(f"64 sprites, cached state (400 steps):        {full['cached_s']:6.2f} s")
print(f"64 sprites, re-run prefix, first 30 pixels:  {part['rerun_s']:6.2f} s (cached: {part['cached_s']:.2f} s)")
print(f"64 sprites, re-run prefix, all 400 (est.):   {rerun_est:6.0f} s  -> {rerun_est / full['cached_s']:.0f}x slower")

# %% [markdown]
# ## 8. Completion explorer
#
# Choose a held-out Pokémon, drag how much is covered and the temperature, and press *resample*. The panel uses whichever shipped model has the lower held-out bits/pixel. The picture is PNG bytes drawn by `helpers.completion` (the widget needs a live kernel, e.g. `make lab`); below it, a static figure of the same panel for views where widgets cannot render.

# %%
best_name, best = min([("LSTM-512", lstm), ("PixelCNN", cnn)],
                      key=lambda m: table["LSTM-512 (the lecture's model)" if m[0] == "LSTM-512" else "PixelCNN, 2-D context (section 8)"])
print(f"explorer model: {best_name} (the lower held-out bits/pixel)")
explorer = CompletionExplorer(best, test, cmap, samples=4, index=10, cover=0.5, temperature=1.0)
explorer.widget()

# %%
explorer.figure()

# %% [markdown]
# ## 9. Beyond the LSTM: 2-D context (slide 13, PixelRNN / PixelCNN)
#
# The raster LSTM must remember the pixel *above* for 20 steps. PixelCNN (van den Oord et al., 2016) looks at the 2-D neighbourhood directly with **masked convolutions**: the kernel is zeroed where pixels are not generated yet, so the prediction of $x_t$ still uses only $x_{<t}$ and the product $\prod_t p(x_t\mid x_{<t})$ is an exact likelihood. We use the *gated* version with two stacks (drawn below): a vertical stack that sees the rows above, a horizontal stack that sees the pixels to the left, 8 gated layers of 64 channels with dilations 1, 2, 1, 4. It trains in parallel over all 400 pixels (no recurrence), but sampling still goes pixel by pixel. Like the LSTM's state, work can be reused while sampling: the vertical stack at row $r$ depends only on the rows above, so `sample` computes it once per row, and for each pixel runs only the horizontal stack over that one row (a unit test checks that this gives exactly the logits of the whole-image pass). That is several times faster than re-running the network on the whole image for every pixel.

# %%
fig = Figure(figsize=(8, 2.6), layout="constrained")
axes = fig.subplots(1, 4)
for ax, (m, t) in zip(axes, [(vertical_mask(3, False), "vertical, first layer"), (vertical_mask(3, True), "vertical, later"),
                             (horizontal_mask(3, False), "horizontal, first layer"), (horizontal_mask(3, True), "horizontal, later")]):
    ax.imshow(m, cmap="Blues", vmin=0, vmax=1.3)
    ax.set(title=t, xticks=[], yticks=[])
    for (i, j), v in np.ndenumerate(m.numpy()):
        ax.text(j, i, int(v), ha="center", va="center", color="white" if v else "black")
fig.suptitle("3×3 masks (1 = weight used); centre = the pixel being predicted")
fig

# %%
fig = Figure(figsize=(12, 3.3), layout="constrained")
a, b = fig.subplots(1, 2)
bpp_lstm, bpp_cnn = table["LSTM-512 (the lecture's model)"], table["PixelCNN, 2-D context (section 8)"]
show_sprites(lstm.sample(8, generator=gen), cmap, ncols=4, ax=a, title=f"LSTM-512 samples ({bpp_lstm:.2f} bits/pixel)")
show_sprites(cnn.sample(8, generator=gen), cmap, ncols=4, ax=b, title=f"PixelCNN samples ({bpp_cnn:.2f} bits/pixel)")
fig

# %% tags=["readme"]
completion_figure(cnn, pick, 0.5, "PixelCNN completes the bottom 50%")

# %%
completion_figure(cnn, pick, 0.75, "PixelCNN completes the bottom 75%")

# %% [markdown]
# ## Summary
#
# - A sprite is a sequence of 400 colour indices; $p(x) = \prod_t p(x_t\mid x_{<t})$ is learned with a softmax over 167 colours. RGB regression learns conditional means: muddy colours.
# - Held-out bits per pixel compares models on sprites they never saw; context helps: unigram > bigram > LSTM / PixelCNN.
# - Completion and drawing are the same loop: sample $x_t$, feed it back. Greedy decoding degenerates; temperature trades variety for regularity.
# - Reuse the LSTM state: one step per pixel instead of re-running the prefix.
# - Masked convolutions give 2-D context with an exact likelihood (PixelCNN).
#
# ## Exercises
#
# **Exercise 1.** A model gives a held-out sprite the log-likelihood $\log p(x) = -600$ nats. How many bits per pixel is that? Store it in `bpp`.

# %% nbgrader={"grade": false, "grade_id": "ex1_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
bpp = 600 / (400 * math.log(2))
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex1_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
assert type(bpp) is float, f"bpp should be a float, got {type(bpp).__name__}; use float(...)"
assert abs(bpp - 2.1640) < 1e-3, (
    f"got {bpp:.4f}; divide the nats by the 400 pixels, then convert nats to bits (divide by ln 2)")
print(f"Exercise 1 correct: {bpp:.3f} bits/pixel")

# %% [markdown]
# **Exercise 2.** Write the **greedy** decoder yourself with the cached state: a function `greedy_draw(model, n)` that starts from the START symbol (`model.cfg.colours`), calls `model.step(prev, t, state)` for $t = 0..399$ and takes the argmax each time; return `(n, 20, 20)` long. It must agree with `model.sample(n, greedy=True)`.

# %% nbgrader={"grade": false, "grade_id": "ex2_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
@torch.no_grad()
def greedy_draw(model, n):
    ### BEGIN SOLUTION
    state, prev, out = None, torch.full((n,), model.cfg.colours, dtype=torch.long), []
    for t in range(400):
        logits, state = model.step(prev, t, state)
        prev = logits.argmax(-1)
        out.append(prev)
    return torch.stack(out, 1).reshape(n, 20, 20)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex2_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
mine = greedy_draw(lstm, 2)
assert type(mine) is torch.Tensor, f"greedy_draw should return a tensor, got {type(mine).__name__}"
assert tuple(mine.shape) == (2, 20, 20), f"want shape (2, 20, 20), got {tuple(mine.shape)}"
assert mine.dtype == torch.long, f"want colour indices (torch.long), got {mine.dtype}"
assert torch.equal(mine, lstm.sample(2, greedy=True)), (
    "differs from model.sample(n, greedy=True): feed the argmax back as `prev` and keep the returned state")
print("Exercise 2 correct")
