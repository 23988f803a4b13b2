"""Readings from the plant: sensors, units (pint), CSV files and the twin's measurement log.

Sensors (:data:`SENSORS`): ``pyrometer_top`` / ``pyrometer_bottom`` see the temperature of the
top / bottom face; ``thermocouple`` reads the field at ``depth`` m below the top face;
``gas_top`` / ``gas_bottom`` are the furnace gas temperatures seen by a face (they drive the
forecast and are not assimilated). Only thermocouples have a depth.

Units: a value comes with its unit and is stored in K (``raw_value`` / ``raw_unit`` keep what
was sent). Temperatures: ``degC`` ``°C`` ``C`` ``celsius``, ``K`` ``kelvin``, ``degF`` ``°F``
``F`` ``fahrenheit`` (the words and degC/degF in any case; the one-letter symbols upper case
only, and always as temperatures: pint's coulomb / farad are never accepted). Depths: ``m``
``mm`` ``cm`` ``in`` ``inch``, stored in m. The conversion is pint's (one registry for the
module, built on first use). A converted temperature must lie in (0, 2500] K.

Time: seconds since the twin's start (t = 0 at charging), finite and >= 0. A CSV gives either
seconds or ISO 8601 timestamps (never both); stamps count from ``t0`` (default: the file's
earliest stamp, dropout rows included) and must all agree, with ``t0``, on carrying a UTC
offset or not.

CSV (:func:`read_measurements_csv`): a header with ``time, sensor, value, unit`` and optionally
``id, depth, depth_unit``; ``columns`` maps these names to a plant file's own headers
(``{"time": "Timestamp", "sensor": "Tag", "value": "PV"}``) and ``sensors`` maps plant tags
to sensors (``{"TT_101": "pyrometer_top"}``; rows of other tags are skipped and counted in
``ignored_tags``). Any other column is ignored and listed in ``ignored_columns``, except one
that looks like a misspelt known column (``depht_unit``), which is refused: it must not turn
mm into m silently. An empty ``value`` is a dropout: the row is skipped and its line is listed in
``dropout_lines``. Without an ``id`` a row's id is the sha1 of its cells
``time|sensor|value|unit|depth|depth_unit`` (16 hex digits): the same file read twice gives
the same ids. Any other bad cell raises :class:`ConfigError` naming file, line and column.

Idempotency (:class:`MeasurementLog`): a reading is identified by its id. An id already held
with identical content (every field, raw ones included) is a duplicate and ignored; with
different content a conflict: refused and reported, the stored reading is kept. ``between`` and
``all`` are sorted by (time, id), so the result never depends on the arrival order;
``earliest_new`` tells the twin how far to rewind when a reading arrives late.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import difflib
import hashlib
import math
import numbers
import threading
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .._errors import ConfigError

SENSORS = ("pyrometer_top", "pyrometer_bottom", "thermocouple", "gas_top", "gas_bottom")
MAX_TEMPERATURE_K = 2500.0
MAX_ID_LENGTH = 128
_C, _K, _F = "degree_Celsius", "kelvin", "degree_Fahrenheit"
_T_EXACT = {"°C": _C, "C": _C, "K": _K, "°F": _F, "F": _F}
_T_WORDS = {"degc": _C, "celsius": _C, "kelvin": _K, "degf": _F, "fahrenheit": _F}
_T_NAMES = "degC, °C, C, celsius, K, kelvin, degF, °F, F, fahrenheit"
_L_UNITS = {"m": "meter", "mm": "millimeter", "cm": "centimeter", "in": "inch", "inch": "inch"}
_COLUMNS = ("time", "sensor", "value", "unit", "id", "depth", "depth_unit")
_HASHED = ("time", "sensor", "value", "unit", "depth", "depth_unit")
_REGISTRY: list[Any] = []
_LOCK = threading.Lock()


class _FieldError(ConfigError):
    """A ConfigError that knows the field (the CSV column) it is about."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _bad(pre: str, field: str, value: Any, expected: str, fix: str) -> _FieldError:
    """The error of :func:`steeltwin.engine._errors.require`'s shape, plus the field for CSV
    errors."""
    return _FieldError(field, f"{pre}{field}={value!r} is invalid: expected {expected}; {fix}")


