"""Free-plate thermal stress (1D): closed forms, invariants, plasticity load paths."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from steeltwin import engine as E
from steeltwin.engine import analytic
from steeltwin.engine._stress_material import carbon_steel_mechanical, constant_mechanical
from steeltwin.engine._stress_plate import plate_history, plate_stress

YOUNG, NU, ALPHA = 200e9, 0.3, 1.2e-5
EB = YOUNG / (1 - NU)
THICK = 0.1


def _z(grid: E.Grid) -> np.ndarray:
    return np.asarray(grid.centres(0)) - 0.5 * THICK


def _const(f_y: float = 1e30, hardening: float = 0.0) -> E.ConstantMaterial:
    return constant_mechanical(YOUNG, NU, ALPHA, f_y=f_y, hardening=hardening)


@pytest.mark.parametrize("mode", ["free", "held_flat"])
def test_uniform_temperature_is_stress_free(mode: str) -> None:
    grid = E.slab_grid(THICK, 16)
    out = plate_stress(jnp.full((16,), 900.0), grid, carbon_steel_mechanical(), mode=mode)
    # Rounding only: sigma ~ E_b eps_th ~ 3e9 Pa times eps_machine.
    assert float(jnp.max(jnp.abs(out.stress))) < 1e-5


def test_linear_temperature_is_stress_free_only_when_free() -> None:
    grid = E.slab_grid(THICK, 16)
    T = jnp.asarray(600.0 + 2000.0 * _z(grid))
    mat = _const()
    assert float(jnp.max(jnp.abs(plate_stress(T, grid, mat).stress))) < 1e-5
    held = plate_stress(T, grid, mat, mode="held_flat").stress
    np.testing.assert_allclose(held, -EB * ALPHA * 2000.0 * _z(grid), rtol=1e-10)
    restrained = plate_stress(T, grid, mat, mode="restrained").stress
    np.testing.assert_allclose(restrained, -EB * ALPHA * (np.asarray(T) - 293.15), rtol=1e-12)


def _parabolic_error(n: int) -> float:
    grid = E.slab_grid(THICK, n)
    z = _z(grid)
    dT = 100.0
    T = 500.0 + dT * (2 * z / THICK) ** 2 + 300.0 * z
    out = plate_stress(jnp.asarray(T), grid, _const())
    # Closed form (Timoshenko & Goodier, Theory of Elasticity, ch. 13):
    # sigma = E alpha/(1-nu) [-T + mean T + 12 z/h^3 int T z dz].
    exact = EB * ALPHA * (-(T - 500.0 - 300.0 * z) + dT / 3.0)
    return float(np.max(np.abs(np.asarray(out.stress) - exact)) / (EB * ALPHA * dT))


def test_parabolic_profile_matches_closed_form_second_order() -> None:
    errors = [_parabolic_error(n) for n in (10, 20, 40)]
    # The midpoint mean of z^2 is (h^2/12)(1 - 1/n^2): error dT/(3 n^2) exactly, order 2.
    np.testing.assert_allclose(errors[0], 1.0 / 300.0, rtol=1e-9)
    orders = np.log2(np.asarray(errors[:-1]) / np.asarray(errors[1:]))
    np.testing.assert_allclose(orders, 2.0, atol=1e-6)


def test_force_and_moment_vanish_for_random_profiles() -> None:
    rng = np.random.default_rng(0)
    grid = E.slab_grid(THICK, 37)
    z, dz = _z(grid), THICK / 37
    T = 293.15 + rng.uniform(0.0, 1100.0, size=(5, 37))
    out = plate_stress(jnp.asarray(T), grid, carbon_steel_mechanical())
    s = np.asarray(out.stress)
    scale = np.max(np.abs(s), axis=1) * THICK
    np.testing.assert_array_less(np.abs((s * dz).sum(1)) / scale, 1e-13)
    np.testing.assert_array_less(np.abs((s * z * dz).sum(1)) / (scale * THICK), 1e-13)


def test_symmetric_heating_matches_plane_wall() -> None:
    # Constant-property plate heated on both faces: sigma (1-nu)/(E alpha dT) = th*_mean - th*.
    k, rho, c, h = 40.0, 7850.0, 500.0, 500.0
    L, n, t = 0.5 * THICK, 40, 300.0
    grid = E.slab_grid(THICK, n)
    z = _z(grid)
    T_inf, T_i = 1273.15, 293.15
    theta = analytic.plane_wall_theta(z, t, L, k / (rho * c), h, k)
    mean = float(analytic.plane_wall_mean_theta(np.asarray(t), L, k / (rho * c), h, k))
    T = T_inf + (T_i - T_inf) * theta
    s = np.asarray(plate_stress(jnp.asarray(T), grid, _const()).stress)
    got = s * (1 - NU) / (YOUNG * ALPHA * (T_i - T_inf))
    # Midpoint vs exact mean: O(dz^2) ~ (1/40)^2 * |theta''| / 24 < 1e-3.
    np.testing.assert_allclose(got, mean - theta, atol=1e-3)


def test_restrained_biaxial_path_elastic_perfectly_plastic() -> None:
    # Restrained plate: sigma = -E_b alpha dT, capped at f_y; unloading elastic.
    fy = 100e6
    grid = E.slab_grid(THICK, 8)
    dT = np.array([0.0, 10.0, 40.0, 60.0, 40.0, 0.0, -30.0, 0.0])
    T = 293.15 + dT[:, None] * np.ones((1, 8))
    out = plate_history(jnp.asarray(T), grid, _const(f_y=fy), mode="restrained")
    e = EB * ALPHA
    expected = []
    s = 0.0
    for k in range(len(dT)):
        trial = s - e * (dT[k] - (dT[k - 1] if k else 0.0))
        s = float(np.clip(trial, -fy, fy))
        expected.append(s)
    np.testing.assert_allclose(np.asarray(out.stress)[:, 3], expected, rtol=1e-12, atol=1e-3)
    # Unloading 60 -> 40 K is elastic: the stress changes by exactly E_b alpha 20 K.
    np.testing.assert_allclose(float(out.stress[4, 0] - out.stress[3, 0]), e * 20.0, rtol=1e-12)
    assert float(out.equivalent_plastic_strain[4, 0]) == float(
        out.equivalent_plastic_strain[3, 0])


def test_linear_hardening_path() -> None:
    fy, H = 100e6, 20e9
    grid = E.slab_grid(THICK, 8)
    dT = 80.0
    T = 293.15 + np.array([[0.0], [dT]]) * np.ones((1, 8))
    out = plate_history(jnp.asarray(T), grid, _const(f_y=fy, hardening=H), mode="restrained")
    # |sigma| = f_y + H kappa with kappa = 2 eps_p and E_b (eps_th + eps_p) = -sigma... solve:
    # sigma = -(f_y + H k); E_b(alpha dT - k/2) = f_y + H k  ->  k = (E_b a dT - f_y)/(E_b/2 + H)
    kap = (EB * ALPHA * dT - fy) / (EB / 2 + H)
    np.testing.assert_allclose(float(out.stress[1, 0]), -(fy + H * kap), rtol=1e-12)


def test_high_yield_plastic_equals_elastic() -> None:
    grid = E.slab_grid(THICK, 20)
    rng = np.random.default_rng(1)
    T = jnp.asarray(293.15 + rng.uniform(0, 700, size=(4, 20)))
    mat = carbon_steel_mechanical()
    big = dataclasses.replace(mat, fy20=jnp.asarray(1e30))
    hist = plate_history(T, grid, big)
    ela = plate_stress(T, grid, mat)
    np.testing.assert_allclose(hist.stress, ela.stress, rtol=1e-9, atol=1e-3)


def test_heat_cool_cycle_leaves_equilibrated_residual_stress() -> None:
    # Quench-like history: surface heated fast, then uniform again. The yielded plate keeps a
    # self-equilibrated residual stress; the plastic increments are checked by force balance.
    grid = E.slab_grid(THICK, 24)
    z = _z(grid)
    shape = (2 * z / THICK) ** 2
    amps = np.concatenate([np.linspace(0, 500, 6), np.linspace(500, 0, 6)[1:]])
    T = 293.15 + 100.0 + amps[:, None] * shape[None, :]
    out = plate_history(jnp.asarray(T), grid, carbon_steel_mechanical("S235"))
    res = np.asarray(out.stress[-1])
    assert float(np.max(out.force_residual)) < 1e-10
    assert np.max(np.abs(res)) > 20e6  # yielded: residual stress remains
    dz = THICK / 24
    assert abs((res * dz).sum()) < 1e-9 * np.max(np.abs(res)) * THICK
    assert abs((res * z * dz).sum()) < 1e-9 * np.max(np.abs(res)) * THICK**2
    # Surface heated in compression yields in compression, so it ends in tension.
    assert res[0] > 0 and res[len(res) // 2] < 0


def test_plate_grad_matches_finite_differences() -> None:
    grid = E.slab_grid(THICK, 12)
    z = _z(grid)
    mat = carbon_steel_mechanical()
    T0 = jnp.asarray(700.0 + 400.0 * (2 * z / THICK) ** 2)

    def surface(dT: jnp.ndarray) -> jnp.ndarray:
        return plate_stress(T0 + dT, grid, mat).stress[0]

    g = float(jax.grad(surface)(jnp.asarray(0.0)))
    eps = 1e-3
    fd = float((surface(jnp.asarray(eps)) - surface(jnp.asarray(-eps))) / (2 * eps))
    np.testing.assert_allclose(g, fd, rtol=1e-6)


def test_plate_bad_input() -> None:
    with pytest.raises(E.ConfigError, match=r"geometry\.cells=3 is invalid: expected at least 4"):
        plate_stress(jnp.full((3,), 300.0), E.slab_grid(THICK, 3), _const())
    with pytest.raises(E.ConfigError, match=r"stress\.mode='clamped'"):
        plate_stress(jnp.full((8,), 300.0), E.slab_grid(THICK, 8), _const(), mode="clamped")


@pytest.mark.slow
def test_thermal_trajectory_drives_the_plastic_plate() -> None:
    # End to end: cool a carbon-steel slab from 850 degC (engine.simulate), then the plastic
    # plate over the saved fields and the utilisation summary.
    from steeltwin.engine._stress_risk import stress_risk

    grid = E.slab_grid(0.05, 16)
    faces = [E.FaceSpec(298.15, 300.0, 0.8)] * 2
    scen = E.Scenario(grid, E.carbon_steel(), E.constant_boundary(faces), jnp.asarray(1123.15))
    traj = E.simulate(scen, E.SolverSettings(t_end=1200.0, dt=10.0, save_interval=60.0))
    mat = carbon_steel_mechanical("S355", T_ref=1123.15)  # stress-free at 850 degC
    out = plate_history(traj.temperature, grid, mat)
    assert bool(jnp.all(jnp.isfinite(out.stress)))
    assert float(jnp.max(out.force_residual)) < 1e-8
    risk = stress_risk(out.von_mises, traj.temperature, mat)
    assert 0.0 < float(risk.worst) <= 1.0 + 1e-9  # plastic: never above the hot yield
