"""Fixtures for every test file."""

import sys

import pytest


@pytest.fixture(autouse=True)
def _close_figures():
    """Close the figures a test left open, so that tests never see each other's figures."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """A small synthetic set on disk (12 training and 4 validation pictures of 48 px, seed 3)."""
    from dlcourse.synthetic import make_synthetic

    return make_synthetic(
        tmp_path_factory.mktemp("syn") / "set", n_train=12, n_val=4, size=48, seed=3
    )
