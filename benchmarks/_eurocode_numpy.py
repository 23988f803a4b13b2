"""EN 1993-1-2 carbon-steel thermal properties in plain NumPy, for the benchmark baselines.

θ in °C. The standard covers 20 ≤ θ ≤ 1200 °C; outside that range k and c are held at their
end values (20 °C below, 1200 °C above), so H and the Kirchhoff potential continue linearly.

- ρ = 7850 kg/m³.
- k(θ) = 54 − 3.33×10⁻² θ (θ < 800), 27.3 (θ ≥ 800) W/(m·K).
- c(θ) = 425 + 0.773 θ − 1.69×10⁻³ θ² + 2.22×10⁻⁶ θ³ (θ < 600);
  666 + 13002/(738 − θ) (600 ≤ θ < 735); 545 + 17820/(θ − 731) (735 ≤ θ < 900);
  650 (θ ≥ 900) J/(kg·K).
- Volumetric enthalpy H(θ) = ∫₂₀^θ ρ c dθ' (J/m³), closed form per branch; the narrow peak of c
  at 735 °C (5000 J/(kg·K)) is integrated exactly.
- Kirchhoff potential Φ(θ) = ∫₂₀^θ k dθ' (W/m): the conductive flux between two points a
  distance Δx apart is (Φ(θ₁) − Φ(θ₂))/Δx, exact for steady 1D conduction with k(θ).

Each function evaluates every branch on θ clipped to that branch's interval and sums the
pieces, so no branch is ever evaluated outside its domain (no log of a negative number).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

RHO = 7850.0  # kg/m³
THETA_MIN, THETA_MAX = 20.0, 1200.0  # °C, validity range of EN 1993-1-2

Array = NDArray[np.float64]

# Specific-heat branches: (start, end, c(θ), ∫c dθ primitive).
_C_BRANCHES = (
    (
        20.0,
        600.0,
        lambda t: 425.0 + 7.73e-1 * t - 1.69e-3 * t**2 + 2.22e-6 * t**3,
        lambda t: 425.0 * t + 7.73e-1 / 2 * t**2 - 1.69e-3 / 3 * t**3 + 2.22e-6 / 4 * t**4,
    ),
    (
        600.0,
        735.0,
        lambda t: 666.0 + 13002.0 / (738.0 - t),
        lambda t: 666.0 * t - 13002.0 * np.log(738.0 - t),
    ),
    (
        735.0,
        900.0,
        lambda t: 545.0 + 17820.0 / (t - 731.0),
        lambda t: 545.0 * t + 17820.0 * np.log(t - 731.0),
    ),
    (900.0, 1200.0, lambda t: 650.0 + 0.0 * t, lambda t: 650.0 * t),
)
# Conductivity branches: (start, end, k(θ), ∫k dθ primitive).
_K_BRANCHES = (
    (20.0, 800.0, lambda t: 54.0 - 3.33e-2 * t, lambda t: 54.0 * t - 3.33e-2 / 2 * t**2),
    (800.0, 1200.0, lambda t: 27.3 + 0.0 * t, lambda t: 27.3 * t),
)


def _pointwise(theta: ArrayLike, branches) -> Array:
    theta = np.clip(np.asarray(theta, dtype=np.float64), THETA_MIN, THETA_MAX)
    out = np.zeros_like(theta)
    for i, (lo, hi, f, _) in enumerate(branches):
        last = i == len(branches) - 1
        inside = (theta >= lo) & ((theta <= hi) if last else (theta < hi))
        out = np.where(inside, f(np.clip(theta, lo, hi)), out)
    return out


def _integral(theta: ArrayLike, branches) -> Array:
    """∫₂₀^θ f with f held at its end values outside [20, 1200] °C."""
    theta = np.asarray(theta, dtype=np.float64)
    out = np.zeros_like(theta)
    for lo, hi, _, prim in branches:
        out = out + prim(np.clip(theta, lo, hi)) - prim(lo)
    f_lo = branches[0][2](THETA_MIN)
    f_hi = branches[-1][2](THETA_MAX)
    out = (
        out + f_lo * np.minimum(theta - THETA_MIN, 0.0) + f_hi * np.maximum(theta - THETA_MAX, 0.0)
    )
    return out


def conductivity(theta: ArrayLike) -> Array:
    """k(θ) in W/(m·K), θ in °C."""
    return _pointwise(theta, _K_BRANCHES)


def specific_heat(theta: ArrayLike) -> Array:
    """c(θ) in J/(kg·K), θ in °C."""
    return _pointwise(theta, _C_BRANCHES)


def enthalpy(theta: ArrayLike) -> Array:
    """Volumetric enthalpy H(θ) = ∫₂₀^θ ρ c dθ' in J/m³ (H(20 °C) = 0), θ in °C."""
    return RHO * _integral(theta, _C_BRANCHES)


def kirchhoff(theta: ArrayLike) -> Array:
    """Kirchhoff potential Φ(θ) = ∫₂₀^θ k dθ' in W/m, θ in °C."""
    return _integral(theta, _K_BRANCHES)
