"""The ``index`` step: validate every shard against the manifest and join them.

Checks, per shard of the manifest: the file exists, its sha256 equals its record's, its
attributes carry the manifest's config hash and sample range, and the sample counts add up to
the design. Then writes ``index.json`` (the validated shard list, with counts and checksums)
and ``dataset.h5``, whose datasets are h5py virtual datasets over the shards: one file that
reads like a single dataset of every sample (``h5py.File(path / "dataset.h5")["temperature"]``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from steeltwin.engine.io import attach, scale, write_header

from ._store import (
    SCHEMA_VERSION,
    SHARD_SCHEMA,
    _write_json_atomic,
    read_manifest,
    sha256,
    shard_name,
    shard_record,
)

INDEX = "index.json"
VIRTUAL = "dataset.h5"
VIRTUAL_SCHEMA = "steeltwin.dataset.virtual"
# Attributes by which HDF5 ties a dataset to its dimension scales (references into one file).
_SCALE_ATTRS = ("DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME")


class DatasetError(ValueError):
    """A dataset on disk does not match its manifest (missing, corrupt or foreign shards)."""


def validate(path: str | Path, rehash: bool = True) -> dict[str, Any]:
    """Check every shard against the manifest; returns the index (raises DatasetError)."""
    path = Path(path)
    manifest = read_manifest(path)
    problems: list[str] = []
    shards = []
    for i, (start, stop) in enumerate(manifest["shards"]):
        file = path / shard_name(i)
        rec = shard_record(path, i)
        if not file.exists() or rec is None:
            problems.append(f"{file.name}: missing (not generated yet: run steeltwin-datagen "
                            f"dataset.shard={i}, or without dataset.shard for all)")
            continue
        if rehash and sha256(file) != rec["sha256"]:
            problems.append(f"{file.name}: sha256 differs from its record (corrupted or "
                            "modified): delete it and its .json and re-run steeltwin-datagen")
            continue
        with h5py.File(file, "r") as f:
            attrs = dict(f.attrs)
            n = f["temperature"].shape[0]
        foreign = (attrs.get("schema") != SHARD_SCHEMA
                   or attrs.get("config_hash") != manifest["config_hash"]
                   or int(attrs["start"]) != start or int(attrs["stop"]) != stop
                   or n != stop - start)
        if foreign:
            problems.append(f"{file.name}: does not belong to this manifest (config hash or "
                            "sample range differ)")
            continue
        shards.append({**rec, "count": n})
    total = sum(s["count"] for s in shards)
    if not problems and total != manifest["n_total"]:
        problems.append(f"the shards hold {total} samples, the design {manifest['n_total']}")
    if problems:
        raise DatasetError(f"dataset {path} is incomplete or corrupt:\n  " + "\n  ".join(problems))
    return {"schema_version": SCHEMA_VERSION, "config_hash": manifest["config_hash"],
            "n_total": total, "shards": shards}


def build_index(path: str | Path) -> dict[str, Any]:
    """Validate, then write ``index.json`` and the virtual ``dataset.h5``."""
    path = Path(path)
    index = validate(path)
    _write_virtual(path, index)
    _write_json_atomic(path / INDEX, index)
    return index


def _write_virtual(path: Path, index: dict[str, Any]) -> None:
    shards = index["shards"]
    with h5py.File(path / shards[0]["file"], "r") as f0:
        # Dimension-scale attributes hold references into the shard: leave them out.
        specs = {name: (ds.shape[1:], ds.dtype,
                        {k: v for k, v in ds.attrs.items() if k not in _SCALE_ATTRS})
                 for name, ds in f0.items() if isinstance(ds, h5py.Dataset) and name != "times"}
        times = f0["times"][()]
    tmp = path / (VIRTUAL + ".partial")
    with h5py.File(tmp, "w", libver="latest") as out:
        write_header(out, VIRTUAL_SCHEMA, SCHEMA_VERSION, config_hash=index["config_hash"],
                     n_total=index["n_total"])
        time_scale = scale(out, "times", times, "s", "output times")
        for name, (tail, dtype, attrs) in specs.items():
            layout = h5py.VirtualLayout(shape=(index["n_total"], *tail), dtype=dtype)
            for s in shards:
                # Relative file names: the folder can be moved or copied as a whole.
                src = h5py.VirtualSource(s["file"], name, shape=(s["count"], *tail))
                layout[s["start"]:s["stop"]] = src
            ds = out.create_virtual_dataset(name, layout, fillvalue=np.nan if dtype.kind == "f"
                                            else 0)
            ds.attrs.update(attrs)
            if len(tail) >= 1 and tail[0] == len(times):
                attach(ds, [None, time_scale, *([None] * (len(tail) - 1))])
    tmp.replace(path / VIRTUAL)


def read_index(path: str | Path) -> dict[str, Any] | None:
    target = Path(path) / INDEX
    if not target.exists():
        return None
    with open(target) as f:
        data: dict[str, Any] = json.load(f)
    return data
