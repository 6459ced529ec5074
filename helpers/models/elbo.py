"""A latent-variable model where every quantity of the ELBO derivation (slides 26-29) is exact.

Linear-Gaussian model (probabilistic PCA):
    z ~ P(z) = N(0, I_K),      x | z ~ P(x|z) = N(W z + b, s2 I_D)
Closed forms:
    P(x)   = N(b, W W^T + s2 I)
    P(z|x) = N(M^-1 W^T (x - b) / s2,  M^-1),   M = I + W^T W / s2
For any Gaussian q(z|x) = N(mu, S):
    E_q[log P(x|z)] = -D/2 log(2 pi s2) - (|x - W mu - b|^2 + tr(W S W^T)) / (2 s2)
    Lb = -KL(q || P(z)) + E_q[log P(x|z)]
    log P(x) = Lb + KL(q || P(z|x))                 (holds for every q: checked in 07)
All in float64, per data point x of shape (D,). Gaussian densities and KLs: ``helpers.models.gaussian``
(``log_normal``, ``kl_normal``, ``log_normal_diag``, ``log_standard_normal``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from helpers.models.gaussian import kl_normal, log_normal, log_normal_diag, log_standard_normal


@dataclass(frozen=True)
class LinearGaussian:
    """W (D, K), b (D,), noise variance s2 > 0."""

    W: Tensor
    b: Tensor
    s2: float

    def __post_init__(self):
        if self.W.ndim != 2 or self.b.shape != (self.W.shape[0],) or not self.s2 > 0:
            raise ValueError(f"want W (D, K), b (D,), s2 > 0; got {tuple(self.W.shape)}, "
                             f"{tuple(self.b.shape)}, {self.s2}")

    @property
    def dims(self) -> tuple[int, int]:
        return self.W.shape  # (D, K)

    def _check(self, x: Tensor) -> None:
        if x.shape != (self.W.shape[0],):
            raise ValueError(f"want one data point of shape ({self.W.shape[0]},), got {tuple(x.shape)}")

    def log_marginal(self, x: Tensor) -> Tensor:
        """log P(x) exactly."""
        self._check(x)
        eye = torch.eye(self.W.shape[0], dtype=self.W.dtype, device=self.W.device)
        return log_normal(x, self.b, self.W @ self.W.T + self.s2 * eye)

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """P(z|x) = N(mean, cov) exactly."""
        self._check(x)
        eye = torch.eye(self.W.shape[1], dtype=self.W.dtype, device=self.W.device)
        cov = torch.linalg.inv(eye + self.W.T @ self.W / self.s2)
        return cov @ self.W.T @ (x - self.b) / self.s2, cov

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        """log P(z) + log P(x|z) for samples z (S, K) -> (S,)."""
        mean = z @ self.W.T + self.b  # (S, D)
        log_s2 = torch.full_like(mean, math.log(self.s2))
        return log_standard_normal(z) + log_normal_diag(x, mean, log_s2)

    def expected_log_likelihood(self, x: Tensor, q_mean: Tensor, q_cov: Tensor) -> Tensor:
        """E_{q(z|x)}[log P(x|z)] exactly, for q = N(q_mean, q_cov)."""
        self._check(x)
        d = self.W.shape[0]
        resid = x - self.W @ q_mean - self.b
        return -0.5 * (d * math.log(2 * math.pi * self.s2)
                       + (resid @ resid + torch.trace(self.W @ q_cov @ self.W.T)) / self.s2)

    def terms(self, x: Tensor, q_mean: Tensor, q_cov: Tensor) -> dict[str, float]:
        """Every term of slides 27-28 for one x and one Gaussian q, as floats (nats)."""
        k = self.W.shape[1]
        dt, dev = self.W.dtype, self.W.device
        eye, zero = torch.eye(k, dtype=dt, device=dev), torch.zeros(k, dtype=dt, device=dev)
        post_mean, post_cov = self.posterior(x)
        kl_prior = kl_normal(q_mean, q_cov, zero, eye)
        exp_ll = self.expected_log_likelihood(x, q_mean, q_cov)
        return {
            "log_px": float(self.log_marginal(x)),
            "lb": float(exp_ll - kl_prior),
            "kl_q_posterior": float(kl_normal(q_mean, q_cov, post_mean, post_cov)),
            "kl_q_prior": float(kl_prior),
            "expected_log_lik": float(exp_ll),
        }


def naive_vs_importance(model: LinearGaussian, x: Tensor, *, n: int = 100, repeats: int = 300,
                        q_var_scale: float = 2.0, seed: int = 0) -> dict[str, float]:
    """Why q(z|x) is needed (07): two Monte Carlo estimates of log P(x), each repeated ``repeats`` times.

        naive:      log (1/n) sum_j P(x|z_j),                        z_j ~ P(z)
        importance: log (1/n) sum_j P(x|z_j) P(z_j) / q(z_j|x),      z_j ~ q(z|x)

    q = the exact posterior's mean with its covariance times ``q_var_scale`` (an imperfect encoder;
    scale 1 makes every weight equal P(x), so the variance is 0). Returns the exact log P(x), each
    estimator's mean and variance over the repeats, and ``ratio`` = naive variance / importance variance.
    """
    k = model.W.shape[1]
    g = torch.Generator().manual_seed(seed)
    post_mean, post_cov = model.posterior(x)
    chol = torch.linalg.cholesky(q_var_scale * post_cov)
    z_prior = torch.randn(repeats, n, k, generator=g, dtype=model.W.dtype)
    z_q = post_mean + torch.randn(repeats, n, k, generator=g, dtype=model.W.dtype) @ chol.T
    log_lik = model.log_joint(x, z_prior.reshape(-1, k)).reshape(repeats, n) - log_standard_normal(z_prior)
    log_w = (model.log_joint(x, z_q.reshape(-1, k)).reshape(repeats, n)
             - log_normal(z_q, post_mean, q_var_scale * post_cov))
    naive = torch.logsumexp(log_lik, 1) - math.log(n)
    imp = torch.logsumexp(log_w, 1) - math.log(n)
    out = {"log_px": float(model.log_marginal(x)), "naive_mean": float(naive.mean()), "naive_var": float(naive.var()),
           "importance_mean": float(imp.mean()), "importance_var": float(imp.var())}
    out["ratio"] = out["naive_var"] / out["importance_var"]
    return out
