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
# # 06 · Gaussian mixtures, and the VAE as an infinite mixture
#
# Slides 24-25, right after slide 23's "Warning of Math" sign: before the ELBO (the evidence lower bound on $\log P(x)$, which notebook 07 derives), the lecture explains what kind of distribution a VAE (variational autoencoder, notebook 05) is, by way of a distribution you already know, the Gaussian mixture.
#
# **Learning goals.** After this notebook you can
# 1. sample from a Gaussian mixture in two steps, and fit mixtures with EM (expectation-maximisation, section 2): its two steps as equations (checked against scikit-learn), the EM of the categorical mixture (a mixture whose components draw each pixel from its own categorical distribution, section 4) written out line by line, and the Gaussian E-step written by you (exercise 1);
# 2. see why a VAE is a mixture with **infinitely many** components: a simple $P(z)$ and a flexible $P(x|z)$ make a complex $P(x)$;
# 3. compare models by held-out likelihood on the same discrete data, and see, in a fair comparison (a mixture of per-pixel categoricals against a VAE with the same categorical pixels), that a **distributed code** (a vector of numbers that describe an image together, as a VAE's code does), with the decoder that goes with it, beats a cluster label (one of K) with its table.

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
# %matplotlib inline
import math
import time

import numpy as np
import torch
from matplotlib.figure import Figure
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from threadpoolctl import threadpool_limits

from helpers.core.data import load_digits
from helpers.models.mixtures import (CategoricalMixture, GaussianMixture, categorical_mixture_nll, dequantised_nll,
                              fit_categorical_mixture, fit_em, select_gmm)
from helpers.notebook.plot import bar_table, show_digits
from helpers.notebook import setup

gen = setup(seed=0)
f64 = torch.float64

# %% [markdown]
# ## 1. A Gaussian mixture and how to sample it (slide 24)
#
# $$P(x) = \sum_{m} P(m)\, \mathcal N(x;\ \mu^m, \Sigma^m)$$
#
# To draw $x$: first pick a component $m \sim P(m)$ (a die with unequal sides), then draw $x \sim \mathcal N(\mu^m, \Sigma^m)$. Each sample *belongs to one cluster*: $m$, one of K labels for the K components (written as a vector, a 1-of-K or one-hot code: a 1 at the chosen component, 0 elsewhere), says which one. We call such a model a **GMM** (Gaussian mixture model).

# %%
true = GaussianMixture(
    weights=torch.tensor([0.35, 0.25, 0.25, 0.15], dtype=f64),
    means=torch.tensor([[-2.0, -1.0], [2.0, -1.5], [0.0, 2.0], [3.0, 2.5]], dtype=f64),
    covs=torch.tensor([[[0.8, 0.5], [0.5, 0.6]], [[0.5, -0.2], [-0.2, 0.3]],
                       [[1.2, 0.0], [0.0, 0.25]], [[0.2, 0.0], [0.0, 0.2]]], dtype=f64),
)
x, m = true.sample_components(1500, gen)  # step 1: m ~ P(m); step 2: x ~ N(mu_m, Sigma_m)


def density_panel(ax, gmm: GaussianMixture, points, labels, title: str) -> None:
    g1, g2 = torch.meshgrid(torch.linspace(-5, 6, 200, dtype=f64), torch.linspace(-4, 5, 200, dtype=f64),
                            indexing="xy")
    dens = gmm.log_prob(torch.stack([g1.flatten(), g2.flatten()], 1)).exp().reshape(g1.shape)
    ax.contour(g1.numpy(), g2.numpy(), dens.numpy(), levels=8, colors="k", linewidths=0.7)
    ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", vmin=0, vmax=9, s=4, alpha=0.6)
    ax.set(title=title, xlabel="$x_1$", ylabel="$x_2$", aspect="equal")


fig = Figure(figsize=(11, 4), layout="constrained")
ax1, ax2 = fig.subplots(1, 2)
density_panel(ax1, true, x, m, "1500 samples, coloured by component m, and P(x)")
ax2.bar(range(4), true.weights, color=[f"C{i}" for i in range(4)])
ax2.set(xticks=range(4), xlabel="component m", ylabel="P(m)", title="step 1: the die P(m)")
fig

# %% [markdown]
# ## 2. Fitting a mixture with EM: the equations
#
# Given only the points $x_1, \dots, x_N$ (no colours), maximise $\frac1N\sum_n \log P(x_n)$. Expectation-maximisation alternates two steps (the series' `fit_em` runs them below; section 4 writes EM out line by line for another mixture, and exercise 1 asks you to write this E-step yourself):
#
# - **E-step**: for each point, how responsible is each component? $r_{nm} = P(m \mid x_n) = P(m)\,\mathcal N(x_n;\mu^m,\Sigma^m) / P(x_n)$.
# - **M-step**: re-estimate each component from the points weighted by $r_{nm}$: $N_m = \sum_n r_{nm}$, $P(m) = N_m/N$, $\mu^m = \sum_n r_{nm} x_n / N_m$, $\Sigma^m = \sum_n r_{nm}(x_n-\mu^m)(x_n-\mu^m)^\top / N_m$, plus a tiny constant on its diagonal ($10^{-6}$ here; scikit-learn calls it `reg_covar`) so that no covariance becomes singular when a component shrinks onto a few points.
#
# Each round never lowers the likelihood. We check our EM against scikit-learn's `GaussianMixture`, started from the same initial means (only the means: scikit-learn sets its initial weights and covariances from a k-means run (k-means: a clustering that alternately assigns each point to its nearest mean and moves each mean to the average of its points), `fit_em` uses equal weights and the data covariance for every component).

# %%
# NBVAL_CHECK_OUTPUT
init = x[torch.randperm(len(x), generator=gen)[:4]]
fitted, history = fit_em(x, 4, init_means=init, iters=300, tol=1e-10)
sk = SkGaussianMixture(4, covariance_type="full", means_init=init.numpy(), tol=1e-10, max_iter=300,
                       reg_covar=1e-6, random_state=0).fit(x.numpy())
print(f"EM rounds: {len(history) - 1}; mean log-likelihood: start {history[0]:.4f}, end {history[-1]:.4f}")
print(f"scikit-learn GaussianMixture, same init means: {sk.score(x.numpy()):.4f}")
print(f"true mixture on the same points:               {float(true.log_prob(x).mean()):.4f}")
assert abs(history[-1] - sk.score(x.numpy())) < 1e-4
assert all(b >= a - 1e-9 for a, b in zip(history, history[1:])), "EM must not lower the likelihood"

# %%
fig = Figure(figsize=(11, 4), layout="constrained")
ax1, ax2 = fig.subplots(1, 2)
ax1.plot(history, marker=".")
ax1.set(xlabel="EM round", ylabel="mean log P(x)", title="EM climbs, never falls")
density_panel(ax2, fitted, x, fitted.responsibilities(x).argmax(1), "fitted mixture, points by most responsible m")
fig

# %% [markdown]
# ## 3. The VAE as an infinite mixture (slide 25)
#
# A VAE replaces the die with a **continuous** code: $z \sim P(z) = \mathcal N(0, I)$, and each $z$ selects a distribution $P(x|z)$ whose parameters come from a neural network, the decoder. On slide 25, and in this section, $P(x|z)$ is a Gaussian $\mathcal N(\mu(z), \sigma(z)^2)$; the series' digits VAEs (notebook 05, and the two scored in section 4) use categorical decoders over the 17 grey levels of the 8×8 digits (section 4's data) instead, and the argument below holds for them just the same. So
#
# $$P(x) = \int P(z)\,P(x|z)\,dz$$
#
# is a mixture with one component for every $z$. With a 1-D $z$ and a 1-D $x$ we can compute the integral by **quadrature** on a grid: numerical integration, here the trapezoid rule (`torch.trapezoid`), which adds, for each interval of a fine grid of $z$ values, the average of the integrand at its two ends times the interval's width. The "network" here is a fixed smooth function; the point is the shape of $P(x)$, in particular its **modes**: its peaks, the local maxima of the density, which the cell after next counts.

