"""Fixtures shared by the surrogate tests."""

from __future__ import annotations

import pytest
from training_cases import tiny

from steeltwin.training import generate


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A tiny slab dataset: 24 scenarios (both materials), 0.5 h passages, 8 cells."""
    path = tmp_path_factory.mktemp("surrogate") / "ds"
    generate(tiny(path, n_samples=24, n_extrapolation=4, num_shards=2, batch_size=8))
    return path
