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
# # 02 · Pokémon creation, one pixel at a time
#
# Lecture slides 8-13: train a recurrent network on nothing but a pile of 20×20 Pokémon sprites, then let it *draw*: finish a half-hidden Pokémon, or invent one from a blank canvas.
#
# **Learning goals.** After this notebook you can
# 1. explain why each pixel is predicted as **one of N colours** (a softmax) rather than as an RGB number, and show what goes wrong otherwise;
# 2. measure an image model by its **held-out bits per pixel**, next to baselines that need no training to speak of;
# 3. sample from an autoregressive model correctly *and fast* (reusing the LSTM state), with greedy decoding, temperature and completion, and say what a 2-D context model (PixelCNN) and two ways of averaging such models add;
# 4. choose the sampling temperature with a classifier that tries to tell drawings from real sprites.

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
# Setup: in every notebook a cell like this one (imports and one seed) follows the fetch cell above.
# %matplotlib inline
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from helpers.models.autoregressive import (LN2, Bigram, PixelEnsemble, PixelMixture, PixelModel, Unigram, bits_per_pixel, complete,
                                           cover_mask, known_pixels, nats_per_pixel_loss)
from helpers.notebook.completion import CompletionExplorer
from helpers.core.data import N_COLOURS, SIDE, load_pokemon
from helpers.models.pixel_cnn import MaskedConv2d, horizontal_mask, vertical_mask
from helpers.models.pixel_lstm import PixelLSTM, PixelLSTMConfig, time_sampling
from helpers.notebook.plot import bar_table, new_axes, plot_history, show_sprites
from helpers.notebook.plot import tile
from helpers.registry import get, recipe
from helpers.evaluate.sprite_stats import STATS, distance, summary
from helpers.evaluate.two_sample import CHOSEN_TEMPERATURE, c2st
from helpers.core.train import History
from helpers.notebook import setup

gen = setup(seed=0, threads=2)  # one seed per notebook: reruns draw the same pictures

# %% [markdown]
# ## 1. The data: 792 sprites, 167 colours
#
# The course collected 792 Pokémon sprites of 40×40 pixels and cut the central **20×20** out of each (centre crops, not shrunken copies: see the repository's `DATA.md`, which cites the course's notes on the data), so that a sprite is a sequence of only $T = 400$ pixels. Their colours were clustered into **167** representative colours; every pixel is stored as the *index* of its colour (0..166) in a colour map. A sprite is therefore a sentence of 400 words from a vocabulary of 167, written row by row (raster order) — exactly the setting of a language model.
#
# We use the series' fixed split: 640 sprites to train; 72 **validation** sprites, used to choose when to stop training and, in section 6, the temperature τ (the raster bigram's reference line in section 3 and the sprite statistics of section 6 are also measured on them); and 80 **test** sprites held out for the bits per pixel that score the models (section 4).

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
# **Takeaway.** Colour 0, the white background, is by far the most common colour: it covers the share of training pixels printed above (about 38%; in the *bottom halves* of the held-out sprites used below it is about half, printed in section 2). A model must learn *where* the background ends. The colour spectrum has a long tail: most colours are rare.
#
# ## 2. RGB regression or 1-of-N classification? (slide 9)
#
# Slide 9 asks how to represent a pixel. Two ways to predict the next pixel $x_t$ from $x_{<t}$:
#
# - **RGB regression**: output three numbers $\hat{x}_t \in [0,1]^3$, trained with squared error $\lVert \hat{x}_t - x_t \rVert^2$. The minimiser is the **conditional mean** $\mathbb{E}[x_t \mid x_{<t}]$: if the next pixel is blue or yellow with equal chance, the prediction is their average, grey for pure blue and yellow, a colour neither option has.
# - **1-of-N**: output a softmax over the 167 colours, trained with cross-entropy $-\log p(x_t \mid x_{<t})$. The model keeps *both* options and sampling picks one.
#
# Same network both ways (an LSTM with 128 cells: a recurrent network that reads the pixels one at a time and carries a state from pixel to pixel, two vectors of 128 numbers, its hidden units; section 3 writes one out. Both are trained by `python -m helpers.registry train` for the same number of epochs, printed below): only the input/output representation differs. Both complete the bottom half of held-out sprites.

# %%
small, small_info = get("pixel_lstm128_onehot")  # 1-of-N
rgb_model, rgb_info = get("pixel_lstm128_rgb")  # RGB regression
palette = torch.from_numpy(cmap).float() / 255
show = test[[3, 10, 21, 33, 47, 64]]
half = known_pixels(0.5, SIDE)
rgb_done = rgb_model.complete(palette[show], known=half)  # conditional means: no sampling
cat_done = complete(small, show, 0.5, 1, generator=gen)[:, 0]
epochs = {name: len(info["history"].train) for name, info in (("1-of-N", small_info), ("RGB", rgb_info))}
print(f"epochs trained: {epochs}")
assert len(set(epochs.values())) == 1

# How far are generated pixels from the nearest palette colour? (0 = a real colour)
gen_rgb = rgb_done.flatten(1, 2)[:, half:].reshape(-1, 3)
off = torch.cdist(gen_rgb, palette).min(1).values
real_rgb = palette[show].flatten(1, 2)[:, half:].reshape(-1, 3)
cat_rgb = palette[cat_done].flatten(1, 2)[:, half:].reshape(-1, 3)


def white_share(rgb):  # the background: all three channels above 0.95
    return float((rgb > 0.95).all(1).float().mean())


off_share = float((off > 0.05).float().mean())
print(f"RGB regression: {off_share:.0%} of generated pixels lie more than 0.05 from every "
      f"palette colour (1-of-N: 0% by construction)")
assert off_share > 0.5, "most regression pixels are off the palette"
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
# **Takeaway.** Regression averages the possible colours: most of the pixels it generates (the share printed above) lie off the palette, muddy greys (brownish or bluish) that belong to no Pokémon; classification over colour indices keeps the palette and lets sampling commit to one colour. From here on every model is 1-of-N.
#
# ## 3. The lecture's model: an LSTM with 512 cells
#
# $$p(x) = \prod_{t=1}^{400} p(x_t \mid x_1, \dots, x_{t-1}), \qquad
# h_t, c_t = \mathrm{LSTM}\big(e(x_{t-1}) + r(\text{row}_t) + k(\text{col}_t),\; (h_{t-1}, c_{t-1})\big), \qquad
# p(x_t \mid x_{<t}) = \mathrm{softmax}(W h_t + b).$$
#
# $e(x_{t-1})$ is the 1-of-N vector of the previous colour times a matrix (an embedding; a START symbol in place of $x_0$ at $t=1$); we also add embeddings of the row and column of pixel $t$, so the network need not count to 20 to know where a row ends. One layer of 512 cells, ~1.2 M parameters. An LSTM carries two state vectors from pixel to pixel, $h_t$ (its output, which the softmax reads) and $c_t$ (its cell memory, which learned gates keep, add to or erase at each step); together they summarise the prefix. Training minimises the mean of $-\log p(x_t\mid x_{<t})$ over pixels and sprites (nats per pixel), with four guards against **overfitting** (learning the 640 training sprites by heart instead of what sprites have in common), and a schedule: **horizontal flips** (each training sprite is mirrored left to right at random, so the model sees more distinct sprites, since a mirrored Pokémon is still a Pokémon); **dropout** (during training each input or output feature of the LSTM is set to zero at random, 0.25 of the inputs and 0.5 of the outputs: `emb_dropout` and `dropout` in the configuration printed below, so the network cannot lean on any single feature; it is switched off at evaluation); **weight decay** ($10^{-4}$, in Adam: a penalty on large weights, applied by the optimiser at every step, which pulls every weight a little towards zero and so keeps the function simple); and **early stopping** on the validation split (keep the weights of the epoch with the best validation loss). The schedule halves the learning rate whenever the validation loss has not improved for 4 epochs; that helps the optimiser more than the held-out fit: in the training curves below, the training loss drops at each first halving, more than the validation loss does. It also uses **gradient clipping**: when the gradient's norm exceeds a set threshold it is scaled down to that threshold, so one unusual batch cannot throw the weights far. `python -m helpers.registry train pixel_lstm512_wd` trains it (seeded) and writes `data/checkpoints/pixel_lstm512_wd.pt`; here `get` loads it (and would train it, with the same recipe, if the file were missing).

# %% [markdown]
# ### The model, written here
#
# The cell below is the whole model: the three embeddings, one `nn.LSTM` layer, one linear layer to 167 logits. `forward` is **teacher forcing**: the true previous colours are fed in (shifted right by one, START first), so all 400 conditionals come out of one LSTM call, and $\log p(x)$ is the sum of the log-softmax at the true colours. The shipped model in `helpers.models.pixel_lstm` is the same network plus dropout (off at evaluation) and input checks; its parameters have the same names, so its weights load into this class unchanged. The formula counts pixels from 1 to 400; the code counts them from 0 to 399, so in the code START is the input at $t = 0$, the same first step.

