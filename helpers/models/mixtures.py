"""Gaussian mixture models (lecture slide 24), sampled and fitted by EM, written out.

    P(x) = sum_m P(m) N(x; mu_m, Sigma_m)          m = 1..K,  x in R^D

Sampling is two steps: m ~ P(m) (a categorical), then x | m ~ N(mu_m, Sigma_m)
(``sample_components`` returns both; ``sample`` only x). Densities: ``helpers.models.gaussian.log_normal``.
EM alternates
    E-step: r_nm = P(m | x_n) = P(m) N(x_n; mu_m, Sigma_m) / P(x_n)         (responsibilities)
    M-step: N_m = sum_n r_nm,  P(m) = N_m / N,  mu_m = sum_n r_nm x_n / N_m,
            Sigma_m = sum_n r_nm (x_n - mu_m)(x_n - mu_m)^T / N_m + reg * I
and never lowers the mean log-likelihood (1/N) sum_n log P(x_n).
Shapes: x (N, D); weights (K,); means (K, D); covs (K, D, D). Work in float64.

The fair cluster model for discrete images (notebook 06): ``CategoricalMixture``, a mixture of
per-pixel categoricals, P(x) = sum_m P(m) prod_d probs[m, d, x_d], fitted by the same EM
(``fit_categorical_mixture``); ``categorical_mixture_nll`` picks K on validation data.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from helpers.core.contract import generator_device
from helpers.models.gaussian import log_normal


class Mixture:
    """What every mixture derives from its ``component_log_probs(x) -> (N, K)`` = log P(m) + log P(x_n | m)."""

    def log_prob(self, x: Tensor) -> Tensor:
        """log P(x_n) = logsumexp over the components, in nats, shape (N,)."""
        return torch.logsumexp(self.component_log_probs(x), dim=1)

    def responsibilities(self, x: Tensor) -> Tensor:
        """P(m | x_n), shape (N, K); rows sum to 1."""
        return self.component_log_probs(x).softmax(dim=1)


@dataclass(frozen=True)
class GaussianMixture(Mixture):
    weights: Tensor
    means: Tensor
    covs: Tensor

    def __post_init__(self):
        k, d = self.means.shape
        if self.weights.shape != (k,) or self.covs.shape != (k, d, d):
            raise ValueError(f"want weights (K,), means (K, D), covs (K, D, D); got "
                             f"{tuple(self.weights.shape)}, {tuple(self.means.shape)}, {tuple(self.covs.shape)}")

    @property
    def k(self) -> int:
        return len(self.weights)

    def component_log_probs(self, x: Tensor) -> Tensor:
        """log P(m) + log N(x_n; mu_m, Sigma_m), shape (N, K)."""
        if x.ndim != 2 or x.shape[1] != self.means.shape[1]:
            raise ValueError(f"want x of shape (N, {self.means.shape[1]}), got {tuple(x.shape)}")
        return self.weights.log() + log_normal(x[:, None, :], self.means, self.covs)

    def sample(self, n: int, *, generator: torch.Generator | None = None, prefix: Tensor | None = None) -> Tensor:
        """n points x ~ P(x), (n, D) (the components drawn on the way are dropped)."""
        if prefix is not None:
            raise ValueError("a Gaussian mixture here cannot condition on a prefix (a part of x); "
                             "call sample(n) without prefix")
        return self.sample_components(n, generator)[0]

    def sample_components(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """(x (n, D), m (n,)): first the component m ~ P(m), then x ~ N(mu_m, Sigma_m).
        Drawn on the generator's device, returned on the mixture's."""
        dev = self.means.device
        gdev = generator_device(generator, dev)
        m = torch.multinomial(self.weights.to(gdev), n, replacement=True, generator=generator).to(dev)
        e = torch.randn(n, self.means.shape[1], generator=generator, dtype=self.means.dtype, device=gdev).to(dev)
        chol = torch.linalg.cholesky(self.covs)
        return self.means[m] + (chol[m] @ e[..., None])[..., 0], m


def m_step(x: Tensor, resp: Tensor, reg: float = 1e-6) -> GaussianMixture:
    """Weighted counts, means and covariances from responsibilities (N, K)."""
    nk = resp.sum(0) + 1e-12  # (K,)
    means = resp.T @ x / nk[:, None]
    diff = x[None] - means[:, None]  # (K, N, D)
    covs = torch.einsum("kn,knd,kne->kde", resp.T, diff, diff) / nk[:, None, None]
    covs = covs + reg * torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    return GaussianMixture(nk / nk.sum(), means, covs)


def fit_em(
    x: Tensor,
    k: int,
    *,
    iters: int = 200,
    tol: float = 1e-8,
    reg: float = 1e-6,
    init_means: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[GaussianMixture, list[float]]:
    """Fit a K-component mixture by EM; return it and the mean log-likelihood after each step.

    Initialisation: means = ``init_means`` or K distinct data points drawn with ``generator``;
    every covariance = the data covariance; equal weights. Stops when the mean
    log-likelihood improves by less than ``tol``.
    """
    if x.ndim != 2 or len(x) < k:
        raise ValueError(f"want x of shape (N, D) with N >= k={k}, got {tuple(x.shape)}")
    x = x.to(torch.float64)
    if init_means is None:
        gdev = generator_device(generator, x.device)
        init_means = x[torch.randperm(len(x), generator=generator, device=gdev)[:k].to(x.device)]
    eye = torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    cov = torch.cov(x.T).reshape(x.shape[1], x.shape[1]) + reg * eye
    gmm = GaussianMixture(torch.full((k,), 1.0 / k, dtype=x.dtype, device=x.device), init_means.to(x).clone(),
                          cov.expand(k, -1, -1).clone())
    history = [float(gmm.log_prob(x).mean())]
    for _ in range(iters):
        gmm = m_step(x, gmm.responsibilities(x), reg)  # E-step inside, then M-step
        history.append(float(gmm.log_prob(x).mean()))
        if history[-1] - history[-2] < tol:
            break
    return gmm, history


# ----------------------------------------------------------------------------- discrete data
def dequantised_nll(model, images, draws: int = 8, seed: int = 123) -> float:
    """-E_u log p(x + u), u ~ U[0,1)^D, in nats per image, for a fitted scikit-learn mixture.

    For integer images x, P(x) := integral over [0,1)^D of p(x + u) du is a probability over
    the discrete images (bin width 1, so no change of units), and by Jensen's inequality
    log P(x) >= E_u log p(x + u): the value returned is an upper bound on a proper discrete
    NLL, comparable with models that give discrete probabilities directly.
    """
    import numpy as np

    r = np.random.default_rng(seed)
    x = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    return -float(np.mean([model.score(x + r.random(x.shape)) for _ in range(draws)]))


def select_gmm(train, valid, *, covariances=("full", "diag"), components=(1, 2, 5, 10, 20),
               regs=(0.1, 1.0), seed: int = 0) -> list[tuple[float, str, int, float, object]]:
    """Fit scikit-learn mixtures on dequantised ``train`` over a grid; return
    (valid NLL, covariance type, K, reg_covar, model) sorted best first (nats per image)."""
    import numpy as np
    from sklearn.mixture import GaussianMixture as SkGaussianMixture
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    x = np.asarray(train, dtype=np.float64).reshape(len(train), -1)
    out = []
    with threadpool_limits(1):  # small fits: one BLAS thread each is fastest
        for cov in covariances:
            for k in components:
                for reg in regs:
                    g = SkGaussianMixture(k, covariance_type=cov, reg_covar=reg, random_state=seed, max_iter=200)
                    g.fit(x + rng.random(x.shape))
                    out.append((dequantised_nll(g, valid), cov, k, reg, g))
    return sorted(out, key=lambda r: r[0])


# ----------------------------------------------------------------------------- the fair cluster model
@dataclass(frozen=True)
class CategoricalMixture(Mixture):
    """A mixture of per-pixel categoricals: a cluster m ~ P(m), then every pixel independently,
    x_d | m ~ Categorical(probs[m, d]). weights (K,), probs (K, D, L); x integer (N, D) or (N, ...) in 0..L-1.

        log P(x) = logsumexp_m [ log P(m) + sum_d log probs[m, d, x_d] ]      (nats, exact: x is discrete)
    """

    weights: Tensor
    probs: Tensor

    def __post_init__(self):
        if self.probs.ndim != 3 or self.weights.shape != (self.probs.shape[0],):
            raise ValueError(f"want weights (K,), probs (K, D, L); got {tuple(self.weights.shape)}, "
                             f"{tuple(self.probs.shape)}")

    @property
    def k(self) -> int:
        return len(self.weights)

    def _flat(self, x: Tensor) -> Tensor:
        x = x.reshape(len(x), -1).long()
        if x.shape[1] != self.probs.shape[1]:
            raise ValueError(f"want x with {self.probs.shape[1]} pixels per image, got {x.shape[1]}")
        return x

    def component_log_probs(self, x: Tensor) -> Tensor:
        """log P(m) + sum_d log probs[m, d, x_d], shape (N, K) (-inf where a pixel's level has probability 0)."""
        x = self._flat(x)
        log_p = self.probs.log()[:, torch.arange(x.shape[1], device=x.device), x]  # (K, N, D): log probs[m, d, x_nd]
        return self.weights.log() + log_p.sum(-1).T

    def sample(self, n: int, *, generator: torch.Generator | None = None, prefix: Tensor | None = None) -> Tensor:
        """n images (n, D), integer levels: first m ~ P(m), then every pixel from probs[m, d]."""
        if prefix is not None:
            raise ValueError("a categorical mixture here cannot condition on a prefix; call sample(n)")
        m = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        flat = self.probs[m].reshape(-1, self.probs.shape[2])  # (n * D, L)
        return torch.multinomial(flat, 1, generator=generator).reshape(n, -1)


def categorical_m_step(x: Tensor, resp: Tensor, levels: int, alpha: float = 0.0) -> CategoricalMixture:
    """Weighted counts from responsibilities (N, K): P(m) = N_m / N and
    probs[m, d, l] = (sum_n r_nm [x_nd = l] + alpha) / (N_m + L alpha)  (alpha > 0: a Dirichlet prior)."""
    onehot = torch.nn.functional.one_hot(x.reshape(len(x), -1).long(), levels).to(resp.dtype)  # (N, D, L)
    return _m_step(onehot.reshape(len(x), -1), resp, levels, alpha)


def _m_step(onehot: Tensor, resp: Tensor, levels: int, alpha: float) -> CategoricalMixture:
    counts = (resp.T @ onehot).reshape(resp.shape[1], -1, levels) + alpha  # (K, D, L)
    nk = resp.sum(0)
    return CategoricalMixture(nk / nk.sum(), counts / counts.sum(-1, keepdim=True).clamp_min(1e-300))


def fit_categorical_mixture(x: Tensor, k: int, *, iters: int = 100, alpha: float = 0.0, levels: int | None = None,
                            tol: float = 1e-7, generator: torch.Generator | None = None
                            ) -> tuple[CategoricalMixture, list[float]]:
    """EM for a K-cluster mixture of per-pixel categoricals on integer images x (N, ...).

    Start: random responsibilities (uniform draws on ``generator``, rows normalised); then
    rounds of M-step, E-step (``resp = mix.responsibilities(x)``). Returns the last mixture and,
    after every M-step, the mean train log-likelihood + alpha * sum(log probs) / N (alpha = 0:
    the mean log-likelihood); EM never lowers it. Stops when it improves by less than ``tol``.
    """
    if len(x) < k:
        raise ValueError(f"want at least k={k} images, got {len(x)}")
    x = x.reshape(len(x), -1).long()
    levels = int(x.max()) + 1 if levels is None else levels
    onehot = torch.nn.functional.one_hot(x, levels).to(torch.float64).reshape(len(x), -1)  # (N, D * L)
    resp = torch.rand(len(x), k, generator=generator, dtype=torch.float64)
    resp = resp / resp.sum(1, keepdim=True)
    history: list[float] = []
    for _ in range(iters):
        mix = _m_step(onehot, resp, levels, alpha)
        log_joint = mix.component_log_probs(x)  # E-step: log P(m) + log P(x_n | m), (N, K)
        history.append(float(torch.logsumexp(log_joint, 1).mean()
                              + torch.xlogy(torch.tensor(alpha, dtype=torch.float64), mix.probs).sum() / len(x)))
        if len(history) > 1 and history[-1] - history[-2] < tol:
            break
        resp = log_joint.softmax(1)
    return mix, history


def categorical_mixture_nll(train: Tensor, valid: Tensor, test: Tensor, ks=(1, 5, 10, 20, 40), *,
                            alpha: float = 0.5, iters: int = 50, levels: int = 17, seed: int = 0) -> tuple[float, int]:
    """The fair cluster model of notebook 06: fit a categorical mixture for every K in ``ks`` on
    ``train``, pick K by the validation NLL, and return (test NLL in nats per image, chosen K)."""
    best, threads = None, torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: one thread is fastest (and fair to busy machines)
    try:
        best = _select_k(train, valid, ks, alpha, iters, levels, seed)
    finally:
        torch.set_num_threads(threads)
    return -float(best[2].log_prob(test).mean()), best[1]


def _select_k(train, valid, ks, alpha, iters, levels, seed):
    best = None
    for k in ks:
        mix, _ = fit_categorical_mixture(train, k, iters=iters, alpha=alpha, levels=levels,
                                         generator=torch.Generator().manual_seed(seed))
        v = -float(mix.log_prob(valid).mean())
        if best is None or v < best[0]:
            best = (v, k, mix)
    return best
