"""Observed orders of accuracy: space (2), time (1 backward Euler, 2 Crank-Nicolson).

Orders are least-squares slopes of log(error) against log(h) over four refinements; each must
lie within 0.2 of theory. Time orders use a reference computed on the same spatial grid with a
much smaller step, so the spatial error cancels; the time loop runs in fixed compiled chunks
(``run_chunked``), so refining dt never recompiles.
"""

from __future__ import annotations

import dataclasses
import itertools

import jax.numpy as jnp
import numpy as np
import pytest
from engine_cases import (
    ALPHA_CONST,
    K_CONST,
    T_COLD,
    T_HOT,
    centred_coordinates,
    convection_box,
    fit_order,
    run_chunked,
)

from steeltwin import engine as E
from steeltwin.engine import analytic

L = 0.1
ORDER_TOL = 0.2


def test_space_order_1d() -> None:
    """Plane wall, Bi = 10, N = 20..160 cells, CN with a step small enough to be invisible."""
    h = 10.0 * K_CONST / L
    t_end = 0.3 * L**2 / ALPHA_CONST
    cells = [20, 40, 80, 160]
    errs = []
    for n in cells:
        scenario = convection_box([L], [n], h)
        traj = E.solve(scenario, t_end / 1000, 1000, 1000, E.crank_nicolson(1))
        (x,) = centred_coordinates(scenario.grid)
        exact = T_COLD + (T_HOT - T_COLD) * analytic.plane_wall_theta(x, t_end, L, ALPHA_CONST,
                                                                      h, K_CONST)
        errs.append(np.abs(np.asarray(traj.temperature[-1]) - exact).max())
    order = fit_order([2 * L / n for n in cells], errs)
    # Measured errors 1.06, 0.27, 0.066, 0.017 K: order 2.000.
    assert abs(order - 2.0) <= ORDER_TOL, f"space order {order:.3f}, errors {errs}"


@pytest.mark.slow
def test_space_order_2d() -> None:
    """Rectangle with convection, explicit at 0.9 of its stable step (time error ~ dt ~ dx^2,
    so it converges at the same second order)."""
    half = (0.1, 0.05)
    h = 400.0
    t_end = 0.5 * half[1] ** 2 / ALPHA_CONST
    cells = [(10, 5), (20, 10), (40, 20)]
    errs = []
    for n in cells:
        scenario = convection_box(half, n, h)
        settings = E.SolverSettings(t_end=t_end, dt=0.9 * E.stable_time_step(scenario),
                                    save_interval=t_end, scheme="explicit")
        traj = E.simulate(scenario, settings)
        X, Y = np.meshgrid(*centred_coordinates(scenario.grid), indexing="ij")
        exact = T_COLD + (T_HOT - T_COLD) * analytic.rectangle_theta(
            X, Y, t_end, half, ALPHA_CONST, h, K_CONST)
        errs.append(np.abs(np.asarray(traj.temperature[-1]) - exact).max())
    order = fit_order([2 * half[0] / n[0] for n in cells], errs)
    # Measured errors 3.63, 0.91, 0.23 K (corner cells included): order 2.00.
    assert abs(order - 2.0) <= ORDER_TOL, f"2D space order {order:.3f}, errors {errs}"


def _time_errors(scenario: E.Scenario, t_end: float, scheme: E.Scheme,
                 refinements: list[int], reference: np.ndarray) -> list[float]:
    errs = []
    for m in refinements:  # m chunks of 10 steps: dt = t_end / (10 m)
        run = run_chunked(scenario, t_end / (10 * m), m, 1, scheme, save_every=10)
        errs.append(float(np.abs(run["temperature"][-1] - reference).max()))
    return errs


def _smooth_wall() -> tuple[E.Scenario, float]:
    """Plane wall (Bi = 1, 100 cells) starting from its first eigenmode.

    A smooth start: from a uniform field, Crank-Nicolson's weakly damped high modes (the
    initial jump to the surroundings) mask its second order at large dt/dx^2. That is a
    property of the scheme, not of the code.
    """
    scenario = convection_box([L], [100], K_CONST / L)
    (x,) = centred_coordinates(scenario.grid)
    zeta1 = analytic.plane_wall_roots(1.0, 1)[0]
    T0 = T_COLD + (T_HOT - T_COLD) * np.cos(zeta1 * x / L)
    t_end = 0.2 * L**2 / ALPHA_CONST
    return dataclasses.replace(scenario, initial_temperature=jnp.asarray(T0)), t_end