def unit_registry() -> Any:
    """The module's pint ``UnitRegistry`` (built once, on first use)."""
    with _LOCK:
        if not _REGISTRY:
            import pint

            _REGISTRY.append(
                pint.UnitRegistry(autoconvert_offset_to_baseunit=True, on_redefinition="raise")
            )
    return _REGISTRY[0]


def _real(x: Any, pre: str, field: str, fix: str, finite: bool = True) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise _bad(pre, field, x, "a number", fix)
    v = float(x)
    if math.isnan(v) or (finite and not math.isfinite(v)):
        raise _bad(pre, field, x, "a finite number", fix)
    return v


def _convert(value: Any, unit: Any, pre: str, fields: tuple[str, str], length: bool) -> float:
    v = _real(value, pre, fields[0], "fix the value (leave a CSV cell empty for a dropout)")
    u = unit.strip() if isinstance(unit, str) else ""
    if length:
        name, target, expected = _L_UNITS.get(u), "meter", "a length unit (m, mm, cm, in, inch)"
    else:
        name, target = _T_EXACT.get(u) or _T_WORDS.get(u.lower()), _K
        expected = f"a temperature unit ({_T_NAMES})"
    if name is None:
        raise _bad(pre, fields[1], unit, expected, f"fix the {fields[1]}")
    return float(unit_registry().Quantity(v, name).to(target).magnitude)


def to_kelvin(value: float, unit: str, field: str = "value") -> float:
    """``value`` in ``unit`` (degC, K, degF or an alias) in kelvin, via pint. Errors name
    ``field`` for the value and ``"<field> unit"`` (``"unit"`` by default) for the unit."""
    return _convert(
        value, unit, "", (field, "unit" if field == "value" else f"{field} unit"), False
    )


def to_metres(value: float, unit: str, field: str = "depth") -> float:
    """``value`` in ``unit`` (m, mm, cm, in, inch) in metres, via pint. Errors name ``field``
    for the value and ``"<field>_unit"`` for the unit."""
    return _convert(value, unit, "", (field, f"{field}_unit"), True)


