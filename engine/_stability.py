"""Stable time step of the explicit scheme, and the checks run before any computation.

Explicit Euler in enthalpy form keeps a cell's new temperature a convex combination of its own
and its neighbours' (hence stable and free of oscillations) when

    dt <= C / sum_a max(2 k/dx_a^2, k/dx_a^2 + G_b/dx_a, 2 G_b/dx_a),

with C the volumetric heat capacity, k the conductivity and G_b = g h_e/(g + h_e) the boundary
conductance (g = 2k/dx, h_e = h + 4 phi sigma T^3): the three terms are an interior cell, a cell
with one boundary face along the axis and a one-cell-thick part of a mask. The bound is taken
over every temperature the run can reach, which by the maximum principle lies between the
lowest and highest of the initial and boundary temperatures.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ._boundary import STEFAN_BOLTZMANN
from ._errors import ConfigError
from ._solve import Scenario


def temperature_envelope(scenario: Scenario) -> tuple[float, float]:
    """Lowest and highest temperature (K) the run can reach without a prescribed flux."""
    T0 = np.asarray(scenario.initial_temperature)
    gas = np.asarray(scenario.boundary.gas_temperature)
    return float(min(T0.min(), gas.min())), float(max(T0.max(), gas.max()))


def stable_time_step(scenario: Scenario) -> float:
    """Largest stable explicit time step, s (needs concrete values: call outside jit)."""
    T_lo, T_hi = temperature_envelope(scenario)
    T = jnp.linspace(T_lo, T_hi, 2048)
    mat = scenario.material
    C = np.asarray(mat.capacity(T))
    k = np.asarray(mat.conductivity(T))
    b = scenario.boundary
    h_e = float(np.max(np.asarray(b.h))) + 4.0 * float(
        np.max(np.asarray(b.exchange_factor))) * STEFAN_BOLTZMANN * T_hi**3
    total = np.zeros_like(T)
    for dx in np.asarray(scenario.grid.spacing, dtype=float):
        g = 2.0 * k / dx
        G_b = g if any(b.fixed) else g * h_e / (g + h_e)
        total = total + np.maximum.reduce([2 * k / dx**2, k / dx**2 + G_b / dx, 2 * G_b / dx])
    return float(np.min(C / total))


def check_scenario(scenario: Scenario) -> None:
    """Raise ConfigError for non-finite or non-physical values in a scenario."""
    T0 = np.asarray(scenario.initial_temperature)
    if not np.all(np.isfinite(T0)):
        raise ConfigError("initial temperature contains NaN or inf: expected finite "
                          "temperatures; fix initial.temperature")
    if not np.all(T0 > 0):
        raise ConfigError(f"initial temperature min={T0.min()} K is invalid: expected > 0 K; "
                          "check the unit (degC inputs are converted by adding 273.15)")
    if np.asarray(T0).ndim and T0.shape not in ((), scenario.grid.shape):
        raise ConfigError(f"initial temperature has shape {T0.shape}: expected a scalar or "
                          f"the grid shape {scenario.grid.shape}")
    sp = np.asarray(scenario.grid.spacing)
    if not (np.all(np.isfinite(sp)) and np.all(sp > 0)):
        raise ConfigError(f"grid spacing {sp.tolist()} is invalid: expected positive finite m")