# %%
def mu_of(z):  # the decoder's mean: a smooth nonlinear function of the code
    return 2.5 * torch.tanh(3 * z) + 0.8 * z


def sigma_of(z):  # and its standard deviation
    return 0.25 + 0.35 * torch.sigmoid(4 * z)


z_grid = torch.linspace(-6, 6, 4001, dtype=f64)
x_grid = torch.linspace(-6, 6, 1201, dtype=f64)
p_z = torch.exp(-0.5 * z_grid**2) / math.sqrt(2 * math.pi)
p_x_given_z = torch.exp(-0.5 * ((x_grid[None] - mu_of(z_grid)[:, None]) / sigma_of(z_grid)[:, None]) ** 2) / (
    math.sqrt(2 * math.pi) * sigma_of(z_grid)[:, None])  # (Z, X)
p_x = torch.trapezoid(p_z[:, None] * p_x_given_z, z_grid, dim=0)  # the infinite mixture

# the same P(x) by sampling: z ~ P(z), then x ~ P(x|z), two steps as in section 1
zs = torch.randn(200_000, generator=gen, dtype=f64)
xs = mu_of(zs) + sigma_of(zs) * torch.randn(200_000, generator=gen, dtype=f64)
finite = GaussianMixture(torch.full((5,), 0.2, dtype=f64), torch.tensor([[-3.0], [-1.5], [0.0], [1.5], [3.0]], dtype=f64),
                         torch.full((5, 1, 1), 0.3, dtype=f64))

# %%
# NBVAL_CHECK_OUTPUT
print(f"integral of P(x) dx = {float(torch.trapezoid(p_x, x_grid)):.4f}  (a proper density)")
peaks = (((p_x[1:-1] > p_x[:-2]) & (p_x[1:-1] > p_x[2:])).nonzero().flatten() + 1).tolist()
print(f"modes of P(x): {len(peaks)}, from a single Gaussian P(z) and a smooth decoder")
for i in peaks:
    print(f"  mode at x = {float(x_grid[i]):+.2f}, height P(x) = {float(p_x[i]):.3f}")
assert len(peaks) == 2 and float(p_x[peaks[0]]) > 1.2 * float(p_x[peaks[1]])

# %%
fig = Figure(figsize=(12, 4), layout="constrained")
ax1, ax2 = fig.subplots(1, 2)
scale = 0.1  # one common factor for the 15 components drawn, small enough that each lies under P(x)
for zi in np.linspace(-2.5, 2.5, 15):
    i = int(torch.argmin((z_grid - zi).abs()))
    ax1.plot(x_grid, p_z[i] * p_x_given_z[i] * scale, color="tab:blue", lw=0.8, alpha=0.8)
    assert (p_z[i] * p_x_given_z[i] * scale <= p_x).all()
ax1.plot(x_grid, p_x, color="k", lw=2.5, label=r"$P(x)=\int P(z)P(x|z)\,dz$ (quadrature)")
ax1.hist(xs.numpy(), bins=150, density=True, range=(-6, 6), color="tab:orange", alpha=0.4,
         label="200k samples: z ~ P(z), x ~ P(x|z)")
ax1.set(xlabel="x", ylabel="density", title=f"Infinite mixture: a Gaussian for every z (15 shown: P(z)P(x|z) × {scale})")
ax1.set_ylim(0, 1.5 * float(p_x.max()))  # head-room, so the legend leaves both modes visible
ax1.legend(fontsize=8, loc="upper left")
ax2.plot(x_grid, finite.log_prob(x_grid[:, None]).exp(), color="k", lw=2.5, label="5-component mixture")
for k in range(5):
    comp = finite.weights[k] * torch.exp(-0.5 * (x_grid - finite.means[k, 0]) ** 2 / 0.3) / math.sqrt(2 * math.pi * 0.3)
    ax2.plot(x_grid, comp, color="tab:blue", lw=0.8)
ax2.set(xlabel="x", title="Finite mixture: 5 Gaussians, 5 bumps")
ax2.legend(fontsize=8)
fig

# %% [markdown]
# Takeaway: the components of the infinite mixture overlap and change smoothly with $z$, so a simple, unimodal $P(z)$ (a density with one **mode**, one peak: a local maximum, as the cell that printed "modes of P(x)" counts them) can make a $P(x)$ with two modes of different heights (positions and heights printed above). The price: $P(x)$ is an integral we can no longer write down, which is what notebook 07 deals with.
#
# ## 4. Distributed representation is better than cluster (measured)
#
# The lecture's claim: a Gaussian mixture describes each image by **one** cluster label, a VAE by a **vector** of continuous codes. Which describes held-out digits better? Likelihood answers that, if every model is scored on the same thing: the test split of the 8×8 digits, 17 grey levels per pixel, in **nats per image** (lower is better; a **nat** is the unit of a natural logarithm, $-\ln P(x)$, as a bit is that of $-\log_2 P(x)$): the test **NLL**, the negative log-likelihood $-\log P(x)$ averaged over the test images.
#
# **Making continuous densities comparable.** The table below also scores models of the earlier notebooks, introduced just before it: two digits VAEs of notebook 05, and an **autoregressive** PixelCNN (autoregressive: it draws the pixels one at a time, each given the ones before it, and scores an image by the chain rule, as notebook 01 does), the class of notebook 02 trained on the digits (by `make checkpoints`, like the VAEs). The autoregressive model gives probabilities of the discrete images directly. The VAEs do not: their $\log P(x)$ is an integral over the code, estimated from 1000 importance samples (codes drawn from the encoder's distribution for that image instead of from the prior $P(z)$: a VAE also has an **encoder**, a network that maps an image to a Gaussian over the codes that could have produced it, notebook 05; each weighted by how much likelier it is under the prior and the decoder than under the encoder), which is a bound from below in expectation (notebook 05 §7; notebook 07 explains why), so their NLLs are **upper bounds** on their true NLLs in expectation, by the gap of that bound; one seeded estimate also carries Monte Carlo noise (the cell that scores them below asserts that it agrees with the training command's estimate, from another seed, within 0.1 nats). A Gaussian mixture is a density over $\mathbb R^{64}$. We fit it to *dequantised* training images $x + u$, $u \sim \mathcal U[0,1)^{64}$; then $P(x) := \int_{[0,1)^{64}} p(x+u)\,du$, the mass of the bin of $x$ (bin width 1 grey level, so no change of units), gives every discrete image a probability. These do not sum to 1: summed over all $17^{64}$ images they give $Z$, the mass $p$ puts on the box $[0, 17)^{64}$, and a Gaussian also puts mass outside it (below 0 or at 17 and above). So $P$ is a *sub*-probability: the normalised $P(x)/Z$ would score every image $-\log Z$ nats better. The cell below estimates $Z$ by sampling. By Jensen's inequality (the log of a mean is at least the mean of the log, because log is concave) $\log P(x) \ge \mathbb E_u[\log p(x+u)]$. We report $-\mathbb E_u[\log p(x+u)]$ (8 draws of $u$): an **upper bound** on the mixture's discrete NLL too, by this Jensen gap. So the GMM's and the VAEs' numbers are both upper bounds, each too high by its own gap, and the GMM's is too high by $-\log Z$ more; the cell below measures the Jensen gap and $-\log Z$ of the best mixture, to compare with the distance between the models in the table. The number of components K, the covariance type (full or diagonal) and the regulariser (a constant, scikit-learn's `reg_covar`, added to the diagonal of every covariance so that none becomes singular) are chosen on the validation split from a grid of 20 fits, K in {1, 2, 5, 10, 20} × {full, diagonal} × `reg_covar` in {0.1, 1.0} (printed below): `helpers.models.mixtures.select_gmm`.

