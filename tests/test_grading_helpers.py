"""helpers.notebook.grading.refusing: the library functions a graded test switches off."""

import pytest

from helpers.models.mixtures import GaussianMixture
from helpers.notebook.grading import refusing


def _double(x):
    return 2 * x


def test_refusing_switches_off_every_name_and_restores():
    alias = _double
    method = GaussianMixture.sample
    with refusing([_double, GaussianMixture.sample], "written without the helpers"):
        with pytest.raises(AssertionError, match="written without the helpers"):
            alias(3)
        with pytest.raises(AssertionError, match="written without the helpers"):
            method(None, 5)
    assert alias(3) == 6 and GaussianMixture.sample.__code__ is method.__code__ is not None
    with pytest.raises(ZeroDivisionError), refusing([_double], "no"):
        1 / 0
    assert _double(2) == 4  # restored after the block raised too


def test_refusing_reaches_a_reference_kept_in_a_default_argument():
    """A solution that kept the forbidden function as a default argument (or in a closure) before the
    test ran still gets the refusal: the function's own code is swapped, not a name."""
    def sneaky(x, _f=_double):
        return _f(x)

    with refusing([_double], "written without the helpers"):
        with pytest.raises(AssertionError, match="written without the helpers"):
            sneaky(3)
    assert sneaky(3) == 6


def test_refusing_a_compiled_function_under_the_names_that_hold_it():
    """Cython's connected_components cannot have its code swapped: it refuses under its module names
    and a name the notebook imported (the namespace given), and is back afterwards."""
    import numpy as np
    import scipy.sparse as sp
    import scipy.sparse.csgraph as cg

    namespace = {"cc": cg.connected_components}
    graph = sp.eye(3).tocsr()
    with refusing([cg.connected_components], "no library labelling", namespace=namespace):
        for f in (cg.connected_components, namespace["cc"]):
            with pytest.raises(AssertionError, match="no library labelling"):
                f(graph)
    assert namespace["cc"](graph)[0] == 3 and cg.connected_components(graph)[0] == 3
    assert np.asarray(cg.connected_components(graph)[1]).tolist() == [0, 1, 2]


def test_refusing_a_method_that_calls_super_and_a_closure():
    """A constructor that calls super() closes over __class__, and a closure over its own names: their code
    is swapped for a refusal with the same free variables, so the class refuses under an alias too."""
    from helpers.models.audio import WaveNet, WaveNetConfig

    Alias = WaveNet
    cfg = WaveNetConfig(dilations=(1, 2), kernel=2, channels=2, skip_channels=2)
    scale, offset = 3, 1

    def affine(x):
        return scale * x + offset

    assert WaveNet.__init__.__code__.co_freevars == ("__class__",)
    with refusing([WaveNet.__init__, WaveNet.receptive_field.fget, affine], "no WaveNet here"):
        with pytest.raises(AssertionError, match="no WaveNet here"):
            Alias(cfg)
        with pytest.raises(AssertionError, match="no WaveNet here"):
            affine(2)
    assert Alias(cfg).receptive_field == 4 and affine(2) == 7
