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
# # 03 · More than images: audio and video, component by component
#
# Lecture slide 14. Nothing in the chain rule $P(x)=\prod_t P(x_t\mid x_{<t})$ is about pictures: any data that can be cut into an ordered sequence of components can be generated one component at a time. The lecture's example is **WaveNet** (van den Oord et al., 2016), which generates raw audio one sample at a time, and **video**, where frames (and the pixels inside them) are the components. We build a small WaveNet on sounds the notebook makes itself, listen to what it generates, and draw how far back it listens. Last, text, the lecture's opening example (slides 2-4): a small character model writes in the style of this series' own prose.
#
# **Learning goals.** After this notebook you can
# 1. treat a waveform as a sequence of components and apply the chain rule to it, with a softmax over 256 mu-law levels (1-of-N, like colours);
# 2. explain and compute the **receptive field** of a stack of dilated causal convolutions, and check causality numerically;
# 3. generate audio sample by sample, reusing each layer's past, and say how the same idea covers video.

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
from torch import nn
from IPython.display import Audio, display
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from helpers.models.audio import PENTATONIC, SAMPLE_RATE, WaveNet, WaveNetConfig, mu_law_decode, mu_law_encode, nll, tone_splits
from helpers.notebook.plot import plot_audio, plot_dilated_stack, plot_history, show_sprites
from helpers.registry import get, recipe
from helpers.notebook import setup

gen = setup(seed=0, threads=1)  # one thread: small convolutions and one-sample steps

# %% [markdown]
# ## 1. Sound is a sequence of numbers
#
# A microphone signal sampled 8,000 times a second is a sequence $x_1, x_2, \dots$ of numbers in $[-1, 1]$: one second of audio has 8,000 components, as many as twenty Pokémon sprites have pixels. Our data set is synthetic, so it needs no download: plucked notes from an A-major pentatonic scale (220-554 Hz, printed below), four per second, each with five harmonics (a harmonic is a whole-number multiple of the note's lowest frequency, its fundamental) and a decaying envelope, sometimes two notes at once. `tone_splits` makes 96 training, 16 validation and 16 test clips of one second each, always the same (seeded), stored as 8-bit codes (explained in section 2); `mu_law_decode` turns them back into numbers in $[-1, 1]$.
#
# The cell also finds the first note's pitch from its **spectrum**: the Fourier transform (`np.fft.rfft`) writes a signal as a sum of sine waves, and the size of each coefficient says how much of that frequency the signal holds. Padding the 0.25 s with zeros to 65,536 samples adds no information; it only evaluates the spectrum on a finer grid of frequencies, so the peak is located to a fraction of a hertz.

