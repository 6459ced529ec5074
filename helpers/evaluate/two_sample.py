"""Can a classifier tell samples from real sprites? The classifier two-sample test (C2ST).

Lopez-Paz and Oquab (ICLR 2017): train a classifier to separate two sets of images and measure
its accuracy on images it was not trained on. If the sets come from the same distribution no
classifier can beat chance, so the accuracy is 50%; the further above 50%, the more visibly
the samples differ. Unlike the four sprite statistics (helpers.evaluate.sprite_stats), it looks at whole
pictures: whatever gives samples away (speckle, missing outlines, blobs, muddy colours) counts.

``c2st(real, fake, colormap)``: a small CNN on the sprites' RGB, ``folds``-fold cross-validation
(each image is scored once by a classifier that never saw it), repeated ``repeats`` times with
new folds and weights; returns the mean held-out accuracy and its spread over the repeats.
Calibrate it with two real sets (held-out against training sprites): that is what "cannot tell"
looks like at this sample size.

``CHOSEN_TEMPERATURE``: the sampling temperature this test chooses on the validation sprites for
each shipped Pokémon model that draws pixel by pixel (notebook 02 makes the choice and asserts
that it equals this table; ``make bench``'s pokemon_two_sample makes it again), so that later
notebooks draw at it without repeating the test.

``nearest_figure_distance(samples, train, colormap)``: for each sample, the share of figure
pixels (either image's non-background pixels) in which it differs from its nearest training
sprite; a model that copied its training set would score near 0 here while doing well on C2ST.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from helpers.evaluate.sprite_stats import _indices, _rgb255, background_colours
from helpers.core.train import seeded


CHOSEN_TEMPERATURE = {"pixel_lstm512_wd": 1.1, "context2d_96x10": 1.1}


def _rgb(images: np.ndarray | Tensor, colormap: np.ndarray) -> Tensor:
    """(N, H, W) colour indices -> (N, 3, H, W) float RGB in 0..1."""
    rgb = torch.tensor(_rgb255(colormap) / 255, dtype=torch.float32, device="cpu")
    return rgb[torch.as_tensor(_indices(images), device="cpu").long()].permute(0, 3, 1, 2)


def _classifier(side: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(32 * (side // 4) ** 2, 1))


def _train_and_score(x: Tensor, y: Tensor, train: Tensor, test: Tensor, epochs: int, gen: torch.Generator) -> Tensor:
    """Correct (bool) predictions on x[test] of a classifier trained on x[train]."""
    with seeded(int(torch.randint(0, 2**31 - 1, (1,), generator=gen))):  # the caller's RNG stays as it was
        net = _classifier(x.shape[-1])
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    with torch.enable_grad():  # it trains, whatever the caller's grad mode (sampling is often under no_grad)
        for _ in range(epochs):
            order = train[torch.randperm(len(train), generator=gen)]
            for i in range(0, len(order), 32):
                idx = order[i : i + 32]
                xb = x[idx]
                flip = torch.rand(len(idx), generator=gen) < 0.5  # sprites face either way
                xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
                loss = loss_fn(net(xb)[:, 0], y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
    with torch.no_grad():
        return (net(x[test])[:, 0] > 0) == (y[test] > 0.5)


def c2st(real: np.ndarray | Tensor, fake: np.ndarray | Tensor, colormap: np.ndarray, *, folds: int = 5,
         repeats: int = 3, epochs: int = 15, seed: int = 0) -> dict[str, float]:
    """Cross-validated accuracy of a CNN telling ``real`` from ``fake`` sprites (equal numbers):
    {"accuracy": mean over repeats, "spread": standard deviation over repeats, "repeats": n}.
    0.5 = indistinguishable. The caller's random state is not touched (its own generator)."""
    real, fake = _indices(real), _indices(fake)
    if len(real) != len(fake) or len(real) < 2 * folds:
        raise ValueError(f"need equal numbers of real and fake sprites, at least {2 * folds} each; "
                         f"got {len(real)} real and {len(fake)} fake")
    threads = torch.get_num_threads()
    x = torch.cat([_rgb(real, colormap), _rgb(fake, colormap)])
    y = torch.cat([torch.ones(len(real)), torch.zeros(len(fake))])
    gen = torch.Generator().manual_seed(seed)
    accs = []
    try:
        torch.set_num_threads(1)  # a tiny CNN: one thread is as fast, and never fights a busy machine
        for _ in range(repeats):
            order = torch.randperm(len(x), generator=gen)
            correct = torch.zeros(len(x), dtype=torch.bool)
            for k in range(folds):
                test = order[k::folds]
                train = torch.cat([order[j::folds] for j in range(folds) if j != k])
                correct[test] = _train_and_score(x, y, train, test, epochs, gen)
            accs.append(float(correct.float().mean()))
    finally:
        torch.set_num_threads(threads)
    return {"accuracy": float(np.mean(accs)), "spread": float(np.std(accs)), "repeats": repeats}


def nearest_figure_distance(samples: np.ndarray | Tensor, train: np.ndarray | Tensor, colormap: np.ndarray,
                            background: int = 0) -> np.ndarray:
    """(N,) for each sample: min over training sprites (and their mirror images) of the share of
    figure pixels (non-background in either image) whose colours differ. 0 = a copy."""
    s, t = _indices(samples), _indices(train)
    t = np.concatenate([t, t[:, :, ::-1]])
    bg = background_colours(colormap, background)
    s_fig, t_fig = ~bg[s].reshape(len(s), -1), ~bg[t].reshape(len(t), -1)
    s_flat, t_flat = s.reshape(len(s), -1), t.reshape(len(t), -1)
    out = np.empty(len(s))
    for i in range(len(s)):
        union = s_fig[i] | t_fig
        differ = (s_flat[i] != t_flat) & union
        out[i] = (differ.sum(1) / np.maximum(union.sum(1), 1)).min()
    return out