# %%
digits = load_digits()
tr, va, te = digits.split()
start = time.perf_counter()
gmm_results = select_gmm(tr, va)  # helpers/models/mixtures.py: fit on x + u, score valid, sort
best_valid, best_cov, best_k, best_reg, best_gmm = gmm_results[0]
DRAWS = 8  # draws of u per test image for -E_u[log p(x + u)]
gmm_test = dequantised_nll(best_gmm, te, draws=DRAWS)
grid = {"K": sorted({r[2] for r in gmm_results}), "covariance": sorted({r[1] for r in gmm_results}),
        "reg_covar": sorted({r[3] for r in gmm_results})}
print(f"{len(gmm_results)} mixtures fitted in {time.perf_counter() - start:.0f} s, grid {grid}")
print(f"chosen on the validation split: {best_cov} covariance, K={best_k}, reg_covar={best_reg}; "
      f"test NLL from {DRAWS} draws of u per image")
assert grid == {"K": [1, 2, 5, 10, 20], "covariance": ["diag", "full"], "reg_covar": [0.1, 1.0]}
assert len(gmm_results) == 5 * 2 * 2

# the Jensen gap of the best mixture on the test digits: log of the mean of p(x + u) over S draws of u
# minus the mean of log p(x + u). The log of a finite mean is itself a bound from below on log P(x)
# (Jensen again), so each estimate errs low; two values of S show how much it still grows.
_x_te = te.reshape(len(te), -1).double().numpy()
_r = np.random.default_rng(7)
# one BLAS thread (BLAS: the linear-algebra library under NumPy's and scikit-learn's matrix products)
with threadpool_limits(1):
    _logp = np.stack([best_gmm.score_samples(_x_te + _r.random(_x_te.shape)) for _ in range(200)])  # (S, 447)
# logsumexp(a) = log(sum(exp(a))), computed without overflow; minus log S it is the log of the mean of p(x+u) over S draws of u
jensen_gap = {S: float(np.mean(torch.logsumexp(torch.from_numpy(_logp[:S]), 0).numpy() - math.log(S)
                               - _logp[:S].mean(0))) for S in (50, 200)}
print(f"Jensen gap of the best GMM, nats per test image: {jensen_gap[50]:.2f} (50 draws of u), "
      f"{jensen_gap[200]:.2f} (200 draws)")
assert 0 < jensen_gap[50] < jensen_gap[200] < 5 and jensen_gap[200] - jensen_gap[50] < 0.5  # grows by a fraction of a nat

# Z, the mass the best mixture puts on the box [0, 17)^64, by sampling: the share of 200,000 draws y ~ p inside it
# (each draw: a component k from the weights, then mu_k + L_k eps with eps ~ N(0, I) and L_k the Cholesky factor of
# Sigma_k, L L^T = Sigma: the two steps of section 1, which Exercise 2 writes in torch)
_r = np.random.default_rng(11)
_y = np.concatenate([best_gmm.means_[k] + _r.standard_normal((n, 64)) @ np.linalg.cholesky(best_gmm.covariances_[k]).T
                     for k, n in enumerate(_r.multinomial(200_000, best_gmm.weights_))])  # (200000, 64)
_inside = (_y >= 0) & (_y < 17)
gmm_draws_inside = _y[_inside.all(1)]  # draws from p restricted to the box: floor(y) is a draw from P(x) / Z
log_z = math.log(len(gmm_draws_inside) / len(_y))
print(f"draws of the best GMM with every pixel in [0, 17): {len(gmm_draws_inside)} of {len(_y):,}, "
      f"so log Z = {log_z:.1f} (-log Z = {-log_z:.1f} nats per image)")
print(f"pixel values outside [0, 17): {100 * (1 - _inside.mean()):.1f}% ({100 * (_y < 0).mean():.1f}% below 0, "
      f"{100 * (_y >= 17).mean():.1f}% at 17 or above); draws with at least one: {100 * (1 - _inside.all(1).mean()):.2f}%")
assert 70 < len(gmm_draws_inside) < 150 and -8.5 < log_z < -6.5, "Z should be small but estimable from 200,000 draws"
assert 0.12 < 1 - _inside.mean() < 0.2 and (_y < 0).mean() > 2 * (_y >= 17).mean() and _inside.all(1).mean() < 0.002

# %% [markdown]
# **The fair cluster model.** A Gaussian on dequantised pixels differs from the VAE in two ways at once: its code is a cluster label, **and** its pixels are continuous and correlated Gaussians instead of the VAE decoder's 17-way categoricals. To change only the code, give each cluster the VAE's kind of decoder: a categorical over the 17 grey levels for every pixel, the pixels independent given the cluster,
#
# $$P(x) = \sum_{m=1}^K P(m) \prod_{d=1}^{64} \pi_{m,d}(x_d).$$
#
# This is a discrete probability, so no dequantisation. EM is the same two steps as in section 2:
#
# - **E-step**: $r_{nm} = P(m)\prod_d \pi_{m,d}(x_{nd}) \,/\, P(x_n)$, computed in logs;
# - **M-step**: $P(m) = N_m/N$ and $\pi_{m,d}(\ell) = \big(\sum_n r_{nm}[x_{nd}=\ell] + \alpha\big) / (N_m + 17\alpha)$: weighted counts of each grey level, with $\alpha = 0.5$ pseudo-counts added to every count (exercise 3 asks what they are for).
#
# Written out, and trained for 45 rounds with K = 10 clusters. The two sums use `torch.einsum`, which writes a sum of products by index letters: each input gets one letter per axis, the letters after `->` are the axes of the result, and every letter missing there is summed over. So `"ndl,kdl->nk"` multiplies the one-hot code of image n (1 at pixel d, level l = its grey level) by $\log \pi_{k,d}(l)$ and sums over d and l, giving $\sum_d \log \pi_{k,d}(x_{nd})$ for every image n and cluster k; `"nk,ndl->kdl"` sums $r_{nk}$ times that one-hot code over the images n, giving the weighted count of level l at pixel d in cluster k.

# %%
LEVELS, K_CAT, ALPHA = 17, 10, 0.5
x_tr = tr.reshape(len(tr), -1)  # one row of 64 integer grey levels 0..16 per training digit


def cat_log_joint(weights, probs, x):
    """E-step's numerator in logs: log P(m) + sum_d log pi_{m,d}(x_d), shape (N, K)."""
    onehot = torch.nn.functional.one_hot(x.reshape(len(x), -1), LEVELS).to(f64)  # (N, 64, 17)
    return weights.log() + torch.einsum("ndl,kdl->nk", onehot, probs.log())


def cat_m_step(resp, x, alpha):
    """Weighted counts of every grey level at every pixel, per cluster, plus alpha pseudo-counts."""
    onehot = torch.nn.functional.one_hot(x, LEVELS).to(f64)
    counts = torch.einsum("nk,ndl->kdl", resp, onehot) + alpha  # (K, 64, 17)
    return resp.sum(0) / len(x), counts / counts.sum(-1, keepdim=True)


