"""Gaussian mixture models (lecture slide 24), sampled and fitted by EM, written out.

    P(x) = sum_m P(m) N(x; mu_m, Sigma_m)          m = 1..K,  x in R^D

Sampling is two steps: m ~ P(m) (a categorical), then x | m ~ N(mu_m, Sigma_m)
(``sample_components`` returns both; ``sample`` only x). Densities: ``helpers.gaussian.log_normal``.
EM alternates
    E-step: r_nm = P(m | x_n) = P(m) N(x_n; mu_m, Sigma_m) / P(x_n)         (responsibilities)
    M-step: N_m = sum_n r_nm,  P(m) = N_m / N,  mu_m = sum_n r_nm x_n / N_m,
            Sigma_m = sum_n r_nm (x_n - mu_m)(x_n - mu_m)^T / N_m + reg * I
and never lowers the mean log-likelihood (1/N) sum_n log P(x_n).
Shapes: x (N, D); weights (K,); means (K, D); covs (K, D, D). Work in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .gaussian import log_normal


@dataclass(frozen=True)
class GaussianMixture:
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

    def log_prob(self, x: Tensor) -> Tensor:
        """log P(x_n), shape (N,)."""
        return torch.logsumexp(self.component_log_probs(x), dim=1)

    def responsibilities(self, x: Tensor) -> Tensor:
        """P(m | x_n), shape (N, K); rows sum to 1."""
        return self.component_log_probs(x).softmax(dim=1)

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
        gdev = generator.device if generator is not None else dev
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
        gdev = generator.device if generator is not None else x.device
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
