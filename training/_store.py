"""On-disk layout of a dataset: manifest, shards, shard records, index.

::

    <path>/manifest.json          what the dataset is (written once, before any shard)
    <path>/shard-00003.h5         samples [start, stop) of the design (complete files only)
    <path>/shard-00003.json       record of a complete shard: count, bytes, sha256
    <path>/dataset.h5             index: h5py virtual datasets joining every shard
    <path>/index.json             the validated list of shards (what ``index`` checked)

A shard is written to ``shard-00003.h5.partial`` and renamed into place only once complete and
flushed; its record is written (atomically) after that. A ``.partial`` file is never read and
is deleted by the next run; a shard without a record is checked against the manifest (sample
range, config hash) and re-hashed, or regenerated. Several jobs may write different shards of
one dataset at the same time: each only creates files of its own shard, and the manifest is
created with ``O_EXCL`` (the first job writes it, the others check theirs against it).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from steeltwin.engine import ConfigError
from steeltwin.engine.io import put, scale, write_header

SCHEMA = "steeltwin.dataset"
SHARD_SCHEMA = "steeltwin.dataset.shard"
SCHEMA_VERSION = 1
MANIFEST = "manifest.json"


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.h5"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def config_hash(identity: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of what defines the samples. Mappings whose order means
    something (``zones``: travel order) become lists of [name, value] first, then keys are
    sorted, so the hash changes when the zones are reordered but not when keys are."""
    canonical = dict(identity)
    if isinstance(canonical.get("zones"), Mapping):
        canonical["zones"] = [[k, v] for k, v in canonical["zones"].items()]
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def _write_json_atomic(path: Path, data: Any, exclusive: bool = False) -> bool:
    """Write JSON to a temporary file and rename it into place (or, with ``exclusive``, link it
    into place only if nothing is there: returns False if another writer was first)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as f:
            # Key order is kept: zones are in travel order (sorting would reorder the furnace).
            json.dump(data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
        else:
            os.replace(tmp, path)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def prepare_directory(path: Path) -> None:
    """Create the dataset folder and prove it is writable (ConfigError otherwise)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as err:
        raise ConfigError(f"dataset.path={str(path)!r} is invalid: expected a writable folder "
                          f"({err.strerror or err}); choose a path you can write to") from err


