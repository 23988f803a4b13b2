"""The steeltwin-simulate app: every config composes and builds, runs write what they promise,
the real CLI (single run and multirun) works, and bad configs fail fast with exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from steeltwin import engine as e
from steeltwin.engine.apps import CONF_DIR, build_job, compose, run_simulation
from steeltwin.engine.io import read_result

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = CONF_DIR / "examples"
# Extra overrides an option needs to be buildable on its own (paths; a t_end off the furnace).
NEEDS = {
    ("geometry", "mask_file"): [f"geometry.path={EXAMPLES / 'angle_section.png'}"],
    ("material", "table"): [f"material.path={EXAMPLES / 'carbon_steel_en1993.csv'}"],
}
# A tiny furnace run; one quasi-Newton iteration per step halves the compile time (1D updates
# are conservative by form whatever the iteration count).
TINY = ["geometry.cells=8", "solver.t_end=1200", "solver.dt=60", "solver.save_interval=300",
        "solver.iterations=1", "output.progress=false"]


# conf/ also holds the datagen and train groups (dataset, model, training, data,
# hydra/launcher): tested in tests/training.
SIMULATE_GROUPS = {"geometry", "material", "boundary", "initial", "solver", "output",
                   "experiment", "stress"}


def _options() -> list[tuple[str, str]]:
    return sorted((p.parent.name, p.stem) for p in CONF_DIR.glob("*/*.yaml")
                  if p.parent.name in SIMULATE_GROUPS)


def test_every_group_has_options():
    groups = {p.parent.name for p in CONF_DIR.glob("*/*.yaml")}
    extra = {"dataset", "model", "training", "data", "twin", "propagator"}
    assert groups == SIMULATE_GROUPS | extra


@pytest.mark.parametrize(("group", "option"), _options())
def test_every_option_composes_and_builds(group, option):
    overrides = [f"{group}={option}", *NEEDS.get((group, option), [])]
    if group == "boundary" and option != "furnace":
        overrides.append("solver.t_end=600")
    cfg = compose(overrides)
    job = build_job(cfg)
    assert isinstance(job.scenario, e.Scenario)
    assert job.settings.t_end > 0
    if group == "geometry":
        assert cfg.geometry.kind == option
        assert job.scenario.grid.ndim == {"slab": 1, "block": 3}.get(option, 2)


def test_default_is_the_documented_furnace():
    job = build_job(compose())
    assert job.furnace and job.scenario.grid.shape == (44,)
    assert job.settings.t_end == 3000 + 2700 + 2700 + 2400  # s, total residence
    np.testing.assert_allclose(np.asarray(job.scenario.initial_temperature), 298.15)
    gas = np.asarray(job.scenario.boundary.gas_temperature) - 273.15
    np.testing.assert_allclose([gas.min(), gas.max()], [1000.0, 1280.0])


def test_run_simulation_writes_a_complete_result(tmp_path):
    summary = run_simulation(compose(TINY), tmp_path)
    r = read_result(tmp_path / "result.h5")
    n_t = 1200 // 300 + 1
    assert r["temperature"].shape == (n_t, 8)
    assert r["surface_temperature"].shape == r["heat_flux"].shape == (n_t, 2)
    assert r["boundary_heat"].shape == (n_t - 1, 2)
    with h5py.File(tmp_path / "result.h5") as f:
        names: list[str] = []
        f.visititems(lambda n, node: names.append(n) if isinstance(node, h5py.Dataset) else None)
        assert all("units" in f[n].attrs for n in names)
    assert r["units"]["temperature"] == "K" and r["units"]["enthalpy"] == "J/m^2"
    # 1D implicit and explicit updates are conservative by form: round-off only.
    dH = r["enthalpy"][-1] - r["enthalpy"][0]
    assert abs(dH - r["boundary_heat"].sum()) <= 1e-8 * abs(dH)
    assert r["config"]["geometry"] == {"kind": "slab", "thickness": 0.22, "cells": 8}
    assert r["summary"]["end_centre_C"] == pytest.approx(summary["end_centre_C"])
    assert 25 < summary["end_centre_C"] < summary["end_surface_C"] < 1200
    assert summary["max_surface_centre_K"] > 0 and summary["end_spread_K"] > 0
    assert (tmp_path / "temperatures.png").stat().st_size > 10_000
    assert not (tmp_path / "field.png").exists()  # 1D: no field plot


def test_float32_agrees_with_float64(tmp_path):
    s64 = run_simulation(compose(TINY), tmp_path / "f64")
    s32 = run_simulation(compose([*TINY, "dtype=float32"]), tmp_path / "f32")
    assert read_result(tmp_path / "f32" / "result.h5")["temperature"].dtype == np.float32
    # float32 round-off in H (~1e9 J/m^3 at 1e-7) is ~0.1 K; allow 0.5 K.
    assert s32["end_mean_C"] == pytest.approx(s64["end_mean_C"], abs=0.5)


@pytest.mark.slow
def test_h_beam_experiment_composes_and_runs(tmp_path):
    cfg = compose(["experiment=h_beam_cooling"])
    assert cfg.geometry.kind == "h_beam" and cfg.boundary.all.emissivity == 0.8
    assert cfg.initial.temperature == 900 and cfg.solver.t_end == 7200
    # Coarse and one iteration per step: the point is the pipeline, and 2D compiles are slow.
    job = build_job(compose(["experiment=h_beam_cooling", "geometry.cell_size=0.01",
                             "solver.t_end=600", "solver.save_interval=300",
                             "solver.iterations=1", "output.progress=false"]))
    summary = run_simulation(job, tmp_path)
    assert 25 < summary["end_mean_C"] < 900
    assert {Path(p).name for p in summary["files"]} == {"result.h5", "temperatures.png",
                                                         "field.png"}
    mask = read_result(tmp_path / "result.h5")["mask"]
    np.testing.assert_array_equal(mask, mask[::-1, ::-1])  # symmetric section


@pytest.mark.parametrize(("overrides", "message"), [
    (["material.kind=unobtainium"],
     r"material\.kind='unobtainium' is invalid: expected one of carbon_steel, stainless_steel"),
    (["geometry.thickness=-0.1"], r"geometry\.thickness=-0\.1 is invalid: expected a positive"),
    (["geometry.cells=0"], r"geometry\.cells=0 is invalid: expected a positive integer"),
    (["+geometry.thikness=0.2"], r"geometry\.thikness is not a known key"),
    (["boundary.zones.soak.duration=-60"],
     r"boundary\.zones\.soak\.duration=-60\.0 is invalid: expected a positive number s"),
    (["boundary.zones.preheat.exchange_factor_top=1.5"],
     r"boundary\.zones\.preheat\.exchange_factor_top=1\.5 is invalid: expected a value in "
     r"\(0, 1\]"),
    (["boundary.ramp_time=5000"], r"boundary\.ramp_time=5000\.0 is invalid: expected at most"),
    (["solver.dt=nan"], r"solver\.dt=nan is invalid: expected a finite number s"),
    (["solver.t_end=-5"], r"solver\.t_end=-5\.0 is invalid: expected a positive number s"),
    (["boundary=air_cooling"], r"solver\.t_end is missing: expected the simulated time"),
    (["solver=explicit", "solver.dt=5"],
     r"solver\.dt=5\.0 s exceeds the explicit stability limit 0\.\d+ s"),
    (["initial.temperature=-300"], r"initial\.temperature=-300\.0 is invalid"),
    (["solver.linear_solver=lu"],
     r"solver\.linear_solver='lu' is invalid: expected one of krylov, adi"),
    (["boundary=faces", "+boundary.faces.left={type: adiabatic}", "solver.t_end=60"],
     r"boundary\.faces\.left=.* is invalid: expected a face of the 1D grid: one of bottom, top"),
    (["boundary=air_cooling", "boundary.all.emissivity=1.2", "solver.t_end=60"],
     r"boundary\.all\.emissivity=1\.2 is invalid: expected 0 or a value in \(0, 1\]"),
    (["geometry=h_beam", "geometry.cell_size=0.05"],
     r"geometry\.cell_size=0\.05 is invalid: expected smaller than the web thickness"),
    (["geometry=mask_file"], r"geometry\.path is missing"),
    (["material=constant", "material.rho=0"], r"material\.rho=0\.0 is invalid"),
    (["dtype=float32", "initial=profile", "initial.centre=nan"],
     r"initial\.centre=nan is invalid: expected a finite number degC"),
])
def test_bad_config_names_the_key(overrides, message):
    with pytest.raises(e.ConfigError, match=message):
        build_job(compose(overrides))


@pytest.mark.parametrize(("content", "message"), [
    (np.zeros((6, 6)), r"geometry\.path='.*empty\.npy' is invalid: expected at least one metal"),
    (np.eye(6), r"one face-connected piece of metal \(found 6\)"),
])
def test_bad_mask_file(tmp_path, content, message):
    path = tmp_path / "empty.npy"
    np.save(path, content)
    with pytest.raises(e.ConfigError, match=message):
        build_job(compose(["geometry=mask_file", f"geometry.path={path}"]))


def _cli(*args: str, cwd: Path, console_script: bool = False) -> subprocess.Popen[str]:
    """``python -m steeltwin.engine.apps.simulate``, or what the ``steeltwin-simulate`` script
    runs."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HYDRA_FULL_ERROR": "0"}
    entry = (["-c", "from steeltwin.engine.apps.simulate import main; main()"] if console_script
             else ["-m", "steeltwin.engine.apps.simulate"])
    return subprocess.Popen([sys.executable, *entry, *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_cli_single_run_and_multirun(tmp_path):
    out, sweep = tmp_path / "run", tmp_path / "sweep"
    single = _cli(*TINY, f"hydra.run.dir={out}", cwd=tmp_path)
    multi = _cli("-m", *TINY, "solver.dt=30,60", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    stdout, stderr = single.communicate(timeout=300)
    assert single.returncode == 0, stderr
    assert "discharge at 0.33 h" in stdout and "soak dT (max - min)" in stdout
    assert (out / "result.h5").is_file() and (out / "temperatures.png").is_file()
    assert (out / ".hydra" / "config.yaml").is_file()
    _, stderr = multi.communicate(timeout=300)
    assert multi.returncode == 0, stderr
    # Job k of a sweep writes to <sweep dir>/k.
    dts = [read_result(sweep / str(k) / "result.h5")["summary"]["dt_s"] for k in (0, 1)]
    assert dts == [30.0, 60.0]


def test_cli_bad_configs_exit_2_without_traceback(tmp_path):
    cases = {
        "material.kind=unobtainium": r"material\.kind='unobtainium' is invalid",
        "material=unobtainium": r"Could not find 'material/unobtainium'",
        "solver.dt=abc": r"Value 'abc' of type 'str' could not be converted to Float\s+"
                         r"full_key: solver\.dt",
        "boundary.zones.heating_1.duration=-1": r"boundary\.zones\.heating_1\.duration=-1\.0 "
                                                r"is invalid",
    }
    # Concurrently: each only starts Python and composes. Every other one goes through the
    # console-script entry (the task's module is then not __main__: Hydra must still find conf/).
    procs = {arg: _cli(arg, f"hydra.run.dir={tmp_path / 'never'}", cwd=tmp_path,
                       console_script=bool(i % 2))
             for i, arg in enumerate(cases)}
    for arg, proc in procs.items():
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 2, (arg, stderr)
        assert "Traceback" not in stderr
        assert __import__("re").search(cases[arg], stderr), (arg, stderr)
    assert not (tmp_path / "never" / "result.h5").exists()
