"""One plausibility check for the CLI and HTTP: implausible values fail before anything is
computed, with the key, the value and its unit, the range and a hint; suspicious values warn;
a misspelt key gets the project's own message on the first try."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import pytest

from steeltwin import engine as e
from steeltwin.engine.apps import compose
from steeltwin.engine.config import (
    PlausibilityWarning,
    build_job,
    build_scenario,
    check_range,
    looks_like_kelvin,
)

ROOT = Path(__file__).resolve().parents[1]
TINY = ["geometry.cells=8", "solver.t_end=600", "solver.dt=60", "solver.save_interval=300",
        "solver.iterations=1", "output.progress=false", "output.plots=false"]
THICKNESS_220 = ("geometry.thickness=220 m is outside 0.01-1 m for a slab thickness: a value "
                 "in mm? 220 mm = 0.22 m")


def _simulate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "steeltwin.engine.apps.simulate", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HYDRA_FULL_ERROR": "0"})


@pytest.mark.parametrize(("overrides", "message"), [
    (["geometry.thickness=220"], THICKNESS_220),
    (["geometry.thickness=0.001"], "geometry.thickness=0.001 m is outside 0.01-1 m for a slab "
                                   "thickness: lengths in the config are in m"),
    (["geometry=round_bar", "geometry.diameter=150"],
     "geometry.diameter=150 m is outside 0.002-3 m for a section dimension: a value in mm? "
     "150 mm = 0.15 m"),
    (["geometry=h_beam", "geometry.cell_size=5"], "geometry.cell_size=5 m is outside 1e-05-0.1 m "
                                                  "for a cell size: a value in mm? 5 mm = 0.005 m"),
    # Kelvin typed where degC is meant, beyond the solidus: the hint converts.
    (["initial.temperature=1773.15"], "initial.temperature=1773.15 degC is outside -100-1500 "
                                      "degC for a steel temperature: a value in K? 1773.15 K = "
                                      "1500 degC"),
    # Fahrenheit for the gas: 2300 degF = 1260 degC.
    (["boundary.zones.soak.gas_temperature=2300"],
     "boundary.zones.soak.gas_temperature=2300 degC is outside -100-2000 degC for a gas or "
     "ambient temperature: a value in degF? 2300 degF = 1260.0 degC"),
])
def test_implausible_values_fail_with_unit_range_and_hint(overrides, message):
    with pytest.raises(e.ConfigError) as err:
        build_job(compose(overrides))
    assert str(err.value) == message


def test_a_ramp_inside_a_zone_from_the_config():
    """boundary.zones.<zone>.gas_temperature_end: the set-point at the zone's exit, checked
    like gas_temperature (degC, plausible range, the field named)."""
    sc = build_scenario(compose(["boundary.ramp_time=0",
                                 "boundary.zones.preheat.gas_temperature_end=1100"]))
    at = lambda t: float(sc.boundary.at(jnp.asarray(t)).gas_temperature[0]) - 273.15  # noqa: E731
    assert at(1500.0) == pytest.approx(1050.0)  # halfway through the 3000 s preheat zone
    assert at(3001.0) == pytest.approx(1200.0)  # heating_1 unchanged
    with pytest.raises(e.ConfigError, match=r"boundary\.zones\.heating_1\.gas_temperature_end"
                                            r"=2300 degC is outside"):
        build_scenario(compose(["boundary.zones.heating_1.gas_temperature_end=2300"]))


def test_bounds_are_inclusive_and_near_bounds_pass():
    for value in (0.01, 0.3, 1.0):
        check_range("geometry.thickness", value, "thickness")
    for value in (-100.0, 20.0, 1500.0):
        check_range("initial.temperature", value, "steel_temperature")
    with pytest.raises(e.ConfigError, match=r"=1\.001 m is outside"):
        check_range("geometry.thickness", 1.001, "thickness")
    with pytest.raises(e.ConfigError, match=r"=1500\.01 degC is outside"):
        check_range("initial.temperature", 1500.01, "steel_temperature")


def test_kelvin_tell_tale():
    assert looks_like_kelvin(1173.15) and looks_like_kelvin(293.15)
    assert not looks_like_kelvin(900.0) and not looks_like_kelvin(1173.0)
    assert not looks_like_kelvin(1173.16) and not looks_like_kelvin(20.15)


def test_suspicious_values_warn_and_are_collected():
    cfg = compose(["initial.temperature=1173.15", "boundary.zones.soak.gas_temperature=1250"])
    job = build_job(cfg)
    assert list(job.warnings) == [
        "initial.temperature=1173.15 degC looks like a temperature in K (1173.15 K = 900 degC); "
        "temperatures in the config are in degC: set initial.temperature=900 if that was meant"]
    # Above the EN 1993-1-2 data (clause 3.4 ends at 1200 degC): possible (it is held), so a
    # warning; without a collector the builder issues PlausibilityWarning.
    with pytest.warns(PlausibilityWarning, match=r"initial\.temperature=1250 degC is above "
                                                  r"1200 degC, where the EN 1993-1-2"):
        build_scenario(compose(["initial.temperature=1250"]))
    assert build_job(compose([])).warnings == ()  # the defaults are plausible


def test_cli_thickness_in_mm_exits_2_and_writes_nothing(tmp_path):
    done = _simulate("geometry.thickness=220", f"output.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"steeltwin-simulate: invalid config: {THICKNESS_220}" in done.stderr
    assert not (tmp_path / "run").exists()


def test_cli_kelvin_warns_runs_and_keeps_the_warning(tmp_path):
    done = _simulate("initial.temperature=1173.15", *TINY, f"output.dir={tmp_path / 'run'}",
                     cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    warning = ("steeltwin-simulate: warning: initial.temperature=1173.15 degC looks like a "
               "temperature in K (1173.15 K = 900 degC)")
    assert warning in done.stderr
    summary = (tmp_path / "run" / "summary.txt").read_text()
    assert summary.startswith("slab 220 mm | carbon_steel")  # the size shows a unit slip
    assert "warning: initial.temperature=1173.15 degC looks like" in summary
    assert summary.strip() in done.stdout.strip()


@pytest.mark.parametrize(("override", "message"), [
    ("solver.dtt=10", "solver.dtt is not a known key of solver: expected one of dt, "
                      "explicit_dt, iterations, linear_solver, save_interval, scheme, t_end; "
                      "did you mean solver.dt?"),
    ("boundary.zones.soak.gas_temprature=1200",
     "boundary.zones.soak.gas_temprature is not a known key of boundary.zones.soak: expected "
     "one of duration, exchange_factor_bottom, exchange_factor_top, gas_temperature, "
     "gas_temperature_end, h; did "
     "you mean boundary.zones.soak.gas_temperature?"),
    ("thickness=0.2", "thickness is not a known key: expected one of boundary, dtype, "
                      "geometry, initial, material, name, output, solver, stress; check the "
                      "spelling"),
])
def test_misspelt_key_gets_the_project_message_first(tmp_path, override, message):
    done = _simulate(override, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == f"steeltwin-simulate: invalid config: {message}"
    assert "not in struct" not in done.stderr and "+" not in done.stderr  # no wrong hint


def test_misspelt_key_in_a_sweep(tmp_path):
    done = _simulate("-m", "solver.dtt=10,30", cwd=tmp_path)
    assert done.returncode == 2 and "did you mean solver.dt?" in done.stderr
