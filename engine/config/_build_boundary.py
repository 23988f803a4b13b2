"""``boundary`` config -> :class:`steeltwin.engine.Boundary` (config temperatures in degC, engine
in K).

Kinds:
- ``furnace``: named zones in travel order, each with a gas temperature (degC), a residence
  time (s), top and bottom radiation exchange factors and optional convection; see
  :func:`steeltwin.engine.furnace_boundary`. A zone set to null is left out (overlays cannot delete
  keys).
- ``faces``: a condition per face group, constant in time: ``all`` for every face not listed
  under ``faces``. Types: ``convection`` (temperature, h, emissivity, heat_flux), ``fixed``
  (temperature), ``flux`` (heat_flux) and ``adiabatic``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import jax.numpy as jnp

from steeltwin.engine import (
    FACE_NAMES,
    Boundary,
    ConfigError,
    FaceSpec,
    FurnaceZone,
    constant_boundary,
)
from steeltwin.engine import furnace_boundary as _furnace_boundary

from ._section import Section, fail

BOUNDARIES = ("furnace", "faces")
FACE_TYPES = ("convection", "fixed", "flux", "adiabatic")
_ZONE_KEYS = ("gas_temperature", "gas_temperature_end", "duration", "exchange_factor_top",
              "exchange_factor_bottom", "h")
_FACE_KEYS = {
    "convection": ("temperature", "h", "emissivity", "heat_flux"),
    "fixed": ("temperature",),
    "flux": ("heat_flux",),
    "adiabatic": (),
}


def build_boundary(b: Section, ndim: int, dtype: jnp.dtype) -> Boundary:
    """The boundary conditions of the ``boundary`` section for a grid of ``ndim`` axes."""
    kind = b.text("kind", BOUNDARIES)
    if kind == "furnace":
        b.only(("kind", "ramp_time", "side_exchange_factor", "zones"))
        zones = furnace_zones(b)
        ramp = b.number("ramp_time", 0.0, check="nonnegative", unit="s")
        for first, second in itertools.pairwise(zones):
            shortest = min(first.duration, second.duration)
            if ramp > shortest:
                raise fail(b.full("ramp_time"), ramp, f"at most the shortest adjacent zone "
                           f"({shortest:g} s, {first.name}/{second.name})", "shorten the ramp")
        side = None
        if b.has("side_exchange_factor"):
            side = b.number("side_exchange_factor", check="fraction")
        return _furnace_boundary(zones, ndim, ramp_time=ramp, side_exchange_factor=side,
                                 dtype=dtype)
    b.only(("kind", "all", "faces"))
    default = face_spec(b.sub("all"))
    listed = b.section(b.raw("faces", {}), b.full("faces"))
    names = FACE_NAMES[ndim]
    for name in listed.data:
        if name not in names:
            raise fail(listed.full(str(name)), listed.data[name],
                       f"a face of the {ndim}D grid: one of {', '.join(names)}",
                       "rename or remove it")
    specs = [face_spec(listed.sub(n)) if listed.has(n) else default for n in names]
    return constant_boundary(specs, dtype)


def furnace_zones(b: Section) -> list[FurnaceZone]:
    """The furnace zones in travel order (null zones left out)."""
    zones_cfg = b.raw("zones")
    if not isinstance(zones_cfg, Mapping):
        raise fail(b.full("zones"), zones_cfg, "a mapping of zone name -> settings",
                   "see conf/boundary/furnace.yaml")
    zones = []
    for name, value in zones_cfg.items():
        if value is None:
            continue
        z = b.section(value, f"{b.full('zones')}.{name}")
        z.only(_ZONE_KEYS)
        zones.append(FurnaceZone(
            name=str(name),
            gas_temperature_C=z.temperature_c("gas_temperature", kind="gas_temperature") - 273.15,
            duration=z.number("duration", unit="s"),
            exchange_factor_top=z.number("exchange_factor_top", 0.6, check="fraction"),
            exchange_factor_bottom=z.number("exchange_factor_bottom", 0.5, check="fraction"),
            h=z.number("h", 0.0, check="nonnegative", unit="W/(m^2 K)"),
            # A ramp inside the zone: the set-point at its exit (null: constant).
            gas_temperature_end_C=(
                z.temperature_c("gas_temperature_end", kind="gas_temperature") - 273.15
                if z.raw("gas_temperature_end", None) is not None else None),
        ))
    if not zones:
        raise ConfigError(f"{b.full('zones')} has no zones: expected at least one zone with "
                          "gas_temperature (degC) and duration (s); see conf/boundary/furnace.yaml")
    return zones


def residence_time(b: Section) -> float:
    """Total time in the furnace, s (the default ``solver.t_end`` of a furnace run)."""
    return float(sum(z.duration for z in furnace_zones(b)))


def face_spec(f: Section) -> FaceSpec:
    """One face group's condition (temperatures returned in K)."""
    kind = f.text("type", FACE_TYPES)
    f.only(("type", *_FACE_KEYS[kind]))
    if kind == "adiabatic":
        return FaceSpec()
    if kind == "flux":
        return FaceSpec(heat_flux=f.number("heat_flux", check="finite", unit="W/m^2"))
    if kind == "fixed":
        return FaceSpec(gas_temperature=f.temperature_c("temperature"), fixed=True)
    return FaceSpec(
        gas_temperature=f.temperature_c("temperature", kind="gas_temperature"),
        h=f.number("h", 0.0, check="nonnegative", unit="W/(m^2 K)"),
        exchange_factor=f.number("emissivity", 0.0, check="fraction0"),
        heat_flux=f.number("heat_flux", 0.0, check="finite", unit="W/m^2"),
    )
