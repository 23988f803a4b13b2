"""A request's slab (``SlabIn``) as the engine's config, scenario and furnace zones.

The slab goes through the same builder and checks as ``steeltwin-simulate``
(``engine.apps._build.build_scenario``), so a value the app refuses the API refuses too, with
the same message; the API prefixes the request path of the field (``assets[2].``).
Temperatures are converted to degC (the config's unit), lengths to m, durations to s.
"""

from __future__ import annotations

from typing import Any

from engine import ConfigError, FurnaceZone, Scenario
from engine.apps._build import build_scenario

from ._schemas import SlabIn, ZoneIn
from ._units import length_m, temperature_c, time_s


def zone_config(z: ZoneIn, where: str) -> dict[str, Any]:
    return {"gas_temperature": temperature_c(z.gas_temperature, f"{where}.gas_temperature"),
            "duration": time_s(z.duration, f"{where}.duration"),
            "exchange_factor_top": z.exchange_factor_top,
            "exchange_factor_bottom": z.exchange_factor_bottom, "h": z.h}


def slab_config(slab: SlabIn, cells: int, where: str = "slab") -> dict[str, Any]:
    """The simulate-style plain config of a slab (degC, m, s)."""
    names = [z.name for z in slab.zones]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}.zones names={names} are invalid: expected unique zone "
                          "names; rename the repeated zone")
    zones = {z.name: zone_config(z, f"{where}.zones[{i}]") for i, z in enumerate(slab.zones)}
    return {
        "dtype": "float64",
        "geometry": {"kind": "slab", "thickness": length_m(slab.thickness, f"{where}.thickness"),
                     "cells": cells},
        "material": {"kind": slab.material, "conductivity_scale": slab.conductivity_scale,
                     "capacity_scale": slab.capacity_scale},
        "boundary": {"kind": "furnace", "zones": zones, "side_exchange_factor": None,
                     "ramp_time": time_s(slab.ramp_time, f"{where}.ramp_time")},
        "initial": {"kind": "uniform", "temperature": temperature_c(
            slab.initial_temperature, f"{where}.initial_temperature")},
    }


def slab_scenario(slab: SlabIn, cells: int, where: str = "slab") -> Scenario:
    """The checked engine scenario of a slab (K, m, s)."""
    plain = slab_config(slab, cells, where)
    thickness = plain["geometry"]["thickness"]
    if not 0.01 <= thickness <= 1.0:
        raise ConfigError(f"{where}.thickness={thickness:g} m is invalid: expected a slab of "
                          "0.01-1 m; check the value and its unit")
    try:
        return build_scenario(plain)
    except ConfigError as err:
        raise ConfigError(f"{where}.{err}") from None


def residence(slab: SlabIn, where: str = "slab") -> float:
    """The total residence time of the schedule, s."""
    return sum(time_s(z.duration, f"{where}.zones[{i}].duration")
               for i, z in enumerate(slab.zones))


def furnace_zones(slab: SlabIn, where: str = "slab") -> list[FurnaceZone]:
    """The schedule as engine ``FurnaceZone`` objects (degC, s)."""
    out = []
    for i, z in enumerate(slab.zones):
        c = zone_config(z, f"{where}.zones[{i}]")
        out.append(FurnaceZone(z.name, c["gas_temperature"], c["duration"],
                               exchange_factor_top=c["exchange_factor_top"],
                               exchange_factor_bottom=c["exchange_factor_bottom"], h=c["h"]))
    return out
