"""Mechanical material for the thermal-stress models: E(T), nu, eps_th(T), f_y(T), hardening.

Carbon steel follows EN 1993-1-2:2005 clause 3.2 (mechanical properties; 3.4.1.1 thermal
elongation):

* thermal strain eps_th(T) = dl/l(theta) - dl/l(theta_ref), with the piecewise EC3 elongation
  (a plateau of 1.1e-2 between 750 and 860 degC: the alpha-gamma transformation shrinkage),
  never a constant alpha dT;
* E(T) = E_20 k_E(theta), f_y(T) = f_y,20 k_y(theta) with k_E, k_y linearly interpolated in
  Table 3.1 (rows every 100 degC from 20 to 1200 degC).

Stainless steel 1.4301 uses the EN 1993-1-2 Annex C elongation (C.3.1) and the 1.4301 k_E /
k_0.2p rows of Table C.1, with E_20 = 200 GPa and f_0.2p = 210 MPa (EN 1993-1-4 / EN 10088-2 minimum
for 1.4301 plate; grade-specific data should be supplied by the user).

Documented choices:

* temperatures are in K on input; theta = T - 273.15 degC is clamped to [20, 1200] degC for the
  reduction factors (held constant outside the table) and the EC3 elongation formulas are also
  evaluated on the clamped theta (so eps_th is constant above 1200 degC and below 20 degC);
* the reduction factors are floored at ``K_FLOOR`` = 1e-3: Table 3.1 gives k = 0 at 1200 degC,
  which would make the stiffness singular; the floor keeps the stress problem well-posed and is
  far below any factor a structural check relies on;
* linear isotropic hardening modulus H(T) = H_20 k_E(theta) (0 = perfectly plastic).

All numbers are traced leaves (sweeps over f_y or E never recompile); ``kind`` (which
elongation law) is static.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jax import Array

from ._errors import require
from ._pytree import pytree_dataclass, static_field

KELVIN = 273.15
K_FLOOR = 1e-3  # floor of the EC3 reduction factors (k = 0 at 1200 degC is singular)
THETA_ROWS_C = (20.0, 100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0, 800.0, 900.0, 1000.0,
                1100.0, 1200.0)
# EN 1993-1-2 Table 3.1, carbon steel.
CARBON_KY = (1.0, 1.0, 1.0, 1.0, 1.0, 0.78, 0.47, 0.23, 0.11, 0.06, 0.04, 0.02, 0.0)
CARBON_KE = (1.0, 1.0, 0.9, 0.8, 0.7, 0.6, 0.31, 0.13, 0.09, 0.0675, 0.045, 0.0225, 0.0)
# EN 1993-1-2 Annex C, grade 1.4301 (k_0.2p used as the yield factor).
STAINLESS_KE = (1.0, 0.96, 0.92, 0.88, 0.84, 0.80, 0.76, 0.71, 0.63, 0.45, 0.20, 0.10, 0.0)
STAINLESS_KY = (1.0, 0.82, 0.68, 0.64, 0.60, 0.54, 0.49, 0.40, 0.27, 0.14, 0.06, 0.03, 0.0)
GRADES = {"S235": 235e6, "S275": 275e6, "S355": 355e6, "S460": 460e6}  # f_y in Pa
KINDS = ("carbon", "stainless", "constant")


def carbon_elongation_c(theta: Array) -> Array:
    """EC3 (3.1a) dl/l of carbon steel relative to 20 degC; theta in degC (clamped 20-1200)."""
    t = jnp.clip(theta, 20.0, 1200.0)
    return jnp.where(t < 750.0, 1.2e-5 * t + 0.4e-8 * t**2 - 2.416e-4,
                     jnp.where(t <= 860.0, 1.1e-2, 2e-5 * t - 6.2e-3))


def stainless_elongation_c(theta: Array) -> Array:
    """EC3 Annex C dl/l of austenitic stainless steel relative to 20 degC (clamped 20-1200)."""
    t = jnp.clip(theta, 20.0, 1200.0)
    return (16.0 + 4.79e-3 * t - 1.243e-6 * t**2) * (t - 20.0) * 1e-6


@pytree_dataclass
class MechanicalMaterial:
    """Temperature-dependent isotropic elastic(-plastic) steel. SI units, temperatures in K.

    Attributes:
        E20: Young's modulus at 20 degC, Pa.
        nu: Poisson's ratio (temperature independent), in (-1, 0.5).
        fy20: yield strength at 20 degC, Pa.
        hardening: linear isotropic hardening modulus at 20 degC, Pa (0: perfectly plastic).
        alpha: thermal expansion coefficient, 1/K (``kind="constant"`` only).
        T_ref: stress-free reference temperature of eps_th, K.
        theta_nodes: temperatures of the reduction-factor rows, degC.
        kE_nodes, ky_nodes: reduction factors at the rows (all ones for ``constant``).
        kind: ``carbon``, ``stainless`` (EC3 elongation laws) or ``constant`` (alpha (T - T_ref)
            and constant E, f_y) (static).
    """

    E20: Array
    nu: Array
    fy20: Array
    hardening: Array
    alpha: Array
    T_ref: Array
    theta_nodes: Array
    kE_nodes: Array
    ky_nodes: Array
    kind: str = static_field(default="carbon")

    def _factor(self, nodes: Array, T: Array) -> Array:
        if self.kind == "constant":
            return jnp.ones_like(T)
        k = jnp.interp(T - KELVIN, self.theta_nodes, nodes)  # held constant outside the rows
        return jnp.maximum(k, K_FLOOR)

    def k_E(self, T: Array) -> Array:
        """Stiffness reduction factor (floored at K_FLOOR); T in K."""
        return self._factor(self.kE_nodes, T)

    def k_y(self, T: Array) -> Array:
        """Yield reduction factor (floored at K_FLOOR); T in K."""
        return self._factor(self.ky_nodes, T)

    def youngs_modulus(self, T: Array) -> Array:
        """E(T) in Pa."""
        return self.E20 * self.k_E(T)

    def yield_strength(self, T: Array) -> Array:
        """f_y(T) in Pa."""
        return self.fy20 * self.k_y(T)

    def hardening_modulus(self, T: Array) -> Array:
        """H(T) = H_20 k_E(T) in Pa."""
        return self.hardening * self.k_E(T)

    def thermal_strain(self, T: Array) -> Array:
        """eps_th(T) = dl/l(T) - dl/l(T_ref) (dimensionless); T in K."""
        if self.kind == "constant":
            return self.alpha * (T - self.T_ref)
        law = carbon_elongation_c if self.kind == "carbon" else stainless_elongation_c
        return law(T - KELVIN) - law(self.T_ref - KELVIN)


def _check(E: float, nu: float, f_y: float, hardening: float, T_ref: float) -> None:
    require(isinstance(nu, int | float) and math.isfinite(nu) and -1.0 < nu < 0.5,
            "stress.material.nu", nu, "a Poisson's ratio in (-1, 0.5)",
            "use 0.3 for steel (0.5 is incompressible and makes the stiffness singular)")
    require(isinstance(E, int | float) and math.isfinite(E) and E > 0, "stress.material.E", E,
            "a positive Young's modulus in Pa", "use 210e9 for carbon steel")
    require(isinstance(f_y, int | float) and math.isfinite(f_y) and f_y > 0,
            "stress.material.f_y", f_y, "a positive yield strength in Pa",
            "use e.g. 355e6 for S355 (pass a huge value for a purely elastic model)")
    require(isinstance(hardening, int | float) and math.isfinite(hardening) and hardening >= 0,
            "stress.material.hardening", hardening, "a hardening modulus >= 0 Pa",
            "use 0 for perfectly plastic steel")
    require(isinstance(T_ref, int | float) and math.isfinite(T_ref) and T_ref > 0,
            "stress.material.T_ref", T_ref, "a stress-free temperature in K",
            "use 293.15 (20 degC)")


def _build(kind: str, E: float, nu: float, f_y: float, hardening: float, alpha: float,
           T_ref: float, kE: tuple[float, ...], ky: tuple[float, ...],
           dtype: jnp.dtype) -> MechanicalMaterial:
    _check(E, nu, f_y, hardening, T_ref)
    a = lambda v: jnp.asarray(np.asarray(v, np.float64), dtype)  # noqa: E731
    return MechanicalMaterial(E20=a(E), nu=a(nu), fy20=a(f_y), hardening=a(hardening),
                              alpha=a(alpha), T_ref=a(T_ref), theta_nodes=a(THETA_ROWS_C),
                              kE_nodes=a(kE), ky_nodes=a(ky), kind=kind)


def carbon_steel_mechanical(grade: str = "S355", E: float = 210e9, nu: float = 0.3,
                            hardening: float = 0.0, T_ref: float = 293.15,
                            dtype: jnp.dtype = jnp.float64) -> MechanicalMaterial:
    """EN 1993-1-2 carbon steel of ``grade`` (S235, S275, S355, S460); E in Pa, T_ref in K."""
    require(grade in GRADES, "stress.material.grade", grade, f"one of {sorted(GRADES)}",
            "or build a material with constant_mechanical / your own f_y")
    return _build("carbon", E, nu, GRADES[grade], hardening, 0.0, T_ref, CARBON_KE, CARBON_KY,
                  dtype)


def stainless_steel_mechanical(f_y: float = 210e6, E: float = 200e9, nu: float = 0.3,
                               hardening: float = 0.0, T_ref: float = 293.15,
                               dtype: jnp.dtype = jnp.float64) -> MechanicalMaterial:
    """EN 1993-1-2 Annex C austenitic stainless 1.4301 (f_0.2p and E in Pa)."""
    return _build("stainless", E, nu, f_y, hardening, 0.0, T_ref, STAINLESS_KE, STAINLESS_KY,
                  dtype)


def constant_mechanical(E: float, nu: float, alpha: float, f_y: float = 1e30,
                        hardening: float = 0.0, T_ref: float = 293.15,
                        dtype: jnp.dtype = jnp.float64) -> MechanicalMaterial:
    """Constant E (Pa), nu, alpha (1/K) and f_y (Pa; default: never yields)."""
    require(isinstance(alpha, int | float) and math.isfinite(alpha), "stress.material.alpha",
            alpha, "a finite expansion coefficient in 1/K", "use 1.2e-5 for steel")
    ones = (1.0,) * len(THETA_ROWS_C)
    return _build("constant", E, nu, f_y, hardening, alpha, T_ref, ones, ones, dtype)


MECHANICAL_MATERIALS = {
    "carbon_steel": carbon_steel_mechanical,
    "stainless_steel": stainless_steel_mechanical,
}


def require_mechanical(material: object, key: str = "stress.material") -> MechanicalMaterial:
    """Raise ConfigError unless ``material`` is a :class:`MechanicalMaterial`."""
    require(isinstance(material, MechanicalMaterial), key, type(material).__name__,
            "a MechanicalMaterial with E, nu, thermal strain and yield data",
            "build one with carbon_steel_mechanical(), stainless_steel_mechanical() or "
            "constant_mechanical() (a thermal material has no mechanical data)")
    assert isinstance(material, MechanicalMaterial)
    return material
