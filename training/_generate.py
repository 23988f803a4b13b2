"""Generate a dataset: config -> spec and design -> manifest -> shards (resumable) -> index.

``generate(plain_dataset_config)`` is what ``steeltwin-datagen`` runs. The design is computed
in full by every job (cheap, deterministic); the samples are cut into ``num_shards`` contiguous
shards; a job writes every shard that is not complete yet (``shard: null``) or only its own
(``shard: k``, for N jobs writing N shards). Each shard is solved in batches of ``batch_size``
scenarios (the last batch padded by repeating its last row, so every call has one compiled
shape), spread over all local devices when there are several (``jax.sharding``: the batch axis
split across a 1D device mesh).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import shutil
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from steeltwin.engine import ConfigError
from steeltwin.engine.io import code_version

from ._design import SPLITS, Design, make_design
from ._index import build_index
from ._scenarios import (
    MATERIALS,
    DatasetSpec,
    Zone,
    check_spec,
    make_batch_solver,
    parameters,
    perturbation,
)
from ._store import (
    SCHEMA,
    SCHEMA_VERSION,
    complete_shards,
    config_hash,
    open_manifest,
    prepare_directory,
    remove_stale_partials,
    write_shard,
)

RANGE_KEYS = ("initial_surface", "initial_core_excess", "exchange_factor_top",
              "exchange_factor_bottom", "conductivity_scale", "capacity_scale")
# Keys that do not change the samples (where and how fast they are written).
RUN_KEYS = ("path", "shard", "batch_size", "progress")
KEYS = ("name", "geometry", "cells", "zones", "ranges", "materials", "ramp_time",
        "output_interval", "dt", "iterations", "t_end", "perturbation", "h", "stress", "dtype",
        "storage_dtype", "n_samples", "n_extrapolation", "extrapolation_margin", "splits",
        "design", "seed", "num_shards", *RUN_KEYS)


def _pair(cfg: Mapping[str, Any], key: str, full: str) -> tuple[float, float]:
    v = cfg.get(key)
    if v is None:
        raise ConfigError(f"{full} is missing: expected a range [low, high]; add it")
    if isinstance(v, int | float):
        return float(v), float(v)
    if not (isinstance(v, list | tuple) and len(v) == 2
            and all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)):
        raise ConfigError(f"{full}={v!r} is invalid: expected a range [low, high] of numbers "
                          "(or one number to pin it)")
    if v[0] > v[1]:
        raise ConfigError(f"{full}={list(v)!r} is invalid: expected low <= high (the range is "
                          f"inverted); swap the bounds to [{v[1]}, {v[0]}]")
    return float(v[0]), float(v[1])


def _number(cfg: Mapping[str, Any], key: str, positive: bool = True) -> float:
    v = cfg.get(key)
    if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v) \
            or (positive and v <= 0) or v < 0:
        raise ConfigError(f"dataset.{key}={v!r} is invalid: expected a "
                          f"{'positive' if positive else 'non-negative'} number; "
                          f"see conf/dataset/ for the units")
    return float(v)


def _integer(cfg: Mapping[str, Any], key: str, minimum: int) -> int:
    v = cfg.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        raise ConfigError(f"dataset.{key}={v!r} is invalid: expected an integer >= {minimum}")
    return v


def build_spec(cfg: Mapping[str, Any]) -> DatasetSpec:
    """The checked spec of a plain ``dataset`` config (ConfigError naming the key)."""
    unknown = sorted(set(cfg) - set(KEYS))
    if unknown:
        raise ConfigError(f"dataset.{unknown[0]} is not a known key: expected one of "
                          f"{', '.join(KEYS)}; check the spelling")
    geometry = cfg.get("geometry", "slab")
    cells_raw = cfg.get("cells")
    cells = tuple(cells_raw) if isinstance(cells_raw, list | tuple) else (cells_raw,)
    want = 1 if geometry == "slab" else 2
    if len(cells) != want or not all(isinstance(c, int) and c >= 4 for c in cells):
        raise ConfigError(f"dataset.cells={cells_raw!r} is invalid: expected {want} integer(s) "
                          f">= 4 for dataset.geometry={geometry!r}")
    zones_cfg = cfg.get("zones") or {}
    if not isinstance(zones_cfg, Mapping) or not zones_cfg:
        raise ConfigError("dataset.zones is missing: expected at least one furnace zone "
                          "{name: {gas_temperature: [lo, hi], duration: [lo, hi]}}")
    zones = tuple(
        Zone(str(name), _pair(z, "gas_temperature", f"dataset.zones.{name}.gas_temperature"),
             _pair(z, "duration", f"dataset.zones.{name}.duration"))
        for name, z in zones_cfg.items() if z is not None)
    ranges_cfg = cfg.get("ranges") or {}
    geo_keys = ["thickness"] if geometry == "slab" else ["width", "height"]
    extra = sorted(set(ranges_cfg) - set(RANGE_KEYS) - set(geo_keys))
    if extra:
        raise ConfigError(f"dataset.ranges.{extra[0]} is not a known key: expected "
                          f"{', '.join([*geo_keys, *RANGE_KEYS])}")
    ranges = {k: _pair(ranges_cfg, k, f"dataset.ranges.{k}") for k in [*geo_keys, *RANGE_KEYS]}
    materials = tuple(cfg.get("materials") or ())
    bad = [m for m in materials if m not in MATERIALS]
    if not materials or bad:
        raise ConfigError(f"dataset.materials={list(materials)!r} is invalid: expected a "
                          f"non-empty list of {', '.join(MATERIALS)}")
    output_interval = _number(cfg, "output_interval")
    t_end_raw = cfg.get("t_end")
    if t_end_raw is None:
        longest = sum(z.duration[1] for z in zones)
        t_end = math.ceil(longest / output_interval) * output_interval
    else:
        t_end = _number(cfg, "t_end")
    pert = cfg.get("perturbation") or {}
    dtype = cfg.get("dtype", "float64")
    if dtype not in ("float64", "float32"):
        raise ConfigError(f"dataset.dtype={dtype!r} is invalid: expected float64 or float32")
    spec = DatasetSpec(
        geometry=geometry, cells=tuple(int(c) for c in cells), zones=zones, ranges=ranges,
        materials=materials, ramp_time=_number(cfg, "ramp_time", positive=False),
        output_interval=output_interval, dt=_number(cfg, "dt"),
        iterations=_integer(cfg, "iterations", 1), t_end=t_end,
        perturbation_sigma=_number(pert, "sigma", positive=False) if pert else 0.0,
        perturbation_time=_number(pert, "correlation_time") if pert else 1.0,
        h=_number(cfg, "h", positive=False), stress=str(cfg.get("stress", "off")),
        dtype=dtype)
    check_spec(spec)
    for z in zones:
        if z.duration[0] < spec.ramp_time:
            raise ConfigError(f"dataset.zones.{z.name}.duration={list(z.duration)} is invalid: "
                              f"expected at least dataset.ramp_time={spec.ramp_time} s")
    return spec


def build_design(cfg: Mapping[str, Any], spec: DatasetSpec) -> Design:
    splits = dict(cfg.get("splits") or {"train": 0.8, "validation": 0.1, "test": 0.1})
    return make_design(parameters(spec), _integer(cfg, "n_samples", 1),
                       _integer(cfg, "n_extrapolation", 0), splits,
                       str(cfg.get("design", "sobol")), _integer(cfg, "seed", 0),
                       float(cfg.get("extrapolation_margin", 0.1)))


def shard_ranges(n_total: int, num_shards: int) -> list[list[int]]:
    """Contiguous [start, stop) sample ranges of ``num_shards`` shards (sizes differ by <= 1)."""
    edges = np.linspace(0, n_total, num_shards + 1).round().astype(int)
    return [[int(a), int(b)] for a, b in itertools.pairwise(edges)]


def build_manifest(cfg: Mapping[str, Any], spec: DatasetSpec, design: Design) -> dict[str, Any]:
    n_total = len(design.values)
    num_shards = _integer(cfg, "num_shards", 1)
    if num_shards > n_total:
        raise ConfigError(f"dataset.num_shards={num_shards} is invalid: expected at most the "
                          f"number of samples ({n_total} = n_samples + n_extrapolation); "
                          "lower num_shards or raise n_samples")
    identity = {k: v for k, v in cfg.items() if k not in RUN_KEYS}
    identity["schema_version"] = SCHEMA_VERSION
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "name": cfg.get("name", "dataset"),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "config_hash": config_hash(identity),
        "identity": identity,
        "config": {k: v for k, v in cfg.items() if k not in ("shard", "progress")},
        "geometry": spec.geometry,
        "cells": list(spec.cells),
        "face_names": list(spec.face_names),
        "materials": list(spec.materials),
        "parameters": [{"name": p.name, "unit": p.unit, "low": p.low, "high": p.high,
                        "categories": p.categories,
                        "extrapolation_band": list(p.widened(design.margin))}
                       for p in design.parameters],
        "parameter_names": design.names,
        "design": {"method": design.method, "seed": design.seed, "margin": design.margin,
                   "n_samples": int(np.sum(design.split < 3)),
                   "n_extrapolation": int(np.sum(design.split == 3))},
        "splits": design.counts(),
        "split_codes": list(SPLITS),
        "n_total": n_total,
        "times": spec.times().tolist(),
        "output_interval": spec.output_interval,
        "dt": spec.dt,
        "shards": shard_ranges(n_total, num_shards),
        "storage_dtype": cfg.get("storage_dtype", "float32"),
        "solver": {"scheme": "crank_nicolson", "dt": spec.dt, "iterations": spec.iterations,
                   "dtype": spec.dtype},
    }


@dataclasses.dataclass
class GenerationReport:
    """What a generate call did."""

    path: Path
    written: list[int]
    skipped: list[int]
    samples: int
    seconds: float
    bytes_written: int
    cell_updates: float
    indexed: bool

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else float("nan")


def _device_sharding(batch: int) -> tuple[NamedSharding | None, int]:
    devices = jax.devices()
    if len(devices) == 1:
        return None, batch
    n = len(devices)
    mesh = Mesh(np.asarray(devices), ("batch",))
    return NamedSharding(mesh, P("batch")), math.ceil(batch / n) * n


def generate(cfg: Mapping[str, Any], progress: bool = False) -> GenerationReport:
    """Generate (or resume) the dataset of a plain ``dataset`` config into ``cfg['path']``."""
    spec = build_spec(cfg)
    design = build_design(cfg, spec)
    manifest = build_manifest(cfg, spec, design)
    storage = cfg.get("storage_dtype", "float32")
    if storage not in ("float32", "float64"):
        raise ConfigError(f"dataset.storage_dtype={storage!r} is invalid: expected float32 "
                          "or float64")
    batch = _integer(cfg, "batch_size", 1)
    shard = cfg.get("shard")
    n_shards = len(manifest["shards"])
    if shard is not None and (not isinstance(shard, int) or not 0 <= shard < n_shards):
        raise ConfigError(f"dataset.shard={shard!r} is invalid: expected null (all shards) or "
                          f"an integer in [0, {n_shards - 1}] (dataset.num_shards={n_shards})")
    if cfg.get("path") in (None, ""):
        raise ConfigError("dataset.path is missing: expected the dataset folder")
    path = Path(str(cfg["path"])).expanduser().resolve()
    prepare_directory(path)
    manifest = open_manifest(path, manifest)
    wanted = list(range(n_shards)) if shard is None else [shard]
    done = complete_shards(path, manifest)
    todo = [i for i in wanted if i not in done]
    remove_stale_partials(path, todo)
    _check_space(path, manifest, spec, todo, storage)
    solver = make_batch_solver(spec, design.names)
    sharding, batch = _device_sharding(batch)
    cells = int(np.prod(spec.cells))
    steps = spec.n_out * spec.save_every
    bar = _bar(progress, sum(manifest["shards"][i][1] - manifest["shards"][i][0] for i in todo))
    start_time = time.perf_counter()
    written_bytes = 0
    samples = 0
    try:
        for i in todo:
            start, stop = manifest["shards"][i]
            arrays = _solve_shard(spec, design, int(cfg.get("seed", 0)), solver, start, stop,
                                  batch, sharding, bar)
            rec = write_shard(path, i, manifest, arrays, storage)
            written_bytes += rec["bytes"]
            samples += stop - start
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - start_time
    indexed = False
    if shard is None:
        build_index(path)
        indexed = True
    return GenerationReport(path, todo, [i for i in wanted if i in done], samples, seconds,
                            written_bytes, float(samples) * cells * steps, indexed)


def _bar(progress: bool, total: int) -> Any:
    if not progress or total == 0:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="sample", desc="generating", dynamic_ncols=True)


def _solve_shard(spec: DatasetSpec, design: Design, seed: int, solver: Any, start: int,
                 stop: int, batch: int, sharding: NamedSharding | None,
                 bar: Any) -> dict[str, np.ndarray]:
    dtype = jnp.dtype(spec.dtype)
    parts: dict[str, list[np.ndarray]] = {}
    for b0 in range(start, stop, batch):
        b1 = min(b0 + batch, stop)
        ids = np.arange(b0, b1)
        pad = np.concatenate([ids, np.full(batch - len(ids), ids[-1])])
        rows = jnp.asarray(design.values[pad], dtype)
        noise = jnp.asarray(perturbation(spec, seed, pad), dtype)
        if sharding is not None:
            rows, noise = jax.device_put(rows, sharding), jax.device_put(noise, sharding)
        out = jax.device_get(solver(rows, noise))
        if not np.all(out["finite"]):
            bad = ids[~np.asarray(out["finite"])[: len(ids)]]
            raise FloatingPointError(f"samples {bad.tolist()[:5]} produced non-finite "
                                     "temperatures; lower dataset.dt")
        for name, value in out.items():
            if name != "finite":
                parts.setdefault(name, []).append(np.asarray(value)[: len(ids)])
        parts.setdefault("params", []).append(design.values[ids])
        parts.setdefault("sample", []).append(ids.astype(np.int64))
        parts.setdefault("split", []).append(design.split[ids])
        if bar is not None:
            bar.update(len(ids))
    return {name: np.concatenate(v) for name, v in parts.items()}


def _check_space(path: Path, manifest: Mapping[str, Any], spec: DatasetSpec, todo: list[int],
                 storage: str) -> None:
    """Refuse early when the free space cannot hold even one more shard (uncompressed
    estimate of the largest; compression usually halves it)."""
    if not todo:
        return
    n_t = spec.n_out + 1
    per_sample = (n_t * int(np.prod(spec.cells)) * (2 if spec.stress != "off" else 1)
                  + n_t * (spec.n_faces * 6 + 1)) * np.dtype(storage).itemsize
    biggest = max(manifest["shards"][i][1] - manifest["shards"][i][0] for i in todo)
    need = 0.5 * biggest * per_sample
    free = shutil.disk_usage(path).free
    if free < need:
        raise OSError(f"dataset.path={str(path)!r}: {free / 1e6:.1f} MB free, a shard needs "
                      f"about {need / 1e6:.1f} MB; free space or choose another path "
                      "(complete shards are intact)")
