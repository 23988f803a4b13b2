"""Boundary conditions: radiation, prescribed temperature and flux, schedules, face groups."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from engine_cases import KELVIN, furnace_zones
from scipy.optimize import brentq

from steeltwin import engine as E
from steeltwin.engine import analytic

SIGMA = E.STEFAN_BOLTZMANN


def _lumped_temperature(t: float, T_initial: float, T_sur: float, *args: float) -> float:
    """Invert the closed-form time of the lumped radiating body (brentq on T)."""
    near = T_sur - 1e-9 * np.sign(T_sur - T_initial)
    if analytic.lumped_radiation_time(near, T_initial, T_sur, *args) <= t:
        return T_sur  # within 1e-9 K of the surroundings
    f = lambda T: float(analytic.lumped_radiation_time(T, T_initial, T_sur, *args)) - t  # noqa: E731
    return brentq(f, T_initial, near, xtol=1e-12, rtol=1e-15)


@pytest.mark.parametrize(("T_initial", "T_sur"), [(1273.15, 300.0), (300.0, 1273.15)])
def test_thin_plate_radiation_matches_lumped_solution(T_initial: float, T_sur: float) -> None:
    """A 5 mm plate radiating on both faces (emissivity 0.8), k so high that Bi ~ 1e-6."""
    thickness, rho, c, eps = 0.005, 7850.0, 600.0, 0.8
    material = E.constant_material(1e5, rho, c)
    boundary = E.constant_boundary([E.FaceSpec(T_sur, 0.0, eps)] * 2)
    scenario = E.Scenario(E.slab_grid(thickness, 2), material, boundary, jnp.asarray(T_initial))
    traj = E.simulate(scenario, E.SolverSettings(t_end=1200.0, dt=1.0, save_interval=30.0))
    T = np.asarray(traj.temperature).mean(axis=1)
    exact = [_lumped_temperature(t, T_initial, T_sur, thickness, 2.0, rho, c, eps)
             for t in np.asarray(traj.times)]
    err = np.abs(T - np.asarray(exact)).max()
    # CN, dt = 1 s, against a cooling/heating time scale of ~100 s: measured max 0.012 K
    # (cooling) and 0.0057 K (heating), 4x less than with dt = 2 s (second order). The
    # lumping error (Bi ~ 1e-6) is far smaller.
    assert err <= 0.05, f"max error {err:.4f} K"
    assert abs(T[-1] - T_initial) > 0.5 * abs(T_sur - T_initial)  # it got most of the way


def test_prescribed_temperature_gives_linear_steady_profile() -> None:
    """Fixed face temperatures 300 K / 1300 K, constant k: the steady profile is linear, and
    the cell-centred scheme represents it exactly (half-cell conduction to the faces)."""
    cold = E.FaceSpec(300.0, fixed=True)
    hot = E.FaceSpec(1300.0, fixed=True)
    boundary = E.constant_boundary([cold, hot])
    grid = E.slab_grid(0.1, 10)
    scenario = E.Scenario(grid, E.constant_material(40.0, 7850.0, 500.0), boundary,
                          jnp.asarray(800.0))
    # Backward Euler with steps of 10x the diffusion time L^2/alpha: steady (L-stable).
    traj = E.solve(scenario, 1e4, 20, 20, E.backward_euler(1))
    x = np.asarray(grid.centres(0))
    np.testing.assert_allclose(np.asarray(traj.temperature[-1]), 300.0 + 1000.0 * x / 0.1,
                               rtol=0, atol=1e-8)
    np.testing.assert_allclose(np.asarray(traj.surface_temperature[-1]), [300.0, 1300.0])
    # Steady: as much heat enters at the top as leaves at the bottom, k dT/dx = 4e5 W/m^2.
    np.testing.assert_allclose(np.asarray(traj.heat_flux[-1]), [-4e5, 4e5], rtol=1e-9)


def test_prescribed_heat_flux_enters_exactly() -> None:
    q0 = 5e4  # W/m^2 into the bottom face; the top is adiabatic
    boundary = E.constant_boundary([E.FaceSpec(300.0, heat_flux=q0), E.FaceSpec(300.0)])
    scenario = E.Scenario(E.slab_grid(0.1, 20), E.carbon_steel(), boundary,
                          jnp.asarray(300.0))
    traj = E.simulate(scenario, E.SolverSettings(t_end=1800.0, dt=30.0, save_interval=600.0))
    heat = np.asarray(traj.boundary_heat)
    np.testing.assert_allclose(heat[:, 0], q0 * 600.0, rtol=1e-12)
    np.testing.assert_allclose(heat[:, 1], 0.0, atol=1e-6)
    dH = float(traj.enthalpy[-1] - traj.enthalpy[0])
    np.testing.assert_allclose(dH, q0 * 1800.0, rtol=1e-10)
    T = np.asarray(traj.temperature[-1])
    assert np.all(np.diff(T) < 0)  # hottest at the heated face


def test_adiabatic_uniform_field_stays_uniform() -> None:
    boundary = E.constant_boundary([E.FaceSpec(1500.0)] * 2)  # h = phi = q = 0
    scenario = E.Scenario(E.slab_grid(0.2, 8), E.carbon_steel(), boundary,
                          jnp.asarray(1008.15))  # 735 degC, on the peak of c
    traj = E.solve(scenario, 60.0, 10, 10, E.crank_nicolson(3))
    np.testing.assert_allclose(np.asarray(traj.temperature), 1008.15, rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.asarray(traj.boundary_heat), 0.0, atol=1e-9)


def test_schedule_interpolation_and_steps() -> None:
    times = [0.0, 100.0, 100.0, 300.0]
    gas = np.array([[1000.0, 1200.0, 1400.0, 1000.0], [500.0, 500.0, 600.0, 600.0]])
    boundary = E.schedule_boundary(times, gas, h=10.0, exchange_factor=0.5)
    at = lambda t: np.asarray(boundary.at(jnp.asarray(t)).gas_temperature)  # noqa: E731
    np.testing.assert_allclose(at(-50.0), [1000.0, 500.0])  # held before the first knot
    np.testing.assert_allclose(at(50.0), [1100.0, 500.0])  # linear between knots
    np.testing.assert_allclose(at(100.0), [1400.0, 600.0])  # a step: the later value applies
    np.testing.assert_allclose(at(200.0), [1200.0, 600.0])
    np.testing.assert_allclose(at(1000.0), [1000.0, 600.0])  # held after the last knot
    np.testing.assert_allclose(np.asarray(boundary.at(jnp.asarray(42.0)).h), [10.0, 10.0])


def test_furnace_boundary_face_groups() -> None:
    zones = furnace_zones(0.7, 0.4)
    b1 = E.furnace_boundary(zones, 1)
    mid_zone2 = jnp.asarray(3600.0 + 1800.0)
    v = b1.at(mid_zone2)
    np.testing.assert_allclose(np.asarray(v.exchange_factor), [0.4, 0.7])  # bottom, top
    np.testing.assert_allclose(np.asarray(v.gas_temperature), 1250.0 + KELVIN)
    b2 = E.furnace_boundary(zones, 2)
    np.testing.assert_allclose(np.asarray(b2.at(mid_zone2).exchange_factor),
                               [0.55, 0.55, 0.4, 0.7])  # left, right: mean; bottom; top
    b3 = E.furnace_boundary(zones, 3, side_exchange_factor=0.3)
    np.testing.assert_allclose(np.asarray(b3.at(mid_zone2).exchange_factor),
                               [0.3, 0.3, 0.3, 0.3, 0.4, 0.7])
    # Zone changes: steps by default, linear over ramp_time (centred on the boundary).
    np.testing.assert_allclose(np.asarray(b1.at(jnp.asarray(3600.0)).gas_temperature),
                               1250.0 + KELVIN)
    ramped = E.furnace_boundary(zones, 1, ramp_time=600.0)
    np.testing.assert_allclose(np.asarray(ramped.at(jnp.asarray(3600.0)).gas_temperature),
                               1125.0 + KELVIN)
    np.testing.assert_allclose(np.asarray(ramped.at(jnp.asarray(3300.0)).gas_temperature),
                               1000.0 + KELVIN)


def test_face_flux_solves_the_local_balance() -> None:
    """Face temperature: half-cell conduction = convection + radiation + q0 at the face."""
    T_cell = jnp.asarray([300.0, 800.0, 1300.0, 1600.0])
    g = jnp.asarray([5e3, 1e3, 200.0, 1e4])  # 2k/dx, W/(m^2 K)
    gas, h, phi, q0 = jnp.asarray(1500.0), jnp.asarray(15.0), jnp.asarray(0.7), jnp.asarray(1e3)
    Ts, q, G = E.face_flux(T_cell, g, gas, h, phi, q0, fixed=False)
    Ts, q = np.asarray(Ts), np.asarray(q)
    supplied = 15.0 * (1500.0 - Ts) + 0.7 * SIGMA * (1500.0**4 - Ts**4) + 1e3
    np.testing.assert_allclose(q, supplied, rtol=1e-12)
    np.testing.assert_allclose(q, np.asarray(g) * (Ts - np.asarray(T_cell)), rtol=1e-12)
    # The linearised conductance is -dq/dT_cell (checked by a finite difference).
    d = 1e-3
    _, q_plus, _ = E.face_flux(T_cell + d, g, gas, h, phi, q0, fixed=False)
    np.testing.assert_allclose(np.asarray(G), -(np.asarray(q_plus) - q) / d, rtol=1e-5)


def test_asymmetric_exchange_heats_the_top_faster() -> None:
    boundary = E.furnace_boundary(furnace_zones(0.7, 0.4), 1)
    scenario = E.Scenario(E.slab_grid(0.22, 44), E.carbon_steel(), boundary,
                          jnp.asarray(298.15))
    # The step layout of the other furnace-slab tests (dt 30 s, saves every 1200 s).
    traj = E.simulate(scenario, E.SolverSettings(t_end=3600.0, dt=30.0, save_interval=1200.0))
    surf = np.asarray(traj.surface_temperature[-1])
    heat = np.asarray(traj.boundary_heat).sum(axis=0)
    assert surf[1] > surf[0] + 10.0 and heat[1] > heat[0]
    T = np.asarray(traj.temperature[-1])
    assert T[-1] > T[0]  # top cell hotter than the bottom cell


def test_ramp_inside_a_zone_is_linear_from_entry_to_exit() -> None:
    """Issue 19: a zone whose set-point ramps (gas_temperature_end_C). The gas follows the
    ramp exactly inside the zone, the zone-change ramp still joins it to its neighbours, and
    a constant zone is unchanged."""
    zones = [E.FurnaceZone("a", 1000.0, 3600.0, 0.6, 0.6, gas_temperature_end_C=1200.0),
             E.FurnaceZone("b", 1250.0, 3600.0, 0.6, 0.6)]
    b = E.furnace_boundary(zones, 1, ramp_time=600.0)
    gas = lambda t: float(b.at(jnp.asarray(t)).gas_temperature[0]) - KELVIN  # noqa: E731
    for t in (0.0, 900.0, 1800.0, 3300.0):  # inside zone a, up to the start of the change
        assert gas(t) == pytest.approx(1000.0 + 200.0 * t / 3600.0, abs=1e-9)
    # Across the change (3300-3900 s): linear from the ramp's value to zone b's.
    assert gas(3600.0) == pytest.approx(0.5 * (1000.0 + 200.0 * 3300.0 / 3600.0 + 1250.0))
    assert gas(5000.0) == pytest.approx(1250.0)
    with pytest.raises(E.ConfigError, match="gas_temperature_end_C"):
        E.furnace_boundary([E.FurnaceZone("a", 1000.0, 3600.0, gas_temperature_end_C=np.nan)],
                           1)
