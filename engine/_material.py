"""Materials: volumetric enthalpy H(T), its inverse T(H) and conductivity k(T).

Why an enthalpy formulation: the EN 1993-1-2 specific heat of carbon steel has a narrow peak
(5000 J/(kg K) at 735 degC, half of it within +-5 K). A scheme that evaluates c(T) at points
steps over or into that peak depending on where the temperatures land, so the latent heat of
the alpha-gamma transformation is gained or lost at random. Here every material provides
H(T) = integral of rho c dT (J/m^3) exactly at table nodes, and the time schemes use enthalpy
differences (the chord capacity dH/dT over a step), so the transformation heat is conserved
whatever the step. Temperatures are in kelvin; H is zero at ``T_REF`` = 20 degC.

Three implementations:
- :class:`ConstantMaterial`: k, rho, c constant (closed form; the fast path, and the one the
  analytical solutions need).
- :class:`TabulatedMaterial`: H and k at nodes on a uniform temperature grid (1 K for the
  built-in steels); H is piecewise linear between nodes, so c is the exact cell average of the
  tabulated specific heat and T(H) is the exact inverse. Outside the table the end specific heat
  and conductivity are held constant (H extrapolated linearly).
- :class:`TableSetMaterial`: one of several such tables on the same nodes, chosen by a traced
  index (sweeps and ensembles over materials: datagen, the twin's members).
"""

from __future__ import annotations

import abc
import dataclasses

import jax
import jax.numpy as jnp
from jax import Array

from ._pytree import pytree_dataclass, static_field

T_REF = 293.15  # K, reference temperature of the enthalpy (20 degC)


class AbstractMaterial(abc.ABC):
    """Interface of a conduction material; all methods are elementwise and jit/vmap/grad-safe."""

    @abc.abstractmethod
    def enthalpy(self, T: Array) -> Array:
        """Volumetric enthalpy H(T) in J/m^3 relative to 20 degC; T in K."""

    @abc.abstractmethod
    def temperature(self, H: Array) -> Array:
        """Inverse of :meth:`enthalpy`: T in K from H in J/m^3."""

    @abc.abstractmethod
    def conductivity(self, T: Array) -> Array:
        """Thermal conductivity k(T) in W/(m K)."""

    @abc.abstractmethod
    def capacity(self, T: Array) -> Array:
        """Volumetric heat capacity rho c(T) = dH/dT in J/(m^3 K)."""

    @property
    @abc.abstractmethod
    def is_linear(self) -> bool:
        """True when k and rho c do not depend on temperature (static)."""

    def chord_capacity(self, T_new: Array, T_old: Array) -> Array:
        """(H(T_new) - H(T_old)) / (T_new - T_old): the capacity that conserves enthalpy."""
        dT = T_new - T_old
        small = jnp.abs(dT) < 1e-6
        safe = jnp.where(small, 1.0, dT)
        chord = (self.enthalpy(T_new) - self.enthalpy(T_old)) / safe
        return jnp.where(small, self.capacity(0.5 * (T_new + T_old)), chord)


@pytree_dataclass
class ConstantMaterial(AbstractMaterial):
    """Constant properties: k in W/(m K), density in kg/m^3, specific_heat in J/(kg K)."""

    conductivity_value: Array
    density: Array
    specific_heat: Array
    name: str = static_field(default="constant")

    @property
    def is_linear(self) -> bool:
        return True

    def enthalpy(self, T: Array) -> Array:
        return self.density * self.specific_heat * (T - T_REF)

    def temperature(self, H: Array) -> Array:
        return T_REF + H / (self.density * self.specific_heat)

    def conductivity(self, T: Array) -> Array:
        return jnp.broadcast_to(self.conductivity_value, jnp.shape(T)).astype(jnp.result_type(T))

    def capacity(self, T: Array) -> Array:
        rc = self.density * self.specific_heat
        return jnp.broadcast_to(rc, jnp.shape(T)).astype(jnp.result_type(T))


