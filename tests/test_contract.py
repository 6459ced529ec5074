"""The model contract (helpers.core.contract), checked over every shipped model.

As scikit-learn's ``check_estimator`` runs one battery over every estimator, this file runs
CHECKS over every name in ``helpers.registry.recipes()``: each model is loaded from its shipped
checkpoint (never trained) and probed with a few draws and a small held-out batch (the test
split of the recipe's data set, or the family's own synthetic data when ``recipe.data`` is None).
``pytest -v tests/test_contract.py`` prints the table model x check. A family outside a check is
listed below with the reason (NOT_GENERATIVE, NO_LIKELIHOOD, and the estimate's split check);
``test_the_table_covers_every_recipe`` makes sure every cell is either run or excused.
"""

from __future__ import annotations

import functools
import inspect

import pytest
import torch

from helpers.core.contract import GenerativeModel, Likelihood, LikelihoodEstimate
from helpers.core.data import check_images, dataset
from helpers.core.train import model_device
from helpers.models.adversarial import ToyGAN, sample_ring
from helpers.models.audio import WaveNet, clip_length, tone_splits
from helpers.models.autoencoders import Autoencoder
from helpers.models.autoregressive import PixelModel
from helpers.models.image_gan import ImageGAN
from helpers.models.pixel_lstm import RGBPixelLSTM
from helpers.models.text import CharLSTM, text_splits
from helpers.registry import recipe, recipes

pytestmark = pytest.mark.usefixtures("one_thread")  # batches of 2-4: one thread is fastest on 2 shared cores

N = 3  # draws per sample() call
ESTIMATE_K = 8  # importance samples for a likelihood estimate (the number only has to be finite)

# families outside the contract, and why (CONTRIBUTING: a family passes, or is listed here with the reason)
NOT_GENERATIVE = {
    RGBPixelLSTM: "regresses RGB by squared error: one predicted colour per context, no distribution over "
                  "colour indices to draw from or to score (its docstring)",
    Autoencoder: "a plain autoencoder has no prior over codes: nothing to draw from, no P(x) "
                 "(its sample and log_prob raise, saying so; notebook 04)",
}
NO_LIKELIHOOD = {
    ToyGAN: "a GAN defines no likelihood (its log_prob raises NotImplementedError, saying so)",
    ImageGAN: "a GAN defines no likelihood (its log_prob raises NotImplementedError, saying so)",
}
SPLIT_OF_AN_ESTIMATE = "an estimate draws fresh importance samples for each half: the halves differ by chance"

# Drawing a whole Pokémon sprite takes 400 model steps (seconds to a minute on a busy CPU), a whole
# clip 8000; the contract is checked on the same code for a part: the first 24 pixels (past the
# first row; the rest stay 0), 64 audio samples. The family tests draw whole samples.
QUICK = {PixelModel: {"stop": 24}, WaveNet: {"length": 64}}


def _family(name: str) -> type:
    return recipe(name).build


def _quick(name: str) -> dict:
    return next((kw for cls, kw in QUICK.items() if issubclass(_family(name), cls)), {})


def likelihood(name: str) -> str:
    """What the family promises: "exact" (log_prob), "estimate" (log_prob_estimate) or "none"."""
    cls = _family(name)
    if cls in NOT_GENERATIVE or cls in NO_LIKELIHOOD:
        return "none"
    if issubclass(cls, Likelihood):
        return "exact"
    return "estimate" if issubclass(cls, LikelihoodEstimate) else "none"


@functools.cache
def heldout(name: str) -> torch.Tensor:
    """A small held-out batch: 4 test images, 2 test clips (cropped to the training crops' length)
    or 4 ring points drawn with a seed of their own."""
    r = recipe(name)
    if r.data is not None:
        return dataset(r.data).load().test[:4]
    if issubclass(r.build, WaveNet):
        return tone_splits(r.train.data)[2][:2, : r.train.crop]
    if issubclass(r.build, ToyGAN):
        return sample_ring(4, torch.Generator().manual_seed(99))
    if issubclass(r.build, CharLSTM):
        return text_splits(r.train)[2][:4]
    raise AssertionError(f"{name}: say where its held-out data comes from (recipe.data is None)")


def _score(model, x: torch.Tensor) -> torch.Tensor:
    if hasattr(model, "log_prob_estimate"):
        return model.log_prob_estimate(x, ESTIMATE_K, torch.Generator().manual_seed(0))
    return model.log_prob(x)


def _with_rng(fn):
    """(result, torch's global random state before, after)."""
    before = torch.get_rng_state()
    out = fn()
    return out, before, torch.get_rng_state()


# ----------------------------------------------------------------------------- what is probed, once per model
@pytest.fixture(scope="module")
def probe(shipped):
    cache: dict = {}

    def get(name: str, what: str):
        if (name, what) not in cache:
            model = shipped(name)[0]
            if what == "draws":  # the same seed twice
                cache[name, what] = _with_rng(lambda: [model.sample(N, generator=torch.Generator().manual_seed(0),
                                                                    **_quick(name)) for _ in range(2)])
            elif what == "scores":
                cache[name, what] = _with_rng(lambda: _score(model, heldout(name)))
            else:
                raise KeyError(what)
        return cache[name, what]

    return get


