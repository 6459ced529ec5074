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
# # 01 · Component by component: the chain rule on 3×3 images
#
# Lecture slides 6-7. The first family of generative models makes an image **one pixel at a time**: pixel 1 is drawn, then pixel 2 given pixel 1, then pixel 3 given pixels 1 and 2, and so on. Training needs nothing but a pile of images: every image is its own answer key. Here we do it on the lecture's 3×3 images, small enough that every probability can be counted exactly and checked against a network.
#
# **Learning goals.** After this notebook you can
# 1. write the probability of an image as a product of per-pixel conditionals, $P(x)=\prod_i P(x_i\mid x_{<i})$, and compute it exactly, by counting and with a small network;
# 2. generate an image pixel by pixel and say what happens at each step;
# 3. explain why each pixel is predicted with a softmax over its possible values (1-of-N) and not by regressing a number.

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

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor, nn

from helpers.notebook.plot import new_axes, show_sprites, tile
from helpers.core.train import TrainConfig, fit
from helpers.notebook import setup

gen = setup(seed=0, threads=1)  # one thread: the models here are tiny

# %% [markdown]
# ## 1. A pile of 3×3 images
#
# Each toy image is one **stroke** (one of the 3 rows, 3 columns or 2 diagonals) drawn in red or blue on white: 8 strokes × 2 colours = 16 clean images. To make it a little like real data, each pixel is then, with probability 5 %, replaced by a random colour (which may happen to be its own). Pixels are colour *indices*, 0 = white, 1 = red, 2 = blue, just as every Pokémon pixel is an index into a colour map.
#
# Because we wrote the generator, we also know the **true** probability of any image:
# $$P_{\text{true}}(x)=\frac{1}{16}\sum_{s=1}^{16}\prod_{j=1}^{9}\Big[(1-\epsilon)\,[x_j=s_j]+\tfrac{\epsilon}{3}\Big],\qquad \epsilon=0.05,$$
# a yardstick. On images a model was not trained on, the models below give a lower mean $\log P(x)$ than $P_{\text{true}}$ does (the **log-likelihood**: how probable a model finds the images, on a log scale; section 2 introduces it properly), so their negative log-likelihood (the number sections 2 and 3 print, lower is better) stays above the truth's (sections 2 and 3 print the two side by side); on their own training images some beat the truth, because they memorise those images (section 2 shows it for the counts, section 3 for the network).

# %%
K, SIDE, N_PIX = 3, 3, 9  # colours, image side, pixels
PALETTE = np.array([[255, 255, 255], [214, 39, 40], [31, 119, 180]], dtype=np.uint8)  # white, red, blue
NOISE = 0.05
LINES = [[0, 1, 2], [3, 4, 5], [6, 7, 8], [0, 3, 6], [1, 4, 7], [2, 5, 8], [0, 4, 8], [2, 4, 6]]
CLEAN = torch.zeros(2 * len(LINES), N_PIX, dtype=torch.long)  # the 16 clean images, raster order
for s, line in enumerate(LINES):
    CLEAN[2 * s, line], CLEAN[2 * s + 1, line] = 1, 2


def make_strokes(n: int, generator: torch.Generator, noise: float = NOISE) -> Tensor:
    """n noisy stroke images, (n, 9) long colour indices in raster order."""
    x = CLEAN[torch.randint(len(CLEAN), (n,), generator=generator)].clone()
    flip = torch.rand(n, N_PIX, generator=generator) < noise
    x[flip] = torch.randint(K, (int(flip.sum()),), generator=generator)
    return x


def true_log_prob(x: Tensor, noise: float = NOISE) -> Tensor:
    """log P_true(x) in nats, x (N, 9) -> (N,), summing over the 16 clean images."""
    same = x[:, None, :] == CLEAN[None]  # (N, 16, 9)
    per_pixel = torch.where(same, 1 - noise + noise / K, noise / K).log().sum(-1)  # (N, 16)
    return torch.logsumexp(per_pixel, dim=1) - math.log(len(CLEAN))


