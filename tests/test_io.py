"""Result file round trip (engine.io): layout, units, atomic writes, schema checks."""

from __future__ import annotations

import h5py
import jax.numpy as jnp
import numpy as np
import pytest

from steeltwin import engine as e
from steeltwin.engine.io import SCHEMA, SCHEMA_VERSION, read_result, result_arrays, write_result


def _run(grid: e.Grid, boundary: e.Boundary, scheme: str = "crank_nicolson",
         ) -> tuple[e.Trajectory, e.Scenario]:
    scenario = e.Scenario(grid, e.carbon_steel(), boundary, jnp.asarray(1173.15))
    settings = e.SolverSettings(t_end=600.0, dt=60.0, save_interval=200.0, scheme=scheme,
                                iterations=1, explicit_dt="auto")  # 1 iteration: fast compile
    return e.simulate(scenario, settings), scenario


@pytest.fixture(scope="module")
def slab_run() -> tuple[e.Trajectory, e.Scenario]:
    zones = [e.FurnaceZone("heat", 1200.0, 300.0), e.FurnaceZone("soak", 1250.0, 300.0)]
    return _run(e.slab_grid(0.1, 6), e.furnace_boundary(zones, 1, ramp_time=60.0))


CFG = {"geometry": {"kind": "slab", "thickness": 0.1, "cells": 6}, "dtype": "float64"}
SUMMARY = {"end_surface_C": 1000.5, "steps": 10, "description": "tiny slab"}


def test_round_trip(tmp_path, slab_run):
    traj, scenario = slab_run
    path = write_result(tmp_path / "r.h5", traj, scenario, CFG, SUMMARY)
    r = read_result(path)
    assert r["attrs"]["schema"] == SCHEMA and r["attrs"]["schema_version"] == SCHEMA_VERSION
    assert r["attrs"]["code_version"] and r["attrs"]["created"].endswith("+00:00")
    for name in ("times", "temperature", "surface_temperature", "gas_temperature", "heat_flux",
                 "boundary_heat", "enthalpy", "residual"):
        np.testing.assert_array_equal(r[name], np.asarray(getattr(traj, name)))
    n_t = len(r["times"])
    assert r["temperature"].shape == (n_t, 6)
    assert r["boundary_heat"].shape == (n_t - 1, 2)
    assert r["faces"] == ["bottom", "top"] and r["face_kinds"] == ["exchange", "exchange"]
    np.testing.assert_allclose(r["coordinates"]["x"], (np.arange(6) + 0.5) * 0.1 / 6)
    assert r["mask"].dtype == bool and r["mask"].all()
    assert r["config"] == CFG and r["summary"] == SUMMARY
    assert r["units"] == {
        "times": "s", "coordinates/x": "m", "cell_size": "m", "mask": "1", "temperature": "K",
        "surface_temperature": "K", "gas_temperature": "K", "heat_flux": "W/m^2",
        "boundary_heat": "J/m^2", "enthalpy": "J/m^2", "face_area": "1", "residual": "K",
    }
    with h5py.File(path) as f:
        assert f["temperature"].chunks == (1, 6)
        assert f["temperature"].compression == "gzip"
        stored = [n.replace("coordinates/", "") for n in r["units"]]  # v2: axes at the root
        assert all("units" in f[n].attrs for n in stored) and "units" in f["config"].attrs
        assert [d[0].name for d in f["temperature"].dims] == ["/times", "/x"]
    assert [p.name for p in tmp_path.iterdir()] == ["r.h5"]  # no temporary file left


