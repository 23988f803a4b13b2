"""Energy balance: enthalpy change equals the integrated boundary heat.

Nonlinear EN 1993-1-2 carbon steel (the 735 degC peak of c is crossed), radiation phi = 0.6
top / 0.5 bottom, three furnace zones (1000 / 1250 / 1230 degC over 2.67 h) from 25 degC.
In float64 a conservative finite-volume update balances to round-off: the test asks for
1e-8 relative (sums of ~10^3 steps x 10^3 cells of O(1e9) J/m^3 lose ~1e-12).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from engine_cases import FURNACE_END, energy_mismatch, furnace_zones

from steeltwin import engine as E

REL_TOL = 1e-8  # measured: <= 8e-16 in every case below


def _scenario(grid: E.Grid) -> E.Scenario:
    boundary = E.furnace_boundary(furnace_zones(0.6, 0.5), grid.ndim)
    return E.Scenario(grid, E.carbon_steel(), boundary, jnp.asarray(298.15))


def _settings(scheme: str, scenario: E.Scenario) -> E.SolverSettings:
    dt = 0.9 * E.stable_time_step(scenario) if scheme == "explicit" else 30.0
    return E.SolverSettings(t_end=FURNACE_END, dt=dt, save_interval=1200.0, scheme=scheme)


def _check(scenario: E.Scenario, scheme: str) -> None:
    traj = E.simulate(scenario, _settings(scheme, scenario))
    rel, Q = energy_mismatch(traj)
    residual = float(np.max(getattr(traj, "residual", np.nan)))
    assert rel <= REL_TOL, (f"|dH - Q| / Q = {rel:.3e} ({scheme}, {scenario.grid.shape}); "
                            f"max reported residual {residual:.3g} K")
    # The check is not vacuous: the slab took up a lot of heat, through every face group.
    assert Q > 0 and np.all(np.asarray(traj.boundary_heat).sum(axis=0) > 0)
    # Per save interval too, not just in total.
    dH = np.diff(np.asarray(traj.enthalpy))
    Qi = np.asarray(traj.boundary_heat).sum(axis=1)
    assert np.abs(dH - Qi).max() <= REL_TOL * np.abs(Qi).max()


@pytest.mark.parametrize("scheme", ["crank_nicolson", "backward_euler", "explicit"])
def test_energy_balance_1d(scheme: str) -> None:
    _check(_scenario(E.slab_grid(0.22, 44)), scheme)


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["crank_nicolson", "explicit"])
def test_energy_balance_2d(scheme: str) -> None:
    # 440 x 220 mm section, 11 mm cells.
    _check(_scenario(E.box_grid((0.44, 0.22), (40, 20))), scheme)


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["crank_nicolson", "explicit"])
def test_energy_balance_h_beam(scheme: str) -> None:
    # 300 x 200 mm H-beam (web 20 mm, flanges 30 mm) on 10 mm cells: re-entrant corners and
    # faces of every orientation inside the grid.
    mask = E.h_beam_mask(0.3, 0.2, 0.02, 0.03, 0.01)
    _check(_scenario(E.mask_grid(mask, 0.01)), scheme)
