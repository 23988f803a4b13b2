"""Plausibility of physical inputs: one check shared by the CLI configs and the HTTP API.

A number can be valid (positive, finite) and still not describe hot steel: a 220 m slab is
``geometry.thickness=220`` typed in mm, a charging temperature of 1173.15 degC is 900 degC typed
in kelvin. Two kinds of limit catch those mistakes before anything is computed:

- **hard ranges** (:data:`RANGES`): values no case of this engine can have raise
  :class:`~steeltwin.engine.ConfigError` with the key, the value and its unit, the range, and a
  hint when the value fits the range in another unit (``a value in mm?``);
- **suspicious values**: possible but probably mistyped values give a warning text (a
  temperature ending in .15 is the kelvin tell-tale; a steel temperature above 1200 degC lies
  past the EN 1993-1-2 property data, clause 3.4, which end at 1200 degC).

The ranges are deliberately wide (they bound the engine's use, not one plant). Where a bound
comes from: steels begin to melt at about 1450-1530 degC (solidus of carbon and stainless
steels, e.g. ASM Handbook Vol. 1); reheating furnaces run gas at up to about 1350 degC
(Trinks et al., *Industrial Furnaces*, 6th ed., Wiley 2004, ch. 1); slabs are cast 150-300 mm
thick, plates and thin slabs from about 10 mm.

Warnings are returned as text (collected by the builders and shown by the CLI on stderr and
by the HTTP API in the response), or issued as :class:`PlausibilityWarning` when no collector
is given.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable

from .._errors import ConfigError


class PlausibilityWarning(UserWarning):
    """A value that is possible but probably a mistake (its unit, most often)."""


@dataclasses.dataclass(frozen=True)
class Range:
    """Hard limits of one kind of quantity, in the config's unit.

    Attributes:
        what: what the quantity is, for the message.
        lo: the smallest plausible value (inclusive).
        hi: the largest plausible value (inclusive).
        unit: the config's unit (m, degC, s).
    """

    what: str
    lo: float
    hi: float
    unit: str


RANGES: dict[str, Range] = {
    # Slab/plate thickness through which the 1D model conducts.
    "thickness": Range("a slab thickness", 0.01, 1.0, "m"),
    # Widths, heights, diameters and flange sizes of 2D/3D sections (billets to heavy beams).
    "section_length": Range("a section dimension", 0.002, 3.0, "m"),
    # Grid spacing of masked sections.
    "cell_size": Range("a cell size", 1e-5, 0.1, "m"),
    # Metal temperatures (initial state, fixed faces): cryogenic storage to the solidus.
    "steel_temperature": Range("a steel temperature", -100.0, 1500.0, "degC"),
    # Gas and ambient temperatures around the metal (water sprays to the hottest furnaces).
    "gas_temperature": Range("a gas or ambient temperature", -100.0, 2000.0, "degC"),
}
# EN 1993-1-2 (2005), clause 3.4: the thermal properties are given from 20 to 1200 degC.
EN1993_T_MAX_C = 1200.0
_LENGTH_UNITS = (("mm", 1e-3), ("cm", 1e-2), ("in", 0.0254))


def _length_hint(value: float, r: Range) -> str:
    for unit, metres in _LENGTH_UNITS:
        if r.lo <= value * metres <= r.hi:
            return f"a value in {unit}? {value:g} {unit} = {value * metres:g} m"
    return f"lengths in the config are in {r.unit}"


def _temperature_hint(value: float, r: Range) -> str:
    hints = []
    if r.lo <= value - 273.15 <= r.hi:
        hints.append(f"a value in K? {value:g} K = {value - 273.15:g} degC")
        if looks_like_kelvin(value):  # x.15: kelvin for sure, no other guess
            return hints[0]
    if r.lo <= (value - 32.0) / 1.8 <= r.hi:
        hints.append(f"a value in degF? {value:g} degF = {(value - 32.0) / 1.8:.1f} degC")
    return " or ".join(hints) if hints else f"temperatures in the config are in {r.unit}"


_HINTS: dict[str, Callable[[float, Range], str]] = {
    "m": _length_hint, "degC": _temperature_hint,
}


def check_range(key: str, value: float, kind: str) -> None:
    """Raise :class:`ConfigError` when ``value`` (in the config's unit) is outside ``kind``.

    The message names the key, the value and unit, the range and a hint, e.g.
    ``geometry.thickness=220 m is outside 0.01-1 m for a slab thickness: a value in mm?
    220 mm = 0.22 m``.
    """
    r = RANGES[kind]
    if r.lo <= value <= r.hi:
        return
    hint = _HINTS.get(r.unit, lambda v, r: f"check the value and its unit ({r.unit})")(value, r)
    raise ConfigError(f"{key}={value:g} {r.unit} is outside {r.lo:g}-{r.hi:g} {r.unit} for "
                      f"{r.what}: {hint}")


def looks_like_kelvin(value_c: float) -> bool:
    """True for a degC value that is a whole number of degC plus 273.15 (x.15 typed as degC)."""
    k = value_c - 273.15
    return value_c >= 273.15 and math.isclose(k, round(k), abs_tol=1e-6)


def temperature_notes(key: str, value_c: float, *, steel: bool) -> list[str]:
    """Warnings for a possible but suspicious temperature in degC (empty when it looks fine)."""
    notes = []
    if looks_like_kelvin(value_c):
        notes.append(f"{key}={value_c:g} degC looks like a temperature in K ({value_c:g} K = "
                     f"{value_c - 273.15:g} degC); temperatures in the config are in degC: "
                     f"set {key}={value_c - 273.15:g} if that was meant")
    if steel and value_c > EN1993_T_MAX_C:
        notes.append(f"{key}={value_c:g} degC is above {EN1993_T_MAX_C:g} degC, where the "
                     "EN 1993-1-2 property data (clause 3.4) end; properties are held at their "
                     "1200 degC values")
    return notes


def report(notes: list[str], into: list[str] | None) -> None:
    """Append ``notes`` to ``into``; with no collector, issue them as PlausibilityWarning."""
    if into is not None:
        into.extend(notes)
        return
    for note in notes:
        warnings.warn(note, PlausibilityWarning, stacklevel=3)