def test_masked_2d_layout(tmp_path):
    grid = e.mask_grid(e.h_beam_mask(0.1, 0.08, 0.012, 0.01, 0.01), 0.01)
    face = e.FaceSpec(gas_temperature=298.15, h=10.0, exchange_factor=0.8)
    # The layout does not depend on the scheme; explicit compiles fastest in 2D.
    traj, scenario = _run(grid, e.constant_boundary([face] * 4), scheme="explicit")
    r = read_result(write_result(tmp_path / "r.h5", traj, scenario, {}, {}))
    assert r["temperature"].shape[1:] == grid.shape
    np.testing.assert_array_equal(r["mask"], np.asarray(grid.mask))
    assert set(r["coordinates"]) == {"x", "y"}
    assert r["faces"] == ["left", "right", "bottom", "top"]
    assert r["units"]["boundary_heat"] == "J/m" and r["units"]["face_area"] == "m"
    # Bottom faces: the lower flange (8 cm) and the upper flange less the 2 cm web: 0.14 m.
    np.testing.assert_allclose(r["face_area"][2:], [0.14, 0.14])


def test_failed_write_keeps_the_old_file(tmp_path, slab_run):
    traj, scenario = slab_run
    path = write_result(tmp_path / "r.h5", traj, scenario, CFG, SUMMARY)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        write_result(path, traj, scenario, CFG, {"bad": {"nested": "dict"}})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.h5"]


def test_arrays_match_the_file(tmp_path, slab_run):
    traj, scenario = slab_run
    arrays = result_arrays(traj, scenario)
    r = read_result(write_result(tmp_path / "r.h5", traj, scenario, CFG, SUMMARY))
    for name in ("temperature", "face_area", "cell_size", "mask"):
        np.testing.assert_array_equal(arrays[name], r[name])
    assert arrays["units"] == r["units"]


def test_read_rejects_other_files(tmp_path, slab_run):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.attrs["schema"] = "something.else"
    with pytest.raises(ValueError, match=r"is not a steeltwin\.result file"):
        read_result(other)
    traj, scenario = slab_run
    newer = write_result(tmp_path / "newer.h5", traj, scenario, CFG, SUMMARY)
    with h5py.File(newer, "a") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(ValueError,
                       match=rf"has schema_version {SCHEMA_VERSION + 1}; .* upgrade steeltwin"):
        read_result(newer)


def test_xarray_opens_the_result_with_named_dimensions(tmp_path):
    """result.h5 ties every axis to a dimension scale: xarray (h5netcdf) and netCDF tools
    see temperature(times, x, y) with its coordinates, faces and save intervals."""
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    from steeltwin.engine.apps import build_job, compose, run_simulation

    job = build_job(compose(["experiment=billet_2d", "geometry.cells=[6,5]", "solver.t_end=600",
                             "solver.dt=60", "solver.save_interval=300", "solver.iterations=1",
                             "output.plots=false", "output.progress=false"]))
    run_simulation(job, tmp_path)
    with xr.open_dataset(tmp_path / "result.h5", engine="h5netcdf") as ds:
        T = ds["temperature"]
        assert T.dims == ("times", "x", "y") and T.shape == (3, 6, 5)
        np.testing.assert_allclose(ds["times"], [0.0, 300.0, 600.0])
        np.testing.assert_allclose(ds["x"], (np.arange(6) + 0.5) * 0.15 / 6)
        assert ds["surface_temperature"].dims == ("times", "faces")
        assert list(ds["faces"].values) == ["left", "right", "bottom", "top"]
        assert ds["boundary_heat"].dims == ("intervals", "faces")
        assert ds["mask"].dims == ("x", "y") and ds["cell_size"].dims == ("axes",)
        assert T.attrs["units"] == "K" and ds["x"].attrs["units"] == "m"
        # Label-based selection works as it would on any netCDF file.
        assert float(T.sel(times=600.0).isel(x=0, y=0)) > float(T.sel(times=0.0).isel(x=0, y=0))
    # The reader of the project gets the same numbers as before (axes as coordinates).
    r = read_result(tmp_path / "result.h5")
    np.testing.assert_allclose(r["coordinates"]["x"], (np.arange(6) + 0.5) * 0.15 / 6)
    assert r["units"]["coordinates/x"] == "m" and r["mask"].dtype == bool
