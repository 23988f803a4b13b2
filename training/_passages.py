"""Full passages of a dataset split cut into macro steps, and the spread calibration on them.

Shared by training (validation rollouts, the calibration after training) and evaluation (the
test and extrapolation splits): ``passage_batch`` gives the start field, the boundary inputs
of every macro step, the targets and the sample rows of whole furnace passages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from steeltwin.models import CALIBRATION, load_surrogate

from .dataset import (
    INPUT_FIELDS,
    SAMPLE_FIELDS,
    TRAJECTORY_FIELDS,
    Dataset,
    cumulative_heat,
    open_dataset,
)


def stack_inputs(data: Mapping[str, np.ndarray]) -> np.ndarray:
    """The boundary inputs of a dataset load stacked on a last axis [..., F, 3]."""
    return np.stack([data[f] for f in INPUT_FIELDS], axis=-1)


def passage_batch(ds: Dataset, split: str, horizon: int, param_names: tuple[str, ...],
                  limit: int | None = None) -> dict[str, np.ndarray]:
    """Full passages of a split cut into macro steps: T0 [n, *cells], inputs
    [n, S, horizon + 1, F, 3], targets [n, S, *cells] (S = (n_t - 1) // horizon)."""
    fields = (*TRAJECTORY_FIELDS, *SAMPLE_FIELDS)
    d = ds.load(split, (*fields, "boundary_heat") if ds.has_field("boundary_heat") else fields)
    if limit is not None:
        d = {k: (v[:limit] if k != "times" else v) for k, v in d.items()}
    n_t = d["temperature"].shape[1]
    S = (n_t - 1) // horizon
    u = stack_inputs(d)
    knots = horizon * np.arange(S)[:, None] + np.arange(horizon + 1)[None, :]
    cols = [ds.parameter_names.index(n) for n in param_names]
    out = {"T0": d["temperature"][:, 0], "inputs": u[:, knots],
           "targets": d["temperature"][:, horizon * np.arange(1, S + 1)],
           "params": d["params"][:, cols].astype(np.float32),
           "rows": d["params"], "cell_size": d["cell_size"],
           "discharge_time": d["discharge_time"], "sample": d["sample"],
           "times": d["times"][horizon * np.arange(1, S + 1)]}
    if "boundary_heat" in d:  # heat in over each macro step (the energy balance)
        out["heat"] = np.diff(cumulative_heat(d["boundary_heat"])[:, horizon * np.arange(S + 1)],
                              axis=1).astype(np.float32)
    return out


def calibrate(run_dir: str | Path, data_path: str | Path, limit: int = 256,
              write: bool = True) -> dict[str, Any]:
    """Fit the spread multiplier on validation rollouts (not test): the factor that makes the
    RMS ensemble spread equal the RMS error. Writes ``<run_dir>/calibration.json`` (unless
    ``write`` is false: the other processes of a multi-host job, which must still load the
    checkpoint with process 0, as Orbax synchronises every process on it)."""
    sur = load_surrogate(run_dir)
    sur.spread_scale = 1.0
    ds = open_dataset(data_path)
    cfg = sur.config
    p = passage_batch(ds, "validation", cfg.horizon, cfg.param_names, limit)
    members = np.asarray(sur.members(p["T0"], p["inputs"], p["params"]), np.float64)
    err = members.mean(0) - p["targets"]
    rms_sigma = float(np.sqrt(np.mean(members.std(0) ** 2)))
    out = {"spread_scale": float(np.sqrt(np.mean(err**2)) / max(rms_sigma, 1e-9)),
           "fitted_on": "validation", "scenarios": len(p["T0"]),
           "rms_error_K": float(np.sqrt(np.mean(err**2))), "rms_spread_K": rms_sigma}
    if write:
        (Path(run_dir) / CALIBRATION).write_text(json.dumps(out, indent=1))
    return out
