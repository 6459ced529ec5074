"""helpers.mixtures: densities vs torch.distributions, sampling frequencies, EM vs scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture as SkGMM
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

from helpers.mixtures import GaussianMixture, fit_em


def _gmm() -> GaussianMixture:
    return GaussianMixture(
        torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64),
        torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 5.0]], dtype=torch.float64),
        torch.tensor([[[1.0, 0.3], [0.3, 0.5]], [[0.4, 0.0], [0.0, 1.5]], [[2.0, -0.5], [-0.5, 0.6]]],
                     dtype=torch.float64),
    )


def test_log_prob_matches_torch_distributions():
    g = _gmm()
    ref = MixtureSameFamily(Categorical(g.weights), MultivariateNormal(g.means, g.covs))
    x = torch.randn(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 3
    torch.testing.assert_close(g.log_prob(x), ref.log_prob(x))
    r = g.responsibilities(x)
    torch.testing.assert_close(r.sum(1), torch.ones(50, dtype=torch.float64))


def test_sampling_two_steps():
    g = _gmm()
    x, m = g.sample(20000, torch.Generator().manual_seed(0))
    freq = torch.bincount(m, minlength=3).double() / len(m)
    torch.testing.assert_close(freq, g.weights, atol=0.01, rtol=0)
    for k in range(3):
        torch.testing.assert_close(x[m == k].mean(0), g.means[k], atol=0.06, rtol=0)
        torch.testing.assert_close(torch.cov(x[m == k].T), g.covs[k], atol=0.08, rtol=0)
    x2, _ = g.sample(20000, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)


def test_em_increases_likelihood_and_matches_sklearn():
    g = _gmm()
    x, _ = g.sample(3000, torch.Generator().manual_seed(1))
    init = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(2))[:3]]
    ours, hist = fit_em(x, 3, init_means=init, iters=500, tol=1e-12)
    assert all(b >= a - 1e-10 for a, b in zip(hist, hist[1:])), "EM lowered the log-likelihood"
    sk = SkGMM(3, covariance_type="full", means_init=init.numpy(), tol=1e-10, max_iter=500,
               reg_covar=1e-6, random_state=0).fit(x.numpy())
    assert hist[-1] == pytest.approx(sk.score(x.numpy()), abs=1e-5)
    order = np.argsort(sk.means_[:, 0] * 10 + sk.means_[:, 1])
    mine = torch.argsort(ours.means[:, 0] * 10 + ours.means[:, 1])
    np.testing.assert_allclose(ours.means[mine].numpy(), sk.means_[order], atol=1e-3)
    np.testing.assert_allclose(ours.weights[mine].numpy(), sk.weights_[order], atol=1e-4)


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"want weights \(K,\)"):
        GaussianMixture(torch.ones(2), torch.zeros(3, 2), torch.eye(2).expand(3, 2, 2))
    with pytest.raises(ValueError, match=r"want x of shape \(N, 2\)"):
        _gmm().log_prob(torch.zeros(4, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"N >= k=5"):
        fit_em(torch.zeros(3, 2), 5)
