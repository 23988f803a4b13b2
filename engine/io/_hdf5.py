"""The result file: a self-describing HDF5 layout for one simulated trajectory.

Layout (schema ``steeltwin.result``, version 2; every dataset carries a ``units`` attribute;
the header and the writing go through :mod:`._h5file`, shared with datasets and twin files):

====================  ====================  =====================================================
name                  shape                 contents
====================  ====================  =====================================================
times                 [n_t]                 save times, s (dimension scale ``times``)
x, y, z               [n_axis]              cell centres from the grid's minus edge, m
                                            (dimension scales; 1D has x only)
intervals             [n_t - 1]             end of each save interval, s (dimension scale)
faces                 [n_faces]             face-group names (dimension scale)
axes                  [ndim]                axis names (dimension scale of ``cell_size``)
cell_size             [ndim]                cell size per axis, m
mask                  [*shape]              1 for metal cells (all 1 for a plain box), int8
temperature           [n_t, *shape]         field, K (chunked per time, gzip); non-metal cells
                                            hold meaningless values: use ``mask``
surface_temperature   [n_t, n_faces]        mean face temperature per face group, K
gas_temperature       [n_t, n_faces]        gas / ambient / fixed temperature per face group, K
heat_flux             [n_t, n_faces]        mean heat flux into the metal, W/m^2
boundary_heat         [n_t - 1, n_faces]    heat in per face group per save interval
enthalpy              [n_t]                 total enthalpy relative to 20 degC
residual              [n_t - 1]             largest unconverged implicit residual per save
                                            interval, K (``steeltwin.engine.Trajectory.residual``)
face_area             [n_faces]             area of each face group
config                scalar string         the resolved run config, YAML
summary (group)       attributes            summary scalars (see ``steeltwin.engine.apps``)
stress (group)        [n_t, *shape] each    only with ``stress`` on: thermal stress, Pa; slab:
                                            ``sigma`` (sigma_xx = sigma_yy); 2D: ``sxx``,
                                            ``syy``, ``sxy``, ``szz``, ``max_principal``; both:
                                            ``von_mises``, ``utilisation`` (1), plastic:
                                            ``equivalent_plastic_strain`` (1); attributes:
                                            model, worst_utilisation, worst_time_s,
                                            worst_time_index, worst_index (cell), alert,
                                            alert_threshold
====================  ====================  =====================================================

Heat, enthalpy and area are per the grid's dimension: J, J and m^2 for 3D; J/m, J/m and m (per
metre of length) for 2D; J/m^2, J/m^2 and 1 (per m^2 of slab) for 1D. Face-group datasets carry
the attribute ``faces`` (names, e.g. bottom, top) and ``gas_temperature`` carries ``face_kinds``.
Axes: the last axis is vertical (1D: x runs up through the slab thickness).

Every array's axes are tied to the scales above (HDF5 dimension scales, the netCDF-4
convention), so ``xarray.open_dataset("result.h5", engine="h5netcdf")`` gives
``temperature`` with dimensions ``(times, x[, y[, z]])``. Version 1 files (axes in a
``coordinates`` group, no scales) are still read by :func:`read_result`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import jax.numpy as jnp
import numpy as np
import yaml

from steeltwin.engine import Scenario, Trajectory, heat_balance

from ._h5file import atomic_file, put, scale, strings, write_header

SCHEMA = "steeltwin.result"
SCHEMA_VERSION = 2  # 2: axes, faces and intervals as dimension scales at the root
AXES = ("x", "y", "z")
_HEAT_UNITS = {1: ("J/m^2", "1"), 2: ("J/m", "m"), 3: ("J", "m^2")}
_FACE_DATASETS = ("surface_temperature", "gas_temperature", "heat_flux", "boundary_heat")
_SCALES_ONLY = ("intervals", "faces", "axes")  # dimension scales the v1 layout did not have


def face_kinds(scenario: Scenario) -> list[str]:
    """Per face group: fixed, adiabatic, flux or exchange (convection and/or radiation)."""
    b = scenario.boundary
    h, phi, q = (np.asarray(v) for v in (b.h, b.exchange_factor, b.heat_flux))
    kinds = []
    for f, fixed in enumerate(b.fixed):
        if fixed:
            kinds.append("fixed")
        elif np.any(h[f] > 0) or np.any(phi[f] > 0):
            kinds.append("exchange")
        else:
            kinds.append("flux" if np.any(q[f] != 0) else "adiabatic")
    return kinds


def result_arrays(trajectory: Trajectory, scenario: Scenario) -> dict[str, Any]:
    """The result as NumPy arrays in the layout :func:`read_result` returns (no file)."""
    grid = scenario.grid
    dtype = grid.spacing.dtype
    mask = np.ones(grid.shape, bool) if grid.mask is None else np.asarray(grid.mask, bool)
    T0 = jnp.broadcast_to(scenario.initial_temperature, grid.shape).astype(dtype)
    faces0 = scenario.boundary.at(jnp.zeros((), dtype))
    area = heat_balance(T0, grid, scenario.material, faces0, scenario.boundary.fixed).face_area
    spacing = np.asarray(grid.spacing)
    heat_unit, area_unit = _HEAT_UNITS[grid.ndim]
    out: dict[str, Any] = {
        "times": np.asarray(trajectory.times),
        "coordinates": {AXES[a]: (np.arange(n) + 0.5) * spacing[a]
                        for a, n in enumerate(grid.shape)},
        "cell_size": spacing,
        "mask": mask,
        "face_area": np.asarray(area),
        "faces": list(grid.face_names),
        "face_kinds": face_kinds(scenario),
    }
    for name in ("temperature", "enthalpy", "residual", *_FACE_DATASETS):
        out[name] = np.asarray(getattr(trajectory, name))
    out["units"] = {
        "times": "s", "cell_size": "m", "mask": "1", "temperature": "K",
        "surface_temperature": "K", "gas_temperature": "K", "heat_flux": "W/m^2",
        "boundary_heat": heat_unit, "enthalpy": heat_unit, "face_area": area_unit,
        "residual": "K",
        **{f"coordinates/{a}": "m" for a in out["coordinates"]},
    }
    return out


def write_result(path: str | os.PathLike[str], trajectory: Trajectory, scenario: Scenario,
                 cfg_resolved: Mapping[str, Any], summary: Mapping[str, Any],
                 stress: Mapping[str, Any] | None = None) -> Path:
    """Write one run atomically (a temporary file in the same folder, then ``os.replace``).

    Args:
        path: the ``.h5`` file to create or replace.
        trajectory, scenario: the run.
        cfg_resolved: the resolved config as plain values (stored as YAML).
        summary: scalars (numbers, strings, booleans) stored as attributes of ``summary``.
        stress: optional stress mapping (arrays by name, ``units``, ``attrs``; see
            ``steeltwin.engine.apps.run_simulation``), stored as the ``stress`` group.
    """
    path = Path(path)
    arrays = result_arrays(trajectory, scenario)
    units = arrays["units"]
    with atomic_file(path) as f:
        write_header(f, SCHEMA, SCHEMA_VERSION, cfg_resolved,
                     ndim=len(arrays["mask"].shape), dtype=str(arrays["temperature"].dtype))
        times = scale(f, "times", arrays["times"], "s", "save times")
        intervals = scale(f, "intervals", arrays["times"][1:], "s",
                          "end of each save interval (boundary_heat, residual)")
        faces = scale(f, "faces", strings(arrays["faces"]), "", "face groups")
        axes = scale(f, "axes", strings(AXES[:len(arrays["cell_size"])]), "", "grid axes")
        space = [scale(f, a, x, "m", f"cell centres along {a} from the grid's minus edge")
                 for a, x in arrays["coordinates"].items()]
        T = arrays["temperature"]
        put(f, "temperature", T, "K", dims=[times, *space], chunks=(1, *T.shape[1:]),
            compression="gzip", compression_opts=4, shuffle=True,
            description="cell temperatures; non-metal cells hold meaningless values: use mask")
        put(f, "mask", arrays["mask"].astype(np.int8), "1", dims=space,
            description="1 where the cell is metal")
        put(f, "cell_size", arrays["cell_size"], "m", dims=[axes])
        put(f, "enthalpy", arrays["enthalpy"], units["enthalpy"], dims=[times])
        put(f, "residual", arrays["residual"], "K", dims=[intervals])
        put(f, "face_area", arrays["face_area"], units["face_area"], dims=[faces])
        for name in _FACE_DATASETS:
            put(f, name, arrays[name], units[name],
                dims=[intervals if name == "boundary_heat" else times, faces])
            f[name].attrs["faces"] = strings(arrays["faces"])
        f["face_area"].attrs["faces"] = strings(arrays["faces"])
        f["gas_temperature"].attrs["face_kinds"] = strings(arrays["face_kinds"])
        group = f.create_group("summary")
        group.attrs.update({k: v for k, v in summary.items() if v is not None})
        if stress is not None:
            _write_stress(f, stress, [times, *space])
    return path


def _write_stress(f: h5py.File, stress: Mapping[str, Any], dims: list[h5py.Dataset]) -> None:
    group = f.create_group("stress")
    for name, unit in stress["units"].items():
        data = np.asarray(stress[name])
        put(group, name, data, unit, dims=dims if data.shape == tuple(len(d) for d in dims)
            else None, chunks=(1, *data.shape[1:]), compression="gzip", compression_opts=4,
            shuffle=True)
    group.attrs.update(stress["attrs"])


def _text(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.dtype.kind in "OS":
        return [_text(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_result(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a result file into NumPy arrays and plain values.

    Returns a dict with the datasets by name (``coordinates`` as a dict of axes), ``faces``,
    ``face_kinds``, ``units`` (dataset path -> unit), ``config`` (dict), ``config_yaml``,
    ``summary`` (dict), ``attrs`` (the file's attributes) and, when the run computed stress,
    ``stress`` (arrays by name plus ``units`` and ``attrs``, as ``write_result`` took them).

    Raises:
        ValueError: the file is not a steeltwin result or has a newer schema version.
    """
    with h5py.File(path, "r") as f:
        attrs = {k: _text(v) for k, v in f.attrs.items()}
        if attrs.get("schema") != SCHEMA:
            raise ValueError(f"{os.fspath(path)!r} is not a {SCHEMA} file "
                             f"(schema={attrs.get('schema')!r})")
        if int(attrs.get("schema_version", 0)) > SCHEMA_VERSION:
            raise ValueError(f"{os.fspath(path)!r} has schema_version "
                             f"{attrs['schema_version']}; this code reads up to "
                             f"{SCHEMA_VERSION}: upgrade steeltwin")
        out: dict[str, Any] = {"attrs": attrs, "units": {}}

        def visit(name: str, node: Any) -> None:
            if isinstance(node, h5py.Dataset) and name not in ("config", *_SCALES_ONLY):
                out["units"][name] = _text(node.attrs.get("units"))

        f.visititems(visit)
        for name in ("times", "cell_size", "mask", "face_area", "temperature", "enthalpy",
                     "residual", *_FACE_DATASETS):
            out[name] = f[name][()]
        out["mask"] = out["mask"].astype(bool)
        if "coordinates" in f:  # schema version 1: the axes in a group
            out["coordinates"] = {a: f[f"coordinates/{a}"][()] for a in f["coordinates"]}
        else:
            out["coordinates"] = {a: f[a][()] for a in AXES if a in f}
            for a in out["coordinates"]:
                out["units"][f"coordinates/{a}"] = out["units"].pop(a)
        out["faces"] = _text(f["surface_temperature"].attrs["faces"])
        out["face_kinds"] = _text(f["gas_temperature"].attrs["face_kinds"])
        out["config_yaml"] = f["config"].asstr()[()]
        out["config"] = yaml.safe_load(out["config_yaml"])
        out["summary"] = {k: _text(v) for k, v in f["summary"].attrs.items()}
        if "stress" in f:
            g = f["stress"]
            out["stress"] = {name: g[name][()] for name in g}
            out["stress"]["units"] = {name: _text(g[name].attrs["units"]) for name in g}
            out["stress"]["attrs"] = {k: _text(v) for k, v in g.attrs.items()}
    return out