@dataclasses.dataclass(frozen=True)
class Reading:
    """One reading: ``value`` in K, ``time`` in s since the twin's start, ``depth`` in m below
    the top face (thermocouples only, else None), ``raw_value`` / ``raw_unit`` as sent. Build it
    with :func:`make_reading`, which validates every field."""

    id: str
    time: float
    sensor: str
    value: float
    depth: float | None
    raw_value: float
    raw_unit: str

    def to_json(self) -> dict[str, Any]:
        """A dict of plain JSON types; ``from_json`` gives back an equal reading."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Reading:
        """The reading of ``to_json``'s dict, validated again (``value`` must agree with
        ``raw_value`` in ``raw_unit``; the stored ``value`` is kept)."""
        names = sorted(f.name for f in dataclasses.fields(cls))
        if not isinstance(d, Mapping) or sorted(map(str, d)) != names:
            raise _bad("", "reading", d, f"a dict with the keys {names}", "pass Reading.to_json()")
        r = make_reading(d["id"], d["time"], d["sensor"], d["raw_value"], d["raw_unit"], d["depth"])
        v = d["value"]
        if not isinstance(v, int | float) or not math.isclose(r.value, v, rel_tol=1e-9):
            expected = f"{r.value!r} K ({r.raw_value!r} {r.raw_unit})"
            raise _bad(f"reading {r.id!r} ", "value", v, expected, "the record is corrupt")
        return dataclasses.replace(r, value=float(v))


def make_reading(
    id: str,
    time: float,
    sensor: str,
    value: float,
    unit: str,
    depth: float | None = None,
    depth_unit: str = "m",
) -> Reading:
    """A :class:`Reading`, every field validated first (else :class:`ConfigError`)."""
    if not (isinstance(id, str) and 0 < len(id) <= MAX_ID_LENGTH and id.strip() == id):
        expected = f"a non-empty string of at most {MAX_ID_LENGTH} characters, no outer spaces"
        raise _bad("reading ", "id", id, expected, "give each reading a unique id")
    pre = f"reading {id!r} "
    t = _real(time, pre, "time", "fix the time")
    if t < 0:
        raise _bad(pre, "time", time, "seconds >= 0 since the twin's start", "shift the clock")
    if sensor not in SENSORS:
        raise _bad(pre, "sensor", sensor, f"one of {', '.join(SENSORS)}", "fix the sensor name")
    k = _convert(value, unit, pre, ("value", "unit"), False)
    if not 0 < k <= MAX_TEMPERATURE_K:
        expected = f"a temperature in (0, {MAX_TEMPERATURE_K:g}] K, got {k:.6g} K"
        raise _bad(pre, "value", value, expected, f"check the value and its unit ({unit})")
    d = None
    if sensor == "thermocouple":
        if depth is None:
            raise _bad(pre, "depth", depth, "a thermocouple's depth", "add depth (and depth_unit)")
        d = _convert(depth, depth_unit, pre, ("depth", "depth_unit"), True)
        if d < 0:
            raise _bad(pre, "depth", depth, "a depth >= 0 below the top face", "fix the depth")
    elif depth is not None:
        expected = f"no depth (only a thermocouple has one, not a {sensor})"
        raise _bad(pre, "depth", depth, expected, "leave the depth empty")
    return Reading(id, t, sensor, k, d, float(value), unit.strip())


def _stamp(text: Any, key: str) -> _dt.datetime:
    if isinstance(text, _dt.datetime):
        return text
    try:
        return _dt.datetime.fromisoformat(str(text).strip())
    except ValueError:
        expected = "seconds or an ISO 8601 timestamp (e.g. 2024-05-01T08:30:00+00:00)"
        raise _bad("", key, text, expected, "fix it") from None


class ReadingList(list[Reading]):
    """What :func:`read_measurements_csv` returns: the readings in file order (a ``list``), and
    ``dropout_lines``, the lines of the rows skipped for an empty value."""

    dropout_lines: tuple[int, ...] = ()
    ignored_columns: tuple[str, ...] = ()
    ignored_tags: dict[str, int] = {}  # noqa: RUF012 (replaced per instance, never mutated)

    @property
    def dropouts(self) -> int:
        """How many rows were skipped as dropouts."""
        return len(self.dropout_lines)


def read_measurements_csv(path: str | Path, t0: _dt.datetime | str | None = None,
                          columns: Mapping[str, str] | None = None,
                          sensors: Mapping[str, str] | None = None) -> ReadingList:
    """The readings of a measurement CSV, in file order (format: the module docstring).

    ``columns``: our column name -> the file's header (case-insensitive); ``sensors``: plant
    tag -> sensor name (a row whose tag is neither mapped nor a sensor name is skipped).

    ``t0``: the datetime (or ISO string) of t = 0 when the file has timestamps (default: its
    earliest one); None for a file in seconds. Raises :class:`ConfigError` naming the file, the
    line and the column of the first bad cell."""
    p = Path(path)
    try:
        with p.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            table = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise _bad("measurements ", "file", str(p), f"a UTF-8 CSV ({err})", "check it") from None
    head_line, head = table[0] if table else (1, [])
    mapping = {str(v).strip().lower(): str(k) for k, v in (columns or {}).items()}
    bad_keys = [k for k in mapping.values() if k not in _COLUMNS]
    if bad_keys:
        raise _bad("measurements ", "columns", dict(columns or {}), f"keys among "
                   f"{', '.join(_COLUMNS)}", "map our column names to the file's headers")
    header = [mapping.get(h.strip().lower(), h.strip().lower()) for h in head]
    missing = [c for c in _COLUMNS[:4] if c not in header]
    extra = [h for h in header if h not in _COLUMNS]
    near = [h for h in extra if difflib.get_close_matches(h, _COLUMNS, n=1, cutoff=0.8)]
    if missing or len(set(header)) < len(header) or near:
        expected = f"the columns {', '.join(_COLUMNS[:4])} (optional: {', '.join(_COLUMNS[4:])})"
        fix = (f"{near[0]!r} looks like a misspelt "
               f"{difflib.get_close_matches(near[0], _COLUMNS, n=1, cutoff=0.8)[0]!r}: fix it"
               if near else "fix it, or map your headers with measurements.columns")
        raise _bad(f"{p} line {head_line}: ", "header", header, expected + " once each", fix)
    tag_map = {str(k): str(v) for k, v in (sensors or {}).items()}
    bad_sensors = {k: v for k, v in tag_map.items() if v not in SENSORS}
    if bad_sensors:
        raise _bad("measurements ", "sensors", bad_sensors, f"tags mapped to one of "
                   f"{', '.join(SENSORS)}", "e.g. {TT_101: pyrometer_top}")
    ignored_tags: dict[str, int] = {}
    rows: list[tuple[int, dict[str, str]]] = []
    times: list[Any] = []  # floats (s) or datetimes
    for line, row in table[1:]:
        if len(row) != len(header):
            expected = f"{len(header)} cells ({', '.join(header)})"
            raise _bad(f"{p} line {line}: ", "cells", row, expected, "fix the commas or quotes")
        cells = dict(zip(header, (c.strip() for c in row), strict=True))
        tag = cells["sensor"]
        if tag in tag_map:
            cells["sensor"] = tag_map[tag]
        elif tag_map and tag not in SENSORS:  # another instrument of the plant file
            ignored_tags[tag] = ignored_tags.get(tag, 0) + 1
            continue
        rows.append((line, cells))
        try:
            times.append(float(cells["time"]))
        except ValueError:
            times.append(_stamp(cells["time"], f"{p} line {line}: column 'time' time"))
    kinds = [isinstance(t, _dt.datetime) for t in times]
    if len(set(kinds)) > 1:
        a, b = (rows[kinds.index(k)][0] for k in (False, True))
        expected = f"one kind per file (line {a} holds seconds, line {b} a timestamp)"
        raise _bad(f"{p} column ", "time", "mixed", expected, "convert them to one kind")
    origin: Any = None
    if kinds and kinds[0]:
        origin = min(times) if t0 is None else _stamp(t0, "t0")
        if len({t.tzinfo is None for t in [*times, origin]}) > 1:
            expected = "every timestamp and t0 with a UTC offset, or none"
            raise _bad(f"{p} column 'time' with ", "t0", t0, expected, "add offsets (+00:00)")
        times = [(t - origin).total_seconds() for t in times]
    elif t0 is not None:
        expected = f"None: {p} holds seconds since the twin's start"
        raise _bad("", "t0", t0, expected, "drop t0 or give timestamps in the file")
    out, dropouts = ReadingList(), []
    for (line, cells), t in zip(rows, times, strict=True):
        where = f"{p} line {line}: column"
        if cells["value"] == "":
            dropouts.append(line)
            continue
        if origin is not None and t < 0:
            expected = f"a time not before t0={origin.isoformat()}"
            raise _bad(f"{where} 'time' ", "time", cells["time"], expected, "fix t0 or the time")
        num: dict[str, Any] = {}  # float, or None for an empty depth
        for col in ("value", "depth"):
            try:
                num[col] = float(cells[col]) if cells.get(col) else None
            except ValueError:
                expected = "a number ('.' as the decimal point)"
                raise _bad(f"{where} {col!r} ", col, cells[col], expected, "fix it") from None
        text = "|".join(cells.get(c, "") for c in _HASHED)
        rid = cells.get("id") or hashlib.sha1(text.encode()).hexdigest()[:16]
        unit, depth_unit = cells["unit"], cells.get("depth_unit") or "m"
        try:
            out.append(
                make_reading(rid, t, cells["sensor"], num["value"], unit, num["depth"], depth_unit)
            )
        except _FieldError as err:
            raise ConfigError(f"{where} {err.field!r}: {err}") from None
    out.dropout_lines = tuple(dropouts)
    out.ignored_columns = tuple(extra)
    out.ignored_tags = ignored_tags
    return out


@dataclasses.dataclass(frozen=True)
class AddResult:
    """What :meth:`MeasurementLog.add` did: the new readings, the ids ignored as identical
    duplicates, the ids refused as conflicts, and the earliest time of the new readings (s)."""

    accepted: list[Reading]
    duplicates: list[str]
    conflicts: list[str]
    earliest_new: float | None


class MeasurementLog:
    """The twin's readings, idempotent by id, with the rejected ids and their reasons."""

    def __init__(self) -> None:
        self._by_id: dict[str, Reading] = {}
        self._order: list[Reading] = []
        self._times: list[float] = []
        self._sorted = True
        self._rejected: dict[str, str] = {}

    def add(self, readings: Reading | Iterable[Reading]) -> AddResult:
        """Add the new readings. An id already held with the same content is a duplicate, with
        other content a conflict (refused: the stored reading stays); neither raises."""
        batch = [readings] if isinstance(readings, Reading) else list(readings)
        for r in batch:
            if not isinstance(r, Reading):
                raise _bad("", "readings item", r, "a Reading", "build it with make_reading")
        acc: list[Reading] = []
        dup: list[str] = []
        con: list[str] = []
        for r in batch:
            old = self._by_id.get(r.id)
            if old is None:
                self._by_id[r.id] = r
                self._order.append(r)
                acc.append(r)
            else:
                (dup if old == r else con).append(r.id)
        self._sorted = self._sorted and not acc
        return AddResult(acc, dup, con, min((r.time for r in acc), default=None))

    def _sort(self) -> list[Reading]:
        if not self._sorted:  # timsort: cheap for a sorted run plus a new batch
            self._order.sort(key=lambda r: (r.time, r.id))
            self._times = [r.time for r in self._order]
            self._sorted = True
        return self._order

    def all(self) -> list[Reading]:
        """Every reading, sorted by (time, id)."""
        return list(self._sort())

    def between(
        self, t0: float, t1: float, sensors: str | Iterable[str] | None = None
    ) -> list[Reading]:
        """The readings with ``t0 < time <= t1`` (s; +-inf allowed) of ``sensors`` (a name or
        names; default all), sorted by (time, id)."""
        lo = _real(t0, "between ", "t0", "pass a time in s", finite=False)
        hi = _real(t1, "between ", "t1", "pass a time in s", finite=False)
        keep = None
        if sensors is not None:
            keep = {sensors} if isinstance(sensors, str) else set(sensors)
            if not keep <= set(SENSORS):
                expected = f"names among {', '.join(SENSORS)}"
                raise _bad("between ", "sensors", sensors, expected, "fix the sensor names")
        rs = self._sort()
        sel = rs[bisect_right(self._times, lo) : bisect_right(self._times, hi)]
        return sel if keep is None else [r for r in sel if r.sensor in keep]

    def reject(self, id: str, reason: str) -> None:
        """Mark a held reading as rejected (e.g. by the innovation gate), with the reason."""
        if id not in self._by_id:
            raise _bad("reject ", "id", id, "the id of a reading in the log", "add it first")
        if not isinstance(reason, str) or not reason.strip():
            raise _bad(f"reject {id!r} ", "reason", reason, "a non-empty string", "say why")
        self._rejected[id] = reason

    @property
    def rejected(self) -> dict[str, str]:
        """The reason per rejected id (a copy)."""
        return dict(self._rejected)

    def clear_rejections(self, after_time: float) -> None:
        """Forget the rejections of readings with time > ``after_time`` (a replay redoes them)."""
        t = _real(after_time, "clear_rejections ", "after_time", "pass a time in s", False)
        self._rejected = {i: w for i, w in self._rejected.items() if self._by_id[i].time <= t}

    @property
    def latest_time(self) -> float | None:
        """The latest reading's time (s); None for an empty log."""
        return self._sort()[-1].time if self._by_id else None

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, id: object) -> bool:
        return id in self._by_id

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MeasurementLog):
            return NotImplemented
        return self._by_id == other._by_id and self._rejected == other._rejected

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"MeasurementLog({len(self)} readings, {len(self._rejected)} rejected)"

    def to_json(self) -> dict[str, Any]:
        """``{"readings": [reading dicts by (time, id)], "rejected": {id: reason, by id}}``."""
        rejected = dict(sorted(self._rejected.items()))
        return {"readings": [r.to_json() for r in self._sort()], "rejected": rejected}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> MeasurementLog:
        """The log of ``to_json``'s dict, every reading validated again."""
        ok = isinstance(d, Mapping) and sorted(map(str, d)) == ["readings", "rejected"]
        if not (ok and isinstance(d["readings"], list) and isinstance(d["rejected"], Mapping)):
            expected = "a dict of a 'readings' list and a 'rejected' dict"
            raise _bad("", "measurement log", d, expected, "pass MeasurementLog.to_json()")
        log = cls()
        res = log.add([Reading.from_json(r) for r in d["readings"]])
        if res.duplicates or res.conflicts:
            ids = res.duplicates + res.conflicts
            raise _bad("measurement log ", "ids", ids, "unique ids", "the record is corrupt")
        for i, why in d["rejected"].items():
            log.reject(i, why)
        return log