g_cat = torch.Generator().manual_seed(0)
resp = torch.rand(len(x_tr), K_CAT, generator=g_cat, dtype=f64)  # start: random responsibilities
resp = resp / resp.sum(1, keepdim=True)
for _ in range(45):
    cat_weights, cat_probs = cat_m_step(resp, x_tr, ALPHA)  # M-step
    log_joint = cat_log_joint(cat_weights, cat_probs, x_tr)  # E-step
    resp = log_joint.softmax(dim=1)  # exp(log_joint) / its sum over k: P(m, x_n) / P(x_n), computed without overflow
# logsumexp over k of log P(m = k, x): log P(x)
ours_test = torch.logsumexp(cat_log_joint(cat_weights, cat_probs, te), dim=1)  # log P(x) of the test digits

# %% [markdown]
# The notebook checks itself: `helpers.models.mixtures.fit_categorical_mixture` (tested to never lower its objective) from the same random start must give the same mixture, and the same log-probabilities of the test digits.

# %%
# NBVAL_CHECK_OUTPUT
ref_mix, _ = fit_categorical_mixture(tr, K_CAT, iters=45, alpha=ALPHA, levels=LEVELS, tol=-math.inf,
                                     generator=torch.Generator().manual_seed(0))
ref_test = ref_mix.log_prob(te)
print(f"test log P(x), mean over {len(te)} digits: notebook {float(ours_test.mean()):.6f}, "
      f"helpers {float(ref_test.mean()):.6f}")
assert torch.allclose(ours_test, ref_test, atol=1e-5) and torch.allclose(cat_probs, ref_mix.probs, atol=1e-8)

# %% [markdown]
# For the table, the number of clusters K is chosen on the validation split, from 1, 5, 10, 20 and 40: `helpers.models.mixtures.categorical_mixture_nll` (the benchmark behind `make bench`, `benchmarks/run.py`, calls the same function).

# %%
start = time.perf_counter()
cat_nll, cat_k = categorical_mixture_nll(tr, va, te, ks=(1, 5, 10, 20, 40))
print(f"5 categorical mixtures fitted in {time.perf_counter() - start:.0f} s")

# %% [markdown]
# The other models come from checkpoints trained by `make checkpoints`: the two digits VAEs of notebook 05, one with a plain decoder (an MLP: fully connected layers with a nonlinearity between them) and one whose decoder is itself autoregressive (MADE, the masked autoencoder for distribution estimation, described below), their likelihoods estimated with $k=1000$ importance samples (the importance-weighted bound, **IWAE** in the table: notebook 05 computes it, notebook 07 explains why it is a bound from below), and an autoregressive model over the 64 pixels.
#
# **The MADE decoder** (Germain et al., 2015; notebook 05 §7 scores it). Given the code $z$, it does not treat the 64 pixels as independent: $P(x|z) = \prod_i P(x_i \mid x_{<i}, z)$ in raster order (row by row from the top, each row left to right), like notebook 01's models, but all 64 conditionals come out of **one** pass of an MLP whose weight matrices are multiplied by fixed 0/1 masks. Each unit gets a number; the masks let a hidden unit listen only to units with a number no larger than its own, and the output for pixel $i$ only to units with a number strictly smaller than $i$, so that output cannot depend on the pixels $\ge i$. The demonstration below changes one pixel of a test digit and lists which pixels' outputs move: only pixels after it.
#
# **The digits PixelCNN** is notebook 02's gated PixelCNN (§9 builds it: masked convolutions that see only the pixels above and to the left, organised in two "stacks" and with a multiplicative "gate" in each layer), the same class with its own size, trained on the 8×8 digits with 17 grey levels instead of sprites; its likelihood is exact, by the chain rule.

# %%
# NBVAL_CHECK_OUTPUT
from helpers.registry import get  # noqa: E402
from helpers.models.pixel_cnn import PixelCNN  # noqa: E402

made_vae, _ = get("digits_vae_made")
x_a = te[:1].clone()
x_b = x_a.clone()
x_b[0, 3, 5] = 16 - x_b[0, 3, 5]  # change pixel 3 * 8 + 5 = 29 only
z_a = torch.zeros(1, made_vae.cfg.latent)
with torch.no_grad():
    moved = (made_vae.decoder.eval()(z_a, x_a) - made_vae.decoder(z_a, x_b)).abs().amax(-1).flatten() > 0
print(f"pixel 29 changed; the outputs that move: pixels {int(moved.nonzero().min())}..{int(moved.nonzero().max())} "
      f"({int(moved.sum())} of 64), none of pixels 0..29")
assert not moved[:30].any() and moved[30:].any()
ar_model, _ = get("context2d_digits")
print(f"digits PixelCNN: {type(ar_model).__module__}.{type(ar_model).__name__} (the class of notebook 02 §9), "
      f"{ar_model.cfg.layers} gated layers of {ar_model.cfg.channels} channels, "
      f"{sum(p.numel() for p in ar_model.parameters()):,} parameters")
assert isinstance(ar_model, PixelCNN)

# %%
from helpers.models.vae import iwae_log_likelihood  # noqa: E402

vae_nll = {}
for name in ("digits_vae", "digits_vae_made"):
    vae, info = get(name)
    vae_nll[name] = -float(iwae_log_likelihood(vae, te, 1000, torch.Generator().manual_seed(1)).mean())
    recorded = info["metrics"]["test_iwae1000_nats"]  # the training command's estimate, another seed
    assert abs(vae_nll[name] - recorded) < 0.1, f"{name}: {vae_nll[name]:.2f} nats here, {recorded:.2f} recorded"
assert vae_nll["digits_vae_made"] <= 90, "the series' target for the MADE-decoder digits VAE is at most 90 nats per image"
with torch.no_grad():
    ar_nll = float(-ar_model.log_prob(te).mean())  # log P(x) by the chain rule, nats per image

# %%
# NBVAL_CHECK_OUTPUT
rows = [
    (f"GMM, best of {len(gmm_results)} ({best_cov}, K={best_k}, reg_covar={best_reg})", gmm_test),
    ("GMM, K=1 (one Gaussian, full, reg_covar=0.1)",
     dequantised_nll(next(r[4] for r in gmm_results if r[1:4] == ("full", 1, 0.1)), te, draws=DRAWS)),
    (f"categorical mixture, K={cat_k} (17 levels per pixel)", cat_nll),
    (f"VAE, MLP decoder, {get('digits_vae')[0].cfg.latent}-D code (IWAE k=1000)", vae_nll["digits_vae"]),
    (f"VAE, MADE decoder, {made_vae.cfg.latent}-D code (IWAE k=1000)", vae_nll["digits_vae_made"]),
    ("autoregressive (gated PixelCNN over 64 pixels)", ar_nll),
]
print(f"{'model':48} {'test NLL (nats / image)':>24}")
for name, v in rows:
    print(f"{name:48} {v:24.1f}")
print(f"fair comparison, the same categorical pixels: cluster label {cat_nll:.1f}, 8-D code {vae_nll['digits_vae']:.1f}; "
      f"the distributed code is {cat_nll - vae_nll['digits_vae']:.1f} nats per image better")
assert max(vae_nll.values()) < gmm_test - 20, "the VAE should beat the best GMM by a clear margin"
assert vae_nll["digits_vae"] < cat_nll < gmm_test, "the categorical mixture sits between the GMM and the VAE"
assert 28 < gmm_test - cat_nll < 34 and 0 < rows[1][1] - gmm_test < 2  # the text: about 31 nats; under 2

# %% tags=["readme"]
bar_table([r[0] for r in rows], [r[1] for r in rows], xlabel="test NLL, nats per image (lower is better)",
          title=f"Digits 8×8, 17 levels, {len(te)} test images")

