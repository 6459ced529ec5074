"""helpers.models.mixtures: densities vs torch.distributions, sampling frequencies, EM vs scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture as SkGMM
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

from helpers.models.mixtures import GaussianMixture, fit_em


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


def _old_component_log_probs(g: GaussianMixture, x: torch.Tensor) -> torch.Tensor:
    """The implementation before helpers.models.gaussian, written out (N, K)."""
    import math

    chol = torch.linalg.cholesky(g.covs)
    diff = x[:, None, :] - g.means[None]
    sol = torch.linalg.solve_triangular(chol[None], diff[..., None], upper=False)[..., 0]
    logdet = 2 * torch.diagonal(chol, dim1=-2, dim2=-1).log().sum(-1)
    return g.weights.log() - 0.5 * (x.shape[1] * math.log(2 * math.pi) + logdet + sol.pow(2).sum(-1))


def test_component_log_probs_equal_the_written_out_version():
    g = _gmm()
    x = torch.randn(40, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 4
    torch.testing.assert_close(g.component_log_probs(x), _old_component_log_probs(g, x), atol=1e-10, rtol=0)


def test_sampling_two_steps():
    g = _gmm()
    x, m = g.sample_components(20000, torch.Generator().manual_seed(0))
    freq = torch.bincount(m, minlength=3).double() / len(m)
    torch.testing.assert_close(freq, g.weights, atol=0.01, rtol=0)
    for k in range(3):
        torch.testing.assert_close(x[m == k].mean(0), g.means[k], atol=0.06, rtol=0)
        torch.testing.assert_close(torch.cov(x[m == k].T), g.covs[k], atol=0.08, rtol=0)
    x2 = g.sample(20000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, x2), "sample(n) is sample_components(n)'s x, same stream"
    # the stream is the old one: the component first (multinomial), then the noise (randn)
    gen = torch.Generator().manual_seed(0)
    m3 = torch.multinomial(g.weights, 20000, replacement=True, generator=gen)
    e = torch.randn(20000, 2, generator=gen, dtype=torch.float64)
    assert torch.equal(m, m3)
    torch.testing.assert_close(x, g.means[m3] + (torch.linalg.cholesky(g.covs)[m3] @ e[..., None])[..., 0])


def test_sample_with_a_prefix_is_refused():
    with pytest.raises(ValueError, match="cannot condition on a prefix"):
        _gmm().sample(3, prefix=torch.zeros(1, dtype=torch.float64))


def test_em_increases_likelihood_and_matches_sklearn():
    g = _gmm()
    x = g.sample(3000, generator=torch.Generator().manual_seed(1))
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


def test_dequantised_nll_bounds_the_binned_likelihood():
    """For a 1-D Gaussian p, the discrete P(x) = int_0^1 p(x + u) du is exact via the normal CDF;
    -E_u log p(x + u) must lie above -log P(x) (Jensen) and close to it."""
    from scipy.stats import norm

    rng = np.random.default_rng(0)
    x = rng.choice(np.arange(6), size=4000, p=[0.1, 0.2, 0.3, 0.2, 0.15, 0.05]).astype(float)[:, None]
    g = SkGMM(1, random_state=0).fit(x + rng.random(x.shape))
    mu, sd = g.means_[0, 0], np.sqrt(g.covariances_[0, 0, 0])
    exact = -np.mean(np.log(norm.cdf(x[:, 0] + 1, mu, sd) - norm.cdf(x[:, 0], mu, sd)))
    from helpers.models.mixtures import dequantised_nll

    bound = dequantised_nll(g, x, draws=64)
    assert exact <= bound + 0.01 and bound - exact < 0.1


def test_select_gmm_sorts_by_validation():
    from helpers.models.mixtures import select_gmm

    rng = np.random.default_rng(1)
    train = rng.integers(0, 5, size=(200, 3))
    valid = rng.integers(0, 5, size=(100, 3))
    res = select_gmm(train, valid, covariances=("diag",), components=(1, 3), regs=(0.1,))
    assert [r[2] for r in sorted(res, key=lambda r: r[2])] == [1, 3] and len(res) == 2
    assert res[0][0] <= res[1][0] and all(np.isfinite(r[0]) for r in res)


# ----------------------------------------------------------------------------- categorical mixture
def _cat_data(n=400, seed=0):
    """Images of 6 pixels, 4 levels, from a known 3-cluster mixture."""
    from helpers.models.mixtures import CategoricalMixture

    g = torch.Generator().manual_seed(seed)
    probs = torch.distributions.Dirichlet(torch.full((4,), 0.3, dtype=torch.float64)).sample((3, 6))
    true = CategoricalMixture(torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64), probs)
    return true, true.sample(n, generator=g)


def test_categorical_log_prob_by_enumeration_and_sampling():
    from helpers.models.mixtures import CategoricalMixture

    torch.manual_seed(0)
    true, x = _cat_data(20000)
    # log P(x) = log sum_m P(m) prod_d probs[m, d, x_d], written out for a few images
    for img in x[:5]:
        want = math.log(sum(float(true.weights[m]) * math.prod(float(true.probs[m, d, img[d]]) for d in range(6))
                            for m in range(3)))
        assert float(true.log_prob(img[None])[0]) == pytest.approx(want, abs=1e-12)
    # the sample's pixel frequencies match the marginal sum_m P(m) probs[m, d, :]
    freq = torch.nn.functional.one_hot(x, 4).double().mean(0)
    torch.testing.assert_close(freq, torch.einsum("m,mdl->dl", true.weights, true.probs), atol=0.015, rtol=0)
    assert x.dtype == torch.int64 and x.shape == (20000, 6)
    torch.testing.assert_close(true.responsibilities(x[:10]).sum(1), torch.ones(10, dtype=torch.float64))
    with pytest.raises(ValueError, match="want weights"):
        CategoricalMixture(torch.ones(2), torch.ones(3, 6, 4))
    with pytest.raises(ValueError, match="6 pixels per image"):
        true.log_prob(torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="cannot condition on a prefix"):
        true.sample(2, prefix=x[:1])


def test_categorical_em_never_lowers_the_likelihood():
    from helpers.models.mixtures import categorical_m_step, fit_categorical_mixture

    torch.manual_seed(1)
    true, x = _cat_data(400)
    for alpha in (0.0, 0.5):
        mix, hist = fit_categorical_mixture(x, 3, iters=60, alpha=alpha, tol=0.0,
                                            generator=torch.Generator().manual_seed(2))
        assert all(b >= a - 1e-10 for a, b in zip(hist, hist[1:])), f"EM lowered its objective (alpha={alpha})"
        assert hist[-1] > hist[0] + 0.1
        if alpha == 0:  # the objective is the mean log-likelihood, and EM gets near the true mixture's
            assert hist[-1] == pytest.approx(float(mix.log_prob(x).mean()), abs=1e-12)
            assert hist[-1] > float(true.log_prob(x).mean()) - 0.05
        # the public M-step is the one EM uses
        again = categorical_m_step(x, mix.responsibilities(x), 4, alpha)
        assert again.probs.shape == (3, 6, 4)
        torch.testing.assert_close(again.probs.sum(-1), torch.ones(3, 6, dtype=torch.float64))


def test_categorical_mixture_nll_picks_k_on_validation():
    from helpers.models.mixtures import categorical_mixture_nll

    torch.manual_seed(3)
    true, x = _cat_data(900)
    nll, k = categorical_mixture_nll(x[:500], x[500:700], x[700:], ks=(1, 3), levels=4)
    assert k == 3 and type(nll) is float
    assert abs(nll + float(true.log_prob(x[700:]).mean())) < 0.3
