"""Mechanical material: EC3 thermal strain, reduction factors, validation messages."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from steeltwin import engine as E
from steeltwin.engine._stress_material import (
    K_FLOOR,
    carbon_steel_mechanical,
    constant_mechanical,
    stainless_steel_mechanical,
)
from steeltwin.engine._stress_plate import plate_stress

KELVIN = 273.15


def _c(theta_c: float) -> jnp.ndarray:
    return jnp.asarray(theta_c + KELVIN)


def test_carbon_thermal_strain_matches_ec3() -> None:
    m = carbon_steel_mechanical()
    ref = 1.2e-5 * 20 + 0.4e-8 * 20**2 - 2.416e-4  # dl/l(20 degC), ~0 by construction
    for theta, dl in ((20.0, ref), (500.0, 1.2e-5 * 500 + 0.4e-8 * 500**2 - 2.416e-4),
                      (800.0, 1.1e-2), (1000.0, 2e-5 * 1000 - 6.2e-3)):
        np.testing.assert_allclose(float(m.thermal_strain(_c(theta))), dl - ref, rtol=1e-12,
                                   atol=1e-15)
    # Held constant outside 20-1200 degC.
    assert float(m.thermal_strain(_c(1300.0))) == float(m.thermal_strain(_c(1200.0)))


def test_stainless_thermal_strain_matches_annex_c() -> None:
    m = stainless_steel_mechanical()
    t = 600.0
    dl = (16 + 4.79e-3 * t - 1.243e-6 * t**2) * (t - 20) * 1e-6
    np.testing.assert_allclose(float(m.thermal_strain(_c(t))), dl, rtol=1e-12)


def test_reduction_factors_interpolate_and_floor() -> None:
    m = carbon_steel_mechanical("S235")
    np.testing.assert_allclose(float(m.yield_strength(_c(550.0))), 235e6 * 0.625, rtol=1e-12)
    np.testing.assert_allclose(float(m.youngs_modulus(_c(650.0))), 210e9 * 0.22, rtol=1e-12)
    assert float(m.k_y(_c(1200.0))) == K_FLOOR  # Table 3.1 gives 0: floored
    assert float(m.k_E(_c(1250.0))) == K_FLOOR
    assert float(m.k_E(_c(0.0))) == 1.0


@pytest.mark.parametrize("nu", [0.5, -1.0, 0.7])
def test_bad_poisson_ratio_names_key_and_fix(nu: float) -> None:
    with pytest.raises(E.ConfigError, match=r"stress\.material\.nu=.* expected a Poisson's "
                       r"ratio in \(-1, 0\.5\); use 0\.3"):
        constant_mechanical(200e9, nu, 1.2e-5)


def test_bad_modulus_yield_grade() -> None:
    with pytest.raises(E.ConfigError, match=r"stress\.material\.E=-1"):
        constant_mechanical(-1.0, 0.3, 1.2e-5)
    with pytest.raises(E.ConfigError, match=r"stress\.material\.f_y=0"):
        constant_mechanical(200e9, 0.3, 1.2e-5, f_y=0.0)
    with pytest.raises(E.ConfigError, match=r"stress\.material\.grade='S999'"):
        carbon_steel_mechanical("S999")


def test_thermal_material_has_no_mechanical_data() -> None:
    grid = E.slab_grid(0.1, 10)
    with pytest.raises(E.ConfigError, match=r"stress\.material='TabulatedMaterial'.*"
                       r"carbon_steel_mechanical"):
        plate_stress(jnp.full((10,), 300.0), grid, E.carbon_steel())  # type: ignore[arg-type]