# %% [markdown]
# Read the table in two steps. The best Gaussian mixture (top row, the validation split's choice among the mixtures fitted above) barely improves on one Gaussian (second row): more Gaussian components help little here. The categorical mixture (third row) is about 31 nats better than the best Gaussian mixture, but it changes two things at once, the pixel model and the number of clusters (validation chose its K), so this table does not say how much each is worth; more Gaussian clusters alone gained under 2 nats. The fair comparison is the third row against the fourth: the same categorical pixels, independent given the code. The code differs, one of K labels against an 8-D continuous vector, and with it what maps a code to pixel probabilities and how it is fitted (a table of grey-level probabilities per cluster, fitted by EM, against an MLP trained as a VAE and scored by its importance-weighted bound, which understates its likelihood in expectation). The distributed code still wins, by the margin printed above the chart; that margin belongs to the code together with its decoder, not to the code alone.
#
# What the cluster models do with their components, top row the Gaussian mixture, bottom row the categorical mixture trained above: each component is one blurry "average digit" (for the categorical mixture, the expected grey level of each pixel). A sample picks one cluster and adds noise around its average: correlated Gaussian noise for the GMM, pixel-by-pixel independent levels for the categorical mixture, which is why its samples look speckled. A VAE decodes a *vector* of codes into a whole image instead.

# %%
means = torch.from_numpy(best_gmm.means_.reshape(-1, 8, 8)).clamp(0, 16)
cat_means = (cat_probs * torch.arange(LEVELS, dtype=f64)).sum(-1).reshape(-1, 8, 8)  # E[x_d | m]
cat_mix = CategoricalMixture(cat_weights, cat_probs)  # the notebook's mixture, to sample from
fig = Figure(figsize=(11, 3.6), layout="constrained")
(a1, a2), (a3, a4) = fig.subplots(2, 2)
show_digits(means[:16], ncols=8, ax=a1, title=f"the {min(16, best_k)} component means of the best GMM")
samples = torch.from_numpy(best_gmm.sample(16)[0].reshape(-1, 8, 8)).clamp(0, 16)
show_digits(samples, ncols=8, ax=a2, title="samples from it (clipped to 0..16)")
show_digits(cat_means, ncols=8, ax=a3, title=f"the {K_CAT} cluster means of the categorical mixture")
show_digits(cat_mix.sample(16, generator=torch.Generator().manual_seed(3)).reshape(-1, 8, 8), ncols=8, ax=a4,
            title="samples from it")
fig

# %% [markdown]
# ### Likelihood is not sample quality
#
# The GMM scores about 131 nats per image, the 8-D VAE about 93: by likelihood the VAE is far better. Do its samples look better? Put both side by side, and judge 500 samples of each with notebook 04's two judges (`helpers.models.autoencoders.image_quality`): **confidence**, the mean top-class probability of a logistic-regression digit classifier trained on the training digits, and **nearest_train**, the mean distance to the nearest training digit (pixels scaled to [0, 1]). Each model draws with its pixel noise included. The VAE draws $z \sim \mathcal N(0, I)$ and then every pixel from its categorical: a draw from its $P(x)$. The GMM's judged samples are **not** draws from the $P(x)$ it was scored with: a continuous sample $y \sim p$ becomes $x = \lfloor y \rfloor$, **clipped** to 0..16. Almost every draw has some pixel outside $[0, 17)$ (the share was printed in section 4's selection cell), and clipping moves those values onto levels 0 and 16; most of them are below 0 (both shares printed there), so clipping sets the negative noise on background pixels to 0. Noise of a level or more above 0 stays, as the light-grey speckle around the digits below shows. The draws from $P(x)/Z$ itself are the draws that land inside the box, $\lfloor y \rfloor$ of those; only about 0.05% do (printed there), so the cell judges the ones among section 4's 200,000 draws as a fifth row. To see what the clipping itself does, it also judges the same 500 GMM draws floored but **not** clipped (a fourth row).

# %%
# NBVAL_CHECK_OUTPUT
from helpers.evaluate.digits import classes_covered, digit_classifier  # noqa: E402
from helpers.models.autoencoders import image_quality  # noqa: E402

clf = digit_classifier(tr, digits.split_labels()[0])
vae8, _ = get("digits_vae")
gmm_floor = torch.from_numpy(best_gmm.sample(500)[0].reshape(-1, 8, 8)).floor()  # x = floor(y), y ~ p
judged = {
    "test digits (real)": te,
    "GMM samples": gmm_floor.clamp(0, 16),  # x = floor(y), clipped to 0..16
    "VAE (8-D) samples": vae8.sample(500, generator=torch.Generator().manual_seed(2)),
}
quality = {k: image_quality(v.float(), tr, clf) for k, v in judged.items()}
print(f"{'':20} {'test NLL':>9} {'confidence':>11} {'nearest_train':>14}")
for (k, q), nll in zip(quality.items(), ["", f"{gmm_test:.1f}", f"{vae_nll['digits_vae']:.1f}"]):
    print(f"{k:20} {nll:>9} {q['confidence']:11.2f} {q['nearest_train']:14.2f}")
unclipped = image_quality(gmm_floor.float(), tr, clf)  # the same 500 GMM draws, floored but not clipped
print(f"{'GMM, not clipped':20} {'':>9} {unclipped['confidence']:11.2f} {unclipped['nearest_train']:14.2f}"
      f"   (the same 500 draws, values below 0 and above 16 kept)")
exact = image_quality(torch.from_numpy(np.floor(gmm_draws_inside)).reshape(-1, 8, 8).float(), tr, clf)
print(f"{'GMM, P(x)/Z draws':20} {'':>9} {exact['confidence']:11.2f} {exact['nearest_train']:14.2f}"
      f"   ({len(gmm_draws_inside)} draws inside the box, no clipping)")
nll_gap = gmm_test - vae_nll["digits_vae"]
print(f"the VAE is {nll_gap:.2f} nats per image better by likelihood; the GMM's Jensen gap ({jensen_gap[200]:.2f}) and "
      f"-log Z ({-log_z:.2f}) account for {jensen_gap[200] - log_z:.2f} of them, leaving {nll_gap - jensen_gap[200] + log_z:.2f}")
# classes_covered: the classifier's top label for every sample, and the number of classes that get >= 2% of them
covered = {k: classes_covered(clf, v.float()) for k, v in judged.items() if k != "test digits (real)"}
for k, (n_cls, hist) in covered.items():
    print(f"{k}: the classifier puts them in {n_cls} of 10 classes (>= 2% each), "
          f"{100 * hist.min():.1f}% to {100 * hist.max():.1f}% per class")
assert all(n_cls == 10 for n_cls, _ in covered.values())
assert jensen_gap[200] < nll_gap / 5 and 8 < jensen_gap[200] - log_z < 12 and 22 < nll_gap - jensen_gap[200] + log_z < 32
assert 30 < gmm_test - vae_nll["digits_vae"] < 45 and 125 < gmm_test < 137 and 88 < vae_nll["digits_vae"] < 98
assert quality["GMM samples"]["confidence"] > quality["VAE (8-D) samples"]["confidence"] + 0.04
assert quality["GMM samples"]["nearest_train"] < quality["VAE (8-D) samples"]["nearest_train"] - 0.1
assert exact["nearest_train"] < quality["VAE (8-D) samples"]["nearest_train"] - 0.1
assert exact["confidence"] < quality["VAE (8-D) samples"]["confidence"] < quality["GMM samples"]["confidence"]
# clipping brings the GMM draws closer to the training digits, but does not raise the classifier's confidence
assert unclipped["nearest_train"] > quality["GMM samples"]["nearest_train"] + 0.08
assert unclipped["nearest_train"] < quality["VAE (8-D) samples"]["nearest_train"] - 0.08
assert unclipped["confidence"] > quality["GMM samples"]["confidence"] - 0.01
assert unclipped["confidence"] > quality["VAE (8-D) samples"]["confidence"] + 0.04