def _radiating_stainless() -> tuple[E.Scenario, float]:
    """Nonlinear: EN 1993-1-2 stainless steel (k, c vary with T), radiation phi = 0.7 and
    h = 20 W/(m^2 K) from 1200 degC gas, 100 mm plate from 25 degC, 10 cells, 30 min."""
    boundary = E.constant_boundary([E.FaceSpec(1473.15, 20.0, 0.7)] * 2)
    grid = E.slab_grid(0.1, 10)
    return E.Scenario(grid, E.stainless_steel(), boundary, jnp.asarray(298.15)), 1800.0


@pytest.mark.parametrize("case", ["linear", "nonlinear"])
@pytest.mark.parametrize(("theta", "expected"), [(1.0, 1.0), (0.5, 2.0)])
def test_time_order(case: str, theta: float, expected: float) -> None:
    scenario, t_end = _smooth_wall() if case == "linear" else _radiating_stainless()
    # Linear: one iteration is exact; nonlinear: the default 3 of ``simulate``.
    iterations = 1 if case == "linear" else 3
    # Reference: CN with 1/256 of the coarsest step (error < 1e-8 K, far below the errors).
    reference = run_chunked(scenario, t_end / 10240, 1024, 1, E.crank_nicolson(iterations),
                            save_every=10)["temperature"][-1]
    refinements = [4, 8, 16, 32]  # linear: dt = 4.9 ... 0.61 s; nonlinear: 45 ... 5.6 s
    errs = _time_errors(scenario, t_end, E.Scheme(theta, iterations), refinements, reference)
    order = fit_order([t_end / (10 * m) for m in refinements], errs)
    # Measured: linear BE 0.999 (0.24 ... 0.030 K), CN 2.000 (1.5e-4 ... 2.3e-6 K);
    # nonlinear BE 0.997 (6.9 ... 0.87 K), CN 1.99 (6.0e-3 ... 9.7e-5 K).
    assert abs(order - expected) <= ORDER_TOL, f"time order {order:.3f}, errors {errs}"
    # Each halving must help on its own (no stagnation hidden by the fit).
    assert all(b < a for a, b in itertools.pairwise(errs))


@pytest.mark.slow
@pytest.mark.parametrize("linear_solver", ["krylov", "adi"])
def test_time_order_2d(linear_solver: str) -> None:
    """Crank-Nicolson in 2D, one iteration, constant properties: order 2 with either linear
    solver (Krylov: the exact theta-method; ADI: the Douglas-Gunn splitting, whose error is
    also O(dt^2))."""
    half = (0.1, 0.05)
    scenario = convection_box(half, (20, 10), 400.0)
    X, Y = np.meshgrid(*centred_coordinates(scenario.grid), indexing="ij")
    zx = analytic.plane_wall_roots(1.0, 1)[0]
    zy = analytic.plane_wall_roots(0.5, 1)[0]
    T0 = T_COLD + (T_HOT - T_COLD) * np.cos(zx * X / half[0]) * np.cos(zy * Y / half[1])
    scenario = dataclasses.replace(scenario, initial_temperature=jnp.asarray(T0))
    t_end = 0.5 * half[1] ** 2 / ALPHA_CONST
    scheme = E.crank_nicolson(1, linear_solver=linear_solver)
    reference = run_chunked(scenario, t_end / 10240, 1024, 1, scheme,
                            save_every=10)["temperature"][-1]
    refinements = [4, 8, 16, 32]
    errs = _time_errors(scenario, t_end, scheme, refinements, reference)
    order = fit_order([t_end / (10 * m) for m in refinements], errs)
    # Measured errors: Krylov 1.1e-3, 2.7e-4, 6.8e-5, 1.7e-5 K; ADI 4.0e-4 ... 6.3e-6 K;
    # both order 2.000.
    assert abs(order - 2.0) <= ORDER_TOL, f"ADI time order {order:.3f}, errors {errs}"