# %%
class NotebookPixelLSTM(nn.Module):
    def __init__(self, hidden=512, colours=N_COLOURS, side=SIDE, emb=32):
        super().__init__()
        self.colours, self.side, self.hidden = colours, side, hidden
        self.emb = nn.Embedding(colours + 1, emb)  # previous colour; index `colours` = START
        self.row = nn.Embedding(side, emb)  # which row pixel t is in
        self.col = nn.Embedding(side, emb)  # which column
        self.lstm = nn.LSTM(emb, hidden, batch_first=True)
        self.out = nn.Linear(hidden, colours)

    def inputs(self, prev, t):  # e(x_{t-1}) + r(row_t) + k(col_t)
        return self.emb(prev) + self.row(t // self.side) + self.col(t % self.side)

    def forward(self, x):  # (B, 20, 20) colours -> (B, 20, 20, 167) logits, teacher forcing
        seq = x.flatten(1)
        prev = torch.cat([torch.full_like(seq[:, :1], self.colours), seq[:, :-1]], 1)  # START, x_0 .. x_398
        h, _ = self.lstm(self.inputs(prev, torch.arange(seq.shape[1])))
        return self.out(h).reshape(*x.shape, self.colours)

    def log_prob(self, x):  # (B,) nats: sum over pixels of log p(x_t | x_<t)
        logp = F.log_softmax(self(x), -1).gather(-1, x[..., None])[..., 0]
        return logp.flatten(1).sum(1)


# %% [markdown]
# Sampling cannot use teacher forcing: pixel $t$ must be drawn before it can be fed in. The loop carries the LSTM state $(h, c)$ from pixel to pixel, so each new pixel costs **one** LSTM step; the temperature $\tau$ divides the logits (section 6). `draw` takes a `NotebookPixelLSTM`: it reads the sizes `model.hidden`, `model.colours` and `model.side` that the class above stores.

# %%
@torch.no_grad()
def draw(model, n, generator, temperature=1.0):
    h = c = torch.zeros(1, n, model.hidden)  # (layers, batch, cells): the state before pixel 0
    prev = torch.full((n,), model.colours)  # START
    out = torch.zeros(n, model.side ** 2, dtype=torch.long)
    for t in range(model.side ** 2):
        x = model.inputs(prev, torch.full_like(prev, t))
        o, (h, c) = model.lstm(x[:, None], (h, c))  # one step, state in and out
        p = F.softmax(model.out(o[:, 0]) / temperature, -1)
        prev = out[:, t] = torch.multinomial(p, 1, generator=generator)[:, 0]
    return out.reshape(n, model.side, model.side)


# %%
lstm, lstm_info = get("pixel_lstm512_wd")
cnn, cnn_info = get("context2d_96x10")  # the PixelCNN, built in §9 (see the training curves below)
parts = [cnn, get("context2d_96x10_s1")[0], get("context2d_96x10_s2")[0]]  # one recipe, three seeds (§9)
mixture, ensemble = PixelMixture(parts), PixelEnsemble(parts)  # two ways to average them, explained in §9
print(f"LSTM-512: {sum(p.numel() for p in lstm.parameters()):,} parameters, "
      f"{len(lstm_info['history'].train)} epochs, best epoch {lstm_info['history'].best_epoch + 1}")
lstm_train = recipe("pixel_lstm512_wd").train  # the training settings of section 3's text
print(f"trained with Adam: learning rate {lstm_train.lr}, weight decay {lstm_train.weight_decay}, learning rate halved "
      f"after {lstm_train.halve_lr_after} epochs without improvement, gradient norm clipped at {lstm_train.grad_clip}, "
      f"batches of {lstm_train.batch_size}")
assert (lstm_train.weight_decay, lstm_train.halve_lr_after) == (1e-4, 4)  # as the text says

# %% [markdown]
# **Check against helpers.** Load the shipped LSTM-512's weights into `NotebookPixelLSTM` (same names, `strict=True`), then compare the held-out log-probability, and let `draw` and the helpers' sampler draw 4 sprites at $\tau = 0.8$ from generators with the same seed: the pixels must be identical.

# %%
mine = NotebookPixelLSTM(hidden=512)
mine.load_state_dict(lstm.state_dict(), strict=True)
lstm.eval()
with torch.no_grad():
    lp_mine, lp_helpers = mine.log_prob(test), lstm.log_prob(test)
print(f"held-out log p(x), mean over 80 sprites: notebook {float(lp_mine.mean()):.6f} nats, "
      f"helpers {float(lp_helpers.mean()):.6f} nats; largest difference {float((lp_mine - lp_helpers).abs().max()):.1e}")
assert torch.allclose(lp_mine, lp_helpers, atol=1e-5, rtol=0)
drawn_mine = draw(mine, 4, torch.Generator().manual_seed(7), temperature=0.8)
drawn_helpers = lstm.sample(4, generator=torch.Generator().manual_seed(7), temperature=0.8)
assert torch.equal(drawn_mine, drawn_helpers)
print(f"draw(...) and lstm.sample(...): {int((drawn_mine == drawn_helpers).sum())} of {drawn_mine.numel()} pixels equal")

# %% [markdown]
# **The shipped model's interface.** The shipped `PixelLSTM` keeps its sizes in a configuration, `lstm.cfg` (a `PixelLSTMConfig`: `cfg.colours`, `cfg.hidden`, ...), not in attributes like `mine.colours`; the START symbol is the index `lstm.cfg.colours`, one past the last colour. It keeps one pixel of the loop of `draw` in a method, `lstm.step(prev, t, state)`: `prev` is the `(n,)` long tensor of colours of pixel $t-1$ (START at $t = 0$), `state` the LSTM state $(h, c)$ (`None` at $t = 0$: zeros), and it returns the logits of pixel $t$, shape `(n, colours)`, and the new state. The cell prints these and checks that the first two steps give the teacher-forced logits of pixels 0 and 1.

# %%
print(lstm.cfg)
print(f"START = lstm.cfg.colours = {lstm.cfg.colours}")
assert (lstm.cfg.emb_dropout, lstm.cfg.dropout, lstm.cfg.hidden) == (0.25, 0.5, 512)  # as the text says
with torch.no_grad():
    start = torch.full((4,), lstm.cfg.colours)  # START for 4 sprites
    logits0, state = lstm.step(start, 0, None)  # logits of pixel 0, state after one step
    logits1, state = lstm.step(test[:4, 0, 0], 1, state)  # feed pixel 0's true colour: logits of pixel 1
    forced = lstm(test[:4]).flatten(1, 2)  # (4, 400, 167): teacher forcing
h, c = state
print(f"step returns logits {tuple(logits1.shape)} and state (h, c) of shapes {tuple(h.shape)}, {tuple(c.shape)}; "
      f"largest difference from teacher forcing {float(torch.maximum((logits0 - forced[:, 0]).abs().max(), (logits1 - forced[:, 1]).abs().max())):.1e}")
assert torch.allclose(logits0, forced[:, 0], atol=1e-5) and torch.allclose(logits1, forced[:, 1], atol=1e-5)

# %% [markdown]
# **Training it, for 30 steps** (the time is printed; it grows when the machine is busy). A small version (64 cells instead of 512) trained from random weights with Adam on random batches of 16 training sprites: the loss is the mean of $-\log_2 p(x_t \mid x_{<t})$ over the batch's pixels, printed every 5 steps. It starts near $\log_2 167 = 7.38$ bits (a uniform guess) and within 30 steps its loss on a training batch falls below the **unigram**'s 4.9 bits on the held-out sprites (two different sets of sprites: a rough yardstick, not a held-out comparison; section 4 makes that one): the unigram draws each pixel from the colours' overall frequencies in the training sprites, with no context (section 4 compares it with the other models); its held-out bits per pixel is printed here. The shipped model is trained by a loop of the same shape with the larger network, its own learning rate, the guards listed at the start of this section (flips, dropout, weight decay, early stopping), the learning-rate halving and gradient clipping (`python -m helpers.registry train pixel_lstm512_wd`).

# %%
torch.manual_seed(0)
tiny = NotebookPixelLSTM(hidden=64)
opt = torch.optim.Adam(tiny.parameters(), lr=1e-2)
g_batches = torch.Generator().manual_seed(0)
t0, losses = time.perf_counter(), []
for step in range(30):
    batch = train[torch.randint(len(train), (16,), generator=g_batches)]
    loss = F.cross_entropy(tiny(batch).flatten(0, 2), batch.flatten())
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(float(loss.detach()) / LN2)
print("bits/pixel on the batch, every 5 steps:", ", ".join(f"{v:.2f}" for v in losses[::5] + losses[-1:]),
      f"({time.perf_counter() - t0:.1f} s)")
unigram_bpp = bits_per_pixel(Unigram(train, N_COLOURS), test)  # colour frequencies, no context
print(f"unigram (colour frequencies of the training sprites): {unigram_bpp:.2f} held-out bits/pixel")
assert losses[0] > 6.5 and losses[-1] < unigram_bpp - 0.1, f"starts near 7.38 bits, ends below the unigram's {unigram_bpp:.1f}"

# %% [markdown]
# The shipped models' training curves, in bits per pixel (the training loss is in nats; divided by $\ln 2$). Next to the LSTM is the **PixelCNN** (`context2d_96x10`, loaded with it above): a network that predicts each pixel from the rows above and the pixels to its left through *masked convolutions* (a **convolution** slides a small grid of weights, its kernel, over the image and computes at every pixel a weighted sum of the pixels around it; a network of such layers is a convolutional network, a CNN; a masked convolution is one whose kernel weights on pixels not yet generated are zeroed); section 9 builds it, and until then it is a second model to compare with. The dashed line is a reference: the raster bigram, $p(x_t \mid x_{t-1})$ from counts, on the same validation sprites (section 4 compares every model with the same bigram on the test sprites instead). Look at where the LSTM's validation curve drops below it (the epoch is printed just above the figure, early in the run) and at the gap that opens between train and validation later: the epoch marked best is where early stopping kept the weights. The sudden drop in each training curve comes at the epoch where its learning rate was first halved (the cell prints the epochs of every halving, from the history's `lr`: the learning rate of each epoch).

# %%
def in_bits(h: History) -> History:
    return History([v / LN2 for v in h.train], [v / LN2 for v in h.valid], h.best_epoch, h.seconds)


bigram_valid = bits_per_pixel(Bigram(train, N_COLOURS), valid)
fig = Figure(figsize=(11, 3.4), layout="constrained")
a, b = fig.subplots(1, 2)
plot_history(in_bits(lstm_info["history"]), ax=a, ylabel="bits per pixel", title="LSTM-512 training curve")
plot_history(in_bits(cnn_info["history"]), ax=b, ylabel="bits per pixel", title="PixelCNN (§9) training curve")
for ax in (a, b):
    ax.axhline(bigram_valid, color="k", ls="--", lw=1, label=f"raster bigram, validation ({bigram_valid:.2f})")
    ax.legend(fontsize=8)
cross = next(i for i, v in enumerate(in_bits(lstm_info["history"]).valid) if v < bigram_valid) + 1
print(f"raster bigram on the validation split: {bigram_valid:.2f} bits/pixel; "
      f"the LSTM-512's validation curve is below it from epoch {cross}")
assert cross <= 0.25 * len(lstm_info["history"].valid)  # early in the run
for name, info in (("LSTM-512", lstm_info), ("PixelCNN", cnn_info)):
    lr = info["history"].lr
    halved = [i + 1 for i in range(1, len(lr)) if lr[i] < lr[i - 1]]
    print(f"{name}: learning rate halved from epochs {halved}")
    assert halved, name
fig

# %% [markdown]
# ## 4. Evaluation: held-out bits per pixel (slide 11)
#
# Slide 11 says evaluating a generator is hard. For a model with a likelihood there is one honest number: how surprised it is by sprites it never saw,
#
# $$\text{bits/pixel} = -\frac{1}{N \cdot 400} \sum_{n=1}^{N} \log_2 p(x^{(n)}) ,$$
#
# on the 80 held-out sprites. Two baselines need only counting: the **unigram** $p(x_t)$ = colour frequency (no context), and the **raster bigram** $p(x_t \mid x_{t-1})$ (the previous pixel in raster order only: the left neighbour, except for the first pixel of a row, whose previous pixel is the last of the row above, and pixel 0, which gets START). A uniform guess costs $\log_2 167 = 7.38$ bits.

# %%
# NBVAL_CHECK_OUTPUT
models = {
    "unigram (colour frequency)": Unigram(train, N_COLOURS),
    "raster bigram p(x_t | x_t-1)": Bigram(train, N_COLOURS),
    "LSTM-128, 1-of-N (§2)": small,
    "LSTM-512 (the lecture's model)": lstm,
    "PixelCNN, 2-D context (§9)": cnn,
    "mixture of three PixelCNNs (§9)": mixture,
    "three PixelCNNs mixed per pixel (§9)": ensemble,
}
table = {name: bits_per_pixel(m, test) for name, m in models.items()}
ref = table["raster bigram p(x_t | x_t-1)"]
print(f"{'model':36s} held-out bits/pixel   vs raster bigram")
for name, v in table.items():
    print(f"{name:36s} {v:6.2f}              {v - ref:+6.2f}")
assert 0.25 < 1 - ref / table["unigram (colour frequency)"] < 0.42  # the bigram saves about a third
assert all(table[k] < ref for k in list(table)[2:])
assert sorted(table, key=table.get)[:3] == ["three PixelCNNs mixed per pixel (§9)", "mixture of three PixelCNNs (§9)",
                                            "PixelCNN, 2-D context (§9)"]  # the two averages, then the best single model

# %%
fig = Figure(figsize=(8, 3.25), layout="constrained")
ax = fig.subplots()
bar_table(list(table), list(table.values()), ax=ax, xlabel="held-out bits per pixel (lower is better)",
          title="80 held-out Pokémon; dashed: the raster bigram")
ax.axvline(ref, color="k", ls="--", lw=1)
fig

# %% [markdown]
# **Takeaway.** Read the bars against the dashed line. Context is worth bits: the previous pixel alone (the bigram) saves about a third of the unigram's cost, and every network lands to the left of the line: the LSTMs see the whole prefix through their state, the PixelCNN sees most of it, up to its reach (measured in section 9); the last column of the table says by how much. The PixelCNN, which sees the pixel *above* directly instead of carrying it 20 steps in a state, is the lowest single model; two ways of averaging three PixelCNNs (section 9) are lower still, the per-pixel one the lowest. The recipes of the shipped models are the entries `pixel_lstm512_wd`, `context2d_96x10`, `context2d_96x10_s1` and `context2d_96x10_s2` of `helpers/registry.py`.
#
# ## 5. Completion (slide 11)
#
# Hide the last part of a held-out sprite in raster order, give the model the visible pixels, and let it draw the rest: $x_t \sim p(x_t \mid x_{<t})$ for every hidden $t$, each drawn pixel fed back in. Below, with 50% and then 75% hidden: the real sprite, what the model sees (hidden pixels grey-blue), three samples, and the **greedy** completion: at every hidden pixel it takes the single most likely colour (the argmax of $p(x_t\mid x_{<t})$) instead of drawing one, so it is the same every time.

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

# %%
def colour_stats(done, hidden):
    """Share of white pixels, and share of the single most common colour, among the hidden pixels."""
    px = done[:, hidden]  # (B, number hidden)
    top = torch.stack([torch.bincount(r, minlength=N_COLOURS).max() for r in px]).float() / px.shape[1]
    return float((px == 0).float().mean()), float(top.mean())


hid = cover_mask(0.5, SIDE)
top_share, white = {}, {}
for name, done in [("greedy", complete(lstm, pick, 0.5, 1, greedy=True)[:, 0]), ("real", pick)]:
    white[name], top_share[name] = colour_stats(done, hid)
    print(f"bottom 50%, {name:9s}: white {white[name]:4.0%} of hidden pixels; one colour covers {top_share[name]:4.0%} on average")
assert top_share["greedy"] > top_share["real"] + 0.1, "greedy: one colour covers more of the hidden part than in real sprites"
assert white["greedy"] > max(0.5, white["real"] + 0.1), "that colour is mostly white: greedy decoding leaves background"

# %% [markdown]
# **Takeaway.** The visible top sets the size and most of the colours; samples differ in the details. In the 50% figure (the first), one sample in row 1 adds a pink belly with specks of colours the top does not have, and in row 3 the samples scatter specks rather than finish an outline. Greedy decoding (last column) picks the single most likely colour each time and keeps repeating it. In the 50% figure, in row 5 it fills most of the hidden part with a flat slab of **one colour** taken from the visible part (grey), with at most an outline at its edge and no details; in row 1 a narrower dark-grey body of one colour, with white around it; in row 4 an orange slab with an outline, which fills only the upper half of the hidden part and leaves the rows below it white; in row 2 a dark-grey bar a couple of rows deep, the rest white; in row 3 nothing at all: the creature ends where the visible part ends. Either way greedy decoding spreads few colours over the hidden part: averaged over the five sprites of the 50% figure, its most common colour covers more of the hidden part than in the real bottom halves, and the white shares printed beside it show that this colour is mostly white, the background greedy decoding leaves (the numbers above, greedy against real, measure the 50% figure only). With 75% hidden (the second figure), in every row greedy decoding fills the hidden part with one flat shape of a single colour (dark grey, green, dark grey, yellow, light blue), with no details inside it.
#
# ## 6. Drawing from scratch (slide 12): greedy, sampling, temperature
#
# From a blank canvas greedy decoding is deterministic — every "new" Pokémon is the same — and it degenerates into the background. Sampling draws different creatures. A **temperature** $\tau$ divides the logits before the softmax, $p_\tau(x_t\mid x_{<t}) \propto p(x_t \mid x_{<t})^{1/\tau}$: $\tau < 1$ sharpens the distribution towards the likely colours (white background and a few body colours), $\tau > 1$ flattens it towards rare colours, $\tau \to 0$ is greedy.

# %%
fig = Figure(figsize=(12, 6.2), layout="constrained")
axes = fig.subplots(2, 2).flatten()
drawn = {"greedy": lstm.sample(8, greedy=True)}
show_sprites(drawn["greedy"], cmap, ncols=4, ax=axes[0], title="greedy (argmax): all identical")
for ax, tau in zip(axes[1:], (0.7, 1.0, 1.3)):
    drawn[tau] = lstm.sample(8, generator=gen, temperature=tau)
    show_sprites(drawn[tau], cmap, ncols=4, ax=ax, title=f"sampled, temperature τ = {tau}")
for name, x in drawn.items():
    colours = np.mean([len(torch.unique(s)) for s in x])
    print(f"{'τ = ' + str(name) if name != 'greedy' else name:8s}: white {float((x == 0).float().mean()):4.0%} of pixels, "
          f"{colours:4.1f} distinct colours per sprite")
white_of = {k: float((x == 0).float().mean()) for k, x in drawn.items()}
blank = {k: int((x == 0).flatten(1).all(1).sum()) for k, x in drawn.items() if k != "greedy"}
print("all-white sprites among the 8:", ", ".join(f"τ = {k}: {v}" for k, v in blank.items()))
assert blank[0.7] >= 2 and blank[1.0] == blank[1.3] == 0
assert white_of["greedy"] == 1.0 and white_of[0.7] > white_of[1.0] > white_of[1.3]
assert len(torch.unique(drawn[0.7])) < len(torch.unique(drawn[1.0])) < len(torch.unique(drawn[1.3]))
fig

# %% [markdown]
# **Takeaway.** Greedy decoding from a blank canvas picks the most likely colour (white background) again and again and never leaves it: the top-left panel is blank. Randomness is what lets the model commit to a creature. At $\tau = 0.7$ the sprites are *cleaner and emptier*: small flat bodies with a dark outline, several canvases left entirely white (the count is printed above), more white and fewer colours per sprite. At $\tau = 1.3$ they are confetti: the canvas fills with many rare colours and little white.

# %% [markdown]
# ### Which τ? Ask a classifier whether it can tell
#
# Held-out likelihood can score τ too: each tempered conditional is still a normalised softmax, so a tempered model has an exact held-out bits/pixel of its own (computed after this sweep). But it answers another question: how well the model *predicts* real sprites, not whether its drawings look like them. Looking is subjective; a classifier is not. The **classifier two-sample test** (C2ST; Lopez-Paz and Oquab, ICLR 2017; `helpers.evaluate.two_sample.c2st`) trains a small CNN to tell drawn sprites from real ones and measures its accuracy on sprites it was not trained on (5-fold cross-validation: the sprites are cut into 5 parts, the folds, and each fold is classified once by a CNN trained on the other four; repeated 3 times with new folds and new weights; the ± is the spread over the repeats). If the drawings came from the same distribution as the real sprites, no classifier could beat chance: 50%. The further above 50%, the more visibly they differ, whatever gives them away: speckle, a missing outline, muddy colours. With 72 sprites a side even two real sets are not told apart at exactly 50%, so the line `72 training sprites` calibrates it: the validation sprites against 72 training sprites (the line above it gives the validation sprites' own statistics). We draw 72 sprites at each τ and test them against the 72 **validation** sprites (never the test sprites, which score the models); the τ with the lowest accuracy is the one to draw with, and the cell stores it in `best_tau`.
#
# Beside it, `helpers.evaluate.sprite_stats` says *what* differs, with four things every real sprite has: its share of white **background** (about 40%, counting the near-white greys the eye cannot tell from it), the number of separate **blobs** (a creature is one figure), the share of the figure's border drawn in a **dark outline** colour, and the number of distinct **colours**. Its `distance` (how far the four means lie from the validation sprites', in units of their spread) would pick a τ of its own: the cell prints that one too.

# %%
valid_stats = summary(valid, cmap)
n_val = len(valid)
taus = (0.8, 0.9, 1.0, 1.1, 1.2)
real_vs_real = c2st(valid, train[torch.randperm(len(train), generator=torch.Generator().manual_seed(5))[:n_val]], cmap)
drawn_at, by_tau, acc = {}, {}, {}
lstm_draw_s = {}  # seconds to draw the 72 sprites, per τ (compared with the PixelCNN in section 9)
for tau in taus:  # 72 sprites per τ, Generator(3)
    t0 = time.perf_counter()
    drawn_at[tau] = lstm.sample(n_val, generator=torch.Generator().manual_seed(3), temperature=tau)
    lstm_draw_s[tau] = time.perf_counter() - t0
    by_tau[tau], acc[tau] = summary(drawn_at[tau], cmap), c2st(valid, drawn_at[tau], cmap)
best_tau = min(taus, key=lambda t: acc[t]["accuracy"])
stats_tau = min(taus, key=lambda t: distance(by_tau[t], valid, cmap))
print(f"{'':24s}{'C2ST accuracy':>16s}" + "".join(f"{k:>12s}" for k in STATS))
print(f"{'validation sprites':24s}{'':16s}" + "".join(f"{valid_stats[k]:12.2f}" for k in STATS))
print(f"{'72 training sprites':24s}{real_vs_real['accuracy']:10.2f} ± {real_vs_real['spread']:.2f}")
for tau in taus:
    print(f"{'LSTM-512, τ = ' + str(tau):24s}{acc[tau]['accuracy']:10.2f} ± {acc[tau]['spread']:.2f}"
          + "".join(f"{by_tau[tau][k]:12.2f}" for k in STATS))
print(f"hardest to tell from the validation sprites: τ = {best_tau} (best_tau); "
      f"closest by the four statistics: τ = {stats_tau}")

# %%
fig = Figure(figsize=(14, 2.9), layout="constrained")
axes = fig.subplots(1, 5)
axes[0].errorbar(taus, [acc[t]["accuracy"] for t in taus], yerr=[acc[t]["spread"] for t in taus], fmt="o-",
                 color="tab:red", label="LSTM-512 samples vs validation")
axes[0].axhline(real_vs_real["accuracy"], color="k", ls="--", lw=1, label="training vs validation sprites")
axes[0].axhline(0.5, color="0.6", ls=":", lw=1, label="chance")
axes[0].set(xlabel="temperature τ", title="C2ST accuracy (lower: harder to tell)")
axes[0].legend(fontsize=7)
titles = {"background": "background share", "blobs": "blobs per sprite",
          "outline": "dark share of the outline", "colours": "colours per sprite"}
for ax, k in zip(axes[1:], STATS):
    ax.plot(taus, [by_tau[t][k] for t in taus], "o-", label="LSTM-512 samples")
    ax.axhline(valid_stats[k], color="k", ls="--", lw=1, label="validation sprites")
    ax.set(xlabel="temperature τ", title=titles[k])
for ax in axes:
    ax.axvline(best_tau, color="tab:green", lw=4, alpha=0.25, label=f"chosen τ = {best_tau}")
axes[1].legend(fontsize=8)
fig

# %% [markdown]
# **Takeaway.** The classifier's answer is clear below τ = 1 and blurred around it. Below τ = 1 it tells the drawings from real sprites easily (above 0.8 at τ = 0.8, printed); it is least sure at τ = 1.0-1.1, the two within its spread of each other (so `best_tau`, printed, beats the other of the two by less than the spread of the classifier's repeats: either would do), and still above the calibration of two real sets, though not by much (both printed): the classifier tells them from real sprites a little more often than it tells two real sets apart. The four statistics say what gives them away. At the chosen τ the background share is close to the real one, but the drawings have far more colours per sprite and more blobs. Judged by its `distance` alone (the four statistics combined), τ = 0.9 would win: it is the closest of the five, and its mean number of colours matches, though its background share and blob count do not. Yet the classifier still tells τ = 0.9 apart about three times in four: being closest on four averages is not looking like a sprite. One statistic none of the five τ fixes: each draws more blobs than real sprites (asserted; the drawings above have stray specks beside some creatures). Turning τ up or down does not bring the count down to the real one, so a better model has to. Notebook 09 uses the same statistics to compare the LSTM with the VAE and the GAN.

# %%
# the claims above, checked on every run
assert 0.35 < valid_stats["background"] < 0.45 and valid_stats["blobs"] < 1.3, "validation sprites: one figure on white"
assert best_tau in (1.0, 1.1) and abs(acc[1.0]["accuracy"] - acc[1.1]["accuracy"]) <= max(
    acc[1.0]["spread"], acc[1.1]["spread"]), "least sure at τ = 1.0-1.1, the two within the spread of each other"
assert max(acc[t]["accuracy"] for t in (1.0, 1.1)) < min(acc[t]["accuracy"] for t in taus if t not in (1.0, 1.1))
assert acc[0.8]["accuracy"] > 0.8 and acc[0.8]["accuracy"] > acc[0.9]["accuracy"] > acc[best_tau]["accuracy"] + 0.1
assert 0 < acc[best_tau]["accuracy"] - real_vs_real["accuracy"] < 0.2, "told apart a little more often than real sprites"
assert abs(by_tau[best_tau]["background"] - valid_stats["background"]) < 0.1
assert by_tau[best_tau]["colours"] > 1.3 * valid_stats["colours"] and by_tau[best_tau]["blobs"] > valid_stats["blobs"] + 0.3
assert stats_tau == 0.9 and 0.65 < acc[0.9]["accuracy"] < 0.85, "the statistics pick 0.9, told apart about 3 times in 4"
assert abs(by_tau[0.9]["colours"] - valid_stats["colours"]) < 0.15 * valid_stats["colours"]
assert abs(by_tau[0.9]["background"] - valid_stats["background"]) > 0.1, "τ = 0.9's background share does not match"
assert all(by_tau[t]["blobs"] > valid_stats["blobs"] for t in taus), "every τ should draw more blobs than the data"

# %% [markdown]
# **Likelihood at each τ.** The tempered model predicts pixel $t$ with $\mathrm{softmax}(\text{logits}/\tau)$, a proper distribution over the 167 colours, so its held-out bits/pixel is computed exactly like the untempered one (section 4): one teacher-forced pass, logits divided by τ. To choose τ by likelihood we use the validation sprites, as the statistics do; the test sprites only report.

# %%
like_taus = (0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3)


def tempered_bpp(model, sprites, tau_grid):
    """Held-out bits/pixel of softmax(logits / τ) for each τ, from one teacher-forced pass."""
    with torch.no_grad():
        logits = model(sprites)  # (B, 20, 20, 167), dropout off
    return {tau: float(-F.log_softmax(logits / tau, -1).gather(-1, sprites[..., None]).sum()) / (sprites.numel() * LN2)
            for tau in tau_grid}


tempered = {"validation": tempered_bpp(lstm, valid, like_taus), "test": tempered_bpp(lstm, test, like_taus)}
print(f"{'bits/pixel of the tempered LSTM-512':38s}" + "".join(f"{'τ = ' + str(t):>9s}" for t in like_taus))
for split, row in tempered.items():
    print(f"{split + ' sprites':38s}" + "".join(f"{v:9.3f}" for v in row.values()))
like_tau = min(tempered["validation"], key=tempered["validation"].get)
test_row = tempered["test"]
print(f"best by validation likelihood: τ = {like_tau} (test: {test_row[like_tau] - test_row[1.0]:+.3f} bits/pixel against τ = 1); "
      f"best by the classifier: τ = {best_tau} (test: {test_row[best_tau] - test_row[1.0]:+.3f} bits/pixel against τ = 1); "
      f"by the four statistics: τ = {stats_tau} (test: {test_row[stats_tau] - test_row[1.0]:+.3f})")
assert abs(test_row[1.0] - table["LSTM-512 (the lecture's model)"]) < 1e-4  # τ = 1 is the model of section 4
assert like_tau in (1.0, 1.1, 1.2) and like_tau == best_tau, "likelihood agrees with the classifier"
assert test_row[stats_tau] > test_row[1.0] + 0.02, "the statistics' τ costs likelihood"

# %% [markdown]
# **Three criteria, two answers.** Likelihood prefers a τ at or slightly above 1 (printed above; the test sprites agree with the validation sprites): on sprites it never saw, the trained model's conditionals are a little too sharp, and flattening them lowers its surprise slightly. The classifier picks the same τ (printed above), though it hardly separates τ = 1.0 from 1.1 (their accuracies lie within each other's spread), so for this model the two criteria agree: of the temperatures tried, those at and just above 1, close to the model as trained, draw the most sprite-like pictures. The four statistics alone would pick τ = 0.9, and pay for it in likelihood (printed above) as well as in the classifier's accuracy. We draw with `best_tau`, the classifier's choice; the table of section 4 and the bits/pixel in the figure titles score every model at τ = 1 (the end of section 9 scores the PixelCNNs at a τ chosen by likelihood, and says so). Section 9 draws from scratch at τ = 1 and at `best_tau` side by side.
#
# ## 7. Sampling speed: reuse the LSTM state
#
# An LSTM summarises the prefix $x_{<t}$ in its state $(h_t, c_t)$. To draw pixel $t$ we need one `step` from $(h_{t-1}, c_{t-1})$ — **400 steps for a whole sprite**. Public re-implementations of this lecture instead re-run the network over the whole prefix for every new pixel: $1 + 2 + \dots + 400 = 80{,}200$ steps, about 200 times as many. The slow-down, estimated below from the first 30 pixels, is under that ratio of steps (both are printed; the estimate depends on the machine and its load, so a figure measured elsewhere, such as the README's benchmark, differs from the one printed here), because one LSTM call over a prefix costs less per step than a one-step call. Both samplers are in `helpers.models.pixel_lstm` and draw identical pixels from the same generator (a unit test checks it). We time 64 sprites, each way three times, keeping the fastest; the re-run sampler only for its first 30 pixels (all 400 would take far longer: the estimate is printed below), its full cost extrapolated by its quadratic step count. Timings depend on the machine and on what else runs on it.

# %%
full = {"cached_s": min(time_sampling(lstm, n=64, rerun=False)["cached_s"] for _ in range(3))}
part_runs = [time_sampling(lstm, n=64, pixels=30) for _ in range(3)]
part = {key: min(p[key] for p in part_runs) for key in ("cached_s", "rerun_s")}  # each the fastest of 3 runs: less noise from load
steps_full, steps_part = 400 * 401 / 2, 30 * 31 / 2
rerun_est = part["rerun_s"] * steps_full / steps_part
print("each the fastest of 3 runs:")
print(f"64 sprites, cached state (400 steps):        {full['cached_s']:6.2f} s")
print(f"64 sprites, re-run prefix, first 30 pixels:  {part['rerun_s']:6.2f} s (cached: {part['cached_s']:.2f} s)")
print(f"64 sprites, re-run prefix, all 400 (est.):   {rerun_est:6.0f} s")
print(f"ratio of LSTM steps {steps_full / 400:.0f}x; estimated slow-down {rerun_est / full['cached_s']:.0f}x")
assert 10 < rerun_est / full["cached_s"] < steps_full / 400, "the re-run sampler is slower, by less than its ratio of steps"

# %% [markdown]
# ## 8. Completion explorer
#
# Choose a held-out Pokémon, drag how much is covered and the temperature, and press *resample*. The panel uses whichever of the two single shipped models, the LSTM-512 and the PixelCNN of section 9, has the lower held-out bits/pixel. The picture is PNG bytes drawn by `helpers.notebook.completion` (the widget needs a live kernel, e.g. `make lab`); below it, a static figure of the same panel for views where widgets cannot render.

# %%
best_name, best = min([("LSTM-512", lstm), ("PixelCNN", cnn)],
                      key=lambda m: table["LSTM-512 (the lecture's model)" if m[0] == "LSTM-512" else "PixelCNN, 2-D context (§9)"])
print(f"explorer model: {best_name} (the lower held-out bits/pixel)")
explorer = CompletionExplorer(best, test, cmap, samples=4, index=10, cover=0.5, temperature=1.0)
explorer.widget()

# %%
explorer.figure()

# %% [markdown]
# ## 9. Beyond the LSTM: 2-D context (slide 13, PixelRNN / PixelCNN)
#
# The raster LSTM must remember the pixel *above* for 20 steps. PixelCNN (van den Oord et al., 2016) looks at the 2-D neighbourhood directly with **masked convolutions**: the kernel is zeroed where pixels are not generated yet, so the prediction of $x_t$ still uses only $x_{<t}$ and the product $\prod_t p(x_t\mid x_{<t})$ is an exact likelihood. We use the *gated* version with two stacks (their masks are drawn below): a vertical stack that sees the rows above, a horizontal stack that sees the pixels to the left, and, in this series' version, dilated convolutions that widen the view (a convolution with dilation $d$ uses every $d$-th pixel, so a 3×3 kernel with dilation 2 spans 5×5: a wider view with no more weights; the shipped model's size is printed under the gated layer's check below). It trains in parallel over all 400 pixels (no recurrence), but sampling still goes pixel by pixel. Like the LSTM's state, work can be reused while sampling (notebook 03's WaveNet does the same along time). In every layer after the first (the gated ones), the vertical stack's row $r$ is computed from two rows of the vertical stack of the layer below, $r$ and $r - d$ ($d$ the dilation), and the horizontal stack's pixel in column $c$ from two columns of the horizontal stack below it in the same row, $c$ and $c - d$, plus what this layer's vertical stack passes over at that pixel (the link between the stacks, written below); the first layer (its masks leave out the centre, and it has no gate) reads the embedded pixels themselves: the row above and the pixel to the left (the masks below). So `sample` keeps what it has computed (`RasterCache` in `helpers/models/pixel_cnn.py`: the input of every gated layer's vertical stack for the rows so far, of its horizontal stack for the current row) and computes, at the first pixel of each row, one new row of each layer's vertical stack, and for each pixel one new column of each layer's horizontal stack. A unit test checks that this gives the logits of the whole-image pass, to 1e-5, starting from three first pixels (the first, one in mid-row, the last). A cell after the masked convolution below times it against the base class's generic loop, which re-runs the network on the rows so far for every pixel, on the last row of 8 sprites, where re-running costs most (all 20 rows for every pixel; the cache's time includes building it for the 20 rows).

# %%
fig = Figure(figsize=(8, 2.6), layout="constrained")
axes = fig.subplots(1, 4)
for ax, (m, t) in zip(axes, [(vertical_mask(3, False), "vertical, first layer"), (vertical_mask(3, True), "vertical, later"),
                             (horizontal_mask(3, False), "horizontal, first layer"), (horizontal_mask(3, True), "horizontal, later")]):
    ax.imshow(m, cmap="Blues", vmin=0, vmax=1.3)
    ax.set(title=t, xticks=[], yticks=[])
    for (i, j), v in np.ndenumerate(m.numpy()):
        ax.text(j, i, int(v), ha="center", va="center", color="white" if v else "black")
fig.suptitle("Masks for kernel size 3: vertical 3×3, horizontal 1×3 (1 = weight used); centre = the position being computed")
fig


# %% [markdown]
# Read the masks: in the first layer the vertical mask keeps only the row above the pixel and the horizontal mask only the pixel to its left, so $x_t$ never sees itself. Later layers also use the centre row (vertical) or the centre (horizontal): by then the features there were computed from earlier pixels only, the vertical stack's from the rows above, the horizontal stack's from the pixels to the left (and, through the link between the stacks written below, from the rows above). A **masked convolution** is an ordinary convolution whose kernel is multiplied by such a 0/1 mask before every use, so gradient steps cannot switch a masked weight on:

# %%
class NotebookMaskedConv2d(nn.Conv2d):
    def __init__(self, c_in, c_out, mask, dilation=1):
        kh, kw = mask.shape  # padding keeps the 20x20 size
        super().__init__(c_in, c_out, (kh, kw), padding=(dilation * (kh // 2), dilation * (kw // 2)), dilation=dilation)
        self.register_buffer("mask", mask[None, None].float())  # (1, 1, kh, kw), broadcast over channels

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding, dilation=self.dilation)


shipped_conv = cnn.layers[1].v  # the shipped PixelCNN's vertical conv in its second gated layer (3x3, dilation 2)
my_conv = NotebookMaskedConv2d(cnn.cfg.channels, 2 * cnn.cfg.channels, vertical_mask(3, True), dilation=2)
my_conv.load_state_dict(shipped_conv.state_dict(), strict=True)
feats = torch.randn(4, cnn.cfg.channels, SIDE, SIDE, generator=torch.Generator().manual_seed(0))
with torch.no_grad():
    diff = float((my_conv(feats) - shipped_conv(feats)).abs().max())
print(f"notebook masked conv vs helpers.models.pixel_cnn.MaskedConv2d (same weights, same input): largest difference {diff:.1e}")
assert diff < 1e-5

# %%
def time_fill(fill, n=8, known=380):
    """(seconds, the sprites) to fill the last row of n held-out sprites (greedy) with a given sampling loop: the row
    where re-running costs most (all 20 rows for every pixel); the cache's time includes building it for rows 0..19."""
    img = test[:n].clone()
    t0 = time.perf_counter()
    with torch.no_grad():
        fill(img, known, SIDE * SIDE, lambda logits: logits.argmax(-1))
    return time.perf_counter() - t0, img


cnn.eval()
runs = [(time_fill(cnn._fill),                                     # RasterCache: built for rows 0..19, then a column per pixel
         time_fill(lambda *args: PixelModel._fill(cnn, *args)))      # the base class's generic loop: the whole network, rows 0..r, per pixel
        for _ in range(2)]                                          # twice, keeping the faster: less noise from load
cached_s, rerun_s = min(r[0][0] for r in runs), min(r[1][0] for r in runs)
same = all(torch.equal(r[0][1], r[1][1]) for r in runs)
print(f"last row of 8 sprites (faster of 2 runs): cached {cached_s:.2f} s, re-run {rerun_s:.2f} s ({rerun_s / cached_s:.1f}x); "
      f"the same pixels both ways: {same}")
assert rerun_s > cached_s and same

# %% [markdown]
# ### The gated layer, written here
#
# One layer of the two-stack model (van den Oord et al., 2016, "Conditional Image Generation with PixelCNN Decoders"). Each stack runs a masked convolution with twice the channels it keeps, and splits the result into two halves $a, b$: the **gate** $\tanh(a)\odot\sigma(b)$ (tanh squashes a number into $(-1, 1)$, as the sigmoid $\sigma$ squashes it into $(0, 1)$) lets the sigmoid half decide, per feature and pixel, how much of the tanh half passes. The vertical stack's pre-gate features also go, through a $1\times1$ convolution, into the horizontal stack at the same position: that **vertical-to-horizontal link** is how a pixel hears about the rows above. The link never runs the other way, since the horizontal stack has seen pixels to the left in the current row, which the vertical stack must not use. The horizontal stack adds its gated output, through a $1\times1$ convolution, to its input (a residual connection).

# %%
class NotebookGatedLayer(nn.Module):
    def __init__(self, c, k, dilation):
        super().__init__()
        self.v = NotebookMaskedConv2d(c, 2 * c, vertical_mask(k, True), dilation)    # rows above (and this row of v)
        self.h = NotebookMaskedConv2d(c, 2 * c, horizontal_mask(k, True), dilation)  # pixels to the left (and this one of h)
        self.v2h = nn.Conv2d(2 * c, 2 * c, 1)  # vertical -> horizontal link
        self.h_out = nn.Conv2d(c, c, 1)

    def forward(self, v, h):
        vf = self.v(v)                                   # (B, 2c, H, W)
        va, vb = vf.chunk(2, dim=1)
        hf = self.h(h) + self.v2h(vf)                   # the horizontal stack hears the rows above
        ha, hb = hf.chunk(2, dim=1)
        return torch.tanh(va) * torch.sigmoid(vb), h + self.h_out(torch.tanh(ha) * torch.sigmoid(hb))


def notebook_stacks(model, layers, e):
    """The two stacks of a PixelCNN over embedded pixels e (B, c, H, W) -> horizontal features."""
    v, h = model.v0(e), model.h0(e)  # first layer: masks without the centre
    for layer in layers:
        v, h = layer(v, h)
    return h


c, k = cnn.cfg.channels, cnn.cfg.kernel
my_layers = nn.ModuleList(NotebookGatedLayer(c, k, cnn.cfg.dilations[i % len(cnn.cfg.dilations)])
                          for i in range(cnn.cfg.layers))
for mine, shipped in zip(my_layers, cnn.layers):
    mine.load_state_dict(shipped.state_dict(), strict=True)
sprites = test[-4:]  # four held-out sprites
with torch.no_grad():
    e = cnn.emb(sprites).permute(0, 3, 1, 2)
    mine_logits = cnn.out(notebook_stacks(cnn, my_layers, e)).permute(0, 2, 3, 1)
    gap = float((mine_logits - cnn(sprites)).abs().max())
masked_out = sum(int((1 - m.mask).sum()) * m.in_channels * m.out_channels for m in cnn.modules() if isinstance(m, MaskedConv2d))
print(f"shipped PixelCNN: {cnn.cfg.layers} gated layers of {cnn.cfg.channels} channels, dilations {cnn.cfg.dilations}, "
      f"dropout {cnn.cfg.dropout}; {sum(p.numel() for p in cnn.parameters()):,} parameters ({masked_out:,} of them "
      "weights the masks zero)")
print(f"{cnn.cfg.layers} notebook gated layers vs helpers.models.pixel_cnn (shipped weights, 4 sprites): largest logit difference {gap:.1e}")
assert gap < 1e-5 and cnn.cfg.layers == 10  # "ten gated layers" in the text below

# %% [markdown]
# ### Why two stacks: the blind spot
#
# The simplest PixelCNN has **one** stack with one mask in raster order: 1 on the rows above the centre and on the pixels left of it, 0 elsewhere. Stacking such layers leaves a **blind spot**: information moves at most one column to the left for every row it moves down, because the mask looks up and to the right by one pixel and never to the right in the centre row. So a pixel $d$ rows above $x_t$ and more than $d$ columns to its right never reaches it. Which inputs a network's output at one pixel depends on, its **receptive field** at that pixel, can be *measured*: put a random input through it, backpropagate (compute the gradient with autograd, as training does) from the features at pixel $(10, 10)$, and mark every input pixel whose gradient is not zero. Below, six layers of each kind with kernel size 3 and random weights (dilation 1), so that only the wiring differs. The one-stack network's masks, written out in the cell below, are the $k = 3$ case of the raster-order masks that Exercise 3 asks you to build for every kernel size $k$.

# %%
def receptive_field(net, at=(10, 10), channels=16):
    """Input pixels whose gradient, from the output features at pixel `at`, is not zero."""
    x = torch.randn(1, channels, SIDE, SIDE, generator=torch.Generator().manual_seed(1), requires_grad=True)
    net(x)[0, :, at[0], at[1]].sum().backward()
    return x.grad.abs().sum(1)[0] > 0


torch.manual_seed(0)
single_first = torch.tensor([[1.0, 1, 1], [1, 0, 0], [0, 0, 0]])  # one raster mask; centre 0 in layer 1
single_later = torch.tensor([[1.0, 1, 1], [1, 1, 0], [0, 0, 0]])  # and 1 later
single = nn.Sequential(NotebookMaskedConv2d(16, 16, single_first),
                       *[m for _ in range(5) for m in (nn.Tanh(), NotebookMaskedConv2d(16, 16, single_later))])
two = torch.nn.Module()
two.v0, two.h0 = NotebookMaskedConv2d(16, 16, vertical_mask(3, False)), NotebookMaskedConv2d(16, 16, horizontal_mask(3, False))
two_layers = nn.ModuleList(NotebookGatedLayer(16, 3, 1) for _ in range(5))
fields = {"one stack": receptive_field(single), "two stacks": receptive_field(lambda x: notebook_stacks(two, two_layers, x))}
before = torch.arange(SIDE * SIDE).reshape(SIDE, SIDE) < 10 * SIDE + 10  # the pixels x_<t of t = (10, 10)
reach = torch.zeros(SIDE, SIDE, dtype=torch.bool)
reach[10 - 6 : 11, 10 - 6 : 10 + 7] = True  # six 3x3 layers reach at most 6 rows up and 6 columns across
for name, f in fields.items():
    blind = sorted((int(r), int(c)) for r, c in ((before & reach) & ~f).nonzero())
    print(f"{name}: sees {int(f.sum())} pixels, all before (10, 10): {bool((f & ~before).sum() == 0)}; "
          f"blind to {len(blind)} earlier pixels in reach, e.g. {blind[:4]}")
assert all(int((f & ~before).sum()) == 0 for f in fields.values())  # both are causal
blind_one = ((before & reach) & ~fields["one stack"]).nonzero()
assert len(blind_one) > 0 and int(((before & reach) & ~fields["two stacks"]).sum()) == 0
# exactly the pixels d rows up and more than d columns to the right (within reach)
assert {tuple(rc) for rc in blind_one.tolist()} == {(r, c) for r in range(4, 10) for c in range(11, 17) if c - 10 > 10 - r}

# %%
fig = Figure(figsize=(8.5, 3.6), layout="constrained")
for ax, (name, f) in zip(fig.subplots(1, 2), fields.items()):
    shown = np.ones((SIDE, SIDE, 3))                    # white: out of reach, or not before x_t
    shown[(before & reach).numpy()] = (1.0, 0.8, 0.8)  # earlier pixels in reach: pink where not seen
    shown[f.numpy()] = (0.2, 0.4, 0.9)                  # seen: blue
    shown[10, 10] = (0, 0, 0)                           # the pixel being predicted
    ax.imshow(shown, interpolation="nearest")
    ax.set(title=f"{name}: what pixel (10, 10) sees", xticks=np.arange(-0.5, SIDE, 1), yticks=np.arange(-0.5, SIDE, 1))
    ax.tick_params(length=0, labelbottom=False, labelleft=False)
    ax.grid(color="0.85", lw=0.5)
fig.suptitle("Receptive field by gradients (blue: seen; pink: earlier and within reach, but not seen; black: x_t)")
fig


# %%
cnn.eval()  # dropout off
field_cnn = receptive_field(lambda x: notebook_stacks(cnn, cnn.layers, x), at=(19, 19), channels=cnn.cfg.channels)
earlier = torch.arange(SIDE * SIDE).reshape(SIDE, SIDE) < 19 * SIDE + 19
print(f"shipped PixelCNN: pixel (19, 19) depends on {int(field_cnn.sum())} of its {int(earlier.sum())} earlier pixels; "
      f"later pixels seen: {int((field_cnn & ~earlier).sum())}")
assert int((field_cnn & ~earlier).sum()) == 0 and int(earlier.sum()) / 2 < int(field_cnn.sum()) < int(earlier.sum())

# %% [markdown]
# The one-stack network is blind to a wedge of earlier pixels to the upper right of $x_t$ (pink), pixels that six layers could reach; the two-stack network sees every earlier pixel within reach, and neither sees $x_t$ or anything after it. The shipped model adds dilations (1, 2, 1, 4) to the two stacks, so its reach is wider still, but not unlimited: measured the same way in the cell above, its last pixel (19, 19) depends on most of its 399 earlier pixels, not all of them (the count is printed).

# %% [markdown]
# ### A mixture of PixelCNNs (slide 24)
#
# Slide 24 builds a distribution out of $K$ simpler ones: $P(x) = \sum_k P(k)\, P(x \mid k)$, there with Gaussians (notebook 06 builds such mixtures). Nothing requires the components to be Gaussians. Three PixelCNNs trained with the same recipe from different seeds (`context2d_96x10`, `_s1` and `_s2`, loaded in section 3 as `parts`) make a mixture with $P(k) = \tfrac13$:
#
# $$p(x) = \tfrac13 \big(p_1(x) + p_2(x) + p_3(x)\big).$$
#
# It is a proper model: each $p_k$ sums to 1 over all possible sprites, so their average does too, and its held-out likelihood is exact. Sampling follows the slide: pick a component $k$ with probability $P(k)$, then let it draw the whole sprite. Why it can only help on average: $\log$ is **concave** (its graph bends down, so the chord between two of its points lies below it), and for such a function the value at an average is at least the average of the values (**Jensen's inequality**): $\log \tfrac13 \sum_k p_k \ge \tfrac13 \sum_k \log p_k$: on every sprite, the mixture's bits are at most the mean of its components'. Where the components disagree about a sprite, the mixture is close to the best of them: it loses at most $\log_2 3 \approx 1.6$ bits per sprite against it. `helpers.models.autoregressive.PixelMixture` is the class; the cell computes the mixture's $\log p(x)$ from the components' by hand and checks it against the class (on 16 sprites; section 4's table scored the class on all 80, and the cell checks the two agree).

# %%
with torch.no_grad():
    test_logits = [part(test).float() for part in parts]  # kept: the end of this section tempers them
    per_pixel = torch.stack([F.log_softmax(lg, -1).gather(-1, test[..., None])[..., 0].flatten(1)
                             for lg in test_logits])  # (3, 80, 400): log p_k(x_t | x_<t), nats
    lp = per_pixel.sum(-1)  # (3, 80): log p_k(x), nats per sprite
    by_hand = torch.logsumexp(lp, 0) - math.log(3)  # log of the average of the three probabilities
    by_class = mixture.log_prob(test[:16])  # the class on 16 sprites (section 4's table scored it on all 80)
to_bpp = lambda logp: float(-logp.mean()) / (SIDE * SIDE * LN2)
parts_bpp = [to_bpp(l) for l in lp]
mix_bpp = to_bpp(by_hand)
best_share = torch.bincount(lp.argmax(0), minlength=3).float() / lp.shape[1]
print("held-out bits/pixel: " + ", ".join(f"component {k + 1} {v:.3f}" for k, v in enumerate(parts_bpp))
      + f"; mixture {mix_bpp:.3f}")
print(f"share of the {lp.shape[1]} test sprites on which each component is the best: "
      + ", ".join(f"{v:.0%}" for v in best_share.tolist())
      + f"; mixture by hand vs PixelMixture (16 sprites): largest difference {float((by_hand[:16] - by_class).abs().max()):.1e} nats")
assert torch.allclose(by_hand[:16], by_class, atol=1e-3)
assert bool((by_hand >= lp.mean(0) - 1e-4).all())  # Jensen, sprite by sprite
assert bool((by_hand >= lp.max(0).values - math.log(3) - 1e-4).all())  # at most log 3 behind the best one
oracle_bpp = to_bpp(lp.max(0).values)  # each sprite scored by its own best component
print(f"each sprite scored by its best component: {oracle_bpp:.3f} bits/pixel; the mixture is at most "
      f"log2(3) / 400 = {math.log2(3) / 400:.4f} bits/pixel above that")
assert mix_bpp < min(parts_bpp) and bool((best_share > 0.1).all())
assert oracle_bpp - 1e-6 <= mix_bpp <= oracle_bpp + math.log2(3) / 400 + 1e-6
assert abs(mix_bpp - table["mixture of three PixelCNNs (§9)"]) < 1e-3

# %% [markdown]
# The gain is small (printed above), and it cannot be much larger. On each sprite the whole-sprite mixture is never better than that sprite's best component and never worse than it by more than $\log_2 3$ bits per sprite, so its bits/pixel sit just above those of "each sprite scored by its best component" (printed): all a whole-sprite mixture can do is pick, sprite by sprite, the component that suits it.
#
# **Mixing at every pixel.** The chain rule offers another average. At pixel $t$, take the mixture of the three components' *predictions* for that pixel,
#
# $$p(x_t \mid x_{<t}) = \tfrac13 \sum_k p_k(x_t \mid x_{<t}), \qquad p(x) = \prod_t p(x_t \mid x_{<t}).$$
#
# Each factor is a mixture in slide 24's sense, over the 167 colours of one pixel: it is non-negative and sums to 1 over the colours because each $p_k(\cdot \mid x_{<t})$ does. A product of such conditionals is a proper model over whole sprites (the chain rule of notebook 01, read backwards), with an exact likelihood. Sampling: at each pixel pick a component with probability $\tfrac13$ and draw that one pixel from its prediction, which is the same as drawing from the averaged prediction. Jensen now works pixel by pixel, and a component can lead on one pixel and trail on the next, so the average can beat every component on a sprite; the cell below prints on how many of the test sprites it does. `PixelEnsemble` is the class (its sampler keeps one `RasterCache` per PixelCNN and draws each pixel from the average of their predictions); the cell checks it against the chain rule by hand, and times drawing 8 sprites from the ensemble and from one PixelCNN.

# %%
with torch.no_grad():  # per_pixel: the components' log p_k(x_t | x_<t), from the cell above
    ens_hand = (torch.logsumexp(per_pixel, 0) - math.log(3)).sum(1)  # log of the averaged conditionals, summed
    ens_class = ensemble.log_prob(test[:16])  # the class on 16 sprites (section 4's table scored it on all 80)
ens_bpp = to_bpp(ens_hand)
beats_all = float((ens_hand > lp.max(0).values).float().mean())
print(f"held-out bits/pixel: best component {min(parts_bpp):.3f}, whole-sprite mixture {mix_bpp:.3f}, "
      f"mixed per pixel {ens_bpp:.3f}")
print(f"mixed per pixel beats every component on {beats_all:.0%} of the {lp.shape[1]} test sprites; by hand vs PixelEnsemble "
      f"(16 sprites): largest difference {float((ens_hand[:16] - ens_class).abs().max()):.1e} nats")
t0 = time.perf_counter()
ens_drawn = ensemble.sample(8, generator=torch.Generator().manual_seed(3))
t1 = time.perf_counter()
cnn.sample(8, generator=torch.Generator().manual_seed(3))
one_s, ens_s = time.perf_counter() - t1, t1 - t0
print(f"8 sprites drawn from the ensemble in {ens_s:.1f} s, from one PixelCNN in {one_s:.1f} s (each pixel asks all three "
      "components)")
assert ens_s > one_s
assert torch.allclose(ens_hand[:16], ens_class, atol=1e-3)
assert ens_bpp < mix_bpp < min(parts_bpp) and ens_bpp <= 2.12 and beats_all > 0.9
assert abs(ens_bpp - table["three PixelCNNs mixed per pixel (§9)"]) < 1e-3

# %%
fig = Figure(figsize=(6, 1.9), layout="constrained")
show_sprites(ens_drawn, cmap, ncols=8, ax=fig.subplots(),
             title=f"three PixelCNNs mixed per pixel: 8 sprites from scratch, τ = 1 ({ens_bpp:.2f} held-out bits/pixel)")
fig

# %% [markdown]
# ### Drawing from scratch with the PixelCNN
#
# Does the LSTM's temperature suit the PixelCNN too? Drawing a PixelCNN sprite takes longer, even with its cache (the cell times its 72 sprites at τ = 1 against the LSTM-512's 72 of section 6 and prints the ratio, which depends on the machine and its load; for each pixel the PixelCNN computes a column of the horizontal stack of each of its eleven layers, the first one and ten gated ones, and at each row's first pixel a row of each vertical stack), and every τ also costs a classifier test, so instead of a sweep we test only two temperatures, τ = 1 and the LSTM's `best_tau`, the same way as in section 6: 72 sprites at each, tested against the 72 validation sprites with the classifier. The one it finds harder to tell apart, by its mean accuracy, is `cnn_tau`; compare the gap with the printed spreads (the cell prints whether it lies inside them). A spread covers only the classifier's three repeats on the same sprites, not new draws of sprites, so a gap of a few hundredths (asserted: under 0.05), inside the spreads or not, is weak evidence that one τ draws better than the other: either would do. The figure shows both models at τ = 1, their own distributions, and at the τ the classifier chose.

# %%
cnn_taus = tuple(sorted({1.0, best_tau}))
cnn_drawn, cnn_draw_s = {}, {}
for tau in cnn_taus:
    t0 = time.perf_counter()
    cnn_drawn[tau] = cnn.sample(n_val, generator=torch.Generator().manual_seed(3), temperature=tau)
    cnn_draw_s[tau] = time.perf_counter() - t0
print(f"{n_val} sprites at τ = 1: PixelCNN {cnn_draw_s[1.0]:.1f} s, LSTM-512 (section 6) {lstm_draw_s[1.0]:.1f} s "
      f"({cnn_draw_s[1.0] / lstm_draw_s[1.0]:.1f}x)")
assert cnn_draw_s[1.0] > lstm_draw_s[1.0], "a PixelCNN sprite takes longer to draw"
cnn_acc = {tau: c2st(valid, x, cmap) for tau, x in cnn_drawn.items()}
cnn_tau = min(cnn_taus, key=lambda t: cnn_acc[t]["accuracy"])
for tau in cnn_taus:
    print(f"PixelCNN, τ = {tau}: C2ST accuracy {cnn_acc[tau]['accuracy']:.2f} ± {cnn_acc[tau]['spread']:.2f}")
cnn_gap = max(cnn_acc[t]["accuracy"] for t in cnn_taus) - min(cnn_acc[t]["accuracy"] for t in cnn_taus)
print(f"gap between the two τ: {cnn_gap:.2f}, " + ("inside" if cnn_gap <= max(cnn_acc[t]["spread"] for t in cnn_taus)
                                                  else "outside") + " the larger of their spreads")
assert cnn_gap < 0.05, "a gap of a few hundredths"
print(f"chosen for the PixelCNN: τ = {cnn_tau} (LSTM-512: τ = {best_tau}; training vs validation sprites: "
      f"{real_vs_real['accuracy']:.2f})")
# later notebooks (09) draw at these temperatures from the package's table; it must say what this test chose
assert (best_tau, cnn_tau) == (CHOSEN_TEMPERATURE["pixel_lstm512_wd"], CHOSEN_TEMPERATURE["context2d_96x10"])

# %%
fig = Figure(figsize=(12, 6.4), layout="constrained")
axes = fig.subplots(2, 2)
bpp_lstm, bpp_cnn = table["LSTM-512 (the lecture's model)"], table["PixelCNN, 2-D context (§9)"]
for col, (tau_l, tau_c) in enumerate(((1.0, 1.0), (best_tau, cnn_tau))):
    what = "its own distribution" if col == 0 else "chosen by the classifier"
    show_sprites(drawn_at[tau_l][:8], cmap, ncols=4, ax=axes[0, col],
                 title=f"LSTM-512 from scratch, τ = {tau_l} ({what})\n{bpp_lstm:.2f} held-out bits/pixel at τ = 1; "
                       f"C2ST {acc[tau_l]['accuracy']:.2f}")
    show_sprites(cnn_drawn[tau_c][:8], cmap, ncols=4, ax=axes[1, col],
                 title=f"PixelCNN from scratch, τ = {tau_c} ({what})\n{bpp_cnn:.2f} held-out bits/pixel at τ = 1; "
                       f"C2ST {cnn_acc[tau_c]['accuracy']:.2f}")
fig

# %% tags=["readme"]
completion_figure(cnn, pick, 0.5, "PixelCNN completes the bottom 50% (τ = 1)")

# %% [markdown]
# ### The temperature, judged by likelihood
#
# A tempered model is still a model. Dividing the logits by $\tau$ turns each conditional into $p_\tau(x_t \mid x_{<t}) \propto p(x_t \mid x_{<t})^{1/\tau}$, which still sums to 1 over the 167 colours, so by the chain rule $\prod_t p_\tau(x_t \mid x_{<t})$ is a proper distribution over sprites with an exact likelihood, for every $\tau$. So $\tau$ can be chosen by likelihood, like any other setting: on the 72 validation sprites, then the 80 test sprites are scored once at the chosen value. A $\tau$ above 1 that lowers the bits/pixel means the model was **overconfident**: its predictions were too sharp for sprites it never saw. The cell chooses $\tau$ for the whole-sprite mixture of the three PixelCNNs and scores each component and the mixture at it.

# %%
LIKELIHOOD_TAUS = (0.9, 1.0, 1.1, 1.2, 1.3)
with torch.no_grad():
    logits_of = {"valid": [part(valid).float() for part in parts], "test": test_logits}


def tempered_log_p(logits, x, tau):
    """log p_tau(x) in nats per sprite, (B,): every conditional's logits divided by tau."""
    return F.log_softmax(logits / tau, -1).gather(-1, x[..., None])[..., 0].flatten(1).sum(1)


def tempered_mixture_bpp(split, x, tau):
    lps = torch.stack([tempered_log_p(lg, x, tau) for lg in logits_of[split]])  # (3, B)
    return to_bpp(torch.logsumexp(lps, 0) - math.log(len(lps)))


valid_bpp = {tau: tempered_mixture_bpp("valid", valid, tau) for tau in LIKELIHOOD_TAUS}
lik_tau = min(valid_bpp, key=valid_bpp.get)
print("whole-sprite mixture, validation bits/pixel: " + ", ".join(f"τ = {t}: {v:.3f}" for t, v in valid_bpp.items()))
each_bpp = [to_bpp(tempered_log_p(lg, test, lik_tau)) for lg in logits_of["test"]]  # every component at lik_tau
mix_tau_bpp = tempered_mixture_bpp("test", test, lik_tau)
print(f"chosen by likelihood: τ = {lik_tau} (the classifier chose τ = {cnn_tau} for drawing)")
print(f"test bits/pixel at τ = 1 -> τ = {lik_tau}: "
      + ", ".join(f"component {k + 1} {a:.3f} -> {b:.3f}" for k, (a, b) in enumerate(zip(parts_bpp, each_bpp)))
      + f"; whole-sprite mixture {mix_bpp:.3f} -> {mix_tau_bpp:.3f}")
assert abs(tempered_mixture_bpp("test", test, 1.0) - mix_bpp) < 1e-4  # τ = 1 is the mixture above
assert lik_tau > 1 and mix_tau_bpp < mix_bpp  # overconfident: τ > 1 helps every component and the mixture
assert all(b < a for a, b in zip(parts_bpp, each_bpp))
assert mix_tau_bpp > 2.12 and ens_bpp < mix_tau_bpp  # still short of 2.12; mixing per pixel is still lower

# %% [markdown]
# **Takeaway.** Likelihood prefers a $\tau$ above 1 (printed): the PixelCNNs are overconfident, and flattening their predictions a little lowers the held-out bits/pixel of each of the three components and of the whole-sprite mixture alike (printed and asserted). The mixture at that $\tau$ is still above 2.12 bits/pixel, and still above the mixture taken pixel by pixel at $\tau = 1$ (both printed and asserted). `make bench` does the same with six components (each seed and its mirror image) and a finer grid of $\tau$ (`pokemon_bits_per_pixel.context2d_mixture_tempered` in the README's results). The classifier's $\tau$ (printed beside it) was chosen for drawing from component 1 alone, this one for the mixture of three: two different questions, how hard one model's drawings are to tell from real sprites and how well the mixture predicts unseen ones, each answered on the validation sprites.

# %% [markdown]
# ## Summary
#
# - A sprite is a sequence of 400 colour indices; $p(x) = \prod_t p(x_t\mid x_{<t})$ is learned with a softmax over 167 colours. RGB regression learns conditional means: muddy colours.
# - Held-out bits per pixel compares models on sprites they never saw; context helps: unigram > bigram > LSTM / PixelCNN.
# - Completion and drawing are the same loop: sample $x_t$, feed it back. Greedy decoding degenerates; temperature trades variety for regularity.
# - A classifier two-sample test asks whether drawings can be told from real sprites; for the LSTM it chose the temperature, though it hardly tells τ = 1.0 from 1.1 (their accuracies within each other's spread), and held-out likelihood, by a small margin, chose the same one; section 9 asks the classifier for the PixelCNN's τ and likelihood for the mixture's.
# - Reuse the LSTM state: one step per pixel instead of re-running the prefix.
# - Masked convolutions give 2-D context with an exact likelihood (PixelCNN). Averaging three PixelCNNs' probabilities gives a model too (slide 24's mixture, with whole models as components), a little better than each; averaging their predictions pixel by pixel gives a better one still, the best held-out bits/pixel of this notebook. A temperature chosen by validation likelihood is above 1: the PixelCNNs are overconfident.
# - The pixel LSTM (teacher-forced forward pass, cached sampling loop) and the masked convolution fit in a few lines each; with the shipped weights they give exactly the helpers' log-probabilities, samples and outputs.
#
# ## Exercises
#
# **Exercise 1.** A model gives a held-out sprite the log-likelihood $\log p(x) = -600$ nats. How many bits per pixel is that? Write `nats_to_bpp(log_p, n_pixels)`, which turns the log-likelihood $\log p(x)$ of one image of `n_pixels` pixels, in nats, into bits per pixel (the formula of section 4 for a single image, $N = 1$), so that it works for any image size, a 20×20 sprite or an 8×8 digit. Use the exact $\ln 2$ (`math.log(2)`), not a rounded value such as 0.693: the tests compare to within $10^{-9}$. The cell then stores the sprite's answer in `bpp`.

# %% nbgrader={"grade": false, "grade_id": "ex1_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def nats_to_bpp(log_p: float, n_pixels: int) -> float:
    ### BEGIN SOLUTION
    return -log_p / (n_pixels * math.log(2))
    ### END SOLUTION


bpp = nats_to_bpp(-600.0, 400)

# %% nbgrader={"grade": true, "grade_id": "ex1_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
assert type(bpp) is float, f"bpp should be a float, got {type(bpp).__name__}; use float(...)"
assert bpp > 0, f"got {bpp:.4f}: log p(x) is negative, bits per pixel positive"
_twice, _half = nats_to_bpp(-1200.0, 400), nats_to_bpp(-600.0, 800)
assert type(_twice) is float and type(_half) is float, (
    f"nats_to_bpp should return a float, got {type(_twice).__name__} and {type(_half).__name__}")
assert abs(_twice - 2 * bpp) < 1e-9 * bpp, "twice the nats over the same pixels should give twice the bits per pixel"
assert abs(_half - bpp / 2) < 1e-9 * bpp, (
    "the same nats spread over twice as many pixels should give half the bits per pixel: does nats_to_bpp use n_pixels?")
### BEGIN HIDDEN TESTS
for log_p, n_pixels in ((-100.0, 64), (-1234.5, 400), (-50.0, 9), (0.0, 400)):
    got = nats_to_bpp(log_p, n_pixels)
    want = -log_p / (n_pixels * math.log(2))
    assert type(got) is float, f"nats_to_bpp({log_p}, {n_pixels}) returned {type(got).__name__}, not a float"
    if abs(got - want) > 1e-9 * max(1.0, abs(want)):
        if abs(got - want) < 1e-3 * abs(want):
            raise AssertionError(f"nats_to_bpp({log_p}, {n_pixels}) = {got!r}, expected {want!r}: close but not exact; "
                                 "use math.log(2), not a rounded constant")
        raise AssertionError(f"nats_to_bpp({log_p}, {n_pixels}) = {got!r}, expected {want:.6f}")
### END HIDDEN TESTS
print(f"Exercise 1 passes the visible checks (more run when it is graded): {bpp:.3f} bits/pixel")

# %% [markdown]
# **Exercise 2.** Write the **greedy** decoder yourself with the cached state. The shipped `PixelLSTM` (`lstm`) keeps one pixel of the loop of `draw` in a method, `step` (`draw` is shown in section 3 under "The model, written here", `step` under "The shipped model's interface"): `model.step(prev, t, state)` takes the colours of pixel $t-1$ as an `(n,)` long tensor (the START symbol at $t = 0$) and the LSTM state (`None` at $t = 0$: zeros), and returns the logits of pixel $t$, shape `(n, colours)`, and the new state $(h, c)$. The model's configuration is `model.cfg`; the START symbol is the index `model.cfg.colours`, one past the last colour. Write `greedy_draw(model, n)`: start from START, call `model.step` for $t = 0..399$, take the argmax each time and feed it back; return `(n, 20, 20)` long. Write the loop yourself: do not call `model.sample` or another of the helpers' samplers. Your function must give the same pixels as `model.sample(n, greedy=True)`.

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
with torch.random.fork_rng():  # the shipped LSTM's greedy sprites are all white: test on a small random one too
    torch.manual_seed(4)
    other = PixelLSTM(PixelLSTMConfig(colours=12, hidden=32)).eval()
want = other.sample(3, greedy=True)
try:
    got = greedy_draw(other, 3)
except IndexError as e:  # a START index past the 12 colours' embedding
    raise AssertionError(f"greedy_draw failed on a random LSTM with 12 colours ({e}): "
                         "the START symbol depends on the model") from e
assert type(got) is torch.Tensor and tuple(got.shape) == (3, 20, 20), "greedy_draw(other, 3) should return (3, 20, 20)"
assert torch.equal(got, want), (
    f"on a random LSTM with 12 colours (other = PixelLSTM(PixelLSTMConfig(colours=12, hidden=32)), seed 4), "
    f"greedy_draw differs from other.sample(3, greedy=True) in {int((got != want).sum())} of {want.numel()} pixels")
assert torch.equal(mine, lstm.sample(2, greedy=True)), "on the shipped LSTM, greedy_draw differs from lstm.sample(2, greedy=True)"
### BEGIN HIDDEN TESTS
class _WithoutSamplers:
    """The model with its samplers taken away: greedy_draw must run its own loop over model.step."""

    def __init__(self, model):
        self._model = model

    def __getattr__(self, name):
        if name in ("sample", "sample_rerun", "_fill", "read", "forward", "lstm", "emb", "out", "row", "col",
                    "_inputs", "_shifted"):
            raise AttributeError(f"greedy_draw used model.{name}: write the loop yourself with model.step")
        return getattr(self._model, name)

    calls, last = 0, None

    def step(self, prev, t, state):
        """One call per pixel, t = 0, 1, ..., each with the state the call before returned."""
        if t != self.calls:
            raise AssertionError(f"greedy_draw's call number {self.calls} of model.step was for pixel {t}: one call "
                                 "per pixel, t = 0..399 in order, not a re-run of the prefix")
        # the state the step before returned, carried on: the same tensors, or copies of them (detach, clone)
        if self.calls and (state is None or len(state) != len(self.last) or any(
                not (type(a) is torch.Tensor and a.shape == b.shape and torch.equal(a, b))
                for a, b in zip(state, self.last))):
            raise AssertionError(f"at pixel {t} greedy_draw gave model.step another state than the one the step "
                                 "before returned: carry (h, c) from pixel to pixel")
        logits, self.last = self._model.step(prev, t, state)
        self.calls += 1
        return logits, self.last

    def __call__(self, *args, **kwargs):
        raise AssertionError("greedy_draw called model(...): it must call model.step, one pixel at a time with the "
                             "cached state, not re-run the whole network")


_counted = _WithoutSamplers(other)
try:
    got = greedy_draw(_counted, 3)
except IndexError as e:  # a START index past the 12 colours' embedding
    raise AssertionError(f"greedy_draw failed on a model with 12 colours ({e}): START is model.cfg.colours, "
                         "not 167") from e
assert type(got) is torch.Tensor and tuple(got.shape) == (3, 20, 20), "greedy_draw should return (n, 20, 20)"
assert torch.equal(got, want), (
    f"on a random LSTM with 12 colours, greedy_draw differs from model.sample(n, greedy=True) in "
    f"{int((got != want).sum())} of {want.numel()} pixels: START is model.cfg.colours; feed back the argmax, "
    "keep the state, fill the sprite row by row")
assert _counted.calls == 400, f"greedy_draw called model.step {_counted.calls} times for 400 pixels"
### END HIDDEN TESTS
print("Exercise 2 passes the visible checks (more run when it is graded)")


# %% [markdown]
# **Exercise 3 (build and train).** A simpler PixelCNN has a single stack, with one $k \times k$ mask in **raster order** (section 9, "Why two stacks: the blind spot", writes out the $k = 3$ case for its one-stack network; your function builds the mask for any odd $k$, and the tests try $k = 3, 5, 7$. That section shows the blind spot: a stack of such layers never sees a wedge of earlier pixels to the upper right; the network here has that blind spot too, and it is still causal, which is what the test checks): weight 1 on every row above the centre and on the pixels left of the centre in its own row, 0 on the pixels to the right and below; the centre itself is 0 in the first layer (`centre=False`: $x_t$ must not see itself) and 1 in later layers (`centre=True`). Write `raster_mask(k, centre)`, returning a `(k, k)` tensor of 0s and 1s (float; a bool or integer tensor works too). The test builds a three-layer network out of `MaskedConv2d` with your masks and checks it **by perturbation**, at a few pixels $t$ inside a row: changing pixel $t$ of a sprite must leave the logits of pixels $0..t$ unchanged and must change those of pixel $t+1$ (not at a row's last pixel: pixel $t+1$ then starts the next row, and three small layers do not reach back to the far end of the row above). Then it trains the network for 40 Adam steps and checks that the loss fell by more than a bit per pixel. When graded, it also compares your masks with the raster-order masks for $k = 3, 5, 7$ and checks that the trained network's held-out bits per pixel on the 80 test sprites, which the visible test prints, are below 4.8 (the unigram's are 4.91, section 4).

# %% nbgrader={"grade": false, "grade_id": "ex3_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def raster_mask(k, centre):
    ### BEGIN SOLUTION
    m = torch.zeros(k, k)
    m[: k // 2] = 1
    m[k // 2, : k // 2 + (1 if centre else 0)] = 1
    return m
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex3_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
def _mask(k, c):  # raster_mask(k, c), checked: a (k, k) torch.Tensor of 0s and 1s
    m = raster_mask(k, c)
    assert type(m) is torch.Tensor, f"raster_mask should return a torch.Tensor, got {type(m).__name__}"
    assert tuple(m.shape) == (k, k), f"raster_mask({k}, {c}) should have shape ({k}, {k}), got {tuple(m.shape)}"
    assert bool(((m == 0) | (m == 1)).all()), "the mask holds only 0s and 1s"
    return m


for k in (3, 5):
    for c in (False, True):
        _mask(k, c)


class OneStackCNN(nn.Module):
    def __init__(self, ch=32):
        super().__init__()
        self.emb = nn.Embedding(N_COLOURS, ch)
        self.convs = nn.ModuleList([MaskedConv2d(ch, ch, _mask(5, False))] +
                                   [MaskedConv2d(ch, ch, _mask(3, True)) for _ in range(2)])
        self.out = nn.Conv2d(ch, N_COLOURS, 1)

    def forward(self, x):
        h = self.emb(x).permute(0, 3, 1, 2)
        for conv in self.convs:
            h = torch.tanh(conv(h))
        return self.out(h).permute(0, 2, 3, 1)


torch.manual_seed(1)
net = OneStackCNN()
x = test[:2].clone()
with torch.no_grad():
    base = net(x).flatten(1, 2)  # (2, 400, 167) logits in raster order
    for t in (0, 45, 210, 398):
        y = x.clone().flatten(1)
        y[:, t] = (y[:, t] + 1) % N_COLOURS
        moved = (net(y.reshape(x.shape)).flatten(1, 2) - base).abs().amax((0, 2))  # (400,)
        assert float(moved[: t + 1].max()) < 1e-6, (
            f"changing pixel {t} changed the logits of pixel {int(torch.nonzero(moved[: t + 1] > 1e-6)[0])}: "
            "the mask lets a pixel see itself or pixels after it")
        assert float(moved[t + 1]) > 1e-6, f"changing pixel {t} did not change the logits of pixel {t + 1}: the mask hides the left neighbour"
opt3 = torch.optim.Adam(net.parameters(), lr=1e-2)
g3, curve = torch.Generator().manual_seed(3), []
for _ in range(40):
    b = train[torch.randint(len(train), (16,), generator=g3)]
    loss3 = F.cross_entropy(net(b).flatten(0, 2), b.flatten())
    opt3.zero_grad()
    loss3.backward()
    opt3.step()
    curve.append(float(loss3.detach()) / LN2)
assert sum(curve[-5:]) / 5 < sum(curve[:5]) / 5 - 1.0, f"the loss did not fall by a bit per pixel: {curve[0]:.2f} -> {curve[-1]:.2f}"
with torch.no_grad():
    held = float(-F.log_softmax(net(test), -1).gather(-1, test[..., None]).sum()) / (test.numel() * LN2)
print(f"Exercise 3 passes the visible checks (more run when it is graded): causal by perturbation; "
      f"training bits/pixel {curve[0]:.2f} -> {curve[-1]:.2f}; held-out {held:.2f} bits/pixel (graded: below 4.8)")
### BEGIN HIDDEN TESTS
for k in (3, 5, 7):
    for c in (False, True):
        ref = torch.zeros(k, k)
        ref[: k // 2] = 1
        ref[k // 2, : k // 2 + int(c)] = 1
        assert torch.equal(_mask(k, c).float(), ref), f"raster_mask({k}, {c}) differs from the raster-order mask"
assert held < 4.8, f"held-out {held:.2f} bits/pixel after 40 steps: should be below 4.8 (the unigram's are 4.91)"
### END HIDDEN TESTS
