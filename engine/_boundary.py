"""Boundary conditions per face group, varying in time.

Each face group (see ``_geometry.FACE_NAMES``) receives, at time t,

    q(T_s) = h (T_gas - T_s) + phi sigma (T_gas^4 - T_s^4) + q_0        [W/m^2, into the metal]

with T_s the face temperature, h the convection coefficient, phi the total exchange factor of
radiation (furnace gas and walls to the surface; an emissivity for cooling in the open) and q_0 a
prescribed flux. h = phi = q_0 = 0 is adiabatic (also a symmetry plane). A face group flagged
``fixed`` instead holds T_s = T_gas (a prescribed temperature).

Values are given at knots in time and interpolated linearly between them (held constant
before the first and after the last knot). Two knots at the same time make a step change: at
exactly that time the later value applies. All numbers are traced: new furnace set-points never
recompile and ``jax.grad`` flows through them. Temperatures in kelvin.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
from jax import Array

from ._errors import ConfigError, require
from ._pytree import pytree_dataclass, static_field

STEFAN_BOLTZMANN = 5.670374419e-8  # W/(m^2 K^4)


@pytree_dataclass
class FaceValues:
    """Boundary values of every face group at one time; arrays of shape [n_faces]."""

    gas_temperature: Array
    h: Array
    exchange_factor: Array
    heat_flux: Array


@pytree_dataclass
class Boundary:
    """Time-dependent boundary conditions.

    Attributes:
        times: knot times, s, non-decreasing, shape [m].
        gas_temperature: K, [n_faces, m] (the fixed temperature for ``fixed`` faces).
        h: convection coefficient, W/(m^2 K), [n_faces, m].
        exchange_factor: radiation exchange factor phi in [0, 1], [n_faces, m].
        heat_flux: prescribed flux into the metal, W/m^2, [n_faces, m].
        fixed: per face group, True for a prescribed temperature (static).
    """

    times: Array
    gas_temperature: Array
    h: Array
    exchange_factor: Array
    heat_flux: Array
    fixed: tuple[bool, ...] = static_field()

    @property
    def n_faces(self) -> int:
        return len(self.fixed)

    def at(self, t: Array, limit: str = "right") -> FaceValues:
        """Values at time ``t`` (s), linearly interpolated between knots.

        At a step change (two knots at one time) ``limit="right"`` gives the value after the
        step and ``"left"`` the value before it; time schemes use the right limit at the start
        of a step and the left limit at its end, so a zone change that falls on a step
        boundary is integrated exactly instead of smearing half a step of the new zone into
        the old one.
        """
        times = self.times
        m = times.shape[-1]
        if m == 1:
            w0, i = jnp.zeros((), times.dtype), jnp.zeros((), jnp.int32)
            pick = lambda v: v[:, 0]  # noqa: E731
        else:
            side = "right" if limit == "right" else "left"
            i = jnp.clip(jnp.searchsorted(times, t, side=side) - 1, 0, m - 2)
            t0, t1 = times[i], times[i + 1]
            span = t1 - t0
            w0 = jnp.where(span > 0, jnp.clip((t - t0) / jnp.where(span > 0, span, 1.0), 0, 1),
                           1.0)

            def pick(v: Array) -> Array:
                return v[:, i] + w0 * (v[:, i + 1] - v[:, i])

        return FaceValues(pick(self.gas_temperature), pick(self.h), pick(self.exchange_factor),
                          pick(self.heat_flux))


@dataclasses.dataclass(frozen=True)
class FaceSpec:
    """Constant condition of one face group (plain numbers; temperatures in K)."""

    gas_temperature: float = 293.15
    h: float = 0.0
    exchange_factor: float = 0.0
    heat_flux: float = 0.0
    fixed: bool = False


def _check_face(key: str, gas_T: np.ndarray, h: np.ndarray, phi: np.ndarray,
                q: np.ndarray) -> None:
    for name, arr in (("gas_temperature", gas_T), ("h", h), ("exchange_factor", phi),
                      ("heat_flux", q)):
        require(bool(np.all(np.isfinite(arr))), f"{key}.{name}", arr.tolist(),
                "finite numbers (no NaN or inf)", "fix the boundary config")
    require(bool(np.all(gas_T > 0)), f"{key}.gas_temperature", gas_T.tolist(),
            "temperatures above absolute zero (K internally)", "check the unit (degC vs K)")
    require(bool(np.all(h >= 0)), f"{key}.h", h.tolist(), "h >= 0 W/(m^2 K)",
            "use a non-negative convection coefficient")
    require(bool(np.all((phi == 0) | ((phi > 0) & (phi <= 1)))), f"{key}.exchange_factor",
            phi.tolist(), "an exchange factor/emissivity in (0, 1] (or 0 for no radiation)",
            "typical furnace values are 0.4-0.8, steel emissivity 0.7-0.85")


def constant_boundary(faces: Sequence[FaceSpec], dtype: jnp.dtype = jnp.float64) -> Boundary:
    """Boundary constant in time, one :class:`FaceSpec` per face group."""
    for i, f in enumerate(faces):
        _check_face(f"boundary.faces[{i}]", np.array([f.gas_temperature]), np.array([f.h]),
                    np.array([f.exchange_factor]), np.array([f.heat_flux]))
    col = lambda name: jnp.asarray([[getattr(f, name)] for f in faces], dtype)  # noqa: E731
    return Boundary(times=jnp.zeros((1,), dtype), gas_temperature=col("gas_temperature"),
                    h=col("h"), exchange_factor=col("exchange_factor"),
                    heat_flux=col("heat_flux"), fixed=tuple(bool(f.fixed) for f in faces))


def schedule_boundary(times: Sequence[float], gas_temperature: np.ndarray, h: np.ndarray,
                      exchange_factor: np.ndarray, heat_flux: np.ndarray | None = None,
                      fixed: Sequence[bool] | None = None,
                      dtype: jnp.dtype = jnp.float64) -> Boundary:
    """Boundary from knot arrays of shape [n_faces, m] (see :class:`Boundary`)."""
    t = np.asarray(times, float)
    gas = np.atleast_2d(np.asarray(gas_temperature, float))
    n_faces = gas.shape[0]
    hh = np.broadcast_to(np.asarray(h, float), gas.shape)
    phi = np.broadcast_to(np.asarray(exchange_factor, float), gas.shape)
    q = np.zeros_like(gas) if heat_flux is None else np.broadcast_to(heat_flux, gas.shape)
    require(t.ndim == 1 and t.size == gas.shape[1], "boundary.times", t.tolist(),
            f"{gas.shape[1]} knot times (one per column of the values)", "align the knots")
    require(bool(np.all(np.isfinite(t))) and bool(np.all(np.diff(t) >= 0)), "boundary.times",
            t.tolist(), "finite, non-decreasing times in s", "sort the schedule")
    _check_face("boundary", gas, hh, phi, np.asarray(q))
    fixed_t = tuple(False for _ in range(n_faces)) if fixed is None else tuple(map(bool, fixed))
    return Boundary(times=jnp.asarray(t, dtype), gas_temperature=jnp.asarray(gas, dtype),
                    h=jnp.asarray(hh, dtype), exchange_factor=jnp.asarray(phi, dtype),
                    heat_flux=jnp.asarray(q, dtype), fixed=fixed_t)


@dataclasses.dataclass(frozen=True)
class FurnaceZone:
    """One furnace zone: gas temperature (degC), residence time (s), exchange factors.

    ``exchange_factor_bottom`` is usually lower than the top one: the walking-beam skids and the
    hearth shade the slab's underside. ``h`` adds forced convection, W/(m^2 K). With
    ``gas_temperature_end_C`` the set-point ramps linearly inside the zone, from
    ``gas_temperature_C`` at its entry to ``gas_temperature_end_C`` at its exit.
    """

    name: str
    gas_temperature_C: float
    duration: float
    exchange_factor_top: float = 0.6
    exchange_factor_bottom: float = 0.5
    h: float = 0.0
    gas_temperature_end_C: float | None = None

    def gas_at(self, fraction: float) -> float:
        """The set-point (degC) at ``fraction`` (0 entry, 1 exit) of the residence time."""
        end = self.gas_temperature_end_C
        return self.gas_temperature_C if end is None else (
            self.gas_temperature_C + fraction * (end - self.gas_temperature_C))


def furnace_boundary(zones: Sequence[FurnaceZone], ndim: int, ramp_time: float = 0.0,
                     side_exchange_factor: float | None = None,
                     dtype: jnp.dtype = jnp.float64) -> Boundary:
    """Boundary for a slab travelling through ``zones`` in order.

    The gas temperature and coefficients hold constant within a zone (or the gas ramps linearly
    from entry to exit, ``gas_temperature_end_C``) and change linearly over ``ramp_time``
    seconds centred on each zone boundary (0 gives step changes). The top face
    sees ``exchange_factor_top``, the bottom ``exchange_factor_bottom``; side faces of 2D/3D
    sections see ``side_exchange_factor`` (default: the mean of top and bottom).
    """
    if len(zones) == 0:
        raise ConfigError("boundary.zones=[] is invalid: expected at least one furnace zone; "
                          "add zones with gas_temperature_C and duration")
    require(bool(np.isfinite(ramp_time)) and ramp_time >= 0, "boundary.ramp_time", ramp_time,
            "a non-negative time in s", "use 0 for step changes between zones")
    for i, z in enumerate(zones):
        key = f"boundary.zones[{i}]"
        require(bool(np.isfinite(z.duration)) and z.duration > 0, f"{key}.duration", z.duration,
                "a positive residence time in s", "give each zone's time in seconds")
        require(bool(np.isfinite(z.gas_temperature_C)) and z.gas_temperature_C > -273.15,
                f"{key}.gas_temperature_C", z.gas_temperature_C, "a finite temperature in degC",
                "give the zone set-point in degC")
        if z.gas_temperature_end_C is not None:
            require(bool(np.isfinite(z.gas_temperature_end_C))
                    and z.gas_temperature_end_C > -273.15, f"{key}.gas_temperature_end_C",
                    z.gas_temperature_end_C, "a finite temperature in degC",
                    "give the set-point at the zone's exit in degC, or None for a constant zone")
        for name in ("exchange_factor_top", "exchange_factor_bottom"):
            v = getattr(z, name)
            require(bool(np.isfinite(v)) and 0 < v <= 1, f"{key}.{name}", v,
                    "an exchange factor in (0, 1]", "furnace values are typically 0.4-0.8")
        require(bool(np.isfinite(z.h)) and z.h >= 0, f"{key}.h", z.h, "h >= 0 W/(m^2 K)",
                "use 0 for radiation only")
    for i in range(len(zones) - 1):
        shortest = min(zones[i].duration, zones[i + 1].duration)
        require(ramp_time <= shortest, "boundary.ramp_time", ramp_time,
                f"at most the shortest adjacent zone ({shortest} s)", "shorten the ramp")
    ends = np.cumsum([z.duration for z in zones])
    starts = ends - np.array([z.duration for z in zones])
    times: list[float] = []
    rows: list[tuple[float, float, float, float]] = []
    for i, z in enumerate(zones):
        lo = starts[i] + (0.5 * ramp_time if i > 0 else 0.0)
        hi = ends[i] - (0.5 * ramp_time if i + 1 < len(zones) else 0.0)
        side = (side_exchange_factor if side_exchange_factor is not None
                else 0.5 * (z.exchange_factor_top + z.exchange_factor_bottom))
        for t in (lo, hi):
            gas = z.gas_at(float(t - starts[i]) / z.duration) + 273.15
            times.append(float(t))
            rows.append((gas, z.exchange_factor_top, z.exchange_factor_bottom, side))
    hvals = np.repeat([z.h for z in zones], 2)
    arr = np.asarray(rows)  # [m, 4]
    gas, top, bottom, side = arr.T
    per_face = {1: [bottom, top], 2: [side, side, bottom, top],
                3: [side, side, side, side, bottom, top]}[ndim]
    phi = np.stack(per_face)
    gas2 = np.broadcast_to(gas, phi.shape)
    return schedule_boundary(times, gas2, np.broadcast_to(hvals, phi.shape), phi, dtype=dtype)