@pytree_dataclass
class TabulatedMaterial(AbstractMaterial):
    """Enthalpy and conductivity tabulated on a uniform temperature grid.

    Attributes:
        T_start: temperature of the first node, K.
        T_step: node spacing, K.
        enthalpy_nodes: H at the nodes, J/m^3 (strictly increasing).
        conductivity_nodes: k at the nodes, W/(m K).
        density: kg/m^3 (used for reporting; H already contains it).
        conductivity_scale, capacity_scale: multipliers on k and on rho c (1.0 for the data as
            published); traced, so sweeps over them never recompile.
        name: label (static).
    """

    T_start: Array
    T_step: Array
    enthalpy_nodes: Array
    conductivity_nodes: Array
    density: Array
    conductivity_scale: Array
    capacity_scale: Array
    name: str = static_field(default="table")

    @property
    def is_linear(self) -> bool:
        return False

    # The lookups go through _H, _k and _locate so that TableSetMaterial shares the formulas.
    def _H(self, i: Array) -> Array:
        return self.enthalpy_nodes[i]

    def _k(self, i: Array) -> Array:
        return self.conductivity_nodes[i]

    def _locate(self, h: Array) -> Array:
        return jnp.searchsorted(self.enthalpy_nodes, h, side="right") - 1

    def _cell(self, T: Array) -> tuple[Array, Array]:
        s = (T - self.T_start) / self.T_step
        n = self.enthalpy_nodes.shape[-1]
        fi = jnp.clip(jnp.floor(s), 0, n - 2)
        return fi.astype(jnp.int32), s - fi

    def enthalpy(self, T: Array) -> Array:
        i, frac = self._cell(T)
        H0, H1 = self._H(i), self._H(i + 1)
        return self.capacity_scale * (H0 + frac * (H1 - H0))

    def capacity(self, T: Array) -> Array:
        i, _ = self._cell(T)
        return self.capacity_scale * (self._H(i + 1) - self._H(i)) / self.T_step

    def conductivity(self, T: Array) -> Array:
        i, frac = self._cell(T)
        frac = jnp.clip(frac, 0.0, 1.0)
        k0, k1 = self._k(i), self._k(i + 1)
        return self.conductivity_scale * (k0 + frac * (k1 - k0))

    def temperature(self, H: Array) -> Array:
        h = H / self.capacity_scale
        n = self.enthalpy_nodes.shape[-1]
        j = jnp.clip(self._locate(h), 0, n - 2)
        H0, H1 = self._H(j), self._H(j + 1)
        return self.T_start + self.T_step * (j.astype(h.dtype) + (h - H0) / (H1 - H0))


@pytree_dataclass
class TableSetMaterial(TabulatedMaterial):
    """Row ``index`` of tables stacked on a leading axis: ``enthalpy_nodes`` and
    ``conductivity_nodes`` [M, N] (M materials on the same nodes); ``density`` is the selected
    row's (a scalar, for reporting).

    Why not ``TabulatedMaterial(enthalpy_nodes=tables[index], ...)``: under ``vmap`` over many
    slabs with a traced index, that selection gathers whole tables (N ~ 1200 nodes) per slab and
    step, which cost twice the solve itself in the twin's ensemble forecast (1920 member-slabs);
    here each lookup reads only the nodes it needs, ``[index, i]``, and T(H) is a binary search
    on the selected row.
    """

    index: Array = dataclasses.field(kw_only=True)

    def _H(self, i: Array) -> Array:
        return self.enthalpy_nodes[self.index, i]

    def _k(self, i: Array) -> Array:
        return self.conductivity_nodes[self.index, i]

    def _locate(self, h: Array) -> Array:
        # The largest j with H[j] <= h (-1 below the table), as searchsorted(side="right") - 1;
        # invariant H[lo] <= h < H[hi] with virtual H[-1] = -inf, H[N] = +inf.
        n = self.enthalpy_nodes.shape[-1]
        lo = jnp.full(jnp.shape(h), -1, jnp.int32)
        hi = jnp.full(jnp.shape(h), n, jnp.int32)

        def halve(_: int, bounds: tuple[Array, Array]) -> tuple[Array, Array]:
            lo, hi = bounds
            mid = (lo + hi) // 2
            below = self._H(jnp.clip(mid, 0, n - 1)) <= h
            return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

        lo, _ = jax.lax.fori_loop(0, int(n).bit_length() + 1, halve, (lo, hi))
        return lo
