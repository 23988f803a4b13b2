"""Quantities with units in HTTP requests and responses, converted with pint.

A request states units explicitly, ``{"value": 812.3, "unit": "degC"}``, or gives a bare number
in the documented default unit of its field: temperatures degC, lengths m, durations s.
Accepted units: temperatures degC (°C, C, celsius), K (kelvin), degF (°F, F, fahrenheit);
lengths m, mm, cm, in (inch); durations s, min, h. Every conversion goes through pint (the
registry of ``steeltwin.engine.twin.unit_registry``, shared, built once); a bad unit is refused
naming ``<field>.unit``, as the request wrote it. Responses give
temperatures in
the unit the caller asks for (``temperature_unit``, default degC) and say so in ``units``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from steeltwin.engine import ConfigError
from steeltwin.engine.twin import to_kelvin, to_metres, unit_registry

from ._problems import RequestError

TEMPERATURE_UNITS = ("degC", "K", "degF")
TIME_UNITS = {"s": "second", "min": "minute", "h": "hour"}
DEFAULTS = {"temperature": "degC", "length": "m", "time": "s"}

Finite = Annotated[float, Field(allow_inf_nan=False)]


class Quantity(BaseModel):
    """A number with its unit, e.g. ``{"value": 812.3, "unit": "degC"}``."""

    model_config = ConfigDict(extra="forbid")
    value: Finite = Field(description="the magnitude", examples=[812.3])
    unit: str = Field(max_length=16, description="the unit, e.g. degC, K, degF, m, mm, s, h",
                      examples=["degC"])


QuantityIn = Annotated[Finite | Quantity, Field(union_mode="left_to_right")]


def _split(q: float | Quantity, default: str) -> tuple[float, str]:
    if isinstance(q, Quantity):
        return q.value, q.unit
    return float(q), default


def _converted(convert: Callable[[float, str, str], float], q: float | Quantity,
               default: str, field: str) -> float:
    """``convert(value, unit, field)``; a bad unit is refused as ``<field>.unit``, the field
    the request wrote (the converters name it ``<field> unit`` or ``<field>_unit``)."""
    v, u = _split(q, default)
    try:
        return convert(v, u, field)
    except ConfigError as err:
        if not isinstance(q, Quantity):
            raise RequestError(field, str(err)) from None
        message = str(err).replace(f"{field} unit", f"{field}.unit")
        raise RequestError(f"{field}.unit", message.replace(f"{field}_unit",
                                                            f"{field}.unit")) from None


def temperature_c(q: float | Quantity, field: str) -> float:
    """A temperature quantity in degC (bare numbers are degC)."""
    return _converted(to_kelvin, q, "degC", field) - 273.15


def temperature_k(q: float | Quantity, field: str) -> float:
    """A temperature quantity in K (bare numbers are degC)."""
    return _converted(to_kelvin, q, "degC", field)


def length_m(q: float | Quantity, field: str) -> float:
    """A length quantity in m (bare numbers are m)."""
    return _converted(to_metres, q, "m", field)


def time_s(q: float | Quantity, field: str) -> float:
    """A duration quantity in s (bare numbers are s)."""
    v, u = _split(q, "s")
    name = TIME_UNITS.get(u.strip())
    if name is None:
        raise RequestError(f"{field}.unit", f"{field}.unit={u!r} is invalid: expected a time "
                           f"unit ({', '.join(TIME_UNITS)}); fix the unit")
    s = float(unit_registry().Quantity(v, name).to("second").magnitude)
    if not math.isfinite(s):
        where = f"{field}.value" if isinstance(q, Quantity) else field
        raise RequestError(where, f"{where}={v!r} is invalid: expected a finite duration; fix "
                           "the value")
    return s


def from_kelvin(values: Any, unit: str) -> Any:
    """Temperatures in K (a number or a numpy array) in ``unit`` (one of TEMPERATURE_UNITS).

    Affine, so it is applied directly (pint's result for the same numbers; tested)."""
    if unit == "K":
        return values
    if unit == "degC":
        return values - 273.15
    return (values - 273.15) * 1.8 + 32.0


def from_kelvin_difference(values: Any, unit: str) -> Any:
    """Temperature differences (K) in ``unit``: K and degC differences are equal."""
    return values * 1.8 if unit == "degF" else values
