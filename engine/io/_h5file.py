"""One writer for every steeltwin HDF5 file: the schema header, units, the config, dimension
scales and the atomic replace.

Results (``result.h5``), dataset shards and twin estimates (``estimate.h5``) all go through
these functions, so every file carries the same header (``schema``, ``schema_version``,
``code_version``, ``created``), a ``units`` attribute on every dataset (UDUNITS-style strings,
``1`` for dimensionless), the resolved config as a YAML string dataset ``config``, and HDF5
dimension scales (the netCDF-4 convention) tying each array's axes to its coordinates, so
xarray (``engine="h5netcdf"``), netCDF tools and HDFView show ``temperature`` against ``times``
and ``x``. See the HDF5 Dimension Scales specification (HDF Group, "HDF5 Dimension Scale
Specification and Design Notes") and the netCDF-4 format ("NetCDF-4 Format", Unidata).
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml


def code_version() -> str:
    """The installed steeltwin version (``unknown`` when run from an uninstalled tree)."""
    try:
        return importlib.metadata.version("steeltwin")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def write_header(f: h5py.File, schema: str, version: int,
                 config: Mapping[str, Any] | None = None, **attrs: Any) -> None:
    """The file's identity: schema name and version, code version, creation time (UTC),
    extra attributes, and the resolved config as YAML (dataset ``config``)."""
    f.attrs.update({
        "schema": schema, "schema_version": version, "code_version": code_version(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        **attrs,
    })
    if config is not None:
        ds = f.create_dataset("config", data=yaml.safe_dump(_plain(config), sort_keys=False),
                              dtype=h5py.string_dtype())
        ds.attrs["units"] = ""
        ds.attrs["format"] = "yaml"


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def put(group: h5py.Group, name: str, data: Any, units: str, *,
        dims: Sequence[h5py.Dataset | None] | None = None, description: str | None = None,
        **create: Any) -> h5py.Dataset:
    """Create dataset ``name`` with its ``units`` (and ``description``); ``dims`` attaches a
    dimension scale to each axis (None leaves an axis without one). ``create`` goes to
    ``create_dataset`` (chunks, compression, ...)."""
    ds = group.create_dataset(name, data=data, **create)
    ds.attrs["units"] = units
    if description:
        ds.attrs["description"] = description
    if dims is not None:
        attach(ds, dims)
    return ds


def scale(group: h5py.Group, name: str, data: Any, units: str,
          description: str | None = None) -> h5py.Dataset:
    """A coordinate dataset made a dimension scale named ``name`` (netCDF: a dimension with
    its coordinate variable)."""
    ds = put(group, name, data, units, description=description)
    ds.make_scale(name)
    return ds


def attach(ds: h5py.Dataset, dims: Sequence[h5py.Dataset | None]) -> None:
    """Attach ``dims[i]`` as the dimension scale of axis ``i`` of ``ds``."""
    if len(dims) != ds.ndim:
        raise ValueError(f"{ds.name}: {len(dims)} dimension scales for {ds.ndim} axes")
    for axis, s in enumerate(dims):
        if s is not None:
            if s.shape[0] != ds.shape[axis]:
                raise ValueError(f"{ds.name}: axis {axis} has {ds.shape[axis]} entries, the "
                                 f"scale {s.name} {s.shape[0]}")
            ds.dims[axis].attach_scale(s)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], fsync: bool = False) -> Iterator[h5py.File]:
    """Write an HDF5 file atomically: a temporary file in the same folder, renamed over
    ``path`` when the block ends without error (a reader never sees half a file)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with h5py.File(tmp, "w") as f:
            yield f
            f.flush()
        if fsync:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def strings(values: Sequence[str]) -> np.ndarray:
    """Variable-length UTF-8 strings, as HDF5 and netCDF-4 tools read them."""
    return np.array(list(values), dtype=h5py.string_dtype())