# %%
fig = Figure(figsize=(11, 2.2), layout="constrained")
a1, a2 = fig.subplots(1, 2)
pick = torch.randperm(500, generator=torch.Generator().manual_seed(0))[:16]  # scikit-learn sorts by component
show_digits(judged["GMM samples"][pick], ncols=8, ax=a1, title=f"16 of the GMM samples, floor and clip (test NLL {gmm_test:.0f} nats)")
show_digits(judged["VAE (8-D) samples"][pick], ncols=8, ax=a2,
            title=f"16 of the VAE samples (test NLL {vae_nll['digits_vae']:.0f} nats)")
fig

# %% [markdown]
# By likelihood the GMM is about 38 nats per image worse than the VAE. Its floor-and-clip samples are the *more* digit-like by both judges (higher confidence, closer to the training digits). The clipping earns part of the lead in distance and none of the lead in confidence: the same draws left unclipped are farther from the training digits (1.54 against 1.38) but still closer than the VAE's samples (1.70), and the classifier is, if anything, slightly more confident about them (0.76 against 0.73). Its exact draws from $P(x)/Z$, only about a hundred, are still closer to the training digits than the VAE's samples, but the classifier is less confident about them than about the VAE's (all numbers printed above); these are not the same draws, but the 0.05% that happened to land with all 64 pixels inside $[0, 17)$, a strongly selected subset, so this row does not say what clipping does. The likelihood gap is not an artefact of the bounds: the corrections measured above, the GMM's Jensen gap and $-\log Z$, account for about 10.3 of the 37.6 nats, leaving about 27.3 (printed above); the Jensen-gap estimate errs low, but it grew by only a fraction of a nat from 50 to 200 draws (both printed), far from what closing the rest would take; and the VAE's number is itself an upper bound, whose correction would only widen the difference. This is not a paradox either. Likelihood rewards putting some probability on **every** test digit, including the odd ones; the sample judges look only at what a model draws. The VAE's pixel noise, drawn independently given $z$, breaks up its strokes: the VAE samples above have holes and ragged edges inside their strokes, on mostly clean backgrounds. The GMM has only 5 components, each with a full covariance (its noise is correlated across pixels), and the classifier sorts its 500 samples into all 10 digit classes, as it does the VAE's (the range of the shares per class is printed above): 5 components are not 5 kinds of digit, since at least some components' samples fall into more than one class. Theis, van den Oord and Bethge (ICLR 2016, "A note on the evaluation of generative models") show that the two are largely independent: a good likelihood does not imply good samples, nor the reverse, so a model must be judged by the measure that matches its use. This series reports both.

# %% [markdown]
# ## Summary
#
# - A Gaussian mixture samples in two steps, $m \sim P(m)$ then $x \sim \mathcal N(\mu^m, \Sigma^m)$; EM fits it by alternating responsibilities and weighted re-estimates, and agrees with scikit-learn.
# - A VAE is the same recipe with a continuous $m$: $z \sim \mathcal N(0, I)$, $x \sim P(x|z)$, an infinite mixture whose $P(x)$ can be far more complex than its parts.
# - On held-out digits, scored on the same categorical pixels, the distributed code with its VAE decoder beats the cluster label with its per-cluster table (the margin belongs to code and decoder together); a Gaussian density on dequantised pixels is far behind both, and modelling pixels one after another (notebooks 01-02) wins again.
# - Likelihood and sample quality are different questions: the GMM, far behind the VAE in nats, draws samples closer to the training digits (floored, clipped or not, and its exact draws alike); the classifier is more confident about its floored draws, clipped or not, than about the VAE's samples, and less confident about its exact draws than about the VAE's (Theis et al., 2016).
# - A Gaussian density on dequantised pixels puts mass outside the range of grey levels: its discrete $P(x)$ sums to $Z < 1$, which costs it $-\log Z$ nats per image.
#
# ## Exercises
#
# **Exercise 1.** Write the E-step yourself. The series' library has its own version (`responsibilities` in `helpers/models/mixtures.py`, which `fit_em` uses); the exercise is to write it yourself first, a rehearsal of section 2's E-step, before you read that one. `e_step(mixture, x)` returns the responsibilities $r_{nm} = P(m)\,\mathcal N(x_n;\mu^m,\Sigma^m) / \sum_{m'} P(m')\,\mathcal N(x_n;\mu^{m'},\Sigma^{m'})$, a tensor of shape `(N, K)`, for any mixture with the attributes `weights` (K,), `means` (K, D) and `covs` (K, D, D), **without** any method of the mixture (the library's class has some, such as `responsibilities` and `log_prob`; the object you get may have none): use only its `weights`, `means` and `covs`. For the Gaussian densities use `torch.distributions.MultivariateNormal(mean, covariance_matrix)`: its `.log_prob(x)` gives $\log \mathcal N(x_n;\mu,\Sigma)$ for every row of `x`, shape `(N,)`; stay in logs until the end. Then store `resp = e_step(fitted, x)`, shape `(1500, 4)`.

# %% nbgrader={"grade": false, "grade_id": "ex1_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
from torch.distributions import MultivariateNormal


def e_step(mixture, x):
    log_joint = torch.stack([mixture.weights[k].log() + MultivariateNormal(mixture.means[k], mixture.covs[k]).log_prob(x)
                             for k in range(len(mixture.weights))], dim=1)
    return (log_joint - torch.logsumexp(log_joint, dim=1, keepdim=True)).exp()


resp = e_step(fitted, x)
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex1_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
assert type(resp) is torch.Tensor and resp.is_floating_point(), f"resp should be a float tensor, got {type(resp).__name__}"
assert resp.shape == (1500, 4), f"resp should have shape (1500, 4), got {tuple(resp.shape)}"
assert torch.allclose(resp.sum(1), torch.ones(1500, dtype=resp.dtype), atol=1e-6), \
    "each row of resp should sum to 1: divide by the sum over components"
# `fitted` is a converged EM fit: an M-step from the right responsibilities gives it back
from helpers.models.mixtures import m_step as _m_step  # noqa: E402

_again = _m_step(x, resp.double().detach())
assert torch.allclose(_again.weights, fitted.weights, atol=1e-4), "an M-step from your resp changes the weights P(m)"
assert torch.allclose(_again.means, fitted.means, atol=1e-3), \
    "an M-step from your resp does not give back the fitted mixture: include the weights P(m), normalise per point"
print("Exercise 1 passes the visible checks (more run when it is graded)")
### BEGIN HIDDEN TESTS
import types  # noqa: E402

assert torch.allclose(resp.double(), fitted.responsibilities(x), atol=1e-6), \
    "resp differs from the fitted mixture's responsibilities P(m | x_n)"
# a bare 3-D mixture with 3 components: only weights, means, covs (no methods to call)
_mix = types.SimpleNamespace(
    weights=torch.tensor([0.6, 0.3, 0.1], dtype=f64),
    means=torch.tensor([[1.0, 0.0, -1.0], [-1.0, 0.5, 0.0], [0.0, -1.0, 1.0]], dtype=f64),
    covs=torch.tensor([[[1.0, 0.6, 0.0], [0.6, 0.5, 0.1], [0.0, 0.1, 0.3]], [[0.4, -0.3, 0.0], [-0.3, 0.9, 0.2], [0.0, 0.2, 0.2]],
                       [[0.2, 0.0, 0.1], [0.0, 0.3, 0.0], [0.1, 0.0, 0.6]]], dtype=f64))
