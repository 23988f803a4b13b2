"""A request's slab (``SlabIn``) as the engine's config, scenario and furnace zones.

The slab goes through the same builder and checks as ``steeltwin-simulate``
(``steeltwin.engine.config.build_scenario``, plausible ranges included), so a value the app
refuses the API refuses too, with the same words; the config keys in the message are replaced
by the request's fields (``geometry.thickness`` -> ``assets[2].thickness``).
Temperatures are converted to degC (the config's unit), lengths to m, durations to s.
"""

from __future__ import annotations

import re
from typing import Any

from steeltwin.engine import ConfigError, FurnaceZone, Scenario
from steeltwin.engine.config import build_scenario

from ._problems import RequestError
from ._schemas import SlabIn, ZoneIn
from ._units import length_m, temperature_c, time_s

# Config keys of the slab config -> the request's field names (zones by name -> by index).
_FIELDS = {"geometry.thickness": "thickness", "initial.temperature": "initial_temperature",
           "boundary.ramp_time": "ramp_time", "material.conductivity_scale": "conductivity_scale",
           "material.capacity_scale": "capacity_scale", "material.kind": "material"}
_ZONE_KEY = re.compile(r"boundary\.zones\.([\w-]+)\.(\w+)")


def zone_config(z: ZoneIn, where: str) -> dict[str, Any]:
    end = z.gas_temperature_end
    return {"gas_temperature": temperature_c(z.gas_temperature, f"{where}.gas_temperature"),
            "gas_temperature_end": (None if end is None else
                                    temperature_c(end, f"{where}.gas_temperature_end")),
            "duration": time_s(z.duration, f"{where}.duration"),
            "exchange_factor_top": z.exchange_factor_top,
            "exchange_factor_bottom": z.exchange_factor_bottom, "h": z.h}


def slab_config(slab: SlabIn, cells: int, where: str = "slab",
                zones_where: str | None = None) -> dict[str, Any]:
    """The simulate-style plain config of a slab (degC, m, s); errors name
    ``<where>.thickness`` and ``<zones_where>[i]...`` (default ``<where>.zones``)."""
    zw = zones_where or f"{where}.zones"
    names = [z.name for z in slab.zones]
    if len(set(names)) != len(names):
        raise RequestError(zw, f"{zw} names={names} are invalid: expected unique zone names; "
                           "rename the repeated zone")
    zones = {z.name: zone_config(z, f"{zw}[{i}]") for i, z in enumerate(slab.zones)}
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


def request_words(message: str, slab: SlabIn, where: str, zones_where: str | None = None
                  ) -> str:
    """A config-layer message with the config keys (``geometry.thickness``) replaced by the
    request's fields (``assets[0].thickness``): the same words as the CLI, the caller's names."""
    names = {z.name: i for i, z in enumerate(slab.zones)}
    zw = zones_where or f"{where}.zones"

    def zone(m: re.Match[str]) -> str:
        i = names.get(m.group(1))
        return f"{zw}[{i}].{m.group(2)}" if i is not None else m.group(0)

    message = _ZONE_KEY.sub(zone, message)
    for key, field in _FIELDS.items():
        message = re.sub(rf"(?<![\w.]){re.escape(key)}(?![\w])", f"{where}.{field}", message)
    return message


def slab_scenario(slab: SlabIn, cells: int, where: str = "slab",
                  warnings: list[str] | None = None, zones_where: str | None = None
                  ) -> Scenario:
    """The checked engine scenario of a slab (K, m, s).

    The config layer checks it (plausible ranges included: a thickness of 220 m is refused
    with "a value in mm?", as on the command line); its messages name the request's fields
    (``<where>.thickness``, ``<zones_where>[i].duration``; default ``<where>.zones``).
    Plausibility warnings (a temperature that looks like kelvin) go to ``warnings``."""
    plain = slab_config(slab, cells, where, zones_where)
    notes: list[str] = []
    try:
        scenario = build_scenario(plain, notes)
    except ConfigError as err:
        raise ConfigError(request_words(str(err), slab, where, zones_where)) from None
    if warnings is not None:
        warnings.extend(request_words(n, slab, where, zones_where) for n in notes)
    return scenario


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
                               exchange_factor_bottom=c["exchange_factor_bottom"], h=c["h"],
                               gas_temperature_end_C=c["gas_temperature_end"]))
    return out