def draw(x: Tensor, ncols: int = 16, *, ax=None, title: str | None = None, covered: Tensor | None = None,
         scale: float = 0.55) -> Figure:
    """Images given as (N, 9) colour indices or (N, 9, 3) RGB, in a grid, each framed (white is the background)."""
    imgs = x.reshape(len(x), SIDE, SIDE, *x.shape[2:])
    if x.ndim == 2:
        cov = None if covered is None else covered.reshape(len(x), SIDE, SIDE)
        fig = show_sprites(imgs, PALETTE, ncols=ncols, ax=ax, title=title, covered=cov, scale=scale)
    else:  # RGB floats: what a regression network outputs
        ax = new_axes(ax, (ncols * scale, -(-len(x) // ncols) * scale + 0.3))
        ax.imshow(tile(imgs, ncols, pad_value=0.82), interpolation="nearest")
        ax.set_axis_off()
        ax.set_title(title)
        fig = ax.figure
    ax = ax or fig.axes[0]
    for k in range(len(x)):
        r, c = divmod(k, min(ncols, len(x)))
        ax.add_patch(Rectangle((c * (SIDE + 1) - 0.5, r * (SIDE + 1) - 0.5), SIDE, SIDE, fill=False, lw=0.8, ec="0.45",
                               clip_on=False))  # not cut in half at the figure's edge
    return fig


train, valid, test = make_strokes(1000, gen), make_strokes(300, gen), make_strokes(1000, gen)
draw(train[:32], title=f"32 training images: strokes with {NOISE:.0%} of pixels replaced by a random colour")

# %% [markdown]
# Most of these are one clean stroke. Look for the noise: in the second row, the 7th image is a blue left column with a red pixel at the far right of its middle row (a white pixel between them), and the 1st has lost its stroke altogether (only a red centre pixel is left).

# %% [markdown]
# ## 2. The chain rule, counted exactly
#
# Any distribution over 9 pixels can be written, with no approximation, as
# $$P(x_1,\dots,x_9)=P(x_1)\,P(x_2\mid x_1)\,P(x_3\mid x_1,x_2)\cdots P(x_9\mid x_1,\dots,x_8)=\prod_{i=1}^{9}P(x_i\mid x_{<i}).$$
# This is the lecture's recipe (slide 6): predict pixel 1 from nothing, pixel 2 from pixel 1, …, pixel 9 from the eight before it. With 3×3 images we can estimate every factor by **counting**: among the training images whose first $i-1$ pixels equal the prefix $x_{<i}$, how often is pixel $i$ white, red or blue?
# $$\hat P(x_i=v\mid x_{<i})=\frac{\#\{\text{train images with prefix } x_{<i} \text{ and } x_i=v\}+\alpha}{\#\{\text{train images with prefix } x_{<i}\}+K\alpha}$$
# ($\alpha=0$: plain counts; $\alpha=1$: add-one smoothing, so unseen prefixes get a uniform guess.) A prefix of length $i-1$ is written as one base-3 number, so table $i$ is a $(3^{i-1}, 3)$ array of counts.

# %%
def prefix_ids(x: Tensor) -> Tensor:
    """(N, 9) -> (N, 9): entry i is the prefix x[:, :i] read as a base-3 number (0 for the empty prefix)."""
    ids = torch.zeros_like(x)
    for i in range(1, x.shape[1]):
        ids[:, i] = ids[:, i - 1] * K + x[:, i - 1]
    return ids


def count_tables(x: Tensor) -> list[Tensor]:
    """tables[i][prefix_id, v] = number of images in x with that prefix before pixel i and x_i = v."""
    ids = prefix_ids(x)
    return [torch.zeros(K**i, K).index_put_((ids[:, i], x[:, i]), torch.ones(len(x)), accumulate=True)
            for i in range(x.shape[1])]


def counted_conditionals(tables: list[Tensor], x: Tensor, alpha: float = 0.0) -> Tensor:
    """(N, 9, K): P(x_i = v | x_<i) from the counts, for every image and pixel. Rows whose
    prefix was never seen (and alpha = 0) are all zeros: the counts say nothing there."""
    ids = prefix_ids(x)
    c = torch.stack([tables[i][ids[:, i]] for i in range(x.shape[1])], dim=1) + alpha
    total = c.sum(-1, keepdim=True)
    return torch.where(total > 0, c / total.clamp(min=1e-12), torch.zeros_like(c))


def log_prob_counts(tables: list[Tensor], x: Tensor, alpha: float = 0.0) -> Tensor:
    """Chain rule: log P(x) = sum_i log P(x_i | x_<i), nats per image, (N,). -inf if a factor is 0."""
    p = counted_conditionals(tables, x, alpha).gather(-1, x[..., None])[..., 0]  # (N, 9)
    return p.log().sum(-1)


tables = count_tables(train)
print("table sizes (prefixes per pixel):", [t.shape[0] for t in tables])
print("P(pixel 1)           white/red/blue:", (tables[0][0] / tables[0][0].sum()).numpy().round(3))
print("P(pixel 2 | pixel 1 = red)        :", (tables[1][1] / tables[1][1].sum()).numpy().round(3))

# %% [markdown]
# Two of those tables as pictures. Left, $P(x_2\mid x_1)$: when the top-left pixel is red, the next one is white (0.63) or red (0.35), almost never blue (0.02) — a stroke keeps its colour. Right, the last pixel for four prefixes: for the three seen 40-55 times, the counts have learnt how strokes end (white after a finished top row, blue to complete the diagonal); the fourth prefix never occurs in training, and the counts give no prediction at all (no bars). In the four small images, the outlined pixel is pixel 9, drawn blue-grey because it is not known yet: it is the pixel being predicted, not a blue pixel.

# %%
def draw_prefix(x: Tensor, i: int, ax) -> None:
    """One 3x3 image with pixels i.. covered (not known yet) and pixel i outlined."""
    draw(x[None], ncols=1, ax=ax, covered=(torch.arange(N_PIX) >= i)[None])
    r, c = divmod(i, SIDE)
    ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, lw=2.5, clip_on=False))


fig = Figure(figsize=(11, 3.2), layout="constrained")
left, right = fig.subfigures(1, 2, width_ratios=[1, 2.2])
ax = left.subplots()
p12 = tables[1] / tables[1].sum(-1, keepdim=True)
ax.imshow(p12, cmap="Greys", vmin=0, vmax=1)
for a in range(K):
    for b in range(K):
        ax.text(b, a, f"{p12[a, b]:.2f}", ha="center", va="center", color="white" if p12[a, b] > 0.5 else "black")
ax.set(xticks=range(K), yticks=range(K), xticklabels=["white", "red", "blue"], yticklabels=["white", "red", "blue"],
       xlabel="pixel 2", ylabel="pixel 1", title="counted P(pixel 2 | pixel 1)")
examples = [CLEAN[0], CLEAN[1], CLEAN[13], torch.tensor([0, 0, 2, 0, 2, 0, 0, 0, 0])]
axes = right.subplots(2, 4, height_ratios=[1, 1.1])
for j, x in enumerate(examples):
    draw_prefix(x, 8, axes[0, j])
    p = counted_conditionals(tables, x[None])[0, 8]
    seen = int(tables[8][prefix_ids(x[None])[0, 8]].sum())
    axes[0, j].set_title(f"prefix seen {seen}×" if seen else "prefix never seen:\nthe counts say nothing", fontsize=9)
    axes[1, j].bar(range(K), p, color=PALETTE / 255, edgecolor="black")
    axes[1, j].set(ylim=(0, 1), xticks=range(K), xticklabels=["w", "r", "b"],
                   ylabel="P(pixel 9 | 8 before)" if j == 0 else None)
right.suptitle("counted P(pixel 9 | pixels 1-8): the outlined pixel (blue-grey: not known yet)\n"
               "is predicted from the eight before it")
fig

# %% [markdown]
# ### The exact log-likelihood under the counts
#
# Plug the counted factors into the chain rule and you get $\log P(x)$ of every image, exactly. Without smoothing ($\alpha=0$) the chain of counts reproduces the **empirical distribution**: each training image gets probability (its number of copies)/1000, the best any model can do on the training set, and every image it has not seen gets probability **0**. Every $\log P(x)$ is at most 0 (a probability is at most 1), so below we print its negative, the **negative log-likelihood** $-\log P(x)$ averaged over the images: positive, and **lower is better** (it is also the loss a network will be trained on in section 3). These use the natural log, so they come in **nats**, not notebook 00's bits: a nat is the unit of $\ln$, and 1 nat = $1/\ln 2\approx1.44$ bits (printed first below). The held-out set (the 1000 `test` images drawn in section 1, which no model is fitted to) finds out:

# %%
# NBVAL_CHECK_OUTPUT
def nats(lp: Tensor, digits: int = 3) -> str:
    """Mean negative log-likelihood in nats per image, or the share of impossible images."""
    bad = ~torch.isfinite(lp)
    return f"{-lp.mean():6.{digits}f}" if not bad.any() else f"   inf ({bad.float().mean():.0%} of images get P = 0)"


print(f"1 nat = 1/ln 2 = {1 / math.log(2):.2f} bits")
assert round(1 / math.log(2), 2) == 1.44
print("mean negative log-likelihood -log P(x), nats per image (lower is better):")
print(f"uniform over 3^9 images : {N_PIX * math.log(K):6.3f} nats per image")
print(f"true generator          : train {nats(true_log_prob(train))}   held-out {nats(true_log_prob(test))}")
print(f"counts, alpha = 0       : train {nats(log_prob_counts(tables, train))}   held-out {nats(log_prob_counts(tables, test))}")
print(f"counts, alpha = 1       : train {nats(log_prob_counts(tables, train, 1.0))}   held-out {nats(log_prob_counts(tables, test, 1.0))}")
raster_train_ll = {alpha: float(log_prob_counts(tables, train, alpha).mean()) for alpha in (0.0, 1.0)}  # Exercise 2
# section 1's yardstick: the plain counts go below the truth on their training images (memorising them);
# on held-out images the smoothed counts stay above it
assert float(-log_prob_counts(tables, train).mean()) < float(-true_log_prob(train).mean()) - 0.1
assert float(-log_prob_counts(tables, test, 1.0).mean()) > float(-true_log_prob(test).mean()) + 0.1

# %% [markdown]
# Counting is exact but does not **generalise**: 6,561 possible prefixes for the last pixel, a thousand training images, and a prefix seen once (or never) gives a wild (or no) estimate. Smoothing helps, but it spreads probability blindly. The lecture's answer is a **neural network** that computes $P(x_i\mid x_{<i})$ from the prefix, so that similar prefixes share what they learnt.
#
# ## 3. A network that learns the tables
#
# One small network serves all nine pixels: an MLP, a few linear layers with a ReLU ($\max(0, \cdot)$) between them. To predict pixel $i$ it is shown the pixels before it (1-of-N: a **one-hot** vector per pixel, a 1 at the pixel's colour and 0 at the other two) and *blanks* (all zeros) for pixel $i$ and everything after it, plus a flag per pixel saying which ones are known. It outputs $K=3$ **logits**, one unbounded score $z_v$ per colour; the **softmax** $e^{z_v}/\sum_u e^{z_u}$ turns them into probabilities (positive, summing to 1), $P_\theta(x_i\mid x_{<i})$. The loss is the chain rule itself: $-\log P_\theta(x)=-\sum_i \log P_\theta(x_i\mid x_{<i})$, in nats per image.
#
# It is trained by `fit`, the series' training loop (from helpers), with the settings in a `TrainConfig`: Adam (gradient descent that adapts the step size of each weight from its recent gradients; learning rate 3e-3) on shuffled **mini-batches** of 100 training images (each step averages the loss over 100 images, drawn in a new random order every epoch), for at most 150 **epochs** (an epoch is one pass over all 1000 training images: 10 steps). After every epoch `fit` computes the loss on the 300 `valid` images, which it never trains on; it stops early once 15 epochs pass without a better validation loss, and it keeps the weights of the best validation epoch. Each step of `fit` is three calls of PyTorch: `opt.zero_grad()` clears the gradients the previous step left on the weights, `loss.backward()` computes the **gradient** of the loss (how much the loss changes per small change of each weight) for every weight, by automatic differentiation (autograd, also called backpropagation), and `opt.step()` moves every weight a little against its gradient, by Adam's rule. Before each step `fit` also **clips the gradient** (`grad_clip=1.0`): if the gradients of all the weights, taken together as one vector, are longer than 1, it scales them down to length 1, a guard against a rare huge step. The `test` images stay unused until the models are compared. `fit` trains the model in place and returns a `History` of the run: `hist.train` and `hist.valid` list the mean training and validation loss of each epoch (so `len(hist.train)` is the number of epochs run), `hist.best_epoch` is the index of the best validation epoch, the one whose weights were kept, and `hist.seconds` is the time taken. The cell prints the number of epochs, the time and the best validation loss.

# %%
class ChainNet(nn.Module):
    """One MLP for every pixel: (B, 9, F) per-pixel features -> (B, 9, out); output i sees only pixels j < i.

    F = 3 for one-hot colours (this section) or RGB values (section 5)."""

    def __init__(self, features: int = K, out: int = K, hidden: int = 64, n: int = N_PIX):
        super().__init__()
        self.register_buffer("known", torch.tril(torch.ones(n, n), diagonal=-1))  # known[i, j] = 1 iff j < i
        self.net = nn.Sequential(nn.Linear(n * features + n, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out))

    def forward(self, feats: Tensor) -> Tensor:
        B, n, _ = feats.shape
        seen = feats[:, None, :, :] * self.known[None, :, :, None]  # (B, n, n, F): row i blanks pixels >= i
        return self.net(torch.cat([seen.flatten(2), self.known.expand(B, n, n)], dim=-1))


def net_log_prob(model: ChainNet, x: Tensor) -> Tensor:
    """Chain rule under the network: log P(x) = sum_i log softmax(logits_i)[x_i], nats per image, (N,)."""
    logp = model(F.one_hot(x, K).float()).log_softmax(-1)  # (N, 9, K)
    return logp.gather(-1, x[..., None])[..., 0].sum(-1)


softmax_net = ChainNet()
hist = fit(softmax_net, lambda m, x: -net_log_prob(m, x).mean(), train, valid,
           TrainConfig(epochs=150, batch_size=100, lr=3e-3, patience=15, grad_clip=1.0))
print(f"trained {len(hist.train)} epochs in {hist.seconds:.1f} s; best validation {hist.valid[hist.best_epoch]:.3f} nats per image")

# %% [markdown]
# Does the network learn the tables? Each dot below is one prefix seen at least 20 times in training and one of its colours: the counted probability against the network's. Look at the distance from the dotted diagonal: the dots lie close to it. The four largest misses, printed above the figure, are between 0.1 and 0.15, and they come from prefixes seen more than 100 times (misses come in pairs: a prefix's three probabilities sum to 1, so what one colour gets too much the other two lack between them, mostly one of them), so the network is off by that much even where many images pin the counted probability down.

# %%
with torch.no_grad():
    p_net = softmax_net(F.one_hot(train, K).float()).softmax(-1)  # (N, 9, K)
p_cnt, n_seen = counted_conditionals(tables, train), torch.stack(
    [tables[i][prefix_ids(train)[:, i]].sum(-1) for i in range(N_PIX)], 1)
often = n_seen >= 20
fig = Figure(figsize=(4.2, 4), layout="constrained")
ax = fig.add_subplot()
for v in range(K):
    ax.scatter(p_cnt[..., v][often], p_net[..., v][often], s=10, color=PALETTE[v] / 255, edgecolor="black", lw=0.3,
               label=["white", "red", "blue"][v])
ax.plot([0, 1], [0, 1], color="grey", ls=":")
ax.set(xlabel="counted P(x_i = v | prefix)", ylabel="network P(x_i = v | prefix)", title="network vs counts")
ax.legend(title="colour v")
# one row per plotted dot: (miss, times its prefix was seen); the images sharing a prefix give the same dot
dots = torch.stack([(p_net - p_cnt).abs()[often].flatten(), n_seen[often].repeat_interleave(K).float()], 1)
dots = torch.unique(dots, dim=0)
worst = dots[dots[:, 0].argsort(descending=True)[:4]]
print("four largest misses |network - counted|:", worst[:, 0].numpy().round(3),
      "; their prefixes were seen", worst[:, 1].long().tolist(), "times")
print(f"fewest times any plotted prefix was seen: {int(dots[:, 1].min())}")
# the prose: the largest misses lie between 0.1 and 0.15, all from prefixes seen more than 100 times
assert 0.1 < float(worst[:, 0].min()) and float(worst[:, 0].max()) < 0.15
assert bool((worst[:, 1] > 100).all())
fig

# %% [markdown]
# And the numbers that matter, the exact negative log-likelihood $-\log P(x)$ of the held-out images under each model (mean nats per image, lower is better):

# %%
# NBVAL_CHECK_OUTPUT
with torch.no_grad():
    lp_train, lp_test = net_log_prob(softmax_net, train), net_log_prob(softmax_net, test)
# exact numbers to 3 decimals; the trained network's to 2 (training on another CPU may move the 3rd)
print(f"true generator     held-out {nats(true_log_prob(test))}")
print(f"counts, alpha = 0  held-out {nats(log_prob_counts(tables, test))}")
print(f"counts, alpha = 1  held-out {nats(log_prob_counts(tables, test, 1.0))}")
print(f"network (softmax)  held-out {nats(lp_test, 2)}    (train {nats(lp_train, 2)})")
print(f"every held-out image gets P > 0 under the network: {bool(torch.isfinite(lp_test).all())}")
ahead = float(lp_test.mean() - log_prob_counts(tables, test, 1.0).mean())
print(f"network ahead of the smoothed counts on held-out images by {ahead:.2f} nats per image, "
      f"a factor e^{ahead:.2f} = {math.exp(ahead):.1f} in probability")
# the prose: about a quarter of a nat (factor about 1.3); the network's training loss is below the truth's
assert 0.15 < ahead < 0.35 and 1.2 <= round(math.exp(ahead), 1) <= 1.4
assert float(-lp_train.mean()) < float(-true_log_prob(train).mean())
assert float(-lp_test.mean()) > float(-true_log_prob(test).mean()) + 0.1  # held-out: above the truth

# %% [markdown]
# On images it has never seen, the network beats the smoothed counts by about a quarter of a nat per image (0.23, a factor $e^{0.23}\approx1.3$ in probability, printed above) and never says "impossible"; the counts, with the same chain rule, either refuse unseen images or smear probability over them blindly. It does not reach the true generator: a thousand images cannot pin down every conditional, and the network starts to memorise (its training loss is below the truth's). More data narrows the gap. The cell below trains the same network, with the same settings, on 3,000 fresh images instead of 1,000 and scores it on the same held-out images:

# %%
# Trained numbers: on another kind of CPU they can differ in the second decimal (rounding differs);
# the asserts at the end hold what the text says.
more = make_strokes(3000, torch.Generator().manual_seed(1))  # its own generator: `gen` stays as it was
with torch.random.fork_rng():  # and the global random state too (later cells draw the same as without this one)
    net_3000 = ChainNet()
fit(net_3000, lambda m, x: -net_log_prob(m, x).mean(), more, valid,
    TrainConfig(epochs=150, batch_size=100, lr=3e-3, patience=15, grad_clip=1.0))
with torch.no_grad():
    lp_3000 = net_log_prob(net_3000, test)
true_test = -true_log_prob(test).mean()
print(f"network, 1000 training images  held-out {nats(lp_test, 2)}   gap to the true generator {-lp_test.mean() - true_test:.2f}")
print(f"network, 3000 training images  held-out {nats(lp_3000, 2)}   gap to the true generator {-lp_3000.mean() - true_test:.2f}")
gap_ratio = float((-lp_3000.mean() - true_test) / (-lp_test.mean() - true_test))
print(f"gap with 3000 images / gap with 1000: {gap_ratio:.2f}")
# the prose: three times the data cuts the gap to a fraction (0.3-0.6), not to zero (still above the true generator)
assert float(-lp_3000.mean() - true_test) > 0.05
assert 0.3 < gap_ratio < 0.6

# %% [markdown]
# With the same network and settings, three times the data cuts the gap to the true generator to a fraction of what it was: both gaps, in nats per image on the same held-out images, and their ratio are printed above, and the asserts hold the ratio between 0.3 and 0.6 (it moves a little with the CPU's rounding).
#
# ## 4. Generation, pixel by pixel
#
# Sampling follows the chain rule forwards: draw $x_1\sim P(x_1)$, then $x_2\sim P(x_2\mid x_1)$, …, each time feeding the pixels drawn so far back into the network (slide 6). Below, each row is one sample; column $t$ shows it after $t$ pixels have been drawn (blue-grey: not drawn yet).

# %%
@torch.no_grad()
def sample_chain(model: ChainNet, n: int, generator: torch.Generator) -> Tensor:
    """n images (n, 9) drawn pixel by pixel from the network's conditionals."""
    x = torch.zeros(n, N_PIX, dtype=torch.long)
    for i in range(N_PIX):
        probs = model(F.one_hot(x, K).float())[:, i].softmax(-1)  # only pixels < i matter
        x[:, i] = torch.multinomial(probs, 1, generator=generator)[:, 0]
    return x


samples = sample_chain(softmax_net, 5, gen)
steps = torch.arange(N_PIX + 1)
strip = samples[:, None, :].expand(-1, len(steps), -1).reshape(-1, N_PIX)  # every stage of every sample
not_yet = (torch.arange(N_PIX)[None, :] >= steps[:, None]).repeat(len(samples), 1)  # True: not drawn yet
dist = (samples[:, None, :] != CLEAN[None]).sum(-1).min(-1).values  # pixels that differ from the nearest clean image
print("pixels away from the nearest clean stroke, rows 1-5:", dist.tolist())
assert dist.tolist() == [3, 2, 1, 1, 0]
draw(strip, ncols=len(steps), scale=0.7, covered=not_yet, title="5 samples, each after 0, 1, …, 9 pixels (left to right)")

# %% [markdown]
# Read each row left to right and watch the structure appear: once a stroke's first pixel is drawn, the network usually continues it in the same colour (rows 2 to 5; row 5: a red column, started at the top left), though not always: in row 1 the first red pixel is followed by white, and red comes back only in other corners. The printed distances count the pixels that differ from the nearest clean stroke: rows 3 and 4 are one pixel away (a blue column plus one stray pixel), row 2 is two pixels from the nearest stroke (blue at the centre and in the bottom row's middle and right: one pixel short of, and one pixel beyond, the blue middle column, the blue bottom row or the blue diagonal), and row 1 is no stroke at all, three pixels from the nearest (red corners and a blue one): the network draws noise as well as strokes. Whether it draws stray pixels *as often as the data has them* takes more than five samples to tell:

# %%
# NBVAL_CHECK_OUTPUT
# an image is "clean" if all nine pixels, stroke and white background alike, equal one of the 16 clean images
many = sample_chain(softmax_net, 2000, gen)
is_clean = lambda x: (x[:, None, :] == CLEAN[None]).all(-1).any(-1).float().mean()
print(f"clean strokes: {is_clean(many):.0%} of 2000 samples, {is_clean(test):.0%} of the held-out images")
keep = 1 - NOISE * (K - 1) / K  # a pixel keeps its colour unless it is replaced by one of the two others
print(f"expected under the generator: {keep:.3f} per pixel, {keep:.3f}^9 = {keep ** N_PIX:.0%} per image")
# the prose: about as many clean samples as held-out images, a few fewer; 0.967 and 74% as printed
assert 0 < float(is_clean(test) - is_clean(many)) < 0.1
assert round(keep, 3) == 0.967 and round(keep ** N_PIX, 2) == 0.74
assert abs(float(is_clean(test)) - keep ** N_PIX) < 0.05  # the held-out images match it
fig = Figure(figsize=(11, 2.1), layout="constrained")
a, b = fig.subplots(1, 2)
draw(many[:24], ncols=12, ax=a, title="24 samples from the network")
draw(test[:24], ncols=12, ax=b, title="24 held-out images")
fig

# %% [markdown]
# About as many clean strokes as the data, a few fewer (compare the two panels: most are one stroke; of the others, the held-out ones have a stray pixel, the network's often two or three). (Under the generator each of the nine pixels, stroke or background, stays as it was with probability $1-0.05\cdot\tfrac23\approx 0.967$, so an image is clean with probability $0.967^9\approx 74\%$, printed above, as in the held-out images.)
#
# ## 5. Why 1-of-N: a softmax over values, not a regressed number
#
# Why does the network output a probability for each colour instead of simply predicting the pixel's colour as numbers (its RGB values) and training with squared error? The lecture answers this for Pokémon (slide 9); here is the same argument in miniature.
#
# Take the very first pixel, predicted from nothing. In the data it is white about 5/8 of the time, red 3/16 and blue 3/16. Squared error is minimised by the **mean**, so a regression network predicts the average RGB colour: a light grey with a faint purple tint (every channel near 0.8, green a little lower; printed below) that *no pixel of any image ever has*. The softmax instead keeps the three peaks. Below, a second network of the same architecture, `rgb_net`, is trained on RGB inputs with an RGB output (three numbers squashed into 0..1 by a sigmoid, $1/(1+e^{-z})$, so that they are valid RGB values) and squared error, and compared with `softmax_net` (one-hot inputs, softmax output):

# %%
RGB = torch.tensor(PALETTE / 255, dtype=torch.float32)  # (K, 3)
rgb_net = ChainNet(features=3, out=3)  # in: RGB of the pixels drawn so far; out: the next pixel's RGB


def rgb_loss(model: ChainNet, x: Tensor) -> Tensor:
    """Squared error of the predicted RGB, summed over pixels and channels, mean over images."""
    target = RGB[x]  # (N, 9, 3)
    return ((model(target).sigmoid() - target) ** 2).sum((1, 2)).mean()


hist_rgb = fit(rgb_net, rgb_loss, train, valid, TrainConfig(epochs=150, batch_size=100, lr=3e-3, patience=15, grad_clip=1.0))

# %%
# Trained numbers: on another kind of CPU they can differ in the second decimal (rounding differs);
# the asserts at the end hold what the text says.
with torch.no_grad():
    first_rgb = rgb_net(torch.zeros(1, N_PIX, 3))[0, 0].sigmoid()
    first_soft = softmax_net(torch.zeros(1, N_PIX, K))[0, 0].softmax(-1)
    mean_rgb = (tables[0][0] / tables[0][0].sum()) @ RGB
print("pixel 1, predicted from nothing: probabilities of (white, red, blue)")
print(f"  counted frequencies                     {(tables[0][0] / tables[0][0].sum()).numpy().round(2)}")
print(f"  softmax network                         {first_soft.numpy().round(2)}")
print(f"regression network's (R, G, B)            {first_rgb.numpy().round(2)}   "
      f"(channels differ by at most {first_rgb.max() - first_rgb.min():.2f})")
print(f"mean (R, G, B) of the data's first pixels {mean_rgb.numpy().round(2)}   "
      f"(largest channel difference {(first_rgb - mean_rgb).abs().max():.2f})")
print(f"distance to the nearest palette colour    {(first_rgb - RGB).norm(dim=-1).min():.1f} (RGB in 0..1)")
# the prose: a light grey (every channel near 0.8, within 0.1 of each other), green the lowest (a faint
# purple tint), far from white, red and blue
assert bool(((first_rgb > 0.7) & (first_rgb < 0.9)).all()) and float(first_rgb.max() - first_rgb.min()) < 0.1
assert float(first_rgb[1]) < float(first_rgb[[0, 2]].min())
assert float((first_rgb - RGB).norm(dim=-1).min()) > 0.25
# the next cell: the regression's colour is close to the mean colour (within a few hundredths per channel)
assert float((first_rgb - mean_rgb).abs().max()) < 0.05

# %% [markdown]
# The regression learnt close to what it was asked for, the mean colour (within a few hundredths in every channel, printed above), and the mean is not a colour of the data. Generating with it compounds the problem: each predicted in-between colour is fed back, so every "sample" is the same muted mosaic of in-between colours (regression is deterministic: there is nothing to draw from). The softmax network draws crisp strokes, each one drawn afresh (right: one has a stray red pixel, and two happen to be the same bottom row). Look also at the left panel: the regressed colour's swatch is a light grey with a faint purple tint, none of the three bars' colours.

# %%
@torch.no_grad()
def generate_rgb(model: ChainNet, n: int) -> Tensor:
    """n images (n, 9, 3) made pixel by pixel by the regression network, feeding back its own RGB."""
    x = torch.zeros(n, N_PIX, 3)
    for i in range(N_PIX):
        x[:, i] = model(x)[:, i].sigmoid()
    return x


fig = Figure(figsize=(11, 2.8), layout="constrained")
a, b, c = fig.subplots(1, 3, width_ratios=[1.4, 2, 2])
a.bar(np.arange(K) - 0.2, tables[0][0] / tables[0][0].sum(), 0.4, color=PALETTE / 255, edgecolor="black", label="counted")
a.bar(np.arange(K) + 0.2, first_soft, 0.4, color=PALETTE / 255, edgecolor="black", hatch="//", label="softmax")
a.bar(3.2, 1.0, 0.6, color=first_rgb.numpy(), edgecolor="black")  # a swatch of the regressed colour, not a probability
a.text(3.2, 0.5, "swatch", rotation=90, ha="center", va="center", fontsize=8)
a.set(xticks=[0, 1, 2, 3.2], xticklabels=["white", "red", "blue", "regr."], ylim=(0, 1.05),
      ylabel="P(pixel 1)", title="pixel 1: peaks vs the mean")
a.legend(fontsize=7)
draw(generate_rgb(rgb_net, 8), ncols=4, ax=b, title="regression (squared error): 8 'samples'")
draw(sample_chain(softmax_net, 8, gen), ncols=4, ax=c, title="softmax (1-of-N): 8 samples")
fig

# %% [markdown]
# **Takeaway.** A pixel's value is a category (which colour), and its conditional distribution often has several peaks. A softmax over the values represents the peaks; a regressed number can only sit between them. That is why PixelRNN (the next section: the same recipe on real photographs), notebook 02's LSTM (a recurrent network, taught there) and WaveNet (notebook 03, 256 audio levels) all use 1-of-N.
#
# ## 6. From 3×3 to real images: PixelRNN
#
# Slide 7 scales the same recipe up: **PixelRNN** (van den Oord, Kalchbrenner & Kavukcuoglu, 2016) predicts each pixel of real photographs from all the pixels before it with a recurrent network (one that carries a state from pixel to pixel; notebook 02 builds one), and was trained, like our toy, on nothing but images. Counting is hopeless there: the table for the last pixel of a 20×20 Pokémon sprite with 167 colours would have $167^{399}$ rows. The network is what makes the chain rule practical. Notebook 02 builds the lecture's own version, an LSTM that draws Pokémon pixel by pixel; notebook 03 applies the idea to audio (WaveNet) and video.

# %%
print(f"prefixes of the last pixel: 3x3 toy 3^8 = {K ** 8:,}; 20x20 Pokémon 167^399 = 10^{399 * math.log10(167):.0f}")

# %% [markdown]
# ## Summary
#
# - The chain rule $P(x)=\prod_i P(x_i\mid x_{<i})$ is exact for any distribution: generating component by component loses nothing.
# - Plain counting of the conditionals ($\alpha = 0$) reproduces the training data exactly but gives probability 0 to anything new; smoothed counts ($\alpha = 1$) avoid the zeros, but give an unseen prefix only a uniform guess; a network that maps the prefix to $P(x_i\mid x_{<i})$ generalises: on held-out images it beats the smoothed counts and gives no image probability 0, and more data narrows its gap to the true generator.
# - Sampling runs the chain forwards, one pixel at a time, feeding each drawn pixel back in.
# - Pixels are categories: a softmax over values (1-of-N) keeps every peak of the conditional; regressing the value returns their mean, a value the data never has.
#
# ## Exercises
#
# **Exercise 1 (the conditional probability by hand).** Without `count_tables`, `counted_conditionals` or `log_prob_counts` (the graded test blocks all three while your function runs), compute $\hat P(x_i = v\mid x_{<i} = \text{prefix})$ from the training images by counting: write `p_next(data, prefix)` that returns a float tensor of shape `(3,)` (white, red, blue) for the pixel right after `prefix`, a list of colour indices (it may be empty). Use plain counts ($\alpha=0$) and assume the prefix occurs in `data`.

# %% nbgrader={"grade": false, "grade_id": "ex1_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def p_next(data: Tensor, prefix: list[int]) -> Tensor:
    ### BEGIN SOLUTION
    i = len(prefix)
    match = (data[:, :i] == torch.tensor(prefix, dtype=torch.long)).all(dim=1)
    counts = torch.bincount(data[match, i], minlength=K).float()
    return counts / counts.sum()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex1_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# a pile of four images small enough to count by eye: after the prefix [1] (red), pixel 2 is red twice and white once
tiny = torch.tensor([[1, 1, 0, 0, 0, 0, 0, 0, 0], [1, 1, 2, 0, 0, 0, 0, 0, 0],
                     [1, 0, 0, 0, 0, 0, 0, 0, 0], [2, 2, 2, 0, 0, 0, 0, 0, 0]])
for data, prefix, want in ((tiny, [1], [1 / 3, 2 / 3, 0]), (tiny, [], [0, 3 / 4, 1 / 4]), (tiny, [1, 1], [1 / 2, 0, 1 / 2])):
    got = p_next(data, prefix)
    assert type(got) is Tensor and got.is_floating_point() and got.shape == (K,), (
        f"p_next should return a float tensor of shape (3,), got {type(got).__name__} {tuple(getattr(got, 'shape', ()))}")
    assert torch.allclose(got.double(), torch.tensor(want, dtype=torch.float64), atol=1e-6), (
        f"on the four-image pile, p_next(tiny, {prefix}) = {got.numpy().round(3)}, expected {np.round(want, 3)}: "
        "the pile is small enough to check by hand which images and which pixel your function counted")
for prefix in ([], [1], [0, 0], [2, 0, 0, 0, 2]):
    got = p_next(train, prefix)
    assert type(got) is Tensor and got.is_floating_point() and got.shape == (K,), f"p_next(train, {prefix}) has the wrong type or shape"
    assert abs(float(got.sum()) - 1) < 1e-5 and bool((got >= 0).all()), (
        f"p_next(train, {prefix}) = {got.numpy().round(3)} is not a probability vector (non-negative, sums to 1)")
    ### BEGIN HIDDEN TESTS
    want = counted_conditionals(tables, torch.tensor([prefix + [0] * (N_PIX - len(prefix))]))[0, len(prefix)]
    from helpers.notebook.grading import refusing  # the given counters refuse, however p_next holds them

    with refusing([count_tables, counted_conditionals, log_prob_counts],
                  "Exercise 1 asks you to count by hand: p_next must not call count_tables, counted_conditionals "
                  "or log_prob_counts; select the images with the prefix and count pixel i", globals()):
        got = p_next(train, prefix)
    assert type(got) is Tensor and got.is_floating_point() and got.shape == (K,), (
        f"p_next(train, {prefix}) should return a float tensor of shape (3,), got {type(got).__name__} "
        f"{tuple(getattr(got, 'shape', ()))}")
    assert torch.allclose(got.double(), want.double(), atol=1e-6), f"p_next(train, {prefix}) = {got.numpy().round(3)}, expected {want.numpy().round(3)}"
    ### END HIDDEN TESTS
print("Exercise 1 passes the visible checks (more run when it is graded): P(pixel 2 | pixel 1 = red) =",
      p_next(train, [1]).numpy().round(3))

# %% [markdown]
# **Exercise 2 (change the pixel order).** The chain rule holds in *any* order. Factorise $P(x)$ column by column instead of row by row (nothing is sampled here: you count and score): reorder the pixels with `ORDER = [0, 3, 6, 1, 4, 7, 2, 5, 8]`, count new tables on the reordered training images (store the reordered images in `train_cols` and their tables in `tables_cols`, which the test checks; keep `train` and `tables` as they are, the test checks that they are unchanged too), and store the mean plain-count ($\alpha=0$) log-likelihood $\log P(x)$ of the training set in `ll_columns` (nats per image, a float: a Python float, or a NumPy one; the log-likelihood itself, so negative, not the negative log-likelihood that sections 2 and 3 print). Also store the smoothed ($\alpha=1$) one of the column order in `ll_columns_smoothed` (a float, as before). Once the test passes it prints both next to the raster order's values (section 2 kept them in `raster_train_ll`); then answer in the cell after it.

# %% nbgrader={"grade": false, "grade_id": "ex2_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
ORDER = [0, 3, 6, 1, 4, 7, 2, 5, 8]
### BEGIN SOLUTION
train_cols = train[:, ORDER]
tables_cols = count_tables(train_cols)
ll_columns = float(log_prob_counts(tables_cols, train_cols).mean())
ll_columns_smoothed = float(log_prob_counts(tables_cols, train_cols, 1.0).mean())
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex2_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# the raster-order training images and tables, recomputed from their seed (section 1 drew train first from seed 0)
_train0 = make_strokes(1000, torch.Generator().manual_seed(0))
_tables0 = count_tables(_train0)
if not (type(train) is torch.Tensor and torch.equal(train, _train0) and type(tables) is list and len(tables) == N_PIX
        and all(type(a) is torch.Tensor and torch.equal(a, b) for a, b in zip(tables, _tables0))):
    train, tables = _train0, _tables0  # put them back, so that the later cells see the raster order again
    raise AssertionError("train or tables was overwritten: keep them as they are, and store the column order's images "
                         "and tables under new names (train_cols, tables_cols). The test has put the raster-order "
                         "train and tables back; fix your cell and run it again.")
ll_raster, ll_raster_smoothed = raster_train_ll[0.0], raster_train_ll[1.0]  # section 2's values, raster order
if not (type(ll_raster) is float and type(ll_raster_smoothed) is float):
    _kinds = f"{type(ll_raster).__name__} and {type(ll_raster_smoothed).__name__}"
    raster_train_ll = {alpha: float(log_prob_counts(_tables0, _train0, alpha).mean()) for alpha in (0.0, 1.0)}
    raise AssertionError(f"raster_train_ll should hold section 2's two floats, got {_kinds}: keep it as section 2 "
                         "left it. The test has put section 2's values back; fix your cell and run it again.")
assert "train_cols" in globals() and "tables_cols" in globals(), (
    "store the reordered training images in train_cols and their tables in tables_cols")
assert type(train_cols) is torch.Tensor and tuple(train_cols.shape) == (1000, N_PIX) and torch.equal(
    train_cols.sort(1).values, train.sort(1).values) and not torch.equal(train_cols, train), (
    "train_cols should hold the 1000 training images with their nine pixels reordered (the given ORDER)")
assert any(type(tables_cols) is _t for _t in (list, tuple)) and len(tables_cols) == N_PIX and all(
    type(a) is torch.Tensor and float(a.sum()) == 1000 for a in tables_cols), (
    "tables_cols should be nine counting tables, one per pixel, each counting all 1000 images (as section 2's)")
assert any(type(ll_columns) is _t for _t in (float, np.float64, np.float32)), (
    f"ll_columns should be a float, got {type(ll_columns).__name__}; use float(...)")
assert ll_columns < 0, f"a log-likelihood of discrete images is negative, got {ll_columns:.3f}"
assert abs(ll_columns - ll_raster) < 1e-4, (
    f"ll_columns = {ll_columns:.4f} but the raster order gives {ll_raster:.4f}: plain counts give the same value "
    "in both orders (the written part asks why). "
    "Is it the mean over the training images of the plain-count log-likelihood under the column order's tables?")
assert any(type(ll_columns_smoothed) is _t for _t in (float, np.float64, np.float32)), (
    f"ll_columns_smoothed should be a float, got {type(ll_columns_smoothed).__name__}; use float(...)")
assert ll_columns_smoothed < ll_columns, (
    "smoothing moves probability from the training images to unseen ones: the smoothed training log-likelihood "
    f"should be below the plain one ({ll_columns_smoothed:.4f} vs {ll_columns:.4f})")
### BEGIN HIDDEN TESTS
_cols0 = _train0.view(-1, 3, 3).transpose(1, 2).reshape(-1, 9)  # pixels in column order, whatever ORDER now holds
assert torch.equal(train_cols, _cols0), "train_cols should hold the training images with their pixels in column order"
assert all(torch.equal(a, b) for a, b in zip(tables_cols, count_tables(_cols0))), (
    "tables_cols should be the counting tables of the column-order images, counted as section 2 counts them")
assert abs(ll_raster - float(log_prob_counts(_tables0, _train0).mean())) < 1e-9  # raster_train_ll was not altered
ll_cols_smoothed_ref = float(log_prob_counts(count_tables(_cols0), _cols0, 1.0).mean())
assert abs(ll_columns_smoothed - ll_cols_smoothed_ref) < 1e-4, (
    f"ll_columns_smoothed = {ll_columns_smoothed:.4f}, the column order's smoothed value is {ll_cols_smoothed_ref:.4f}")
### END HIDDEN TESTS
assert 1e-3 < abs(ll_columns_smoothed - ll_raster_smoothed) < 1e-2, (
    f"smoothed: columns {ll_columns_smoothed:.4f}, rows {ll_raster_smoothed:.4f}; the two orders' smoothed values "
    "should differ by a few thousandths: are the column order's tables counted on the reordered images?")
print(f"Exercise 2 passes the visible checks (more run when it is graded): plain counts: columns {ll_columns:.4f}, "
      f"rows {ll_raster:.4f}; smoothed: columns {ll_columns_smoothed:.4f}, rows {ll_raster_smoothed:.4f}")

# %% [markdown]
# **Exercise 2, written part (graded by a teacher).** In 2-4 sentences, citing the plain-count and the smoothed log-likelihoods your test cell printed for the two orders: why do the smoothed ones differ between the orders? Section 2 stated that plain counts give each training image (its number of copies)/1000 but did not show why; show it here for the column order: write the product of the counted factors $P(x_1)P(x_2\mid x_1)\cdots$ of a training image as ratios of counts and say what cancels, then say what $\alpha$ is added to and why that differs between the two orders.

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex2_written", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# With plain counts the factors telescope: P(x_1) P(x_2 | x_1) ... = (#images starting with x_1)/1000 times (#starting with x_1 x_2)/(#starting with x_1) and so on, which leaves (number of copies of x in the training set)/1000 whatever the order; so both orders print the same value (to all four decimals; it is minus the negative log-likelihood 3.947 nats per image that section 2 printed for the training set). Smoothing adds alpha to the counts of every prefix met along the way, and the prefixes differ between the orders (a row prefix is not a column prefix, and their counts differ), so the smoothed factors no longer cancel and the two printed smoothed values differ, by a few thousandths of a nat (-4.4266 for columns vs -4.4301 for rows: 0.0035). The plain-count agreement is the chain rule's promise that any order describes the same distribution; smoothing changes the model, in a way that depends on the order. (Full marks: the telescoping argument, the order-dependence of what alpha is added to, and the student's own printed numbers.)
# ### END SOLUTION

# %% [markdown]
# **Exercise 3 (probability of one image, factor by factor).** Under the trained softmax network `softmax_net`, what is the probability of the clean image "blue stroke along the top row" (`CLEAN[1]`)? Work it out with the chain rule, factor by factor, rather than with `net_log_prob` (which multiplies the factors for you, as a sum of logs): one call of `softmax_net` on the one-hot image gives the logits of all nine conditionals at once, shape `(1, 9, K)` (section 3 says why one pass is enough: row $i$ of the network's input blanks pixel $i$ and everything after it). Store in `factors` the nine conditional probabilities $P_\theta(x_i \mid x_{<i})$ of the image's own colours, a float tensor of shape `(9,)`, and in `p_top_blue` their product, the probability of the whole image (a Python float, or a NumPy one). Once the test passes it prints your value next to the true generator's probability of the same image, and the pixel the network is least sure of, for you to compare (nothing to write or store about the comparison).

# %% nbgrader={"grade": false, "grade_id": "ex3_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
with torch.no_grad():
    probs = softmax_net(F.one_hot(CLEAN[1:2], K).float()).softmax(-1)[0]  # (9, K): P(x_i = v | x_<i)
factors = probs[torch.arange(N_PIX), CLEAN[1]]
p_top_blue = float(factors.prod())
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex3_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
p_true = float(true_log_prob(CLEAN[1:2]).exp())
assert type(factors) is torch.Tensor and factors.is_floating_point() and tuple(factors.shape) == (N_PIX,), (
    f"factors should be a float tensor of shape (9,), one probability per pixel, got "
    f"{type(factors).__name__} {tuple(getattr(factors, 'shape', ()))}")
assert bool(((factors > 0) & (factors <= 1)).all()), (
    "each factor is a probability in (0, 1]: the softmax of the pixel's logits, at the pixel's own colour")
assert any(type(p_top_blue) is _t for _t in (float, np.float64, np.float32)), (
    f"p_top_blue should be a float, got {type(p_top_blue).__name__}; use float(...)")
assert abs(p_top_blue / float(factors.double().prod()) - 1) < 1e-5, (
    "p_top_blue should be the product of the nine factors: the chain rule multiplies the conditionals")
assert abs(p_top_blue / p_true - 1) > 1e-3, (
    "p_top_blue equals the true generator's probability; the question asks for the trained network's")
assert abs(p_top_blue / p_true - 1) < 0.5, (
    f"p_top_blue = {p_top_blue:.4f} is implausible for a network trained on these images: are the factors the "
    "probabilities of CLEAN[1]'s own colours, one per pixel, each given the pixels before it?")
### BEGIN HIDDEN TESTS
with torch.no_grad():
    _ref = torch.stack([softmax_net(F.one_hot(CLEAN[1:2], K).float())[0, i].softmax(-1)[CLEAN[1, i]]
                        for i in range(N_PIX)])
assert torch.allclose(factors.double(), _ref.double(), rtol=1e-4), (
    f"factors = {factors.tolist()}, the network's conditionals of CLEAN[1]'s colours are {_ref.tolist()}")
assert abs(p_top_blue / float(_ref.double().prod()) - 1) < 1e-4, "p_top_blue is not the network's P(CLEAN[1])"
### END HIDDEN TESTS
_least = int(factors.argmin())
print(f"Exercise 3 passes the visible checks (more run when it is graded): network {p_top_blue:.4f}, true generator "
      f"{p_true:.4f}; the network is least sure of pixel {_least + 1} (factor {float(factors[_least]):.3f})")

# %% [markdown]
# **Exercise 4 (build and train: the training step).** Section 3 trained the network with `fit`, a loop from helpers. Write its core step yourself, `fit`'s gradient clipping included: `train_step(model, opt, batch)` takes a `ChainNet`, its optimiser and a batch of images `(B, 9)`, computes the chain-rule loss, the mean of $-\log P_\theta(x)$ over the batch in nats per image (`net_log_prob` gives $\log P_\theta(x)$), takes one gradient step as `fit` does (section 3: zero the gradients, back-propagate, **clip the gradient to length 1** as section 3 describes it, then step; the clipping is yours to write, by hand or with a function of `torch.nn.utils`), and returns the loss **before** the step as a Python float. The test then trains a fresh network with your step for 15 epochs and checks what it learnt: the first epoch's mean loss lies between 6 and 10 nats per image (the fresh network starts at about 10.4, printed by the test, and already falls during the first epoch), the loss then falls by more than 3 nats, the held-out images score below 5.0 nats per image (the smoothed counts gave 4.81), and more than half of 1000 samples are clean stroke images again.

# %% nbgrader={"grade": false, "grade_id": "ex4_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_step(model: ChainNet, opt: torch.optim.Optimizer, batch: Tensor) -> float:
    ### BEGIN SOLUTION
    loss = -net_log_prob(model, batch).mean()
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # all gradients as one vector, length at most 1
    opt.step()
    return loss.item()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex4_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(0)
student_net = ChainNet()
with torch.no_grad():
    start_loss = float(-net_log_prob(student_net, train).mean())  # the fresh network, before any step
assert 10.3 < start_loss < 10.5, f"a fresh network should start near 10.4 nats per image, got {start_loss:.2f}"
opt = torch.optim.Adam(student_net.parameters(), lr=1e-2)
order_gen, epoch_loss = torch.Generator().manual_seed(0), []
for epoch in range(15):
    perm = torch.randperm(len(train), generator=order_gen)
    losses = [train_step(student_net, opt, train[perm[k:k + 100]]) for k in range(0, len(train), 100)]
    assert all(type(v) is float for v in losses), (
    f"train_step returned a {type(losses[0]).__name__}; it should return a Python float")
    epoch_loss.append(sum(losses) / len(losses))
assert all(type(p) is nn.Parameter for p in student_net.parameters()), (
    "train_step should update the model's weights in place, not replace them: got "
    f"{sorted({type(p).__name__ for p in student_net.parameters()})}")
assert 6 < epoch_loss[0] < 10, f"first epoch's mean loss {epoch_loss[0]:.2f}: expected nats per image, between 6 and 10"
assert epoch_loss[-1] < epoch_loss[0] - 3, (
    f"the loss went from {epoch_loss[0]:.2f} to {epoch_loss[-1]:.2f} nats per image: it should fall by more than 3; "
    "does each call of train_step take one gradient step that lowers this batch's loss?")
with torch.no_grad():
    held_out = float(-net_log_prob(student_net, test).mean())
    drawn = sample_chain(student_net, 1000, torch.Generator().manual_seed(0))
assert held_out < 5.0, f"held-out {held_out:.2f} nats per image: a trained network should score below 5.0"
assert is_clean(drawn) > 0.5, f"only {is_clean(drawn):.0%} of 1000 samples are clean strokes; expected more than half"
### BEGIN HIDDEN TESTS
# Plain SGD shows the step itself (Adam hides the gradient's scale): from a fresh network on two batches, where
# the gradient is longer than 1 (clipping acts), and one step from section 3's net_3000 on 10,000 images it drew
# itself, where it is shorter (clipping does not act: the mean's scale shows). The mean gradient of a model's
# log-likelihood over its own samples is zero in expectation, whatever its weights, so with 10,000 samples it stays
# well below 1 on any CPU; on its training images it was below 1 on one CPU and 1.7 on another.
with torch.no_grad():
    own = sample_chain(net_3000, 10000, torch.Generator().manual_seed(0))
for start, clipped, batches in ((ChainNet(), True, (train[:100], train[100:200])), (net_3000, False, (own,))):
    fresh, ref = ChainNet(), ChainNet()
    fresh.load_state_dict(start.state_dict())
    ref.load_state_dict(start.state_dict())
    opt_f, opt_r = torch.optim.SGD(fresh.parameters(), lr=0.1), torch.optim.SGD(ref.parameters(), lr=0.1)
    for batch in batches:
        want = -net_log_prob(ref, batch).mean()
        opt_r.zero_grad()
        want.backward()
        length = float(torch.nn.utils.clip_grad_norm_(ref.parameters(), 1.0))
        opt_r.step()
        assert (length > 1) == clipped, f"the check needs a gradient {'longer' if clipped else 'shorter'} than 1"
        got = train_step(fresh, opt_f, batch)
        assert type(got) is float, f"train_step returned a {type(got).__name__}; it should return a Python float"
        assert abs(got - want.item()) < 1e-5, (
            f"train_step returned {got:.5f}, the batch's loss before the step is {want.item():.5f}")
    assert len(list(fresh.parameters())) == len(list(ref.parameters())) and all(
        type(p) is nn.Parameter for p in fresh.parameters()), (
        "train_step should update the model's weights in place, not replace them: got "
        f"{[type(p).__name__ for p in fresh.parameters()]}")
    for (name, a), b in zip(fresh.named_parameters(), ref.parameters()):
        assert torch.allclose(a, b, atol=1e-5, rtol=0), (
            f"after SGD steps {'from a fresh network' if clipped else 'from a trained one'}, {name} differs by "
            f"{float((a - b).abs().max()):.1e} from one step per batch on the mean loss with the gradient clipped "
            "to length 1 (all weights' gradients as one vector)")
### END HIDDEN TESTS
print(f"Exercise 4 passes the visible checks (more run when it is graded): "
      f"loss {start_loss:.2f} at the start, first-epoch mean {epoch_loss[0]:.2f} -> {epoch_loss[-1]:.2f} "
      f"nats per image in 15 epochs; "
      f"held-out {held_out:.2f}; {is_clean(drawn):.0%} of samples are clean strokes")
