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