_xs = torch.randn(200, 3, generator=torch.Generator().manual_seed(2), dtype=f64) * 2
_ref = GaussianMixture(_mix.weights, _mix.means, _mix.covs).responsibilities(_xs)
_ref_fit = fitted.responsibilities(x)
from helpers.notebook.grading import refusing  # noqa: E402

# while e_step runs, the library's GaussianMixture methods refuse to work (restored afterwards)
with refusing([GaussianMixture.responsibilities, GaussianMixture.log_prob, GaussianMixture.component_log_probs],
              "e_step must be written without the mixture's own responsibilities, log_prob or component_log_probs"):
    try:
        _r = e_step(_mix, _xs)
    except AttributeError as _err:
        raise AssertionError(f"e_step on a mixture that has only weights, means and covs: {_err}; "
                             "compute the densities yourself") from None
    _r_fit = e_step(fitted, x)
assert type(_r_fit) is torch.Tensor and type(_r) is torch.Tensor, (
    f"e_step should return a torch.Tensor, got {type(_r_fit).__name__} and {type(_r).__name__}")
assert torch.allclose(_r_fit.double(), _ref_fit, atol=1e-6), \
    "e_step(fitted, x) differs from the fitted mixture's responsibilities P(m | x_n)"
assert _r.shape == (200, 3), "e_step on a 3-component, 3-D mixture: want shape (200, 3)"
assert torch.allclose(_r.double(), _ref, atol=1e-6), "e_step on another (3-D, 3-component) mixture gives wrong P(m | x_n)"
print("Exercise 1: the hidden checks pass too")
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 2.** Sample from a Gaussian mixture in two steps yourself, as section 1 describes: first each point's component $m \sim P(m)$ (section 1's die; `torch.multinomial` rolls it, and a die can land on the same side twice), then the point from that component's Gaussian, $x = \mu^m + L^m \varepsilon$ with $\varepsilon \sim \mathcal N(0, I)$ and $L^m$ the Cholesky factor of $\Sigma^m$ ($L L^\top = \Sigma$; section 4's cell that estimates $Z$ draws this way in NumPy). Do it **without** any method of the mixture, using only its `weights`, `means` and `covs`: the library's class has its own sampler (`sample_components`, section 1); write yours first, and return what it does not: the component of each point as a **one-hot** row (a 1 at the drawn component, 0 elsewhere: an `(n, K)` integer matrix), where the library returns the integer labels $m$. Write `sample_two_steps(mixture, n, generator)` for any mixture with the attributes `weights` (K,), `means` (K, D) and `covs` (K, D, D). Rules:
# - every random draw comes from `generator` (the same seed gives the same draw; the global random state is left alone);
# - return `(x, onehot)`: `x` of shape `(n, D)` in the mixture's dtype, and `onehot` of shape `(n, K)` of an integer dtype (such as `torch.int64`; not `bool`, not float), with a 1 in column `m` of each row and 0 elsewhere, K columns even when a small `n` never draws the last component.
#
# Then draw 20,000 points from `true` with the generator `torch.Generator().manual_seed(5)` and store them in `x2`, their 1-of-K (one-hot) codes in `m2`.

# %% nbgrader={"grade": false, "grade_id": "ex2_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
def sample_two_steps(mixture, n, generator):
    m = torch.multinomial(mixture.weights, n, replacement=True, generator=generator)
    chol = torch.linalg.cholesky(mixture.covs)  # (K, D, D), L L^T = Sigma
    eps = torch.randn(n, mixture.means.shape[1], 1, generator=generator, dtype=mixture.means.dtype)
    onehot = torch.nn.functional.one_hot(m, len(mixture.weights))  # (n, K): the 1-of-K code
    return mixture.means[m] + (chol[m] @ eps)[..., 0], onehot


x2, m2 = sample_two_steps(true, 20000, torch.Generator().manual_seed(5))
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex2_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
assert type(x2) is torch.Tensor and type(m2) is torch.Tensor, (
    f"x2 and m2 should be tensors, got {type(x2).__name__} and {type(m2).__name__}")
assert x2.is_floating_point() and not m2.is_floating_point(), "x2 holds float points, m2 an integer 1-of-K code"
assert x2.shape == (20000, 2) and m2.shape == (20000, 4), (
    f"shapes {tuple(x2.shape)}, {tuple(m2.shape)}: want x2 (20000, 2) and m2 (20000, 4), one row of 4 per point")
assert ((m2 == 0) | (m2 == 1)).all() and (m2.sum(1) == 1).all(), "each row of m2 should hold one 1 and zeros elsewhere"
freq = m2.double().mean(0)
assert torch.allclose(freq, true.weights, atol=0.015), f"component frequencies {freq.tolist()} should match P(m)"
for k in range(4):
    _in = m2[:, k] == 1
    assert torch.allclose(x2[_in].double().mean(0), true.means[k], atol=0.1), f"points of component {k} have the wrong mean"
    assert torch.allclose(torch.cov(x2[_in].double().T), true.covs[k], atol=0.12), \
        f"points of component {k} have the wrong covariance: multiply the noise by a Cholesky factor of Sigma"
print("Exercise 2 passes the visible checks (more run when it is graded)")
### BEGIN HIDDEN TESTS
import types  # noqa: E402

from helpers.notebook.grading import refusing  # noqa: E402


def _two(out):  # sample_two_steps' (x, onehot), checked: two tensors
    _a, _b = out
    assert type(_a) is torch.Tensor and type(_b) is torch.Tensor, (
        f"sample_two_steps should return two tensors (x, onehot), got {type(_a).__name__} and {type(_b).__name__}")
    return _a, _b


# while sample_two_steps runs, the library's GaussianMixture samplers refuse to work (restored afterwards)
with refusing([GaussianMixture.sample, GaussianMixture.sample_components],
              "sample_two_steps must be written without the mixture's own sample or sample_components method"):
    _x, _m = _two(sample_two_steps(true, 20000, torch.Generator().manual_seed(5)))
assert torch.equal(_x, x2) and torch.equal(_m, m2), \
    "x2, m2 should be sample_two_steps(true, 20000, torch.Generator().manual_seed(5)): the seed-5 generator"
# another mixture, 3-D with 3 components, as a bare object: no sample methods, not `true`
_mix = types.SimpleNamespace(
    weights=torch.tensor([0.6, 0.3, 0.1], dtype=f64),
    means=torch.tensor([[4.0, 0.0, -2.0], [-3.0, 1.0, 0.0], [0.0, -4.0, 3.0]], dtype=f64),
    covs=torch.tensor([[[1.0, 0.6, 0.0], [0.6, 0.5, 0.1], [0.0, 0.1, 0.3]], [[0.4, -0.3, 0.0], [-0.3, 0.9, 0.2], [0.0, 0.2, 0.2]],
                       [[0.2, 0.0, 0.1], [0.0, 0.3, 0.0], [0.1, 0.0, 0.6]]], dtype=f64))
