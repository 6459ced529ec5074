"""The Gaussian algebra of the series, in one place (slides 19, 24, 27-28).

Diagonal Gaussians, batched over leading dimensions, summed over the last one (nats):

    log N(z; m, diag exp(log_var)) = -1/2 sum_i [log 2pi + log_var_i + (z_i - m_i)^2 / exp(log_var_i)]
    KL(N(m, diag exp(log_var)) || N(0, I)) = 1/2 sum_i [exp(log_var_i) - (1 + log_var_i) + m_i^2]

The bracket of the KL is slide 19's regulariser with σ = log_var: ``slide_kl_term`` is twice
the KL (notebook 05 checks it against torch.distributions).

Full-covariance Gaussians (Gaussian mixtures, the linear-Gaussian model of notebook 07):
``log_normal(x, mean, cov)`` broadcasts x (..., D) against mean (..., D) and cov (..., D, D);
``kl_normal(m1, S1, m2, S2)`` is KL(N(m1, S1) || N(m2, S2)) for one pair, (K,) and (K, K).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

LOG_2PI = math.log(2 * math.pi)


def log_normal_diag(z: Tensor, m: Tensor, log_var: Tensor) -> Tensor:
    """log N(z; m, diag exp(log_var)), summed over the last dim."""
    return -0.5 * (LOG_2PI + log_var + (z - m).pow(2) / log_var.exp()).sum(-1)


def log_standard_normal(z: Tensor) -> Tensor:
    """log N(z; 0, I), summed over the last dim."""
    return -0.5 * (LOG_2PI + z.pow(2)).sum(-1)


def slide_kl_term(m: Tensor, sigma: Tensor) -> Tensor:
    """Slide 19's regulariser, summed over the last dim: sum_i exp(σ_i) - (1 + σ_i) + m_i^2."""
    return (sigma.exp() - (1 + sigma) + m.pow(2)).sum(-1)


def kl_standard_normal(m: Tensor, log_var: Tensor) -> Tensor:
    """KL( N(m, diag exp(log_var)) || N(0, I) ) in nats, summed over the last dim
    = ½ · slide_kl_term(m, log_var)."""
    return 0.5 * slide_kl_term(m, log_var)


def log_normal(x: Tensor, mean: Tensor, cov: Tensor) -> Tensor:
    """log N(x; mean, cov) with a full covariance, by a Cholesky factor; broadcasts
    x (..., D), mean (..., D), cov (..., D, D) -> (...)."""
    d = x.shape[-1]
    chol = torch.linalg.cholesky(cov)
    diff = (x - mean)[..., None]
    sol = torch.linalg.solve_triangular(chol.expand(*diff.shape[:-2], d, d), diff, upper=False)[..., 0]
    logdet = 2 * torch.diagonal(chol, dim1=-2, dim2=-1).log().sum(-1)
    return -0.5 * (d * LOG_2PI + logdet + sol.pow(2).sum(-1))


def kl_normal(m1: Tensor, s1: Tensor, m2: Tensor, s2: Tensor) -> Tensor:
    """KL(N(m1, S1) || N(m2, S2)) for full covariances (K,), (K, K)."""
    k = len(m1)
    s2_inv = torch.linalg.inv(s2)
    d = m2 - m1
    return 0.5 * (torch.trace(s2_inv @ s1) + d @ s2_inv @ d - k + torch.logdet(s2) - torch.logdet(s1))