def open_manifest(path: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Create ``manifest.json`` or check the one there describes the same dataset.

    Raises ConfigError when the folder holds a different dataset (never overwrites it).
    """
    target = path / MANIFEST
    if not target.exists() and any(path.glob("shard-*.h5")):
        raise ConfigError(f"dataset.path={str(path)!r} is invalid: it holds shards but no "
                          f"{MANIFEST}; choose an empty folder or restore the manifest")
    if not target.exists():
        _write_json_atomic(target, manifest, exclusive=True)
    existing = read_manifest(path)
    if existing["config_hash"] != manifest["config_hash"]:
        diff = _differences(existing["identity"], manifest["identity"])
        raise ConfigError(
            f"dataset.path={str(path)!r} is invalid: it holds a different dataset (config hash "
            f"{existing['config_hash'][:12]} there, {manifest['config_hash'][:12]} now; "
            f"differs in {', '.join(diff[:6]) or 'the schema'}); refusing to overwrite it: "
            "choose another dataset.path, or delete that folder to regenerate")
    return existing


def _differences(a: Any, b: Any, prefix: str = "dataset") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _differences(a.get(k), b.get(k), f"{prefix}.{k}")
        return out
    return [] if a == b else [f"{prefix} ({a!r} there, {b!r} now)"]


def read_manifest(path: Path) -> dict[str, Any]:
    target = Path(path) / MANIFEST
    try:
        with open(target) as f:
            data: dict[str, Any] = json.load(f)
    except FileNotFoundError as err:
        raise ConfigError(f"dataset.path={str(path)!r} is invalid: no {MANIFEST} there; "
                          "generate the dataset with steeltwin-datagen first") from err
    if data.get("schema") != SCHEMA or int(data.get("schema_version", 0)) > SCHEMA_VERSION:
        raise ValueError(f"{target} is not a {SCHEMA} manifest of version <= {SCHEMA_VERSION}")
    return data


def shard_record(path: Path, index: int) -> dict[str, Any] | None:
    """The record of a complete shard, or None if it is not complete."""
    rec = path / shard_name(index).replace(".h5", ".json")
    if not rec.exists():
        return None
    with open(rec) as f:
        data: dict[str, Any] = json.load(f)
    return data


def check_shard_file(path: Path, index: int, manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    """Validate a shard file against the manifest; return its record or None if unusable."""
    file = path / shard_name(index)
    start, stop = manifest["shards"][index]
    try:
        with h5py.File(file, "r") as f:
            ok = (f.attrs.get("schema") == SHARD_SCHEMA
                  and f.attrs.get("config_hash") == manifest["config_hash"]
                  and int(f.attrs["start"]) == start and int(f.attrs["stop"]) == stop
                  and f["temperature"].shape[0] == stop - start)
    except (OSError, KeyError):
        return None
    if not ok:
        return None
    return {"index": index, "file": file.name, "start": start, "stop": stop,
            "count": stop - start, "bytes": file.stat().st_size, "sha256": sha256(file)}


def complete_shards(path: Path, manifest: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    """Records of the shards that are complete (writing records for finished-but-unrecorded
    files); stale ``.partial`` files of shards are removed."""
    out = {}
    for i in range(len(manifest["shards"])):
        rec = shard_record(path, i)
        file = path / shard_name(i)
        if rec is None and file.exists():
            rec = check_shard_file(path, i, manifest)
            if rec is not None:
                write_record(path, rec)
        if rec is not None and file.exists():
            out[i] = rec
    return out


def remove_stale_partials(path: Path, indices: list[int]) -> None:
    for i in indices:
        (path / (shard_name(i) + ".partial")).unlink(missing_ok=True)


def write_record(path: Path, record: Mapping[str, Any]) -> None:
    _write_json_atomic(path / shard_name(record["index"]).replace(".h5", ".json"), record)


UNITS = {
    "temperature": "K", "surface_temperature": "K", "heat_flux": "W/m^2", "enthalpy": "J/m^2",
    "boundary_heat": "J/m^2", "gas_temperature": "K", "exchange_factor": "1", "h": "W/(m^2 K)",
    "cell_size": "m", "discharge_time": "s", "stress": "Pa", "params": "(per column)",
    "sample": "1", "split": "1", "times": "s", "residual": "K",
}
FIELD_DOCS = {
    "temperature": "cell temperatures at the output times [n, n_t, *cells]",
    "surface_temperature": "mean face temperature per face group [n, n_t, n_faces]",
    "heat_flux": "mean heat flux into the metal per face group [n, n_t, n_faces]",
    "enthalpy": "total enthalpy relative to 20 degC [n, n_t] (per m^2 slab, per m 2D)",
    "boundary_heat": "heat in per face group during each interval [n, n_t - 1, n_faces]",
    "residual": "largest unconverged implicit correction per interval [n, n_t - 1]; above "
                "5 K the step fell back to a non-conservative update (lower dataset.dt)",
    "gas_temperature": "boundary gas temperature at the output times (the knots: linear in "
                       "between) [n, n_t, n_faces]",
    "exchange_factor": "radiation exchange factor at the knots [n, n_t, n_faces]",
    "h": "convection coefficient at the knots [n, n_t, n_faces]",
    "cell_size": "cell size per axis [n, ndim]",
    "discharge_time": "end of the last zone (after it the last zone holds) [n]",
    "stress": "free-plate elastic stress sigma_xx = sigma_yy [n, n_t, cells]",
    "params": "sampled parameters [n, n_params] (names, units in attrs)",
    "sample": "global sample index [n]",
    "split": "0 train, 1 validation, 2 test, 3 extrapolation [n]",
}


def write_shard(path: Path, index: int, manifest: Mapping[str, Any],
                arrays: Mapping[str, np.ndarray], storage_dtype: str) -> dict[str, Any]:
    """Write one complete shard atomically and record it; returns the record.

    Disk errors (full disk, quota) raise OSError with a message naming the shard; the
    partial file is removed and complete shards are untouched.
    """
    start, stop = manifest["shards"][index]
    file = path / shard_name(index)
    tmp = path / (shard_name(index) + ".partial")
    try:
        with h5py.File(tmp, "w") as f:
            write_header(f, SHARD_SCHEMA, SCHEMA_VERSION, config_hash=manifest["config_hash"],
                         index=index, start=start, stop=stop)
            times = scale(f, "times", np.asarray(manifest["times"]), "s", "output times")
            for name, value in arrays.items():
                data = np.asarray(value)
                if data.dtype.kind == "f" and name not in ("params", "cell_size",
                                                           "discharge_time"):
                    data = data.astype(storage_dtype)
                # One chunk per sample (a training read takes whole trajectories) unless the
                # per-sample part is tiny; gzip + shuffle, fletcher32 to catch bit rot.
                chunks = (1, *data.shape[1:]) if data.ndim >= 2 and data[0].size >= 64 else None
                # [sample, time, ...] fields: the time axis tied to the times scale.
                on_times = data.ndim >= 2 and data.shape[1] == len(times)
                put(f, name, data, UNITS.get(name, ""), description=FIELD_DOCS.get(name, ""),
                    dims=[None, times, *([None] * (data.ndim - 2))] if on_times else None,
                    chunks=chunks or True, compression="gzip", compression_opts=4,
                    shuffle=True, fletcher32=True)
            f["params"].attrs["names"] = manifest["parameter_names"]
            f["params"].attrs["param_units"] = [p["unit"] for p in manifest["parameters"]]
            f.flush()
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, file)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        free = shutil.disk_usage(path).free if path.exists() else 0
        reason = ("no space left on device" if err.errno in (errno.ENOSPC, errno.EDQUOT)
                  else (err.strerror or str(err)))
        raise OSError(err.errno, f"writing {file.name} of dataset.path={str(path)!r} failed: "
                      f"{reason} ({free / 1e6:.0f} MB free); complete shards are intact and "
                      "this one was removed: free space or choose another path, then re-run "
                      "the same command to resume") from err
    record = {"index": index, "file": file.name, "start": start, "stop": stop,
              "count": stop - start, "bytes": file.stat().st_size, "sha256": sha256(file)}
    write_record(path, record)
    return record


@contextlib.contextmanager
def open_shard(path: Path, index: int) -> Iterator[h5py.File]:
    with h5py.File(path / shard_name(index), "r") as f:
        yield f
