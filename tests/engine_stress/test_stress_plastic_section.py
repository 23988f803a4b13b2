"""2D J2 plasticity of a section: analytic load paths, elastic unloading, elastic limit."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from steeltwin import engine as E
from steeltwin.engine._stress_material import constant_mechanical
from steeltwin.engine._stress_section import section_stress
from steeltwin.engine._stress_section_plastic import section_history

YOUNG, NU, ALPHA, FY = 200e9, 0.3, 1e-5, 100e6
GRID = E.box_grid((0.04, 0.04), (8, 8))


def test_plane_strain_uniform_heating_is_uniaxial_elastic_perfectly_plastic() -> None:
    # Uniform T in plane strain: sigma_xx = sigma_yy = 0 and sigma_zz = -E eps_th (uniaxial);
    # perfectly plastic: |sigma_zz| <= f_y, unloading with slope E (exact, any mesh).
    mat = constant_mechanical(YOUNG, NU, ALPHA, f_y=FY)
    dT = np.array([0.0, 25.0, 50.0, 100.0, 150.0, 100.0, 0.0, -100.0])
    T = jnp.asarray(293.15 + dT[:, None, None] * np.ones((1, *GRID.shape)))
    out = section_history(T, GRID, mat, kind="plane_strain")
    expected, s = [], 0.0
    for k in range(len(dT)):
        s = float(np.clip(s - YOUNG * ALPHA * (dT[k] - (dT[k - 1] if k else 0.0)), -FY, FY))
        expected.append(s)
    np.testing.assert_allclose(out.szz[:, 3, 3], expected, atol=1e-3 * FY)
    assert float(jnp.max(jnp.abs(out.sxx))) < 1e-6 * FY
    assert float(jnp.max(out.residual)) < 1e-6
    # Unloading 150 -> 100 K is elastic: no new plastic strain, stress change E alpha 50 K.
    np.testing.assert_allclose(out.equivalent_plastic_strain[5], out.equivalent_plastic_strain[4])
    np.testing.assert_allclose(float(out.szz[5, 0, 0] - out.szz[4, 0, 0]), YOUNG * ALPHA * 50,
                               rtol=1e-6)
    # kappa after the first yield: |d eps_p,zz| = kappa for uniaxial flow.
    np.testing.assert_allclose(float(out.equivalent_plastic_strain[4, 0, 0]),
                               ALPHA * 150 - FY / YOUNG, rtol=1e-6)


def test_high_yield_plastic_equals_elastic() -> None:
    mat = constant_mechanical(YOUNG, NU, ALPHA)  # f_y = 1e30
    x = (np.arange(8) + 0.5) / 8 - 0.5
    T = 500.0 + 300.0 * (x[:, None] ** 2 + 0.5 * x[None, :] ** 2) + 100.0 * x[None, :]
    Th = jnp.asarray(np.stack([np.full((8, 8), 293.15), T]))
    hist = section_history(Th, GRID, mat)
    ela = section_stress(jnp.asarray(T), GRID, mat)
    scale = float(jnp.max(ela.von_mises))
    for a, b in ((hist.sxx[1], ela.sxx), (hist.szz[1], ela.szz), (hist.sxy[1], ela.sxy)):
        np.testing.assert_allclose(a, b, atol=1e-6 * scale)
    assert float(jnp.max(hist.equivalent_plastic_strain)) == 0.0


def test_gradient_heating_yields_and_leaves_equilibrated_residual_stress() -> None:
    mat = constant_mechanical(YOUNG, NU, ALPHA, f_y=FY)
    x = (np.arange(8) + 0.5) / 8 - 0.5
    shape = 4.0 * (x[:, None] ** 2 + x[None, :] ** 2)
    amps = np.array([0.0, 100.0, 200.0, 300.0, 200.0, 100.0, 0.0])
    Th = jnp.asarray(293.15 + amps[:, None, None] * shape[None])
    out = section_history(Th, GRID, mat, newton_iterations=8)
    assert float(jnp.max(out.residual)) < 1e-5  # force imbalance / (f_y cell)
    assert float(jnp.max(out.equivalent_plastic_strain)) > 0.0
    res = out.szz[-1]
    assert float(jnp.max(jnp.abs(res))) > 0.1 * FY  # yielded, so a residual stress remains
    assert float(jnp.max(out.von_mises)) <= FY * (1 + 1e-3)  # cell means within the yield
    # Zero net axial force (cell means of sigma_zz: exact for the force).
    assert abs(float(jnp.sum(res))) < 1e-6 * FY * res.size
