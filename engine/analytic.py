"""Exact solutions of transient heat conduction, used to verify the numerical solvers.

Pure NumPy/SciPy (no JAX), SI units: lengths in m, times in s, α in m²/s, h in W/(m²·K),
k in W/(m·K), ρ in kg/m³, c in J/(kg·K). Temperatures may be in any consistent unit except
in `lumped_radiation_time`, which needs kelvin.

Plane wall of half-thickness L (x from the mid-plane, −L ≤ x ≤ L), uniform initial temperature
Tᵢ, convection h to T∞ on both faces, constant k and α = k/(ρc) (Incropera et al.,
*Fundamentals of Heat and Mass Transfer*, §5.5):

    θ* = (T − T∞)/(Tᵢ − T∞) = Σₙ Cₙ exp(−ζₙ² Fo) cos(ζₙ x/L),
    ζₙ tan ζₙ = Bi = hL/k,  Cₙ = 4 sin ζₙ / (2ζₙ + sin 2ζₙ),  Fo = αt/L².

Rectangles and bricks are products of plane-wall solutions (§5.8). The series converges like
exp(−(Nπ)² Fo): the default 200 terms give a truncation error below 1e-10 for Fo ≥ 1e-4
(tests check Fo = 1e-3 against 2000 terms). At t = 0 the partial sums show Gibbs oscillations
at the faces; call with t > 0, and use `semi_infinite_convection` for very small Fo.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

STEFAN_BOLTZMANN = 5.670374419e-8  # W/(m²·K⁴)
DEFAULT_TERMS = 200

Array = NDArray[np.float64]


@functools.lru_cache(maxsize=128)
def _roots_cached(biot: float, n_terms: int) -> Array:
    """Bisection on g(ζ) = ζ sin ζ − Bi cos ζ (ζ tan ζ = Bi without the poles of tan)."""
    n = np.arange(n_terms, dtype=np.float64)
    lo = n * np.pi
    hi = lo + 0.5 * np.pi

    def g(z: Array) -> Array:
        return z * np.sin(z) - biot * np.cos(z)

    # g changes sign exactly once in [nπ, nπ + π/2] because ζ tan ζ increases from 0 to ∞ there.
    sign_lo = np.sign(g(lo))
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if np.all((mid == lo) | (mid == hi)):
            break
        left = np.sign(g(mid)) == sign_lo
        lo = np.where(left, mid, lo)
        hi = np.where(left, hi, mid)
    roots = np.where(np.abs(g(lo)) <= np.abs(g(hi)), lo, hi)
    roots.setflags(write=False)
    return roots


def plane_wall_roots(biot: float, n_terms: int) -> Array:
    """First eigenvalues of the plane wall with convection.

    Args:
        biot: Bi = hL/k > 0 (dimensionless); tested from 1e-3 to 1e3.
        n_terms: number of roots.

    Returns:
        ζₙ, n = 1..n_terms, the roots of ζ tan ζ = Bi with ζₙ ∈ ((n−1)π, (n−1)π + π/2),
        found by bisection to the last floating-point digit.
    """
    if not (np.isfinite(biot) and biot > 0):
        raise ValueError(f"biot={biot!r} must be finite and > 0 (Bi = hL/k)")
    if n_terms < 1:
        raise ValueError(f"n_terms={n_terms!r} must be >= 1")
    return _roots_cached(float(biot), int(n_terms)).copy()


def _wall_coefficients(biot: float, n_terms: int) -> tuple[Array, Array]:
    zeta = plane_wall_roots(biot, n_terms)
    return zeta, 4.0 * np.sin(zeta) / (2.0 * zeta + np.sin(2.0 * zeta))


def _fourier(t: ArrayLike, alpha: float, half_thickness: float) -> Array:
    t = np.asarray(t, dtype=np.float64)
    if np.any(t < 0):
        raise ValueError("t must be >= 0 s (and > 0 for an accurate series, see module doc)")
    return alpha * t / half_thickness**2


def plane_wall_theta(
    x: ArrayLike,
    t: ArrayLike,
    half_thickness: float,
    alpha: float,
    h: float,
    k: float,
    n_terms: int = DEFAULT_TERMS,
) -> Array:
    """θ* = (T − T∞)/(Tᵢ − T∞) in a plane wall cooled or heated on both faces.

    Args:
        x: position from the mid-plane in m, −L ≤ x ≤ L; broadcasts with `t`.
        t: time in s (> 0 recommended, see module docstring).
        half_thickness: L in m.
        alpha: thermal diffusivity α = k/(ρc) in m²/s.
        h: heat-transfer coefficient in W/(m²·K).
        k: thermal conductivity in W/(m·K).
        n_terms: series terms.

    Returns:
        θ* with the broadcast shape of `x` and `t`.
    """
    zeta, cn = _wall_coefficients(h * half_thickness / k, n_terms)
    xs, fo = np.broadcast_arrays(
        np.asarray(x, dtype=np.float64) / half_thickness, _fourier(t, alpha, half_thickness)
    )
    if fo.size > 1 and np.all(fo == fo.flat[0]):
        # One time: evaluate the series once per distinct position only.
        uniq, inverse = np.unique(xs, return_inverse=True)
        vals = np.cos(np.multiply.outer(uniq, zeta)) @ (cn * np.exp(-(zeta**2) * fo.flat[0]))
        return vals[inverse].reshape(xs.shape)
    terms = cn * np.exp(-(zeta**2) * fo[..., None]) * np.cos(zeta * xs[..., None])
    return terms.sum(axis=-1)


def plane_wall_mean_theta(
    t: ArrayLike,
    half_thickness: float,
    alpha: float,
    h: float,
    k: float,
    n_terms: int = DEFAULT_TERMS,
) -> Array:
    """Volume-mean θ* of the plane wall: Σ Cₙ (sin ζₙ/ζₙ) exp(−ζₙ² Fo). Arguments as above."""
    zeta, cn = _wall_coefficients(h * half_thickness / k, n_terms)
    fo = _fourier(t, alpha, half_thickness)
    return (cn * np.sin(zeta) / zeta * np.exp(-(zeta**2) * fo[..., None])).sum(axis=-1)


def _product_theta(coords, t, half_widths, alpha, h, k, n_terms) -> Array:
    if len(half_widths) != len(coords):
        raise ValueError(f"half_widths={half_widths!r} needs one entry per axis ({len(coords)})")
    hs = np.broadcast_to(np.asarray(h, dtype=np.float64), (len(coords),))
    result = np.asarray(1.0)
    for xi, li, hi in zip(coords, half_widths, hs, strict=True):
        result = result * plane_wall_theta(xi, t, li, alpha, float(hi), k, n_terms)
    return result


def rectangle_theta(
    x: ArrayLike,
    y: ArrayLike,
    t: ArrayLike,
    half_widths: tuple[float, float],
    alpha: float,
    h: float | tuple[float, float],
    k: float,
    n_terms: int = DEFAULT_TERMS,
) -> Array:
    """θ* of a long rectangular bar, θ*(x, y) = θ*_wall(x; Lx) · θ*_wall(y; Ly).

    Args:
        x, y: coordinates from the centre in m (broadcast together and with `t`).
        t: time in s.
        half_widths: (Lx, Ly) in m.
        alpha: diffusivity in m²/s.
        h: W/(m²·K), scalar or per axis (hx, hy) (the same on both faces of an axis).
        k: W/(m·K).
        n_terms: series terms per axis.
    """
    return _product_theta((x, y), t, half_widths, alpha, h, k, n_terms)


def brick_theta(
    x: ArrayLike,
    y: ArrayLike,
    z: ArrayLike,
    t: ArrayLike,
    half_widths: tuple[float, float, float],
    alpha: float,
    h: float | tuple[float, float, float],
    k: float,
    n_terms: int = DEFAULT_TERMS,
) -> Array:
    """θ* of a brick, the product of three plane walls; arguments as in `rectangle_theta`."""
    return _product_theta((x, y, z), t, half_widths, alpha, h, k, n_terms)


def semi_infinite_convection(x: ArrayLike, t: ArrayLike, alpha: float, h: float, k: float) -> Array:
    """(T − Tᵢ)/(T∞ − Tᵢ) in a semi-infinite solid with surface convection (Incropera eq. 5.60).

    erfc(η) − exp(hx/k + h²αt/k²) erfc(η + β) with η = x/(2√(αt)), β = h√(αt)/k; the second
    term is evaluated as exp(−η²) erfcx(η + β), which cannot overflow.

    Args:
        x: depth below the surface in m (≥ 0); broadcasts with `t`.
        t: time in s (> 0).
        alpha: m²/s. h: W/(m²·K). k: W/(m·K).
    """
    t = np.asarray(t, dtype=np.float64)
    if np.any(t <= 0):
        raise ValueError("semi_infinite_convection needs t > 0 s")
    root = np.sqrt(alpha * t)
    eta = np.asarray(x, dtype=np.float64) / (2.0 * root)
    return special.erfc(eta) - np.exp(-(eta**2)) * special.erfcx(eta + h * root / k)


def lumped_radiation_time(
    T: ArrayLike,
    T_initial: float,
    T_surroundings: float,
    volume: float,
    area: float,
    rho: float,
    c: float,
    emissivity: float,
) -> Array:
    """Time for a lumped body radiating to an enclosure to reach T (Incropera eq. 5.18).

    Solves ρVc dT/dt = −εAσ(T⁴ − T_sur⁴) in closed form (heating or cooling, no convection):

        t = ρVc/(4εAσT_sur³) · [ln|(T_sur+T)/(T_sur−T)| − ln|(T_sur+Tᵢ)/(T_sur−Tᵢ)|
                               + 2(atan(T/T_sur) − atan(Tᵢ/T_sur))].

    Args:
        T: target temperature(s) in K, between T_initial and T_surroundings (excluded).
        T_initial, T_surroundings: K.
        volume: m³. area: radiating area in m². rho: kg/m³. c: J/(kg·K).
        emissivity: ε (dimensionless).

    Returns:
        t in s, shaped like T.
    """
    T = np.asarray(T, dtype=np.float64)
    ti, ts = float(T_initial), float(T_surroundings)
    if ti < ts:
        between = (T >= ti) & (T < ts)
    else:
        between = (T <= ti) & (T > ts)
    if ti == ts or not np.all(between):
        raise ValueError(
            f"T must lie between T_initial={ti} K (included) and T_surroundings={ts} K "
            f"(never reached); got {T}"
        )

    def f(temp: ArrayLike) -> Array:
        u = np.asarray(temp, dtype=float)
        return np.log(np.abs((ts + u) / (ts - u))) + 2.0 * np.arctan(u / ts)

    scale = rho * volume * c / (4.0 * emissivity * area * STEFAN_BOLTZMANN * ts**3)
    return scale * (f(T) - f(ti))