# %%
cfg = recipe("wavenet_tones")  # .model: the network (WaveNetConfig); .train: data, crops, optimiser
train_codes, valid_codes, test_codes = tone_splits(cfg.train.data)  # 8-bit mu-law codes 0-255, explained in section 2
real = mu_law_decode(test_codes[0])  # one held-out clip, codes turned back into numbers in [-1, 1]
print(f"{len(train_codes)} training, {len(valid_codes)} validation, {len(test_codes)} test clips of {train_codes.shape[1]:,} samples ({train_codes.shape[1] / SAMPLE_RATE:.0f} s at {SAMPLE_RATE:,} Hz)")
print(f"the scale's notes: {min(PENTATONIC):.0f}-{max(PENTATONIC):.0f} Hz")
assert (round(min(PENTATONIC)), round(max(PENTATONIC))) == (220, 554)  # the text above quotes these
assert (len(train_codes), len(valid_codes), len(test_codes)) == (96, 16, 16)
first_note = real[: SAMPLE_RATE // 4].numpy()  # the clip's first 0.25 s: its first note
spectrum = np.abs(np.fft.rfft(first_note, n=1 << 16))  # zero-padded: a fine frequency grid
peak_hz = float(np.fft.rfftfreq(1 << 16, d=1 / SAMPLE_RATE)[spectrum.argmax()])
print(f"strongest frequency in the first 0.25 s: {peak_hz:.0f} Hz, one period every {SAMPLE_RATE / peak_hz:.0f} samples")
assert round(peak_hz) == 277 and round(SAMPLE_RATE / peak_hz) == 29  # the figure text below quotes these
display(Audio(real.numpy(), rate=SAMPLE_RATE, normalize=False))
plot_audio(real, title="held-out clip:")

# %% [markdown]
# Left, the whole second: four notes, each a sharp attack and a decay. Middle, the first 40 ms: a periodic wave. Its period is that of the first note's strongest frequency, the peak of the spectrum of the first 0.25 s (printed above): 277 Hz, one period every 29 samples. Right, the spectrogram (time across, frequency up, brightness = energy): each note is a stack of horizontal lines, its fundamental and harmonics.
#
# ## 2. 8-bit mu-law: 256 classes, like 256 colours
#
# Notebook 01 showed why a pixel is predicted with a softmax over its values rather than by regressing a number. WaveNet does the same for audio, so each sample must become one of a few values. Quantising $[-1,1]$ evenly into 256 steps gives every value the same step: too coarse for quiet sounds, where the ear hears small errors best, and finer than needed for loud ones. **Mu-law** companding first stretches the quiet part,
# $$F(x)=\operatorname{sign}(x)\,\frac{\ln(1+\mu|x|)}{\ln(1+\mu)},\qquad \mu=255,$$
# and then quantises $F(x)\in[-1,1]$ into 256 levels. Each sample becomes a class in $0..255$ (128 is silence), and the model outputs a softmax over 256 classes.

# %%
x = torch.linspace(-1, 1, 2001)
levels = mu_law_decode(torch.arange(256))
fig = Figure(figsize=(11, 3), layout="constrained")
a, b, c = fig.subplots(1, 3)
a.plot(x, torch.sign(x) * torch.log1p(255 * x.abs()) / math.log(256))
a.set(xlabel="sample value x", ylabel="F(x)", title="mu-law companding, μ = 255")
b.vlines(levels, 0, 1, lw=0.5)
b.set(xlim=(-1, 1), yticks=[], xlabel="sample value", title="the 256 levels: dense near silence")
c.hist(train_codes.flatten().numpy(), bins=256, range=(-0.5, 255.5), color="tab:blue")
c.set(xlabel="mu-law code (128 = silence)", ylabel="count", title="codes in the training clips", yscale="log")
fig

# %%
# NBVAL_CHECK_OUTPUT
err = (mu_law_decode(mu_law_encode(x)) - x).abs()
print(f"largest round-trip error: {err.max():.4f} overall, {err[x.abs() < 0.05].max():.5f} for quiet samples |x| < 0.05")
print(f"an even 8-bit grid would err by up to {1 / 255:.4f} everywhere")

# %% [markdown]
# ## 3. Causal dilated convolutions and the receptive field
#
# WaveNet computes all the conditionals $P(x_t\mid x_{<t})$ of a clip in one pass of **causal** convolutions: the output at time $t$ may only use inputs before $t$ (the input is shifted right by one sample, and each convolution pads on the left only). With kernel 2, one layer sees 2 samples; stacking $L$ ordinary layers sees $L+1$. **Dilation** spaces a layer's taps $d$ samples apart; doubling $d$ in each layer ($1, 2, 4, \dots$) doubles the context per layer:
# $$R = 1 + (k-1)\sum_{\ell} d_\ell .$$
# Below, four layers with dilations 1, 2, 4, 8: the blue paths show everything that reaches the rightmost output. The bottom row is the clip; the row above it is the same clip shifted right by one sample, which the first layer reads. So the output above sample $t$ (red), which predicts it, reaches the $R=1+1+2+4+8=16$ samples before it (orange) and never $t$ itself.

# %%
plot_dilated_stack((1, 2, 4, 8))

# %% [markdown]
# Our model stacks dilations $1, 2, \dots, 128$ twice (16 layers, kernel 2), with WaveNet's gated units, $\tanh(W_f * h)\odot\sigma(W_g * h)$, residual and skip connections, and a softmax over 256 codes. A **skip connection** here: each layer's gated output also goes, through a 1×1 convolution, straight to a sum over all layers, and that sum (not only the last layer's output) feeds the output head. Its receptive field is $1 + 2\cdot(1+2+\dots+128) = 511$ samples, 64 ms: about 14 periods of the lowest note. Without dilation the same reach would take 510 layers.
#
# Two properties are checked numerically below, on an untrained model (they come from the wiring, not from training): **causality**, the figure's "never $t$ itself" (change the inputs at time $t$ and later, and no output at or before $t$ moves: the output at $t$ predicts $x_t$, so it must not see it), and the **receptive field** of 511 samples (ask which inputs the output at $t$ has a nonzero gradient for). The cell also counts the undilated layers the same reach would take: each kernel-2 layer without dilation adds one sample, so $511 - 1 = 510$. The inputs are integer codes, which have no gradient, so the cell takes the gradient with respect to the network's first layer's output instead: the embedding, one vector per (right-shifted) time step. A **forward hook** (`register_forward_hook`) is a function PyTorch calls with a layer's output every time the layer runs; ours keeps that output and marks it with `retain_grad()`, so that `backward()` stores its gradient (by default `backward()` stores gradients only in leaf tensors, such as the weights; the embedding's output is an intermediate result). The cell also prints the stack's layers and the reach in periods of the lowest note.

# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
probe = WaveNet(cfg.model).eval()
codes = torch.randint(256, (1, 1200))
t = 1000
with torch.no_grad():
    changed = codes.clone()
    changed[:, t:] = torch.randint(256, (1, 1200 - t))
    same = torch.equal(probe(codes)[:, : t + 1], probe(changed)[:, : t + 1])
embedded = []  # catch the embedded (right-shifted) input to take gradients with respect to it


def keep(module, inputs, output):
    output.retain_grad()
    embedded.append(output)


hook = probe.embed.register_forward_hook(keep)
probe(codes)[0, t].logsumexp(-1).backward()
hook.remove()
grad = embedded[0].grad[0].abs().sum(-1)  # (T,); position u of the shifted input holds code u - 1
reach = (grad.nonzero()[:, 0] - 1).tolist()
print(f"outputs up to t unchanged when inputs at >= t change: {same}")
print(f"output at t = {t} depends on inputs {min(reach)} .. {max(reach)}: {len(reach)} samples; "
      f"formula 1 + (k-1) * sum(dilations) = {probe.receptive_field}")
periods = probe.receptive_field / SAMPLE_RATE * min(PENTATONIC)  # of the lowest note
print(f"dilations {cfg.model.dilations}: {len(cfg.model.dilations)} layers, kernel {cfg.model.kernel}; "
      f"{probe.receptive_field} samples = {1000 * probe.receptive_field / SAMPLE_RATE:.0f} ms = "
      f"{periods:.1f} periods of the lowest note ({min(PENTATONIC):.0f} Hz)")
assert cfg.model.dilations == tuple(2**i for i in range(8)) * 2 and cfg.model.kernel == 2  # the text above
one_block = 1 + (cfg.model.kernel - 1) * sum(cfg.model.dilations[:8])  # the formula, for dilations 1..128 once
print(f"one block of 8 layers (dilations 1 .. 128) reaches {one_block} samples by the formula; two reach 511")
undilated = probe.receptive_field - 1  # kernel-2 layers with dilation 1 reach 1 + (number of layers) samples
print(f"without dilation the same reach would take {undilated} kernel-2 layers, not {len(cfg.model.dilations)}")
assert same and len(reach) == probe.receptive_field == 511 and round(periods) == 14 and undilated == 510
assert one_block == 256

# %% [markdown]
# ## 4. Training: the chain rule as the loss
#
# The loss is the same as for pixels: $-\frac1T\sum_t \log P_\theta(x_t\mid x_{<t})$, nats per sample, averaged over random 2,048-sample crops of the training clips; the weights of the best validation epoch are kept. Training took 24 minutes (printed below), so it was done once, before the series had its registry, by the training code that the committed command `python -m helpers.registry train wavenet_tones` now runs (seeded; `make checkpoints` runs it; the checkpoint's metadata says so). It wrote `data/checkpoints/wavenet_tones.pt`. The cell below loads it and checks it was trained with this configuration; if the file is missing it trains here.

# %%
model, info = get("wavenet_tones")  # trains for ~25 min if the file is missing
hist = info["history"]
print(f"{sum(p.numel() for p in model.parameters()):,} parameters; trained {len(hist.train)} epochs in {hist.seconds / 60:.0f} min "
      f"on random {cfg.train.crop:,}-sample crops")
assert cfg.train.crop == 2048
plot_history(hist, ylabel="nats per sample", title="WaveNet on synthetic tones")

# %% [markdown]
# How good is that? In **bits per sample** on the held-out clips, against two baselines that ignore the past: the uniform distribution over 256 codes (8 bits), and the codes' overall frequencies counted on the training clips (a "unigram", the natural baseline without context).

# %%
# NBVAL_CHECK_OUTPUT
freq = torch.bincount(train_codes.flatten(), minlength=256).float() + 1  # add-one: no code gets P = 0
unigram_bits = float(-(freq / freq.sum()).log()[test_codes].mean()) / math.log(2)
with torch.no_grad():
    wavenet_bits = sum(float(nll(model, test_codes[i : i + 4])) for i in range(0, len(test_codes), 4)) / (len(test_codes) / 4) / math.log(2)
print(f"held-out bits per sample: uniform 8.00 | unigram {unigram_bits:.2f} | WaveNet {wavenet_bits:.2f}")
print(f"recorded in the checkpoint: {info['metrics']['test_bits']:.2f}")

# %% [markdown]
# Context is worth more than five bits per sample: given the last 64 ms, the next sample is narrowed from about $2^{7.55}\approx190$ equally likely codes to about $2^{2.27}\approx5$. (Some uncertainty cannot go away: nothing in the past says which note comes next.)
#
# The loop itself, a few steps from scratch (its time is printed), so you can see it run: the loss starts at $\ln 256 = 5.55$ nats (uniform) and falls.

# %%
torch.manual_seed(0)
demo = WaveNet(cfg.model)
opt = torch.optim.Adam(demo.parameters(), lr=3e-3)
losses, start = [], time.perf_counter()
for step in range(6):
    batch = train_codes[torch.randint(len(train_codes), (8,), generator=gen)][:, :1024]
    loss = nll(demo, batch)
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(float(loss.detach()))
print(f"6 steps in {time.perf_counter() - start:.1f} s: nats per sample " + " -> ".join(f"{v:.2f}" for v in losses))

# %% [markdown]
# ## 5. Generating audio, one sample at a time
#
# Sampling runs the chain rule forwards: draw $x_t$ from the softmax, append it, repeat, 8,000 times per second of audio. Re-running the network on the last 511 samples for every new one would cost 511 columns per layer per step. Instead `WaveNet.step(prev, state)` keeps, for each layer, the inputs it will need again (its last $d_\ell$ inputs) and computes **one new column per layer**: the same numbers as the full pass (a test checks this) for a fraction of the work. Two kinds of samples:
#
# * **from silence**: the model picks a note itself;
# * **continuation**: the first 0.25 s of a held-out clip is fed in ("primed"), and the model carries on, the audio version of completing a half-covered image.

# %% [markdown]
# First, the price of not caching. `sample_naive` below runs the full network on the last $R$ samples for every new sample; the cached sampler and it draw the same samples from the same generator (the same computation up to rounding: a unit test checks that the cached step gives the full pass's logits to $10^{-5}$; the cell below prints whether the draws agree), at very different speeds:

# %%
@torch.no_grad()
def sample_naive(model: WaveNet, length: int, generator: torch.Generator) -> torch.Tensor:
    """One clip (1, length), re-running the network on the last R codes for every new sample."""
    codes = torch.zeros(1, 0, dtype=torch.long)
    for _ in range(length):
        window = torch.cat([codes[:, -model.receptive_field :], torch.zeros(1, 1, dtype=torch.long)], dim=1)
        logits = model(window)[:, -1]  # the last position sees only the window (the 0 appended is its target)
        codes = torch.cat([codes, torch.multinomial(logits.softmax(-1), 1, generator=generator)], dim=1)
    return codes


length = 400
t0 = time.perf_counter()
slow = sample_naive(model, length, torch.Generator().manual_seed(1))
t1 = time.perf_counter()
fast = model.sample(1, length=length, generator=torch.Generator().manual_seed(1))
t2 = time.perf_counter()
print(f"{length} samples: re-running the window {1000 * (t1 - t0) / length:.1f} ms per sample, "
      f"cached state {1000 * (t2 - t1) / length:.2f} ms per sample ({(t1 - t0) / (t2 - t1):.0f}x faster); "
      f"same samples: {torch.equal(slow, fast)}")

# %% [markdown]
# In this run the window never fills: we draw 400 samples, fewer than $R = 511$, so the window sampler's window grows from 1 to 400 samples, about 200 on average, and the cached step does about that many times less arithmetic per layer, yet the measured gap is smaller. A likely reason, which we did not measure: one sample at a time, the cached sampler runs many small operations, and each carries a fixed cost that does not shrink with its arithmetic. The arithmetic of the window sampler grows with the receptive field, while a cached step's does not (it computes one column per layer whatever $R$ is); that is why the cache pays most for models with thousands of samples of context, such as the real WaveNet (the "Fast WaveNet" trick of Paine et al., 2016). We only measured this one model, and windows shorter than its $R$.
#
# Now the real thing: the cell below samples six clips of 0.75 s, three from silence and three continuations (each primed with the first 0.25 s of a different held-out clip). The next cell plays the three from silence, then one held-out clip and the continuation of its first 0.25 s; the figure after it shows that held-out clip, the first clip from silence and that continuation.

# %%
n, seconds = 3, 0.75
start = time.perf_counter()
free = model.sample(n, length=int(seconds * SAMPLE_RATE), generator=gen)
prime = test_codes[1:1 + n, : SAMPLE_RATE // 4]
cont = model.sample(n, length=int(seconds * SAMPLE_RATE), generator=gen, prefix=prime)
elapsed = time.perf_counter() - start
drawn = free.numel() + cont.numel() - prime.numel()  # a continuation's first 0.25 s are copied, not drawn
print(f"sampled {2 * n} clips of {seconds} s ({free.numel() + cont.numel():,} samples, {drawn:,} of them drawn; "
      f"{2 * int(seconds * SAMPLE_RATE):,} steps, each for {n} clips at once) in {elapsed:.0f} s")
assert len(free) == len(cont) == 3 and bool((cont[:, : prime.shape[1]] == prime).all()), "3 from silence, 3 continued"

# %%
print("generated from silence:")
for clip in free:
    display(Audio(mu_law_decode(clip).numpy(), rate=SAMPLE_RATE, normalize=False))
print("held-out clip, then its continuation (the first 0.25 s are real):")
display(Audio(mu_law_decode(test_codes[1, : len(cont[0])]).numpy(), rate=SAMPLE_RATE, normalize=False))
display(Audio(mu_law_decode(cont[0]).numpy(), rate=SAMPLE_RATE, normalize=False))

# %%
fig = Figure(figsize=(11, 7.2), layout="constrained", dpi=80)  # dpi: noisy spectrograms make large PNGs
rows = fig.subfigures(3, 1)
for row, clip, title in [(rows[0], test_codes[1, : len(cont[0])], "held-out:"), (rows[1], free[0], "from silence:"),
                         (rows[2], cont[0], "continued:")]:
    axes = row.subplots(1, 3, width_ratios=[2, 1, 2])
    plot_audio(mu_law_decode(clip), title=title, axes=axes, zoom_start=0.3)
for ax in (axes[0], axes[2]):
    ax.axvline(0.25, color="tab:green", ls="--", lw=1.5)
axes[0].text(0.26, 0.85, "generated →", color="tab:green")
fig

# %% [markdown]
# What to look and listen for, against the held-out row. The model has learnt the **short-range** structure: stretches of periodic wave, harmonics stacked as horizontal lines in the spectrogram, and sharp attacks followed by decays (from silence, near 0.58 s). It has not learnt it cleanly: a haze of noise surrounds the notes. About 2.3 bits per sample means each sample is drawn from roughly five plausible codes, and every unlucky draw is noise that later steps have to live with. It has no **long-range** structure: no steady beat of one note every 0.25 s (none shows in the figure), and the beat does not fit in its window: 0.25 s is 2,000 samples, four times the receptive field (inside the window, only how far the last note has decayed hints at the time since it began). More capacity and training are the usual remedy for the first (we did not try them here); a longer receptive field, or conditioning on something like a score or text, is what the second needs.
#
# ## 6. Video: frames are components too
#
# A video is a sequence of frames, so the chain rule applies twice:
# $$P(\text{video})=\prod_{t}P(\text{frame}_t\mid\text{frames}_{<t}),\qquad P(\text{frame}_t\mid\cdot)=\prod_i P(\text{pixel}_{t,i}\mid\text{pixels}_{t,<i},\ \text{frames}_{<t}).$$
# Each frame is predicted from the ones before it, and within a frame each pixel from the pixels drawn so far, exactly as in notebooks 01-02. This is the Video Pixel Network (Kalchbrenner et al., 2016). No model here: the picture shows the order in which a small clip of a moving ball is made.

# %%
frames = np.zeros((7, 8, 8), dtype=np.int64)  # 7 frames of 8x8: a 2x2 ball moving down-right
for f, (r, c) in enumerate([(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6)]):
    frames[f, r : r + 2, c : c + 2] = 1
now, done_pixels = 4, 37  # frame 4 is being generated: 37 of its 64 pixels are drawn so far
not_yet = np.zeros_like(frames, dtype=bool)
not_yet[now].flat[done_pixels:] = True
not_yet[now + 1 :] = True
palette = np.array([[255, 255, 255], [20, 20, 20]], dtype=np.uint8)
fig = show_sprites(frames, palette, ncols=len(frames), scale=1.3, covered=not_yet,
                   title="frames 0-3 generated; frame 4 partly drawn, pixel by pixel; frames 5-6 to come (blue-grey)")
ax = fig.axes[0]
for f in range(len(frames)):
    ax.add_patch(Rectangle((f * 9 - 0.5, -0.5), 8, 8, fill=False, lw=0.8, ec="0.45"))
    ax.text(f * 9 + 3.5, 8.9, f"frame {f}", ha="center", va="top", fontsize=9)
ax.set_ylim(9.6, -0.6)
fig

# %% [markdown]
# ## 7. A machine that writes
#
# The lecture opens (slides 2-4) with machines that write poems. Text is a sequence too: its components are characters, and the chain rule $P(x)=\prod_t P(x_t\mid x_{<t})$ applies unchanged, with a softmax over the characters in place of colours or mu-law codes. Our corpus is this series' own prose: the markdown cells of the notebooks, frozen once by `scripts/build_text_corpus.py` into `data/text/series_prose.txt` (CC BY 4.0, like all our prose; `load_corpus` checks its sha256, recorded in DATA.md, so the numbers here do not drift when the prose is edited). It is split into contiguous blocks: the first 80% for training, the next 10% for validation, the last 10% as held-out test text.
#
# The model, `char_lstm`, is built like the pixel LSTM of notebook 02 (without its row and column embeddings and its dropout), on characters: an embedding, one LSTM layer of 192 units and a softmax over the characters, trained on 128-character windows by the committed command `python -m helpers.registry train char_lstm`. We compare it in held-out bits per character with two add-one smoothed baselines counted on the training block: the **unigram** $P(x_t)=\frac{n(x_t)+1}{N+V}$ (character frequencies, no context) and the **bigram** $P(x_t\mid x_{t-1})=\frac{n(x_{t-1}x_t)+1}{n(x_{t-1})+V}$ (one character of context), where $n(\cdot)$ counts occurrences in the training block ($n(x_{t-1})$ in the bigram counts only the positions that have a successor, every position but the last, so that each row of the bigram sums to 1), $N$ is the number of characters in the training block and $V$ the number of distinct characters.

# %%
from helpers.models.text import bigram_bits, decode, load_corpus, split_text, text_splits, vocabulary

start = time.perf_counter()
text = load_corpus()  # raises if the file is not the snapshot recorded in DATA.md
vocab = vocabulary(text)  # the sorted distinct characters: a character's code is its index
train_text, valid_text, test_text = split_text(text)
counts = {c: train_text.count(c) for c in vocab}
unigram = -sum(math.log2((counts[c] + 1) / (len(train_text) + len(vocab))) for c in test_text) / len(test_text)
bigram = bigram_bits(train_text, test_text, vocab)
writer, writer_info = get("char_lstm")
test_windows = text_splits(recipe("char_lstm").train)[2]  # the test block as (N, 128) codes
with torch.no_grad():
    writer_bits = -writer.log_prob(test_windows).sum().item() / (test_windows.numel() * math.log(2))
_lstm = recipe("char_lstm")
print(f"char_lstm: {_lstm.model.layers} LSTM layer of {_lstm.model.hidden} units, trained on {_lstm.train.window}-character windows")
assert (_lstm.model.layers, _lstm.model.hidden, _lstm.train.window) == (1, 192, 128)
print(f"{len(text):,} characters, {len(vocab)} distinct: {len(train_text):,} train, {len(valid_text):,} valid, "
      f"{len(test_text):,} test")
print(f"held-out bits per character: uniform {math.log2(len(vocab)):.2f}, unigram {unigram:.2f}, bigram {bigram:.2f}, "
      f"char_lstm {writer_bits:.2f}")
assert writer_bits + 0.5 < bigram and bigram + 0.5 < unigram < math.log2(len(vocab))
assert 0.8 < unigram - bigram < 1.2  # the one character of context is worth about one bit
scored = decode(test_windows.flatten(), vocab)  # the characters the LSTM is scored on: whole windows only
assert test_text.startswith(scored)
bigram_scored = bigram_bits(train_text, scored, vocab)
print(f"char_lstm is scored on {len(scored):,} of the {len(test_text):,} test characters ({len(test_windows)} whole "
      f"windows; the last {len(test_text) - len(scored)} are dropped); the bigram on those same characters: "
      f"{bigram_scored:.3f} bits (vs {bigram:.3f} on all of them)")
assert 0 <= len(test_text) - len(scored) < 128 and abs(bigram_scored - bigram) < 0.02

# %% [markdown]
# Context pays: one character of it (the bigram) saves about one bit per character over the unigram, and the LSTM, which reads everything before it in its 128-character window, saves more than another bit. (Two small differences in how the LSTM is scored: it starts each window with an empty past, so it has slightly less context than it could use, and it is scored only on the whole 128-character windows of the test block, which leave out its last few characters; the bigram scored on only those characters moves by less than 0.02 bits, printed above.) Now the model writes. `sample` draws the first character given the empty past, feeds it back, draws the next given the ones before, and so on: component by component, each character drawn given those before it, exactly as pixels were in notebooks 01-02. The temperature divides the logits before the softmax: at 0.5 the distribution is sharpened and the draws keep to the likeliest characters.

# %%
for temperature in (1.0, 0.5):
    codes = writer.sample(2, generator=torch.Generator().manual_seed(3), length=300, temperature=temperature)
    print(f"--- temperature {temperature} ---")
    for row in codes:
        print(decode(row, vocab), end="\n\n")
print(f"section 7 took {time.perf_counter() - start:.1f} s")

# %% [markdown]
# ## Summary
#
# - The chain rule does not care what the components are: pixels, audio samples, frames.
# - WaveNet models 8-bit mu-law audio with a 256-way softmax per sample (1-of-N, like colours) and causal, dilated convolutions; its receptive field $R = 1 + (k-1)\sum d_\ell$ grows exponentially with the depth of a block of doubling dilations (8 layers, 1 to 128, reach 256 samples by the formula, printed in section 3; the two blocks here, 16 layers, reach 511, measured there from the inputs with a nonzero gradient) (perturbation showed causality).
# - With context the held-out cost drops from 8 bits per sample (uniform) and 7.55 (unigram, no context) to 2.27 bits per sample.
# - Sampling is sequential, one sample per step; keeping each layer's past makes a step cost one column per layer.
# - Generated audio has what fits in the receptive field (periodic waves, harmonics, attacks and decays), with a haze of noise, and not what lies beyond it (a steady beat).
# - Text works the same way, one character per step: on held-out prose of this series a character LSTM beats the bigram, which beats the unigram, in bits per character (section 7).
#
# ## Exercises
#
# **Exercise 1 (mu-law by hand).** The point is to write the formula yourself: `mu_law_encode` (section 2) computes the same codes, so do not call it or read its source (`??`); the test switches it off while it runs your function. Write `mu_law_code(x)`: the 8-bit mu-law code of one sample value $x \in [-1, 1]$ (a float): apply $F$, map $[-1,1]$ to $[0,255]$ and round to the nearest integer (`math.floor(v + 0.5)`). Return an int. Then store the code of $x=0.5$ in `code_half`.

# %% nbgrader={"grade": false, "grade_id": "ex1_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def mu_law_code(x: float) -> int:
    ### BEGIN SOLUTION
    y = math.copysign(math.log(1 + 255 * abs(x)) / math.log(256), x)
    return int(math.floor((y + 1) / 2 * 255 + 0.5))
    ### END SOLUTION


### BEGIN SOLUTION
code_half = mu_law_code(0.5)
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex1_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from helpers.notebook.grading import refusing  # noqa: E402

# while your function runs, mu_law_encode refuses under every name it has (an aliased import too)
with refusing([mu_law_encode], "mu_law_code must not call mu_law_encode: compute F(x) with math.log yourself",
              globals()):
    _xs = [0.5, -0.5, 0.0, 0.01, -0.9, 1.0]
    _got = [mu_law_code(v) for v in _xs]
assert all(type(g) is int for g in _got), f"mu_law_code should return ints, got {[type(g).__name__ for g in _got]}"
assert type(code_half) is int and code_half == _got[0], "code_half should be mu_law_code(0.5)"
_want = mu_law_encode(torch.tensor(_xs)).tolist()
_bad = [x for x, g, w in zip(_xs, _got, _want) if g != w]
assert not _bad, (f"mu_law_code gives the wrong code for x in {_bad}; check the "
                  "sign, the logarithms, the map to [0, 255] and the rounding")
### BEGIN HIDDEN TESTS
_xs = torch.linspace(-1, 1, 41).tolist() + [0.003, -0.003, 0.39, -0.39, 0.94]
with refusing([mu_law_encode], "mu_law_code must not call mu_law_encode: compute F(x) with math.log yourself",
              globals()):
    _got = [mu_law_code(v) for v in _xs]
assert all(type(g) is int for g in _got), "mu_law_code should return ints"
assert _got == mu_law_encode(torch.tensor(_xs)).tolist(), "mu_law_code is wrong for some values in [-1, 1]"
### END HIDDEN TESTS
print(f"Exercise 1 passes the visible checks (more run when it is graded): x = 0.5 -> code {code_half} "
      f"(an even grid would give {round(0.75 * 255)})")

# %% [markdown]
# **Exercise 2 (receptive field).** Write `receptive_field(dilations, kernel)` from the formula (by arithmetic: the test switches `WaveNet` off while it runs your function), then choose `one_second`, a tuple of dilations for kernel 2 with **at most 14 layers** whose receptive field covers at least one second of audio (8,000 samples) **without gaps**: as in section 3's measurement, every one of the 8,000 samples before the one being predicted must actually reach the output (section 3 measured that the output at $t$ depends on $x_{t-R}, \dots, x_{t-1}$, all $R$ of them), not just lie between its first and last input. `receptive_field` returns a whole number (an `int`, a NumPy `int64` or `int32`, or an integer-valued float such as `1.0`); the dilations in `one_second` are positive integers (Python `int`, NumPy `int64` or `int32`, or 0-d integer torch tensors).

# %% nbgrader={"grade": false, "grade_id": "ex2_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def receptive_field(dilations: tuple[int, ...], kernel: int = 2) -> int:
    ### BEGIN SOLUTION
    return 1 + (kernel - 1) * sum(dilations)
    ### END SOLUTION


### BEGIN SOLUTION
one_second = tuple(2**i for i in range(13))  # 1, 2, ..., 4096: R = 8192
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex2_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from helpers.notebook.grading import refusing  # noqa: E402

# the visible checks switch WaveNet off too (its constructor and its receptive_field, under every name): the answer is arithmetic
_NO_WAVENET = "receptive_field must not use WaveNet: work it out from the dilations and the kernel size"
_visible_cases = [((1, 2, 4, 8), 2), ((1, 2, 4) * 3, 2), ((1, 3, 9), 3), ((1,), 5)]
_wants = [WaveNet(WaveNetConfig(dilations=dil, kernel=k, channels=2, skip_channels=2)).receptive_field
          for dil, k in _visible_cases]
with refusing([WaveNet.__init__, WaveNet.receptive_field.fget], _NO_WAVENET, globals()):
    _gots = [receptive_field(dil, k) for dil, k in _visible_cases]
for (dil, k), want, got in zip(_visible_cases, _wants, _gots):
    assert any(type(got) is _t for _t in (int, float, np.int64, np.int32, np.float64, np.float32)) and not isinstance(got, bool), (
        f"receptive_field should return a number, got {type(got).__name__}")
    assert got == want, f"receptive_field({dil}, {k}) = {got}, expected {want}"
def _as_int(d):  # Python, NumPy or 0-d integer torch tensor -> int; None for anything else
    if type(d) is torch.Tensor:
        return int(d) if d.ndim == 0 and not d.is_floating_point() and not d.is_complex() and d.dtype != torch.bool else None
    return int(d) if any(type(d) is _t for _t in (int, np.int64, np.int32)) and not isinstance(d, (bool, np.bool_)) else None


assert type(one_second) is tuple and all(_as_int(d) is not None and _as_int(d) >= 1 for d in one_second), (
    f"one_second should be a tuple of positive integer dilations, got {one_second!r}")
_one_second_ints = tuple(_as_int(d) for d in one_second)
assert len(one_second) <= 14, f"one_second has {len(one_second)} layers; at most 14 are allowed"
_reach = WaveNet(WaveNetConfig(dilations=_one_second_ints, kernel=2, channels=2, skip_channels=2)).receptive_field
assert _reach >= SAMPLE_RATE, (
    f"one_second spans {_reach} samples, fewer than {SAMPLE_RATE}; the dilations must grow faster")
### BEGIN HIDDEN TESTS
with refusing([WaveNet.__init__, WaveNet.receptive_field.fget], _NO_WAVENET, globals()):
    _cases = [((), 2, 1), ((1, 2, 4, 8, 16), 3, 63), ([3, 5], 4, 25), ((2, 2, 2), 5, 25), ((1,) * 10, 2, 11)]
    _got = [receptive_field(dil, k) for dil, k, _ in _cases]
for (_dil, _k, _want), _g in zip(_cases, _got):
    assert any(type(_g) is _t for _t in (int, float, np.int64, np.int32, np.float64, np.float32)) and not isinstance(_g, bool) and _g == _want, (
        f"receptive_field({_dil}, {_k}) = {_g!r}, expected {_want}")
_offsets = {0}  # the past samples that reach the output: every sum of some of the dilations (kernel 2)
for _d in _one_second_ints:
    _offsets |= {_o + _d for _o in _offsets}
_missing = sorted(set(range(SAMPLE_RATE)) - _offsets)
assert not _missing, (
    f"one_second spans {_reach:,} samples but {len(_missing):,} of the {SAMPLE_RATE:,} most recent never reach the "
    f"output (the first at offset {_missing[0] if _missing else 0}): the field has gaps; a dilation larger than the "
    "reach of the layers before it skips samples")
### END HIDDEN TESTS
print(f"Exercise 2 passes the visible checks (more run when it is graded): {len(one_second)} layers span "
      f"{_reach:,} samples ({_reach / SAMPLE_RATE:.2f} s); undilated (kernel 2) reaching one second, "
      f"{SAMPLE_RATE:,} samples, takes {SAMPLE_RATE - 1:,} layers")

# %% [markdown]
# **Exercise 3 (how many components?).** Generation costs one softmax draw per component. Compute `n_audio`, the number of draws for 2 seconds of our audio, and `n_video`, for 2 seconds of 64×64 RGB video at 25 frames per second when each of a pixel's three colour channels (R, G, B) is its own component, drawn one after the other (PixelRNN orders RGB images this way; in notebooks 01-02 a pixel was a single draw over palette colours, here it is three). Store in `video_per_audio` how many times more draws the video needs (`n_video / n_audio`, a number). The counts are whole numbers; an `int`, a `float`, a NumPy `int64`, `int32`, `float64` or `float32`, or a 0-d tensor holding one is fine (e.g. `1234`, `np.int64(1234)`, `1234.0`).

# %% nbgrader={"grade": false, "grade_id": "ex3_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
n_audio = 2 * SAMPLE_RATE
n_video = 2 * 25 * 64 * 64 * 3
video_per_audio = n_video / n_audio
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex3_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
def _whole3(r):  # an integer-valued number (int, float such as 16000.0, NumPy, 0-d tensor) -> int; None otherwise
    if type(r) is torch.Tensor:
        r = r.item() if r.ndim == 0 else None
    if any(type(r) is _t for _t in (int, float, np.int64, np.int32, np.float64, np.float32)) and not isinstance(r, (bool, np.bool_)) and float(r).is_integer():
        return int(r)
    return None


assert _whole3(n_audio) is not None and _whole3(n_video) is not None, (
    f"n_audio and n_video should be whole numbers, got {n_audio!r} and {n_video!r}")
assert n_video > 10 * n_audio, f"n_video = {n_video} should be many times n_audio = {n_audio}"
assert any(type(video_per_audio) is _t for _t in (int, float, np.int64, np.int32, np.float64, np.float32)) or (
    type(video_per_audio) is torch.Tensor and video_per_audio.ndim == 0), (
    f"video_per_audio should be a number, got {type(video_per_audio).__name__}")
### BEGIN HIDDEN TESTS
assert _whole3(n_audio) == 16_000, f"n_audio = {n_audio}; 2 seconds at {SAMPLE_RATE} samples per second"
assert _whole3(n_video) == 614_400, f"n_video = {n_video}; seconds x frames per second x height x width x 3 channels"
assert abs(float(video_per_audio) - 38.4) < 1e-4, f"video_per_audio = {video_per_audio}, expected n_video / n_audio"
### END HIDDEN TESTS
print(f"Exercise 3 passes the visible checks (more run when it is graded): {n_audio:,} draws for audio, "
      f"{n_video:,} for video ({video_per_audio:.1f}x)")


# %% [markdown]
# **Exercise 4 (build a causal dilated convolution, diagnose it by perturbation).** Write `CausalConv1d(channels_in, channels_out, kernel, dilation)`: an `nn.Module` whose `forward` maps (B, channels_in, T) to (B, channels_out, T), the **same length**, and whose output at time $t$ uses only inputs at $t, t-d, \dots, t-(k-1)d$ (build it on `nn.Conv1d`, which takes a `dilation`: the hidden test reads its weight; work out how many zeros the input needs, and on which side, for the output to keep the input's length and never see the future: section 3's figure shows the shape). Then write `measured_reach(net, length, t)`: feed random input (1, channels, length) through `net`, change the input at **one** time $u$ at a time, trying **every** $u$ in `range(length)` (later times than $t$ included: `net` need not be causal, and the measurement is what tells), and return the number of times $u$ whose change moves the output at time $t$ (compare with `torch.equal`, so compute the unchanged output and every changed one the same way, one input of batch size 1 at a time: a batched run may round differently in the last bits, and `torch.equal` would count that as a move; `net.channels_in` tells the input channels), as a whole number (an `int`, a NumPy `int64` or `int32`, an integer-valued float or a 0-d tensor). What the result should be: for a stack of your causal layers with gap-free dilations it equals $R = 1 + (k-1)\sum d_\ell$ once $t \ge R-1$ (for smaller $t$ the left padding cuts the field, so fewer times move the output), no $u > t$ moves the output because the layers are causal, and with gaps (say dilations 1, 4) only the times that actually reach $t$ count, not the span between the first and the last. A network that is not causal may also be moved by times after $t$, and those count too.

# %% nbgrader={"grade": false, "grade_id": "ex4_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
class CausalConv1d(nn.Module):
    def __init__(self, channels_in: int, channels_out: int, kernel: int = 2, dilation: int = 1):
        super().__init__()
        self.channels_in = channels_in
        ### BEGIN SOLUTION
        self.pad = (kernel - 1) * dilation
        self.conv = nn.Conv1d(channels_in, channels_out, kernel, dilation=dilation)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        return self.conv(torch.nn.functional.pad(x, (self.pad, 0)))
        ### END SOLUTION


@torch.no_grad()
def measured_reach(net: nn.Module, length: int, t: int) -> int:
    ### BEGIN SOLUTION
    x = torch.randn(1, net.channels_in, length)
    base = net(x)[..., t]
    count = 0
    for u in range(length):
        x2 = x.clone()
        x2[..., u] += 1.0
        count += not torch.equal(net(x2)[..., t], base)
    return count
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex4_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
class _Stack(nn.Sequential):  # a stack of the student's layers, with the channels_in that measured_reach reads
    def __init__(self, dilations, kernel, ch=3):
        super().__init__(*[CausalConv1d(ch, ch, kernel, d) for d in dilations])
        self.channels_in = ch


torch.manual_seed(0)
_net = _Stack((1, 2, 4, 8), 2)
_x = torch.randn(2, 3, 40)
with torch.no_grad():
    _y = _net(_x)
    assert type(_y) is torch.Tensor and _y.shape == (2, 3, 40), (
        f"the output should keep the length: expected (2, 3, 40), got {tuple(getattr(_y, 'shape', ()))}")
    _x2 = _x.clone()
    _x2[..., 25:] = torch.randn(2, 3, 15)
    _y2 = _net(_x2)
    assert type(_y2) is torch.Tensor and _y2.shape == (2, 3, 40), (
        f"the layers should return a tensor of shape (2, 3, 40), got {type(_y2).__name__} "
        f"{tuple(getattr(_y2, 'shape', ()))}")
    assert torch.equal(_y2[..., :25], _y[..., :25]), "outputs before t = 25 moved when inputs from 25 on changed: not causal"
    assert not torch.equal(_y2[..., 25], _y[..., 25]), "the output at t should use the input at t"
def _whole(r):  # an integer-valued number (int, NumPy, float such as 16.0, 0-d tensor) -> int; None otherwise
    if type(r) is torch.Tensor:
        r = r.item() if r.numel() == 1 and r.ndim == 0 else None
    if any(type(r) is _t for _t in (int, float, np.int64, np.int32, np.float64, np.float32)) and not isinstance(r, (bool, np.bool_)) and float(r).is_integer():
        return int(r)
    return None


_r = _whole(measured_reach(_net, 40, 30))
assert _r is not None, "measured_reach should return a whole number (the count of times u that move the output)"
assert _r == 16, f"measured_reach = {_r} for dilations 1, 2, 4, 8 (kernel 2): the formula gives 16"
### BEGIN HIDDEN TESTS
_net3 = _Stack((1, 3), 3)
assert _whole(measured_reach(_net3, 30, 20)) == 1 + 2 * (1 + 3), "kernel 3, dilations 1, 3: the reach should be 9"
assert _whole(measured_reach(_Stack((1, 2, 4), 2), 12, 3)) == 4, "near the start the reach is cut by the zero padding"
assert _whole(measured_reach(_Stack((1, 4), 2), 20, 12)) == 4, (
    "dilations 1, 4 (kernel 2): only t, t-1, t-4, t-5 reach t; count the times that move it, not the span")


class _Centred(nn.Module):  # not causal: the output at t reads t-1, t and t+1
    channels_in = 3

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 3, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


assert _whole(measured_reach(_Centred(), 20, 10)) == 3, (
    "a centred kernel-3 convolution: t-1, t and t+1 move the output at t; try every u, later times included")
with torch.no_grad():
    _layer = CausalConv1d(2, 4, 3, 2)
    assert all(type(p) is nn.Parameter for p in _layer.parameters()), (
        f"CausalConv1d's weights should be nn.Parameters (as nn.Conv1d makes them), got "
        f"{[type(p).__name__ for p in _layer.parameters()]}")
    _w = [p for p in _layer.parameters() if p.ndim == 3][0]
    _b = ([p for p in _layer.parameters() if p.ndim == 1] + [None])[0]  # None: a layer built with bias=False
    _xx = torch.randn(1, 2, 20)
    _ref = torch.nn.functional.conv1d(torch.nn.functional.pad(_xx, (4, 0)), _w, _b, dilation=2)
    _yy = _layer(_xx)
    assert type(_yy) is torch.Tensor and torch.allclose(_yy, _ref, atol=1e-6), (
        "CausalConv1d is not a left-padded dilated convolution")
### END HIDDEN TESTS
print(f"Exercise 4 passes the visible checks (more run when it is graded): causal, same length, "
      f"and the measured reach {_r} matches 1 + (k-1) sum(d) = 16")


# %% [markdown]
# **Exercise 5 (the bigram baseline by hand).** The point is to count the pairs yourself: do not call or read (`??`) the helper that section 7 used for its bigram number (the test switches it off while it runs your function). Write `bigram_bits_per_char(train, test, vocab)`: the held-out bits per character of the add-one smoothed bigram of section 7, $P(b\mid a)=\frac{n(ab)+1}{n(a)+V}$, where $n(ab)$ counts the adjacent pairs $ab$ in `train` only, $n(a)$ counts how often $a$ is the first character of such a pair (every position of `train` but the last), and $V$ = `len(vocab)`. Average $-\log_2 P(b\mid a)$ over the `len(test) - 1` adjacent pairs of `test` (its first character is only conditioned on) and return a number. Then store `bigram_heldout = bigram_bits_per_char(train_text, test_text, vocab)`.

# %% nbgrader={"grade": false, "grade_id": "ex5_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def bigram_bits_per_char(train: str, test: str, vocab: str) -> float:
    ### BEGIN SOLUTION
    pairs, firsts = {}, {}
    for a, b in zip(train, train[1:]):
        pairs[a, b] = pairs.get((a, b), 0) + 1
        firsts[a] = firsts.get(a, 0) + 1
    logs = [math.log2((pairs.get((a, b), 0) + 1) / (firsts.get(a, 0) + len(vocab))) for a, b in zip(test, test[1:])]
    return -sum(logs) / len(logs)
    ### END SOLUTION


### BEGIN SOLUTION
bigram_heldout = bigram_bits_per_char(train_text, test_text, vocab)
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex5_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from helpers.notebook.grading import refusing  # noqa: E402

# while your function runs, bigram_bits refuses under every name it has (an aliased import too)
with refusing([bigram_bits], "bigram_bits_per_char must not call bigram_bits: count the pairs yourself", globals()):
    _small = bigram_bits_per_char("abab", "abba", "ab")


def _number5(r):  # a real number: int, float, NumPy or a 0-d tensor
    if type(r) is torch.Tensor:
        return r.ndim == 0 and not r.is_complex() and r.dtype != torch.bool
    return any(type(r) is _t for _t in (int, float, np.int64, np.int32, np.float64, np.float32)) and not isinstance(r, (bool, np.bool_))


assert _number5(_small), f"bigram_bits_per_char should return a number, got {type(_small).__name__}"
assert _number5(bigram_heldout), "bigram_heldout should be a number"
assert 0 < bigram_heldout < unigram, (
    f"bigram_heldout = {float(bigram_heldout):.3f} should be positive and below the unigram's {unigram:.2f} bits per character")
### BEGIN HIDDEN TESTS
with refusing([bigram_bits], "bigram_bits_per_char must not call bigram_bits: count the pairs yourself", globals()):
    _cases = [("abab", "aab", "ab"), ("abcab", "cab", "abc"), (train_text[:5000], valid_text[:3000], vocab)]
    _got5 = [bigram_bits_per_char(*c) for c in _cases]
assert all(_number5(g) for g in _got5), "bigram_bits_per_char should return a number"
_got5 = [float(g) for g in _got5]
assert abs(_got5[0] - (2 - math.log2(3) / 2)) < 1e-5, "on train 'abab', test 'aab' the answer is (2 - log2(3)/2) bits"
def _reference5(train, test, vocab):  # add-one bigram, written out here (float64)
    _pairs, _firsts = {}, {}
    for _a, _b in zip(train, train[1:]):
        _pairs[_a, _b] = _pairs.get((_a, _b), 0) + 1
        _firsts[_a] = _firsts.get(_a, 0) + 1
    _l = [math.log2((_pairs.get((_a, _b), 0) + 1) / (_firsts.get(_a, 0) + len(vocab))) for _a, _b in zip(test, test[1:])]
    return -sum(_l) / len(_l)


for _c, _g in zip(_cases, _got5):
    assert abs(float(_g) - _reference5(*_c)) < 1e-5, f"bigram_bits_per_char gives {float(_g):.6f} bits on a case, expected another value"
assert abs(float(bigram_heldout) - _reference5(train_text, test_text, vocab)) < 1e-5, f"bigram_heldout = {float(bigram_heldout):.6f}, expected the bigram of section 7"
### END HIDDEN TESTS
print(f"Exercise 5 passes the visible checks (more run when it is graded): {float(bigram_heldout):.2f} bits per character "
      f"on the test block, below the unigram's {unigram:.2f}")
