"""Read a dataset written by ``steeltwin-datagen``: arrays by split, and training pairs.

    ds = open_dataset("outputs/datagen/slab")                 # checks every shard is complete
    test = ds.load("test")                         # dict of NumPy arrays (all shards)
    for batch in ds.pairs("train", horizon=3, batch_size=256, seed=0):
        batch["state"], batch["gas_temperature"], batch["next_state"]  # one training step

A *pair* is (state at output time t_i, boundary inputs at the knots t_i ... t_i+k, state at
t_i+k) for a horizon of k output intervals, plus the sample's parameters and cell size: what
a surrogate that advances the field over k * output_interval needs, and exactly what the
solver was given (the boundary is linear between the knots). ``pairs`` streams shard by shard
(shards in a seeded random order, samples shuffled within a shard), so memory holds one shard.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ._design import SPLITS
from ._index import DatasetError, validate
from ._store import read_manifest, shard_name, shard_record

TRAJECTORY_FIELDS = ("temperature", "surface_temperature", "heat_flux", "enthalpy",
                     "gas_temperature", "exchange_factor", "h")
SAMPLE_FIELDS = ("params", "cell_size", "discharge_time", "sample", "split")
INPUT_FIELDS = ("gas_temperature", "exchange_factor", "h")


@dataclasses.dataclass(frozen=True)
class Dataset:
    """An opened dataset (read-only).

    Attributes:
        path: the dataset folder.
        manifest: the parsed ``manifest.json`` (design, ranges, shards, times, ...).
    """

    path: Path
    manifest: dict[str, Any]

    @property
    def times(self) -> np.ndarray:
        """Output times, s [n_t]."""
        return np.asarray(self.manifest["times"])

    @property
    def output_interval(self) -> float:
        return float(self.manifest["output_interval"])

    @property
    def parameter_names(self) -> list[str]:
        return list(self.manifest["parameter_names"])

    @property
    def num_shards(self) -> int:
        return len(self.manifest["shards"])

    def split_code(self, split: str | None) -> int | None:
        if split is None:
            return None
        if split not in SPLITS:
            raise ValueError(f"split={split!r} is invalid: expected one of {', '.join(SPLITS)}")
        return SPLITS.index(split)

    def shard_files(self) -> list[Path]:
        return [self.path / shard_name(i) for i in range(self.num_shards)]

    def has_field(self, name: str) -> bool:
        """Whether the shards store ``name`` (older datasets may lack newer fields)."""
        with h5py.File(self.shard_files()[0], "r") as f:
            return name in f

    def _read_shard(self, i: int, fields: Sequence[str], code: int | None) -> dict[str, Any]:
        with h5py.File(self.path / shard_name(i), "r") as f:
            keep = slice(None) if code is None else np.flatnonzero(f["split"][()] == code)
            return {name: f[name][()][keep] for name in fields if name in f}

    def load(self, split: str | None = None,
             fields: Sequence[str] = (*TRAJECTORY_FIELDS, *SAMPLE_FIELDS)) -> dict[str, Any]:
        """Arrays of every sample of ``split`` (None: all), concatenated over the shards in
        sample order; ``times`` added. Stored units (K, s, m, W/m^2; see the file attrs)."""
        code = self.split_code(split)
        parts = [self._read_shard(i, fields, code) for i in range(self.num_shards)]
        out = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
        out["times"] = self.times
        return out

    def pairs(self, split: str = "train", horizon: int = 1, batch_size: int = 64,
              seed: int = 0, epochs: int = 1, drop_last: bool = False) -> Iterator[dict[str, Any]]:
        """Shuffled training pairs over ``horizon`` output intervals (see the module doc).

        Yields dicts of NumPy arrays: ``state`` and ``next_state`` [B, *cells] (K),
        ``gas_temperature``, ``exchange_factor``, ``h`` [B, horizon + 1, n_faces] (knots),
        ``params`` [B, n_params], ``cell_size`` [B, ndim], ``time`` [B] (s, of ``state``),
        ``sample`` and ``step`` [B] (where the pair came from).
        """
        n_t = len(self.times)
        if not 1 <= horizon < n_t:
            raise ValueError(f"horizon={horizon} is invalid: expected 1 <= horizon < {n_t} "
                             "(output intervals per pair)")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} is invalid: expected >= 1")
        code = self.split_code(split)
        rng = np.random.default_rng(seed)
        fields = ("temperature", *INPUT_FIELDS, "params", "cell_size", "sample")
        for _ in range(epochs):
            for i in rng.permutation(self.num_shards):
                data = self._read_shard(int(i), fields, code)
                n = len(data["sample"])
                if n == 0:
                    continue
                starts = n_t - horizon
                flat = rng.permutation(n * starts)
                stop = len(flat) - (len(flat) % batch_size if drop_last else 0)
                for b in range(0, stop, batch_size):
                    idx = flat[b:b + batch_size]
                    s, k = idx // starts, idx % starts
                    window = k[:, None] + np.arange(horizon + 1)[None, :]
                    yield {
                        "state": data["temperature"][s, k],
                        "next_state": data["temperature"][s, k + horizon],
                        **{f: data[f][s[:, None], window] for f in INPUT_FIELDS},
                        "params": data["params"][s],
                        "cell_size": data["cell_size"][s],
                        "time": self.times[k],
                        "sample": data["sample"][s],
                        "step": k,
                    }


    def windows(self, split: str = "train", horizon: int = 1, steps: int = 1,
                batch_size: int = 64, seed: int = 0, epochs: int = 1,
                drop_last: bool = True) -> Iterator[dict[str, Any]]:
        """Shuffled rollout windows: ``steps`` consecutive macro steps of ``horizon`` output
        intervals each, for multi-step (autoregressive) training.

        Yields dicts: ``state`` [B, *cells] (start), ``targets`` [B, steps, *cells] (the field
        after each macro step), ``inputs`` [B, steps, horizon + 1, n_faces, 3] (gas
        temperature, exchange factor, h at the knots of each macro step), ``params``,
        ``cell_size``, ``sample``, ``step`` (output index of ``state``), and ``heat``
        [B, steps] (J/m^2 or J/m: the heat that entered over each macro step, all faces) when
        the dataset stores ``boundary_heat``.
        """
        n_t = len(self.times)
        span = horizon * steps
        if horizon < 1 or steps < 1 or span >= n_t:
            raise ValueError(f"horizon={horizon}, steps={steps} are invalid: expected "
                             f"horizon * steps < {n_t} (the stored output times)")
        code = self.split_code(split)
        rng = np.random.default_rng(seed)
        fields = ("temperature", *INPUT_FIELDS, "params", "cell_size", "sample",
                  "boundary_heat")
        for _ in range(epochs):
            for i in rng.permutation(self.num_shards):
                data = self._read_shard(int(i), fields, code)
                n = len(data["sample"])
                if n == 0:
                    continue
                cum = (cumulative_heat(data["boundary_heat"]) if "boundary_heat" in data
                       else None)
                starts = n_t - span
                flat = rng.permutation(n * starts)
                stop = len(flat) - (len(flat) % batch_size if drop_last else 0)
                inputs = np.stack([data[f] for f in INPUT_FIELDS], axis=-1)  # [n, n_t, F, 3]
                for b in range(0, stop, batch_size):
                    idx = flat[b:b + batch_size]
                    s, k = idx // starts, idx % starts
                    ends = k[:, None] + horizon * np.arange(1, steps + 1)[None, :]
                    knots = (k[:, None, None] + horizon * np.arange(steps)[None, :, None]
                             + np.arange(horizon + 1)[None, None, :])
                    extra = {}
                    if cum is not None:
                        at = cum[s[:, None], np.concatenate([k[:, None], ends], axis=1)]
                        extra["heat"] = np.diff(at, axis=1).astype(np.float32)
                    yield {
                        "state": data["temperature"][s, k],
                        "targets": data["temperature"][s[:, None], ends],
                        "inputs": inputs[s[:, None, None], knots],
                        "params": data["params"][s],
                        "cell_size": data["cell_size"][s],
                        "sample": data["sample"][s],
                        "step": k,
                        **extra,
                    }


def cumulative_heat(boundary_heat: np.ndarray) -> np.ndarray:
    """Heat in since t = 0 at every output time, all faces: ``boundary_heat``
    [n, n_t - 1, n_faces] per interval -> [n, n_t] (float64)."""
    total = boundary_heat.sum(axis=-1, dtype=np.float64)
    return np.concatenate([np.zeros((len(total), 1)), np.cumsum(total, axis=1)], axis=1)


def open_dataset(path: str | Path, verify: bool = False) -> Dataset:
    """Open a dataset folder. Every shard must be complete (have its record); ``verify``
    also re-hashes every shard against the recorded sha256 (raises DatasetError)."""
    path = Path(path)
    manifest = read_manifest(path)
    if verify:
        validate(path)
    else:
        missing = [shard_name(i) for i in range(len(manifest["shards"]))
                   if shard_record(path, i) is None or not (path / shard_name(i)).exists()]
        if missing:
            raise DatasetError(f"dataset {path} is incomplete: {', '.join(missing[:5])} "
                               f"{'...' if len(missing) > 5 else ''} missing; re-run "
                               "steeltwin-datagen with the same config to finish it")
    return Dataset(path, manifest)
