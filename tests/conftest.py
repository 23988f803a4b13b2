"""Strict numerics for every test: float64, strict dtype promotion, warnings as errors.

x64 is switched on here (the tests' entry point), never on import of the library. Float32
paths are tested explicitly by passing dtype=jnp.float32 and comparing with float64.
"""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
os.environ.setdefault("MPLBACKEND", "Agg")

import jax
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")


@pytest.fixture(autouse=True)
def _fresh_error_state():
    """Each test starts from the same numerics configuration."""
    assert jax.config.jax_enable_x64
    yield
