"""Reading one config section with checks whose messages name the full key.

Every value a user can set is read through :class:`Section`, which knows the key's full dotted
name (``boundary.zones.soak.duration``), so a bad value fails before anything is computed with
the engine's message shape: ``<key>=<value> is invalid: expected <what>; <fix>``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from .._errors import ConfigError
from ._plausible import check_range, report, temperature_notes

_REQUIRED = object()
MISSING_VALUE = "???"  # OmegaConf's mark for a mandatory value left unset


def fail(key: str, value: object, expected: str, fix: str) -> ConfigError:
    """The ConfigError for ``key=value`` (raise it)."""
    return ConfigError(f"{key}={value!r} is invalid: expected {expected}; {fix}")


class Section:
    """A mapping from the config plus its dotted key, e.g. ``Section(cfg['solver'], 'solver')``.

    The key of the whole config is ``""``. ``notes`` collects the plausibility warnings of
    this section and every sub-section (None: issue them as ``PlausibilityWarning``).
    """

    def __init__(self, data: object, key: str, notes: list[str] | None = None) -> None:
        if not isinstance(data, Mapping):
            raise fail(key, data, "a mapping of settings", f"give {key} as a group of keys")
        self.data: Mapping[str, Any] = data
        self.key = key
        self.notes = notes

    def full(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def raw(self, name: str, default: object = _REQUIRED) -> Any:
        value = self.data.get(name)
        if value is None or value == MISSING_VALUE:
            if default is _REQUIRED:
                raise ConfigError(f"{self.full(name)} is missing: expected a value; set "
                                  f"{self.full(name)}=... on the command line or in the config")
            return default
        return value

    def sub(self, name: str) -> Section:
        return Section(self.raw(name), self.full(name), self.notes)

    def section(self, data: object, key: str) -> Section:
        """Another section that reports its warnings with this one's."""
        return Section(data, key, self.notes)

    def only(self, allowed: Iterable[str]) -> None:
        """Raise for keys other than ``allowed`` (catches typos such as ``thikness``)."""
        allowed = tuple(allowed)
        extra = [k for k in self.data if k not in allowed]
        if extra:
            raise ConfigError(f"{self.full(str(extra[0]))} is not a known key: expected one of "
                              f"{', '.join(allowed)}; check the spelling")

    def number(self, name: str, default: object = _REQUIRED, *, check: str = "positive",
               unit: str = "") -> float:
        """A finite float; ``check``: positive, nonnegative, finite, fraction (0 < v <= 1),
        or fraction0 (0 or 0 < v <= 1)."""
        v = self.raw(name, default)
        key, u = self.full(name), f" {unit}" if unit else ""
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise fail(key, v, f"a number{u}", f"set {key} to a number")
        v = float(v)
        if not math.isfinite(v):
            raise fail(key, v, f"a finite number{u}", f"set {key} to a finite value")
        typical = "furnace exchange factors are about 0.4-0.8, steel emissivity 0.7-0.85"
        rules = {
            "positive": (v > 0, f"a positive number{u}", f"set {key} above 0"),
            "nonnegative": (v >= 0, f"a non-negative number{u}", f"set {key} to 0 or more"),
            "finite": (True, f"a finite number{u}", ""),
            "fraction": (0 < v <= 1, "a value in (0, 1]", typical),
            "fraction0": (v == 0 or 0 < v <= 1, "0 or a value in (0, 1]",
                          f"use 0 for no radiation; {typical}"),
        }
        ok, expected, fix = rules[check]
        if not ok:
            raise fail(key, v, expected, fix)
        return v

    def length(self, name: str, kind: str, default: object = _REQUIRED) -> float:
        """A positive length in m within the plausible range ``kind`` (see ``RANGES``)."""
        v = self.number(name, default, unit="m")
        check_range(self.full(name), v, kind)
        return v

    def temperature_c(self, name: str, default: object = _REQUIRED, *,
                      kind: str = "steel_temperature") -> float:
        """A temperature in degC within the plausible range ``kind``, returned in K.

        Steel temperatures above the EN 1993-1-2 data and values that look like kelvin give
        a warning (see :mod:`._plausible`)."""
        v = self.number(name, default, check="finite", unit="degC")
        if v <= -273.15:
            raise fail(self.full(name), v, "a temperature above -273.15 degC",
                       "temperatures in the config are in degC")
        check_range(self.full(name), v, kind)
        report(temperature_notes(self.full(name), v, steel=kind == "steel_temperature"),
               self.notes)
        return v + 273.15

    def count(self, name: str, value: object = _REQUIRED) -> int:
        v = self.raw(name) if value is _REQUIRED else value
        key = self.full(name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise fail(key, v, "a positive integer", f"set {key} to a number of cells >= 1")
        return int(v)

    def counts(self, name: str, n: int) -> tuple[int, ...]:
        v = self.raw(name)
        key = self.full(name)
        if isinstance(v, int | float) and not isinstance(v, bool):
            v = [v] * n
        if not isinstance(v, list | tuple) or len(v) != n:
            raise fail(key, v, f"{n} cell counts", f"give {key} as a list of {n} integers")
        return tuple(self.count(f"{name}[{i}]", x) for i, x in enumerate(v))

    def text(self, name: str, choices: Iterable[str] | None = None,
             default: object = _REQUIRED) -> str:
        v = self.raw(name, default)
        key = self.full(name)
        if not isinstance(v, str):
            raise fail(key, v, "a string", f"set {key}")
        choices = None if choices is None else tuple(choices)
        if choices is not None and v not in choices:
            raise fail(key, v, f"one of {', '.join(choices)}", f"pick one for {key}")
        return v
