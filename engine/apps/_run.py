"""``run_simulation``: the library entry the app and the tests call (config or job in, files out).

One run: build (or take) a :class:`SimulationJob`, integrate with :func:`steeltwin.engine.simulate`
(optionally with a tqdm bar over simulated time), compute the thermal stress at the saved
times when ``stress`` is on (``_stress``), summarise, and write ``result.h5`` and the
plots into ``output_dir``. Precision is the caller's choice: a float64 job needs jax x64 on
(the app switches it on at its entry point; this function never changes it).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
from omegaconf import DictConfig
from tqdm.auto import tqdm

from steeltwin.engine import ConfigError, plan_steps, simulate
from steeltwin.engine.config import SimulationJob, build_job
from steeltwin.engine.io import plot_result, result_arrays, write_result

from ._stress import compute_stress, stress_summary
from ._summary import summarize


class _TimeBar:
    """``progress(t_done, t_end)`` callback drawing a tqdm bar in simulated hours."""

    def __init__(self, t_end: float) -> None:
        self.bar = tqdm(total=round(t_end / 3600.0, 4), desc="simulating", unit="h",
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.2f}/{total:.2f} h "
                                   "simulated [{elapsed}<{remaining}]")

    def __call__(self, t_done: float, t_end: float) -> None:
        self.bar.n = round(min(t_done, t_end) / 3600.0, 4)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def furnace_zone_times(config: Mapping[str, Any]) -> list[tuple[str, float, float]]:
    """(name, start s, end s) of each furnace zone of a resolved config; [] for other kinds."""
    b = config.get("boundary", {})
    if b.get("kind") != "furnace":
        return []
    zones, t = [], 0.0
    for name, z in b["zones"].items():
        if z is not None:
            zones.append((str(name), t, t + float(z["duration"])))
            t += float(z["duration"])
    return zones


def check_precision(dtype: str) -> None:
    """Raise unless jax can compute in ``dtype`` (float64 needs x64 on at the entry point)."""
    if dtype == "float64" and not jax.config.read("jax_enable_x64"):
        raise ConfigError("dtype='float64' is invalid here: jax x64 is off; call "
                          "jax.config.update('jax_enable_x64', True) at program start, or set "
                          "dtype=float32")


def run_simulation(cfg_or_job: SimulationJob | DictConfig | Mapping[str, Any],
                   output_dir: str | os.PathLike[str], progress: bool | None = None,
                   ) -> dict[str, Any]:
    """Run one simulation and write its files.

    Args:
        cfg_or_job: a composed config (DictConfig or plain mapping) or a built job.
        output_dir: folder for ``result.h5`` and the PNGs (created if needed).
        progress: draw the progress bar; None = the job's ``output.progress``.

    Returns:
        The summary (see ``_summary``) plus ``description``, ``dtype``, ``dt_s``, ``steps``,
        ``wall_time_s`` and ``files`` (paths written).

    Raises:
        engine.ConfigError: a bad config, before anything is computed.
        FloatingPointError: the temperatures became non-finite.
    """
    job = cfg_or_job if isinstance(cfg_or_job, SimulationJob) else build_job(cfg_or_job)
    check_precision(job.dtype)
    dt, n_save, save_every = plan_steps(job.scenario, job.settings)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    bar = _TimeBar(job.settings.t_end) if (job.output.progress if progress is None
                                            else progress) else None
    start = time.perf_counter()
    try:
        trajectory = simulate(job.scenario, job.settings, progress=bar)
        jax.block_until_ready(trajectory)
    finally:
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - start
    arrays = result_arrays(trajectory, job.scenario)
    stress = None
    if job.stress is not None:
        stress = compute_stress(job.stress, trajectory.temperature, trajectory.times,
                                job.scenario.grid)
        arrays["stress"] = stress
    summary = {
        "description": job.description,
        "dtype": job.dtype,
        **summarize(arrays),
        **({} if stress is None else stress_summary(stress, arrays)),
        "dt_s": float(dt),
        "steps": int(n_save * save_every),
        "wall_time_s": wall,  # the thermal run (the stress step is not included)
    }
    if not all(math.isfinite(v) for v in summary.values() if isinstance(v, float)):
        raise FloatingPointError(f"the summary of {job.description} is not finite: {summary}")
    files = []
    if job.output.hdf5:
        files.append(write_result(out / job.output.hdf5, trajectory, job.scenario, job.config,
                                  summary, stress=stress))
    if job.output.plots:
        files.extend(plot_result(arrays, out, title=job.description,
                                 gas_label="furnace gas" if job.furnace else "gas / ambient",
                                 zones=furnace_zone_times(job.config)))
    return {**summary, "files": [str(p) for p in files]}