_rng = torch.get_rng_state()
_x, _m = _two(sample_two_steps(_mix, 30000, torch.Generator().manual_seed(1)))
assert torch.equal(torch.get_rng_state(), _rng), "sample_two_steps used the global random generator: pass generator"
_x1, _m1 = _two(sample_two_steps(_mix, 30000, torch.Generator().manual_seed(1)))
assert torch.equal(_x, _x1) and torch.equal(_m, _m1), "the same generator seed should give the same draw"
assert _x.shape == (30000, 3) and _x.dtype == f64 and _m.shape == (30000, 3), (
    f"a 3-D, 3-component mixture: want x of shape (30000, 3) in float64 and the 1-of-K code (30000, 3), got "
    f"{tuple(_x.shape)} {_x.dtype}, {tuple(_m.shape)}: use the mixture you are given, not `true`")
assert not _m.is_floating_point() and ((_m == 0) | (_m == 1)).all() and (_m.sum(1) == 1).all(), \
    "3-component mixture: each row of the code should hold one integer 1 and zeros elsewhere"
assert m2.dtype != torch.bool and _m.dtype != torch.bool, \
    f"the 1-of-K code is {m2.dtype}: want integers 0 and 1 (torch.nn.functional.one_hot gives int64), not True/False"
_few = _two(sample_two_steps(types.SimpleNamespace(weights=torch.tensor([0.5, 0.5, 1e-9], dtype=f64),
                                                   means=_mix.means, covs=_mix.covs), 5, torch.Generator().manual_seed(0)))[1]
assert _few.shape == (5, 3), f"5 draws that never pick component 2 should still give a code of width K=3, got {tuple(_few.shape)}"
assert torch.allclose(_m.double().mean(0), _mix.weights, atol=0.015), \
    "on a 3-component mixture the component frequencies do not match its weights"
for k in range(3):
    _in = _m[:, k] == 1
    assert torch.allclose(_x[_in].mean(0), _mix.means[k], atol=0.1), f"3-D mixture: component {k}'s mean is off"
    assert torch.allclose(torch.cov(_x[_in].T), _mix.covs[k], atol=0.1), (
        f"3-D mixture: component {k}'s covariance is off: x = mu + L eps with L = cholesky(Sigma), L L^T = Sigma")
print("Exercise 2: the hidden checks pass too")
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 3 (diagnose).** Why the pseudo-counts $\alpha$? Fit the categorical mixture on the training digits `tr` with `fit_categorical_mixture`, K = 10, `iters=45`, `levels=17`, `tol=-math.inf`, each fit with `generator=torch.Generator().manual_seed(0)`, once by pure maximum likelihood (`alpha=0.0`) and once with `alpha=0.5`. Store:
# - `hist0`: the history (list of floats) the `alpha=0` fit returns: check that EM never lowered the training log-likelihood;
# - `train_nll0`, `valid_nll0`, `train_nll5`, `valid_nll5`: the NLL in nats per image, minus the mean of the fitted mixture's `log_prob` on `tr` and on `va`, for the two fits, as Python floats (compute them with `log_prob`, not from the history: for `alpha > 0` the history's objective also counts the pseudo-counts);
# - `nonfinite0`: how many validation digits get a `log_prob` under the `alpha=0` fit that is not a finite number (count them with `torch.isfinite`; 0 if every one is finite), a Python int;
# - `why`: the letter of the explanation of what you see on the validation split: `"a"` EM diverged; `"b"` maximum likelihood sets a cluster's probability of a grey level at a pixel to the share of the training digits weighted towards that cluster that have it there, 0 if none has; some validation digit has, for every cluster, at least one pixel (not necessarily the same one) with such a level, so every cluster, and hence the mixture, gives that digit probability 0; `"c"` 45 rounds are too few; `"d"` maximum likelihood overfits: with many parameters per cluster the validation NLL is high but finite, as for any unregularised fit.

# %% nbgrader={"grade": false, "grade_id": "ex3_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
fit0, hist0 = fit_categorical_mixture(tr, 10, iters=45, alpha=0.0, levels=17, tol=-math.inf,
                                      generator=torch.Generator().manual_seed(0))
fit5, _ = fit_categorical_mixture(tr, 10, iters=45, alpha=0.5, levels=17, tol=-math.inf,
                                  generator=torch.Generator().manual_seed(0))
train_nll0, valid_nll0 = -float(fit0.log_prob(tr).mean()), -float(fit0.log_prob(va).mean())
train_nll5, valid_nll5 = -float(fit5.log_prob(tr).mean()), -float(fit5.log_prob(va).mean())
nonfinite0 = int((~torch.isfinite(fit0.log_prob(va))).sum())
why = "b"
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex3_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_vals = (train_nll0, valid_nll0, train_nll5, valid_nll5)
assert all(type(v) is float for v in _vals), f"the four NLLs should be floats, got {[type(v).__name__ for v in _vals]}"
assert type(hist0) is list and len(hist0) == 45 and all(type(h) is float for h in hist0), \
    "hist0 should be the list of 45 floats that fit_categorical_mixture returns"
assert all(b >= a - 1e-9 for a, b in zip(hist0, hist0[1:])), "EM should never lower the training log-likelihood"
assert 80 < train_nll0 < train_nll5 < 110, "maximum likelihood (alpha=0) should fit the training digits better"
assert valid_nll5 < 110 and valid_nll0 > valid_nll5, "on the validation digits the pseudo-counts should win"
assert type(nonfinite0) is int and 0 <= nonfinite0 <= len(va), (
    f"nonfinite0 should be a Python int between 0 and {len(va)} (the validation digits), got {nonfinite0!r}")
assert type(why) is str and why in ("a", "b", "c", "d"), 'why should be one of "a", "b", "c", "d"'
print(f"Exercise 3 passes the visible checks (more run when it is graded): train {train_nll0:.1f} vs "
      f"{train_nll5:.1f}, valid {valid_nll0} vs {valid_nll5:.1f} nats; without pseudo-counts {nonfinite0} of "
      f"{len(va)} validation digits get a log-probability that is not finite")
### BEGIN HIDDEN TESTS
assert valid_nll0 == math.inf, f"valid_nll0 = {valid_nll0}: without pseudo-counts some validation digit has probability 0"
assert why == "b", (f"why = {why!r}: EM never lowered the training likelihood (hist0) and 45 rounds fit the training "
                    "digits well; the validation NLL is not merely high, look at its value")
_f, _h = fit_categorical_mixture(tr, 10, iters=45, alpha=0.0, levels=17, tol=-math.inf,
                                 generator=torch.Generator().manual_seed(0))
assert abs(_h[-1] - hist0[-1]) < 1e-9, "hist0 should be the history of the alpha=0 fit, seed 0"
_lp0 = _f.log_prob(va)
assert nonfinite0 == int((~torch.isfinite(_lp0)).sum()), (
    f"nonfinite0 = {nonfinite0}: count the validation digits (va) whose log_prob under the alpha=0 fit is not finite")
assert valid_nll0 == -float(_lp0.mean()), "valid_nll0 should be minus the mean log_prob of va under the alpha=0 fit"
assert abs(train_nll0 + float(_f.log_prob(tr).mean())) < 1e-9, \
    "train_nll0 should be minus the mean log_prob of the training digits under the alpha=0 fit"
_f5, _ = fit_categorical_mixture(tr, 10, iters=45, alpha=0.5, levels=17, tol=-math.inf,
                                 generator=torch.Generator().manual_seed(0))
assert abs(train_nll5 + float(_f5.log_prob(tr).mean())) < 1e-9, \
    "train_nll5 should be minus the mean log_prob of the training digits under the alpha=0.5 fit, seed 0"
assert abs(valid_nll5 + float(_f5.log_prob(va).mean())) < 1e-9, \
    "valid_nll5 should be minus the mean log_prob of the validation digits under the alpha=0.5 fit, seed 0"
print("Exercise 3: the hidden checks pass too")
### END HIDDEN TESTS
