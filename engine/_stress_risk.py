"""Stress risk: utilisation = von Mises / f_y(T) per point, the worst point and time, an alert.

Utilisation u = sigma_vM / f_y(T) (dimensionless) with the EC3 reduced yield strength at the
local temperature (floored factors, see ``_stress_material``). u >= 1 means the elastic stress
reaches yield (plastic flow; with the elastic model, a sign that the plastic model is needed);
the default alert threshold 0.9 leaves a margin. Works for any shape of fields: a leading time
axis and any spatial axes ([n_t, n] for a plate, [n_t, nx, ny] for a section); cells outside an
optional mask are ignored.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jax import Array

from ._errors import require
from ._pytree import pytree_dataclass
from ._stress_material import MechanicalMaterial

DEFAULT_THRESHOLD = 0.9


@pytree_dataclass
class StressRisk:
    """Utilisation summary.

    Attributes:
        utilisation: von Mises / f_y(T) per point, same shape as the inputs (0 outside mask).
        worst: largest utilisation.
        worst_time: index along the leading (time) axis of the worst point.
        worst_index: flat spatial index of the worst point (``np.unravel_index`` it with the
            spatial shape).
        alert: worst > threshold.
        threshold: the alert threshold used.
    """

    utilisation: Array
    worst: Array
    worst_time: Array
    worst_index: Array
    alert: Array
    threshold: Array


def utilisation(von_mises: Array, T: Array, material: MechanicalMaterial) -> Array:
    """sigma_vM / f_y(T) elementwise (von Mises in Pa, T in K)."""
    return von_mises / material.yield_strength(T)


def stress_risk(von_mises: Array, T: Array, material: MechanicalMaterial,
                threshold: float = DEFAULT_THRESHOLD, mask: Array | None = None) -> StressRisk:
    """Utilisation, worst point/time and alert flag for fields with a leading time axis.

    Args:
        von_mises: Pa, [n_t, *spatial].
        T: K, same shape.
        material: the :class:`MechanicalMaterial` of the stress solve.
        threshold: alert when the worst utilisation exceeds it (dimensionless, > 0).
        mask: optional boolean [*spatial] of the points to consider (e.g. ``grid.mask``).
    """
    require(isinstance(threshold, int | float) and math.isfinite(threshold) and threshold > 0,
            "stress.alert_threshold", threshold, "a positive utilisation (e.g. 0.9)",
            "set the fraction of the hot yield strength that triggers an alert")
    vm = jnp.asarray(von_mises)
    require(vm.ndim >= 2 and jnp.shape(T) == vm.shape, "stress.temperature",
            f"arrays of shapes {vm.shape} and {jnp.shape(T)}",
            "von Mises and temperature of equal shape [n_t, *spatial]",
            "pass the stress result and Trajectory.temperature of the same run")
    u = utilisation(vm, jnp.asarray(T), material)
    if mask is not None:
        u = jnp.where(jnp.asarray(mask), u, 0.0)
    flat = u.reshape(u.shape[0], -1)
    k = jnp.argmax(flat)
    n_space = flat.shape[1]
    worst = flat.reshape(-1)[k]
    thr = jnp.asarray(np.float64(threshold), u.dtype)
    return StressRisk(utilisation=u, worst=worst, worst_time=k // n_space,
                      worst_index=k % n_space, alert=worst > thr, threshold=thr)
