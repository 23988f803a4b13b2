"""Readings with units: pint conversions, validation messages, the measurement CSV and the
idempotent measurement log. Expected values come from the hand formulas, not from pint."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import shutil

import numpy as np
import pytest

from steeltwin.engine._errors import ConfigError
from steeltwin.engine.twin._measurements import (
    SENSORS,
    MeasurementLog,
    Reading,
    make_reading,
    read_measurements_csv,
    to_kelvin,
    to_metres,
    unit_registry,
)


def _c(x: float) -> float:
    return x + 273.15


def _f(x: float) -> float:
    return (x - 32.0) * 5.0 / 9.0 + 273.15


def _write(tmp_path, text: str, name: str = "plant.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# -- units -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (812.3, "degC", 1085.45),
        (1500.0, "degF", 1088.7055555555555),
        (1085.45, "K", 1085.45),
        (-40.0, "degF", _c(-40.0)),  # -40 is the same in degC and degF
        (0.0, "degC", 273.15),
        (np.float64(900.0), "degC", 1173.15),
    ],
)
def test_temperature_conversion_matches_the_hand_formula(value, unit, expected):
    assert to_kelvin(value, unit) == pytest.approx(expected, rel=1e-13, abs=0)


@pytest.mark.parametrize("unit", ["degC", "°C", "C", "celsius", "Celsius", "DEGC"])
def test_celsius_aliases(unit):
    assert to_kelvin(1000.0, unit) == pytest.approx(_c(1000.0), rel=1e-13)


@pytest.mark.parametrize("unit", ["degF", "°F", "F", "fahrenheit", "Fahrenheit", " degF "])
def test_fahrenheit_aliases(unit):
    assert to_kelvin(1800.0, unit) == pytest.approx(_f(1800.0), rel=1e-13)


@pytest.mark.parametrize("unit", ["K", "kelvin", "Kelvin"])
def test_kelvin_aliases(unit):
    assert to_kelvin(1234.5, unit) == pytest.approx(1234.5, rel=1e-15)


@pytest.mark.parametrize("unit", ["coulomb", "farad", "c", "f", "k", "kelvinn", "degR", "", "m"])
def test_non_temperature_units_are_refused(unit):
    # "C" and "F" are temperatures here; coulomb, farad and the lower-case symbols never are.
    with pytest.raises(
        ConfigError,
        match=rf"unit={re.escape(repr(unit))} is invalid: expected "
        "a temperature unit .*degC.*; fix",
    ):
        to_kelvin(100.0, unit)


def test_unit_not_a_string_is_refused():
    with pytest.raises(ConfigError, match=r"unit=None is invalid: expected a temperature unit"):
        to_kelvin(100.0, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (25.0, "mm", 0.025),
        (2.0, "in", 0.0508),
        (1.5, "inch", 0.0381),
        (3.0, "cm", 0.03),
        (0.04, "m", 0.04),
    ],
)
def test_length_units(value, unit, expected):
    assert to_metres(value, unit) == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("unit", ["ft", "km", "M", "MM", "inches?", "K"])
def test_non_length_units_are_refused(unit):
    with pytest.raises(
        ConfigError,
        match=rf"depth_unit={re.escape(repr(unit))} is invalid: "
        r"expected a length unit \(m, mm, cm, in, inch\)",
    ):
        to_metres(1.0, unit)


@pytest.mark.parametrize(
    ("value", "what"),
    [
        (float("nan"), "a finite number"),
        (float("inf"), "a finite number"),
        ("812", "a number"),
        (True, "a number"),
        (None, "a number"),
    ],
)
def test_conversions_refuse_non_finite_or_non_numbers(value, what):
    with pytest.raises(
        ConfigError,
        match=rf"zone1\.gas={re.escape(repr(value))} is invalid: "
        f"expected {what}; fix",
    ):
        to_kelvin(value, "degC", field="zone1.gas")
    with pytest.raises(ConfigError, match=rf"depth={re.escape(repr(value))} is invalid"):
        to_metres(value, "mm")


def test_custom_field_names_the_unit_too():
    with pytest.raises(ConfigError, match=r"zone1\.gas unit='kelvinn' is invalid"):
        to_kelvin(1.0, "kelvinn", field="zone1.gas")
    with pytest.raises(ConfigError, match=r"tc\.depth_unit='yd' is invalid"):
        to_metres(1.0, "yd", field="tc.depth")


def test_registry_is_built_once():
    assert unit_registry() is unit_registry()


# -- readings ----------------------------------------------------------------------------------


def test_make_reading_converts_and_keeps_the_raw_value():
    r = make_reading("tc-1", 12.5, "thermocouple", 1500.0, "degF", depth=40.0, depth_unit="mm")
    assert r.value == pytest.approx(_f(1500.0), rel=1e-13)
    assert r.depth == pytest.approx(0.040, rel=1e-13)
    assert (r.raw_value, r.raw_unit, r.time, r.sensor) == (1500.0, "degF", 12.5, "thermocouple")
    p = make_reading("p-1", 0, "pyrometer_top", 812.3, "degC")
    assert p.depth is None and p.value == pytest.approx(1085.45, rel=1e-13)
    assert isinstance(p.time, float) and p.time == 0.0


def test_temperature_range_bounds():
    assert make_reading("a", 1, "gas_top", 2500.0, "K").value == 2500.0
    assert make_reading("b", 1, "gas_top", 1e-6, "K").value == 1e-6
    for v, unit in ((2500.001, "K"), (0.0, "K"), (-273.15, "degC"), (-500.0, "degF")):
        with pytest.raises(
            ConfigError,
            match=r"value=.* is invalid: expected a temperature in "
            r"\(0, 2500\] K",
        ):
            make_reading("c", 1, "gas_top", v, unit)


_GOOD = {"id": "r17", "time": 30.0, "sensor": "pyrometer_top", "value": 900.0, "unit": "degC"}


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"id": ""}, r"reading id='' is invalid: expected a non-empty string"),
        ({"id": "x" * 129}, r"reading id='x{129}' is invalid: expected .*at most 128"),
        ({"id": " r17"}, r"reading id=' r17' is invalid"),
        ({"id": 17}, r"reading id=17 is invalid: expected a non-empty string"),
        ({"time": -1.0}, r"reading 'r17' time=-1\.0 is invalid: expected seconds >= 0"),
        ({"time": float("nan")}, r"reading 'r17' time=nan is invalid: expected a finite"),
        ({"time": "30"}, r"reading 'r17' time='30' is invalid: expected a number"),
        (
            {"sensor": "pyro"},
            r"reading 'r17' sensor='pyro' is invalid: expected one of "
            r"pyrometer_top, pyrometer_bottom, thermocouple, gas_top, gas_bottom; fix",
        ),
        ({"value": float("inf")}, r"reading 'r17' value=inf is invalid: expected a finite"),
        (
            {"value": 3000.0},
            r"reading 'r17' value=3000\.0 is invalid: expected a temperature "
            r"in \(0, 2500\] K, got 3273\.15 K; check the value and its unit \(degC\)",
        ),
        (
            {"unit": "kelvinn"},
            r"reading 'r17' unit='kelvinn' is invalid: expected a "
            r"temperature unit \(degC, .*K.*degF.*\); fix the unit",
        ),
        ({"unit": "farad"}, r"reading 'r17' unit='farad' is invalid"),
        (
            {"depth": 0.02},
            r"reading 'r17' depth=0\.02 is invalid: expected no depth .*not a "
            r"pyrometer_top\); leave the depth empty",
        ),
        (
            {"sensor": "thermocouple"},
            r"reading 'r17' depth=None is invalid: expected a "
            r"thermocouple's depth; add depth",
        ),
        (
            {"sensor": "thermocouple", "depth": -1.0},
            r"reading 'r17' depth=-1\.0 is invalid: "
            r"expected a depth >= 0",
        ),
        (
            {"sensor": "thermocouple", "depth": 5.0, "depth_unit": "ft"},
            r"reading 'r17' depth_unit='ft' is invalid: expected a length unit",
        ),
        (
            {"sensor": "thermocouple", "depth": float("nan")},
            r"reading 'r17' depth=nan is invalid: expected a finite number",
        ),
    ],
)
def test_make_reading_refuses_bad_input(change, pattern):
    with pytest.raises(ConfigError, match=pattern):
        make_reading(**{**_GOOD, **change})


def test_reading_json_round_trip_and_validation():
    rs = [
        make_reading("tc", 7.25, "thermocouple", 1500.0, "degF", depth=1.5, depth_unit="in"),
        make_reading("py", 0.0, "pyrometer_bottom", 812.3, "°C"),
    ]
    for r in rs:
        d = json.loads(json.dumps(r.to_json()))
        assert Reading.from_json(d) == r
    d = rs[0].to_json()
    with pytest.raises(
        ConfigError,
        match=r"reading 'tc' value=2000\.0 is invalid: expected "
        r".* K \(1500\.0 degF\); the record is corrupt",
    ):
        Reading.from_json({**d, "value": 2000.0})
    with pytest.raises(ConfigError, match=r"reading=.* is invalid: expected a dict with the keys"):
        Reading.from_json({k: v for k, v in d.items() if k != "raw_unit"})
    with pytest.raises(ConfigError, match=r"reading 'tc' sensor='oven' is invalid"):
        Reading.from_json({**d, "sensor": "oven"})


# -- CSV -------------------------------------------------------------------------------------


_SECONDS_CSV = """time,sensor,value,unit,depth,depth_unit
30,pyrometer_top,812.3,degC,,
30,thermocouple,1500,degF,40,mm
60,pyrometer_bottom,1085.45,K,,
60,gas_top,2000,F,,
90,thermocouple,800,C,1.5,in
"""


def test_csv_in_seconds(tmp_path):
    rs = read_measurements_csv(_write(tmp_path, _SECONDS_CSV))
    assert [r.time for r in rs] == [30.0, 30.0, 60.0, 60.0, 90.0]  # file order
    assert [r.sensor for r in rs] == [
        "pyrometer_top",
        "thermocouple",
        "pyrometer_bottom",
        "gas_top",
        "thermocouple",
    ]
    expected = [_c(812.3), _f(1500.0), 1085.45, _f(2000.0), _c(800.0)]
    np.testing.assert_allclose([r.value for r in rs], expected, rtol=1e-13)
    assert [r.depth for r in rs] == [None, pytest.approx(0.04), None, None, pytest.approx(0.0381)]
    assert [r.raw_unit for r in rs] == ["degC", "degF", "K", "F", "C"]
    assert all(re.fullmatch(r"[0-9a-f]{16}", r.id) for r in rs)
    assert len({r.id for r in rs}) == len(rs)
    assert rs.dropouts == 0


def test_csv_ids_are_stable_and_content_based(tmp_path):
    p = _write(tmp_path, _SECONDS_CSV)
    first = [r.id for r in read_measurements_csv(p)]
    assert [r.id for r in read_measurements_csv(p)] == first
    q = tmp_path / "copy.csv"
    shutil.copy(p, q)
    assert [r.id for r in read_measurements_csv(q)] == first  # not tied to the file name
    # The id is sha1 of time|sensor|value|unit|depth|depth_unit (16 hex digits).
    import hashlib

    assert first[1] == hashlib.sha1(b"30|thermocouple|1500|degF|40|mm").hexdigest()[:16]
    changed = _SECONDS_CSV.replace("812.3", "812.4")
    other = [r.id for r in read_measurements_csv(_write(tmp_path, changed, "b.csv"))]
    assert other[0] != first[0] and other[1:] == first[1:]


def test_csv_explicit_ids_win(tmp_path):
    text = "id,time,sensor,value,unit\nr1,30,pyrometer_top,900,degC\n,60,gas_top,1100,degC\n"
    rs = read_measurements_csv(_write(tmp_path, text))
    assert rs[0].id == "r1" and re.fullmatch(r"[0-9a-f]{16}", rs[1].id)


def test_csv_with_iso_timestamps(tmp_path):
    text = (
        "time,sensor,value,unit\n"
        "2024-05-01T08:00:30Z,pyrometer_top,900,degC\n"
        "2024-05-01T08:00:00Z,gas_top,1200,degC\n"
        "2024-05-01T09:00:00+01:00,pyrometer_bottom,890,degC\n"  # = 08:00:00Z
        "2024-05-01T08:02:00.5+00:00,pyrometer_top,905,degC\n"
    )
    p = _write(tmp_path, text)
    assert [r.time for r in read_measurements_csv(p)] == [30.0, 0.0, 0.0, 120.5]
    t0 = "2024-05-01T07:59:00+00:00"
    assert [r.time for r in read_measurements_csv(p, t0=t0)] == [90.0, 60.0, 60.0, 180.5]
    t0_dt = dt.datetime(2024, 5, 1, 7, 59, tzinfo=dt.UTC)
    assert [r.time for r in read_measurements_csv(p, t0=t0_dt)] == [90.0, 60.0, 60.0, 180.5]
    with pytest.raises(
        ConfigError,
        match=rf"{p.name} line 3: column 'time' time="
        r"'2024-05-01T08:00:00Z' is invalid: expected a time not before t0=",
    ):
        read_measurements_csv(p, t0="2024-05-01T08:00:10+00:00")
    with pytest.raises(
        ConfigError,
        match=r"t0='yesterday' is invalid: expected seconds or an "
        "ISO 8601 timestamp",
    ):
        read_measurements_csv(p, t0="yesterday")
    with pytest.raises(
        ConfigError,
        match=r"t0='2024-05-01T07:59:00' is invalid: expected "
        "every timestamp and t0 with a UTC offset, or none",
    ):
        read_measurements_csv(p, t0="2024-05-01T07:59:00")


def test_csv_naive_timestamps_count_from_the_earliest(tmp_path):
    text = "time,sensor,value,unit\n2024-05-01 08:01:00,gas_top,1200,degC\n"
    text += "2024-05-01 08:00:00,gas_bottom,1190,degC\n"
    assert [r.time for r in read_measurements_csv(_write(tmp_path, text))] == [60.0, 0.0]


def test_csv_mixing_seconds_and_timestamps_is_an_error(tmp_path):
    text = "time,sensor,value,unit\n30,gas_top,1200,degC\n2024-05-01T08:00:00Z,gas_top,1200,degC\n"
    p = _write(tmp_path, text)
    with pytest.raises(
        ConfigError,
        match=rf"{p.name} column time='mixed' is invalid: expected "
        r"one kind per file \(line 2 holds seconds, line 3 a timestamp\)",
    ):
        read_measurements_csv(p)


def test_csv_seconds_with_t0_is_an_error(tmp_path):
    p = _write(tmp_path, _SECONDS_CSV)
    with pytest.raises(ConfigError, match=r"t0='2024-05-01T08:00:00Z' is invalid: expected None"):
        read_measurements_csv(p, t0="2024-05-01T08:00:00Z")


def test_csv_dropouts_are_skipped_and_counted(tmp_path):
    text = (
        "time,sensor,value,unit\n"
        "30,pyrometer_top,900,degC\n"
        "60,pyrometer_top,,degC\n"
        "\n"
        "90,pyrometer_top,  ,degC\n"
        "120,pyrometer_top,910,degC\n"
    )
    rs = read_measurements_csv(_write(tmp_path, text))
    assert [r.time for r in rs] == [30.0, 120.0]
    assert rs.dropouts == 2 and rs.dropout_lines == (3, 5)  # physical lines (a blank line 4)


def test_csv_nan_is_not_a_dropout(tmp_path):
    p = _write(tmp_path, "time,sensor,value,unit\n30,pyrometer_top,nan,degC\n")
    with pytest.raises(
        ConfigError,
        match=rf"{p.name} line 2: column 'value': reading "
        r"'[0-9a-f]{16}' value=nan is invalid: expected a finite number",
    ):
        read_measurements_csv(p)


@pytest.mark.parametrize(
    ("row", "pattern"),
    [
        (
            "90,pyrometer_top,900,kelvinn",
            r"column 'unit': reading '[0-9a-f]{16}' "
            r"unit='kelvinn' is invalid: expected a temperature unit",
        ),
        (
            "90,pyrometer_top,9x0,degC",
            r"column 'value' value='9x0' is invalid: expected a "
            "number",
        ),
        (
            "90,pyrometer_top,812,3,degC",
            r"cells=\['90', 'pyrometer_top', '812', '3', 'degC'\] "
            r"is invalid: expected 4 cells \(time, sensor, value, unit\)",
        ),
        (
            "-5,pyrometer_top,900,degC",
            r"column 'time': reading '[0-9a-f]{16}' time=-5\.0 is "
            "invalid: expected seconds >= 0",
        ),
        (
            "ninety,pyrometer_top,900,degC",
            r"column 'time' time='ninety' is invalid: expected "
            "seconds or an ISO 8601 timestamp",
        ),
        (
            "90,oven,900,degC",
            r"column 'sensor': reading '[0-9a-f]{16}' sensor='oven' is "
            "invalid: expected one of pyrometer_top",
        ),
        (
            "90,pyrometer_top,3000,degC",
            r"column 'value': .* value=3000\.0 is invalid: "
            r"expected a temperature in \(0, 2500\] K",
        ),
    ],
)
def test_csv_bad_row_names_file_line_column_and_value(tmp_path, row, pattern):
    text = f"time,sensor,value,unit\n30,pyrometer_top,900,degC\n\n{row}\n60,gas_top,1200,degC\n"
    p = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=rf"{re.escape(str(p))} line 4: {pattern}"):
        read_measurements_csv(p)


def test_csv_thermocouple_depth_errors(tmp_path):
    head = "time,sensor,value,unit,depth,depth_unit\n"
    p = _write(tmp_path, head + "30,thermocouple,900,degC,,\n")
    with pytest.raises(ConfigError, match=r"line 2: column 'depth': .* depth=None is invalid"):
        read_measurements_csv(p)
    p = _write(tmp_path, head + "30,thermocouple,900,degC,40,ft\n")
    with pytest.raises(ConfigError, match=r"line 2: column 'depth_unit': .* depth_unit='ft'"):
        read_measurements_csv(p)
    p = _write(tmp_path, head + "30,pyrometer_top,900,degC,40,mm\n")
    with pytest.raises(ConfigError, match=r"line 2: column 'depth': .* depth=40\.0 is invalid"):
        read_measurements_csv(p)
    p = _write(tmp_path, head + "30,thermocouple,900,degC,4o,mm\n")
    with pytest.raises(ConfigError, match=r"line 2: column 'depth' depth='4o' is invalid"):
        read_measurements_csv(p)


@pytest.mark.parametrize(
    "header",
    [
        "time,sensor,value",
        "time,sensor,value,unit,depth_units",
        "time,sensor,value,unit,unit",
        "when,sensor,value,unit",
    ],
)
def test_csv_bad_header(tmp_path, header):
    p = _write(tmp_path, header + "\n")
    with pytest.raises(
        ConfigError,
        match=rf"{p.name} line 1: header=.* is invalid: expected "
        "the columns time, sensor, value, unit",
    ):
        read_measurements_csv(p)


def test_csv_header_only_and_missing_file(tmp_path):
    assert read_measurements_csv(_write(tmp_path, "Time, Sensor ,VALUE,unit\n")) == []
    with pytest.raises(ConfigError, match=r"measurements file='.*nope\.csv' is invalid"):
        read_measurements_csv(tmp_path / "nope.csv")


# -- the log ---------------------------------------------------------------------------------


def _stream(n: int = 30) -> list[Reading]:
    rs = []
    for i in range(n):
        t = 10.0 * (i // 3)  # three readings share each time: (time, id) breaks the tie
        sensor = SENSORS[i % len(SENSORS)]
        depth = 0.02 if sensor == "thermocouple" else None
        rs.append(make_reading(f"r{i:03d}", t, sensor, 900.0 + i, "degC", depth))
    return rs


def test_log_duplicates_are_ignored():
    rs = _stream(6)
    log = MeasurementLog()
    first = log.add(rs)
    assert first.accepted == rs and first.duplicates == [] and first.conflicts == []
    again = log.add([rs[2], rs[0]])
    assert again.accepted == [] and again.duplicates == ["r002", "r000"]
    assert again.earliest_new is None
    assert len(log) == 6 and log.all() == sorted(rs, key=lambda r: (r.time, r.id))


def test_log_conflicts_are_reported_and_the_stored_reading_kept():
    rs = _stream(4)
    log = MeasurementLog()
    log.add(rs)
    changed = make_reading("r001", rs[1].time, rs[1].sensor, 2000.0, "K")
    fresh = make_reading("new", 5.0, "gas_top", 1000.0, "K")
    res = log.add([changed, fresh])
    assert res.conflicts == ["r001"] and res.accepted == [fresh] and res.duplicates == []
    stored = next(r for r in log.all() if r.id == "r001")
    assert stored == rs[1] and stored.value != 2000.0


def test_log_conflict_within_one_batch_keeps_the_first():
    a = make_reading("x", 1.0, "gas_top", 1000.0, "K")
    b = make_reading("x", 1.0, "gas_top", 1001.0, "K")
    res = MeasurementLog().add([a, a, b])
    assert res.accepted == [a] and res.duplicates == ["x"] and res.conflicts == ["x"]


def test_log_arrival_order_does_not_matter():
    rs = _stream(40)
    ordered = MeasurementLog()
    ordered.add(rs)
    shuffled = MeasurementLog()
    mixed = rs[:]
    random.Random(3).shuffle(mixed)
    for k in range(0, len(mixed), 7):  # out-of-order batches, and single readings
        chunk = mixed[k : k + 7]
        if k % 2:
            shuffled.add(chunk)
        else:
            for r in chunk:
                shuffled.add(r)
        shuffled.between(0.0, 50.0)  # a query between arrivals must not freeze the order
    for t0, t1 in ((-1.0, 1e9), (0.0, 50.0), (20.0, 20.0), (15.0, 70.0), (-np.inf, np.inf)):
        assert shuffled.between(t0, t1) == ordered.between(t0, t1)
    assert shuffled.all() == ordered.all() and shuffled.to_json() == ordered.to_json()
    got = ordered.between(0.0, 20.0)
    assert [(r.time, r.id) for r in got] == sorted((r.time, r.id) for r in rs if 0 < r.time <= 20)
    assert [r.id for r in got] == ["r003", "r004", "r005", "r006", "r007", "r008"]


def test_log_between_bounds_and_sensor_filter():
    log = MeasurementLog()
    log.add(_stream(15))
    assert {r.time for r in log.between(10.0, 30.0)} == {20.0, 30.0}  # t0 out, t1 in
    assert [r.id for r in log.between(-1.0, 0.0)] == ["r000", "r001", "r002"]
    assert log.between(30.0, 10.0) == []
    only = log.between(-1.0, 100.0, sensors="thermocouple")
    assert only and all(r.sensor == "thermocouple" for r in only)
    both = log.between(-1.0, 100.0, sensors=["gas_top", "gas_bottom"])
    assert {r.sensor for r in both} == {"gas_top", "gas_bottom"}
    with pytest.raises(
        ConfigError,
        match=r"between sensors='pyro' is invalid: expected names "
        "among pyrometer_top",
    ):
        log.between(0.0, 1.0, sensors="pyro")
    with pytest.raises(ConfigError, match=r"between t1=nan is invalid: expected a finite"):
        log.between(0.0, float("nan"))


def test_log_earliest_new_for_late_readings():
    log = MeasurementLog()
    assert log.latest_time is None and log.add([]).earliest_new is None
    log.add([make_reading("a", 100.0, "gas_top", 1000.0, "K")])
    res = log.add(
        [
            make_reading("b", 300.0, "gas_top", 1000.0, "K"),
            make_reading("late", 40.0, "pyrometer_top", 900.0, "K"),
            make_reading("a", 100.0, "gas_top", 1000.0, "K"),
        ]
    )
    assert res.earliest_new == 40.0 and [r.id for r in res.accepted] == ["b", "late"]
    assert log.latest_time == 300.0 and len(log) == 3
    assert "late" in log and "nope" not in log


def test_log_add_refuses_non_readings():
    log = MeasurementLog()
    with pytest.raises(
        ConfigError,
        match=r"readings item=\{'id': 'a'\} is invalid: expected a "
        "Reading; build it with make_reading",
    ):
        log.add([_stream(1)[0], {"id": "a"}])  # type: ignore[list-item]
    assert len(log) == 0  # nothing added when a batch is refused
    log.add(_stream(1)[0])  # a single reading is fine
    assert len(log) == 1


def test_log_rejections_and_clear_rejections():
    log = MeasurementLog()
    log.add(_stream(12))  # times 0, 10, 20, 30
    log.reject("r001", "innovation +5.1 sigma")
    log.reject("r007", "innovation -4.2 sigma")
    log.reject("r010", "innovation +9.0 sigma")
    assert log.rejected == {
        "r001": "innovation +5.1 sigma",
        "r007": "innovation -4.2 sigma",
        "r010": "innovation +9.0 sigma",
    }
    log.rejected.clear()  # a copy: the log is not changed through it
    assert len(log.rejected) == 3
    log.clear_rejections(20.0)  # r007 (t = 20) stays, r010 (t = 30) goes
    assert set(log.rejected) == {"r001", "r007"}
    log.clear_rejections(-1.0)
    assert log.rejected == {}
    with pytest.raises(
        ConfigError,
        match=r"reject id='ghost' is invalid: expected the id of a "
        "reading in the log",
    ):
        log.reject("ghost", "why")
    with pytest.raises(ConfigError, match=r"reject 'r001' reason='' is invalid"):
        log.reject("r001", "")
    with pytest.raises(ConfigError, match=r"clear_rejections after_time='10' is invalid"):
        log.clear_rejections("10")  # type: ignore[arg-type]


def test_log_json_round_trip():
    log = MeasurementLog()
    log.add(_stream(20))
    log.add([make_reading("tc-in", 5.0, "thermocouple", 1500.0, "degF", 1.0, "in")])
    log.reject("r004", "innovation +6.0 sigma")
    log.reject("tc-in", "outside the gate")
    text = json.dumps(log.to_json())
    back = MeasurementLog.from_json(json.loads(text))
    assert back == log and back.to_json() == log.to_json() and back.all() == log.all()
    assert back.rejected == log.rejected and back.latest_time == log.latest_time
    assert json.dumps(back.to_json()) == text
    assert MeasurementLog.from_json(MeasurementLog().to_json()) == MeasurementLog()
    d = json.loads(text)
    d["readings"].append(d["readings"][0])
    with pytest.raises(
        ConfigError,
        match=r"measurement log ids=\['r000'\] is invalid: "
        "expected unique ids",
    ):
        MeasurementLog.from_json(d)
    with pytest.raises(ConfigError, match=r"reject id='ghost' is invalid"):
        MeasurementLog.from_json({"readings": [], "rejected": {"ghost": "why"}})
    with pytest.raises(ConfigError, match=r"measurement log=\[\] is invalid: expected a dict"):
        MeasurementLog.from_json([])  # type: ignore[arg-type]


def test_csv_plant_file_with_own_headers_tags_and_extra_columns(tmp_path):
    """Issue 19: a plant file is read as it comes: its own headers (mapped), its tags
    (mapped; other instruments skipped and counted) and extra columns (ignored, listed)."""
    f = tmp_path / "plant.csv"
    f.write_text("Timestamp,Tag,PV,EU,Quality,Operator\n"
                 "30,TT_101,950.5,degC,good,ab\n"
                 "30,FT_7,12.0,m3/h,good,ab\n"
                 "60,TT_102,1230,K,good,ab\n")
    rs = read_measurements_csv(f, columns={"time": "timestamp", "sensor": "Tag", "value": "PV",
                                           "unit": "EU"},
                               sensors={"TT_101": "pyrometer_top", "TT_102": "pyrometer_bottom"})
    assert [r.sensor for r in rs] == ["pyrometer_top", "pyrometer_bottom"]
    assert rs[0].value == pytest.approx(950.5 + 273.15) and rs[1].value == 1230.0
    assert rs.ignored_columns == ("quality", "operator") and rs.ignored_tags == {"FT_7": 1}
    # Without the mapping the same file names what is missing and how to map it.
    with pytest.raises(ConfigError, match=r"header=.*measurements.columns"):
        read_measurements_csv(f)
    with pytest.raises(ConfigError, match=r"measurements sensors=.*TT_101"):
        read_measurements_csv(f, columns={"time": "timestamp", "sensor": "tag", "value": "pv",
                                          "unit": "eu"}, sensors={"TT_101": "pyro_top"})
    # A near miss of a known column is still refused (a misspelt depth_unit must not turn mm
    # into m).
    g = tmp_path / "typo.csv"
    g.write_text("time,sensor,value,unit,depth,depht_unit\n30,thermocouple,900,degC,50,mm\n")
    with pytest.raises(ConfigError, match=r"'depht_unit' looks like a misspelt 'depth_unit'"):
        read_measurements_csv(g)