# ----------------------------------------------------------------------------- the checks
def check_protocol(name, model, probe):
    """The model is what its family promises: a GenerativeModel, with log_prob (exact) or
    log_prob_estimate; a family listed as an exception raises NotImplementedError, saying why."""
    cls = _family(name)
    x = heldout(name)
    if cls in NOT_GENERATIVE:
        if isinstance(model, GenerativeModel):
            with pytest.raises(NotImplementedError):
                model.sample(1, generator=torch.Generator().manual_seed(0))
    else:
        assert isinstance(model, GenerativeModel)
        params = inspect.signature(model.sample).parameters
        assert all(p.default is not p.empty for k, p in params.items() if k != "n"), \
            f"sample(n, generator=g) must work: give every other parameter a default ({list(params)})"
    kind = likelihood(name)
    if kind == "exact":
        assert isinstance(model, Likelihood)
    elif kind == "estimate":
        assert isinstance(model, LikelihoodEstimate) and not isinstance(model, Likelihood), \
            "an estimated likelihood says so in its name: log_prob_estimate, not log_prob"
    elif isinstance(model, Likelihood):
        with pytest.raises(NotImplementedError, match="likelihood"):
            model.log_prob(x)


def check_sample_shape(name, model, probe):
    """n draws shaped and typed like the held-out data, on the model's device."""
    (a, _), _, _ = probe(name, "draws")
    x = heldout(name)
    want = (N, *x.shape[1:-1], _quick(name).get("length", x.shape[-1]))
    assert a.shape == want and a.dtype == x.dtype and a.device == model_device(model), \
        f"got {tuple(a.shape)} {a.dtype} on {a.device}, want {want} {x.dtype} on {model_device(model)}"


def check_sample_seeded(name, model, probe):
    """The same seed draws the same samples."""
    (a, b), _, _ = probe(name, "draws")
    assert torch.equal(a, b)


def check_sample_keeps_global_rng(name, model, probe):
    """sample(generator=g) draws from g only: torch's global random state is as it was."""
    _, before, after = probe(name, "draws")
    assert torch.equal(before, after)


def check_sample_is_valid_data(name, model, probe):
    """What sample returns is valid data: log_prob (or the estimate) scores it finitely; without
    a likelihood, it passes the data set's own check (levels, side) or is finite."""
    (a, _), _, _ = probe(name, "draws")
    if likelihood(name) != "none":
        assert torch.isfinite(_score(model, a)).all()
    elif a.is_floating_point():
        assert torch.isfinite(a).all()
    else:
        ds = dataset(recipe(name).data)
        check_images(a, ds.levels, ds.side, name="sample")


def check_log_prob_finite(name, model, probe):
    """(B,) finite float nats on held-out data; an exact log-probability of discrete data is <= 0."""
    lp, _, _ = probe(name, "scores")
    assert lp.shape == (len(heldout(name)),) and lp.is_floating_point() and torch.isfinite(lp).all(), lp
    if likelihood(name) == "exact":
        assert (lp <= 0).all(), lp


def check_log_prob_splits(name, model, probe):
    """A batch scores as the concatenation of its two halves (nothing leaks between items)."""
    x = heldout(name)
    lp, _, _ = probe(name, "scores")
    with torch.no_grad():
        parts = torch.cat([model.log_prob(x[: len(x) // 2]), model.log_prob(x[len(x) // 2 :])])
    torch.testing.assert_close(parts, lp.detach())


def check_log_prob_keeps_global_rng(name, model, probe):
    """Scoring draws nothing from torch's global generator (an estimate draws from its own)."""
    _, before, after = probe(name, "scores")
    assert torch.equal(before, after)


CHECKS = {f.__name__.removeprefix("check_"): f for f in (
    check_protocol, check_sample_shape, check_sample_seeded, check_sample_keeps_global_rng,
    check_sample_is_valid_data, check_log_prob_finite, check_log_prob_splits, check_log_prob_keeps_global_rng)}


def excuse(name: str, check: str) -> str | None:
    """Why ``check`` does not apply to ``name`` (None: it applies)."""
    cls = _family(name)
    if check == "protocol":
        return None
    if cls in NOT_GENERATIVE:
        return NOT_GENERATIVE[cls]
    if check.startswith("log_prob") and likelihood(name) == "none":
        return NO_LIKELIHOOD[cls]
    if check == "log_prob_splits" and likelihood(name) == "estimate":
        return SPLIT_OF_AN_ESTIMATE
    return None


def table() -> dict[str, dict[str, str]]:
    """name -> check -> "run" or "n/a: why"."""
    return {name: {c: "run" if (why := excuse(name, c)) is None else f"n/a: {why}" for c in CHECKS}
            for name in recipes()}


CASES = [(name, check) for name, row in table().items() for check, cell in row.items() if cell == "run"]


@pytest.mark.parametrize("name,check", CASES, ids=[f"{n}-{c}" for n, c in CASES])
def test_contract(name, check, shipped, probe):
    CHECKS[check](name, shipped(name)[0], probe)


def test_the_table_covers_every_recipe():
    t = table()
    assert set(t) == set(recipes()) and all(set(row) == set(CHECKS) for row in t.values())
    for name, row in t.items():
        assert row["protocol"] == "run", f"{name}: every shipped model is checked against the contract"
        assert all(cell == "run" or len(cell) > 20 for cell in row.values()), f"{name}: say why a check is n/a"
    exceptions = {type_ for name in t for type_ in [_family(name)] if type_ in NOT_GENERATIVE}
    assert exceptions == set(NOT_GENERATIVE), "an exception no recipe needs: drop it"


def test_wavenet_samples_whole_clips_by_default():
    """The QUICK length is a shortcut of this test file: by default a WaveNet draws whole clips."""
    data = recipe("wavenet_tones").train.data
    assert inspect.signature(WaveNet.sample).parameters["length"].default is None
    assert clip_length() == clip_length(data) == tone_splits(data)[2].shape[1]
