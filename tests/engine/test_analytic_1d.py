"""Plane wall and semi-infinite solid against the exact series solutions (engine.analytic).

Case: constant steel (k = 40 W/(m K), rho c = 3.9e6 J/(m^3 K)), half-thickness L = 0.1 m,
cooled from 1000 degC to 0 degC surroundings by convection on both faces: a 1000 K span.
Every scheme runs through ``simulate`` (the checked public entry point).
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_cases import (
    ALPHA_CONST,
    K_CONST,
    T_COLD,
    T_HOT,
    centred_coordinates,
    convection_box,
)

from steeltwin import engine as E
from steeltwin.engine import analytic

L = 0.1  # m, half-thickness
N_CELLS = 200  # dx = 1 mm
T_END = 0.5 * L**2 / ALPHA_CONST  # Fo = 0.5, about 491 s
N_SAVE = 10
BIOTS = [0.1, 1.0, 10.0, 50.0]

# dt per scheme (an upper bound: simulate shortens it to hit the save times).
#  - Crank-Nicolson: 2000 steps (dt = 0.25 s, alpha dt / dx^2 = 2.5): time error ~1e-3 K.
#    (With 200 steps, dt/dx^2 = 10, CN's undamped high modes still ring from the
#    discontinuous start at Fo = 0.1: 2 K at Bi = 50 — CN is not L-stable, no bug.)
#  - backward Euler: first order, 100 000 steps (dt = 5 ms) to keep its time error near
#    0.015 K; it is the most expensive scheme here.
#  - explicit: 0.9 of the stability limit (stable_time_step) of the stiffest case, Bi = 50,
#    for all Biot numbers (one compiled kernel instead of four; ~11 000 steps). 0.9 as in
#    simulate's explicit_dt="auto": exactly at the limit the highest grid mode has
#    amplification -1, so the initial jump rings undamped (0.049 K at Fo = 0.1 for Bi = 50).
SCHEME_DT = {"crank_nicolson": T_END / 2000, "backward_euler": T_END / 100_000}

# Tolerance 0.05 K (5e-5 of the span), checked at every save with Fo >= 0.1. The
# discretisation error is second order in dx; measured maxima on this 200-cell grid
# (Bi = 0.1 / 1 / 10 / 50): CN 0.0007 / 0.0063 / 0.030 / 0.032 K, BE 0.0009 / 0.0083 /
# 0.037 / 0.039 K, explicit 0.0019 / 0.012 / 0.026 / 0.028 K. The first save (Fo = 0.05)
# is excluded: the jump between the initial temperature and the surroundings is still
# being smoothed there and needs ~2x finer cells for 0.05 K (0.06-0.08 K measured).
TOLERANCE_K = 0.05


def _settings(scheme: str, scenario: E.Scenario) -> E.SolverSettings:
    if scheme == "explicit":
        stiffest = convection_box([L], [N_CELLS], max(BIOTS) * K_CONST / L)
        dt = 0.9 * E.stable_time_step(stiffest)
        assert dt <= 0.9 * E.stable_time_step(scenario)
    else:
        dt = SCHEME_DT[scheme]
    return E.SolverSettings(t_end=T_END, dt=dt, save_interval=T_END / N_SAVE, scheme=scheme)


@pytest.mark.parametrize("scheme", ["crank_nicolson", "backward_euler", "explicit"])
@pytest.mark.parametrize("biot", BIOTS)
def test_plane_wall_convection(scheme: str, biot: float) -> None:
    h = biot * K_CONST / L
    scenario = convection_box([L], [N_CELLS], h)
    traj = E.simulate(scenario, _settings(scheme, scenario))
    (x,) = centred_coordinates(scenario.grid)
    t = np.asarray(traj.times)
    # Save times are hit exactly (t accumulates dt, so allow ~n_steps ulps of drift).
    np.testing.assert_allclose(t, np.linspace(0.0, T_END, N_SAVE + 1), rtol=1e-9)
    later = t >= 0.1 * L**2 / ALPHA_CONST - 1e-9
    exact = T_COLD + (T_HOT - T_COLD) * analytic.plane_wall_theta(
        x[None, :], t[later, None], L, ALPHA_CONST, h, K_CONST)
    T = np.asarray(traj.temperature)[later]
    err = np.abs(T - exact).max()
    assert err <= TOLERANCE_K, f"max error {err:.4f} K (Bi={biot}, {scheme})"
    # The mean (what the enthalpy measures) obeys the same bound.
    mean_exact = T_COLD + (T_HOT - T_COLD) * analytic.plane_wall_mean_theta(
        t[later], L, ALPHA_CONST, h, K_CONST)
    assert np.abs(T.mean(axis=1) - mean_exact).max() <= TOLERANCE_K
    # The exchange is real: the field moved by far more than the tolerance.
    assert T_HOT - T[-1].min() > 40.0


def test_semi_infinite_convection() -> None:
    """Early times of the same slab: each face behaves as a semi-infinite solid.

    h = 2000 W/(m^2 K), t <= 50 s: penetration depth sqrt(alpha t) <= 23 mm, so the far
    face (at least 150 mm from the compared cells) contributes < 5e-3 K. The steep early
    surface layer needs dx = 0.5 mm.
    """
    h = 2000.0
    scenario = convection_box([L], [2 * N_CELLS], h)
    t_end = 50.0
    settings = E.SolverSettings(t_end=t_end, dt=t_end / 2000, save_interval=t_end / N_SAVE)
    traj = E.simulate(scenario, settings)
    depth = np.asarray(scenario.grid.centres(0))
    near = depth < 0.05
    t = np.asarray(traj.times)[1:]
    ratio = analytic.semi_infinite_convection(depth[None, near], t[:, None], ALPHA_CONST, h,
                                              K_CONST)
    exact = T_HOT + (T_COLD - T_HOT) * ratio
    err = np.abs(np.asarray(traj.temperature)[1:, near] - exact).max()
    # Measured 0.037 K (at t = 5 s, where the layer is ~14 cells thick; 0.146 K with 1 mm
    # cells and 0.009 K with 0.25 mm: second order in dx, time error < 1e-3 K).
    assert err <= 0.05, f"max error {err:.4f} K"
    # Both faces see the same surroundings: the field is mirror-symmetric.
    T_end = np.asarray(traj.temperature)[-1]
    np.testing.assert_allclose(T_end, T_end[::-1], atol=1e-9)


def test_explicit_stability_limit_is_sharp() -> None:
    """stable_time_step is the real limit: 0.99 of it stays within the physical bounds,
    1.05 of it makes the highest mode grow by |1 - 2 x 1.05| = 1.1 per step and blow up."""
    scenario = convection_box([L], [N_CELLS], max(BIOTS) * K_CONST / L)
    limit = E.stable_time_step(scenario)
    below = np.asarray(E.solve(scenario, 0.99 * limit, 600, 600, E.EXPLICIT).temperature[-1])
    above = np.asarray(E.solve(scenario, 1.05 * limit, 600, 600, E.EXPLICIT).temperature[-1])
    assert below.min() >= T_COLD - 1e-9 and below.max() <= T_HOT + 1e-9
    assert not np.all(np.isfinite(above)) or np.abs(above - T_COLD).max() > 1e4
