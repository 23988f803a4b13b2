"""Readings: unit conversion with pint, validation messages, CSV files, the idempotent log."""

from __future__ import annotations

import pytest

from steeltwin.engine import ConfigError
from steeltwin.engine.twin import MeasurementLog, make_reading, read_measurements_csv, to_kelvin
from steeltwin.engine.twin._measurements import to_metres


def test_units_convert_by_the_textbook_formulas():
    assert to_kelvin(812.3, "degC") == pytest.approx(812.3 + 273.15, abs=1e-9)
    assert to_kelvin(1500.0, "degF") == pytest.approx((1500.0 - 32) * 5 / 9 + 273.15, abs=1e-9)
    assert to_kelvin(1000.0, "K") == 1000.0
    for alias in ("C", "°C", "celsius"):
        assert to_kelvin(20.0, alias) == pytest.approx(293.15)
    assert to_kelvin(212.0, "F") == pytest.approx(373.15)
    assert to_metres(25.0, "mm") == pytest.approx(0.025)
    assert to_metres(1.0, "in") == pytest.approx(0.0254)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"unit": "kelvinn"}, r"unit='kelvinn' is invalid: expected a temperature unit"),
    ({"unit": "coulomb"}, "expected a temperature unit"),
    ({"value": float("nan")}, "expected a finite number"),
    ({"value": -300.0}, r"value=-300.0 is invalid: expected a temperature in \(0, 2500\] K"),
    ({"sensor": "laser"}, r"sensor='laser' is invalid: expected one of pyrometer_top"),
    ({"time": -1.0}, r"time=-1.0 is invalid"),
    ({"id": ""}, "reading id='' is invalid"),
    ({"depth": 0.05}, r"depth=0.05 is invalid: expected no depth"),
    ({"sensor": "thermocouple"}, "depth=None is invalid: expected a thermocouple's depth"),
])
def test_bad_readings_name_the_field(kwargs, match):
    args = {"id": "r1", "time": 30.0, "sensor": "pyrometer_top", "value": 900.0, "unit": "degC"}
    args.update(kwargs)
    with pytest.raises(ConfigError, match=match):
        make_reading(**args)


def test_thermocouple_depth_units():
    r = make_reading("tc", 60.0, "thermocouple", 700.0, "degC", depth=50.0, depth_unit="mm")
    assert r.depth == pytest.approx(0.05) and r.value == pytest.approx(973.15)


def test_csv_seconds_timestamps_dropouts_and_stable_ids(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("time,sensor,value,unit\n30,pyrometer_top,900,degC\n60,pyrometer_top,,degC\n"
                 "90,pyrometer_bottom,1650,degF\n")
    rs = read_measurements_csv(p)
    assert [r.time for r in rs] == [30.0, 90.0]  # the empty value is a dropout
    assert rs[1].value == pytest.approx((1650 - 32) * 5 / 9 + 273.15)
    assert [r.id for r in read_measurements_csv(p)] == [r.id for r in rs]
    q = tmp_path / "b.csv"
    q.write_text("time,sensor,value,unit,id\n2026-12-02T10:00:30Z,pyrometer_top,900,C,x1\n"
                 "2026-12-02T10:01:00Z,gas_top,1200,C,x2\n")
    rs = read_measurements_csv(q, t0="2026-12-02T10:00:00Z")
    assert [(r.id, r.time) for r in rs] == [("x1", 30.0), ("x2", 60.0)]
    bad = tmp_path / "c.csv"
    bad.write_text("time,sensor,value,unit\n30,pyrometer_top,900,degC\n60,pyrometer_top,9e9,K\n")
    with pytest.raises(ConfigError, match=r"c\.csv line 3"):
        read_measurements_csv(bad)
    mixed = tmp_path / "d.csv"
    mixed.write_text("time,sensor,value,unit\n30,pyrometer_top,900,C\n"
                     "2026-12-02T10:00:00,pyrometer_top,900,C\n")
    with pytest.raises(ConfigError, match="expected one kind per file"):
        read_measurements_csv(mixed)


def test_log_is_idempotent_and_order_free():
    rs = [make_reading(f"r{i}", 30.0 * (i % 5 + 1), "pyrometer_top", 900.0 + i, "degC")
          for i in range(10)]
    a, b = MeasurementLog(), MeasurementLog()
    a.add(rs)
    b.add(rs[::-1])
    assert a.between(0, 90) == b.between(0, 90)
    assert [r.time for r in a.between(30, 90)] == [60.0, 60.0, 90.0, 90.0]
    res = a.add([rs[0], make_reading("r1", 60.0, "pyrometer_top", 1.0, "degC")])
    assert res.duplicates == ["r0"] and res.conflicts == ["r1"] and res.accepted == []
    assert a.between(30, 60)[0].value == rs[1].value  # the stored reading is kept
    res = a.add([make_reading("late", 15.0, "pyrometer_top", 800.0, "degC")])
    assert res.earliest_new == 15.0 and len(a) == 11
    a.reject("r9", "gate")
    a.reject("late", "gate")
    a.clear_rejections(after_time=60.0)
    assert a.rejected == {"late": "gate"}  # r9 is at 150 s
    c = MeasurementLog.from_json(a.to_json())
    assert c.all() == a.all() and c.rejected == a.rejected
