"""Checks of the exact solutions in engine/analytic.py (NumPy float64, no JAX)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad, solve_ivp
from scipy.optimize import brentq

from steeltwin.engine import analytic

BIOTS = [1e-3, 0.1, 1.0, 10.0, 1e3]


def wall(x_star, fo, biot, n_terms=analytic.DEFAULT_TERMS):
    """θ*(x*, Fo) in dimensionless form: L = 1 m, α = 1 m²/s, k = 1 W/(m·K), h = Bi."""
    return analytic.plane_wall_theta(x_star, fo, 1.0, 1.0, biot, 1.0, n_terms)


@pytest.mark.parametrize("biot", BIOTS)
def test_roots_satisfy_eigen_equation(biot):
    zeta = analytic.plane_wall_roots(biot, 200)
    n = np.arange(200)
    assert np.all((zeta > n * np.pi) & (zeta < n * np.pi + np.pi / 2))
    residual = np.abs(zeta * np.tan(zeta) - biot)
    # The first root carries the solution at late times: relative residual at round-off level.
    assert residual[0] <= 1e-12 * biot
    # Higher roots: ζ itself is only known to one ulp, and d(ζ tan ζ)/dζ ≥ ζ, so the residual
    # is measured against the size of the terms, max(Bi, ζ).
    assert np.all(residual <= 1e-12 * np.maximum(biot, zeta))
    # Independent bracketed solver (Brent) on ζ sin ζ − Bi cos ζ.
    ref = [
        brentq(lambda z: z * np.sin(z) - biot * np.cos(z), a, a + np.pi / 2, xtol=1e-300)
        for a in n[:20] * np.pi
    ]
    np.testing.assert_allclose(zeta[:20], ref, rtol=1e-14)


def test_roots_reject_bad_biot():
    with pytest.raises(ValueError, match="must be finite and > 0"):
        analytic.plane_wall_roots(0.0, 5)


@pytest.mark.parametrize("biot", BIOTS)
def test_default_terms_converged_at_fo_1e_3(biot):
    x = np.linspace(-1.0, 1.0, 81)
    diff = wall(x, 1e-3, biot) - wall(x, 1e-3, biot, n_terms=2000)
    assert np.abs(diff).max() < 1e-10


@pytest.mark.parametrize("biot", [0.1, 1.0, 10.0])
def test_late_time_single_term(biot):
    zeta = analytic.plane_wall_roots(biot, 1)[0]
    c1 = 4 * np.sin(zeta) / (2 * zeta + np.sin(2 * zeta))
    x = np.linspace(0.0, 1.0, 11)
    zeta2 = analytic.plane_wall_roots(biot, 2)[1]
    # Second term relative to the first is ~exp(−(ζ₂² − ζ₁²) Fo): pick Fo so that it is < 1e-12.
    fo = 28.0 / (zeta2**2 - zeta**2)
    one_term = c1 * np.exp(-(zeta**2) * fo) * np.cos(zeta * x)
    np.testing.assert_allclose(wall(x, fo, biot), one_term, rtol=1e-11)


def test_small_biot_is_lumped():
    biot = 1e-3
    fo = np.array([1.0, 10.0, 100.0, 1000.0])[:, None]
    x = np.linspace(-1.0, 1.0, 21)[None, :]
    # Spatial non-uniformity is O(Bi/2) and the decay-rate error O(Bi² Fo/3).
    np.testing.assert_allclose(wall(x, fo, biot), np.exp(-biot * fo) * np.ones_like(x), atol=1e-3)


@pytest.mark.parametrize("biot", [0.1, 1.0, 10.0])
@pytest.mark.parametrize("fo", [0.05, 0.3, 1.0])
def test_series_satisfies_pde_and_robin_bc(biot, fo):
    # Fourth-order central differences, step 5e-4: truncation ~d⁴·max|∂⁶θ| ≲ 4e-8 for Fo ≥ 0.05,
    # round-off ~1e-16·64/(12 d²) ≈ 2e-9.
    d = 5e-4
    x = np.linspace(-0.9, 0.9, 19)

    def diff1(f, s):
        return (-f(s + 2 * d) + 8 * f(s + d) - 8 * f(s - d) + f(s - 2 * d)) / (12 * d)

    def diff2(f, s):
        return (-f(s + 2 * d) + 16 * f(s + d) - 30 * f(s) + 16 * f(s - d) - f(s - 2 * d)) / (
            12 * d**2
        )

    dtheta_dfo = diff1(lambda f: wall(x, f, biot), fo)
    d2theta_dx2 = diff2(lambda s: wall(s, fo, biot), x)
    np.testing.assert_allclose(dtheta_dfo, d2theta_dx2, atol=1e-6)
    # The series (each term) extends smoothly past x* = 1, so the central difference is valid.
    for face in (1.0, -1.0):
        dtheta_dx = diff1(lambda s: wall(s, fo, biot), face)
        np.testing.assert_allclose(-face * dtheta_dx, biot * wall(face, fo, biot), atol=1e-6)


@pytest.mark.parametrize("biot", [0.1, 3.0])
def test_mean_is_integral_of_profile(biot):
    fo = 0.2
    integral, _ = quad(lambda x: float(wall(x, fo, biot)), 0.0, 1.0, epsabs=1e-13)
    mean = analytic.plane_wall_mean_theta(fo, 1.0, 1.0, biot, 1.0)
    np.testing.assert_allclose(mean, integral, rtol=1e-11)


def test_product_solutions_are_symmetric():
    lx, ly, lz = 0.075, 0.05, 0.1
    alpha, k, h, t = 7e-6, 35.0, 150.0, 900.0
    x = np.linspace(-lx, lx, 7)[:, None]
    y = np.linspace(-ly, ly, 5)[None, :]
    rect = analytic.rectangle_theta(x, y, t, (lx, ly), alpha, h, k)
    np.testing.assert_allclose(rect, rect[::-1, :], rtol=1e-14)
    np.testing.assert_allclose(rect, rect[:, ::-1], rtol=1e-14)
    square = analytic.rectangle_theta(x, x.T, t, (lx, lx), alpha, h, k)
    np.testing.assert_allclose(square, square.T, rtol=1e-14)
    # Brick with per-axis h equals the product of the three walls and is mirror-symmetric.
    z = np.linspace(-lz, lz, 3)[None, None, :]
    hs = (150.0, 80.0, 300.0)
    brick = analytic.brick_theta(x[..., None], y[..., None], z, t, (lx, ly, lz), alpha, hs, k)
    product = (
        analytic.plane_wall_theta(x[..., None], t, lx, alpha, hs[0], k)
        * analytic.plane_wall_theta(y[..., None], t, ly, alpha, hs[1], k)
        * analytic.plane_wall_theta(z, t, lz, alpha, hs[2], k)
    )
    np.testing.assert_allclose(brick, product, rtol=1e-14)
    np.testing.assert_allclose(brick, brick[::-1, ::-1, ::-1], rtol=1e-14)
    assert np.all((brick > 0) & (brick < 1))
    with pytest.raises(ValueError, match="one entry per axis"):
        analytic.rectangle_theta(x, y, t, (lx, ly, lz), alpha, h, k)


@pytest.mark.parametrize("fo", [1e-3, 5e-3, 2e-2])
def test_semi_infinite_matches_wall_at_early_times(fo):
    half, alpha, k, h = 0.11, 8e-6, 30.0, 400.0
    t = fo * half**2 / alpha
    depth = np.linspace(0.0, 0.2 * half, 41)
    wall_theta = analytic.plane_wall_theta(half - depth, t, half, alpha, h, k)
    # The far face is felt only through erfc(1/√Fo) ≤ erfc(7): far below 1e-6.
    semi = analytic.semi_infinite_convection(depth, t, alpha, h, k)
    np.testing.assert_allclose(1.0 - wall_theta, semi, atol=1e-6)
    # Overflow-safe form: a huge h√(αt)/k still gives finite numbers (the Dirichlet limit).
    assert np.all(np.isfinite(analytic.semi_infinite_convection(depth, 1e6, alpha, 1e9, k)))


@pytest.mark.parametrize("t_initial,t_sur", [(300.0, 1500.0), (1500.0, 400.0)])
def test_lumped_radiation_time_matches_ode(t_initial, t_sur):
    volume, area, rho, c, eps = 1e-3, 0.06, 7850.0, 600.0, 0.8
    sigma = analytic.STEFAN_BOLTZMANN
    targets = np.linspace(t_initial, t_initial + 0.9 * (t_sur - t_initial), 10)
    times = analytic.lumped_radiation_time(targets, t_initial, t_sur, volume, area, rho, c, eps)
    assert times[0] == 0.0
    assert np.all(np.diff(times) > 0)

    def rhs(_, temp):
        return -eps * area * sigma * (temp**4 - t_sur**4) / (rho * volume * c)

    sol = solve_ivp(
        rhs, (0.0, times[-1]), [t_initial], method="DOP853", t_eval=times, rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(sol.y[0], targets, rtol=1e-6)
    # And the time at which the ODE reaches the last target, from an event.
    event = lambda _, temp: temp[0] - targets[-1]  # noqa: E731
    sol = solve_ivp(
        rhs,
        (0.0, 2 * times[-1]),
        [t_initial],
        method="DOP853",
        events=event,
        rtol=1e-12,
        atol=1e-12,
    )
    np.testing.assert_allclose(sol.t_events[0][0], times[-1], rtol=1e-6)


def test_lumped_radiation_time_rejects_unreachable():
    with pytest.raises(ValueError, match="must lie between"):
        analytic.lumped_radiation_time(1600.0, 300.0, 1500.0, 1e-3, 0.06, 7850.0, 600.0, 0.8)
