"""Data-generation benchmark: samples/s and solver cell updates/s while generating datasets.

Run: ``python -m benchmarks.bench_datagen [--quick] [--out FILE]`` (CPU by default; set
``JAX_PLATFORMS=cuda`` on a GPU host). Measures, with the shipped dataset configs
(``conf/dataset/slab.yaml`` and ``section_2d.yaml``):

* the jitted, vmapped batch solver alone (warm; compile time separately) at several batch
  sizes, float64 (the default) and float32 (with its max deviation from float64, K);
* a loop of single-scenario solves of the same jitted code (what a per-scenario script does);
* the NumPy/SciPy Newton-Crank-Nicolson slab solver of ``benchmarks/_slab.py`` (24 cells,
  dt 30 s), per simulated hour, as the baseline a user would otherwise script;
* the whole ``generate`` of the default slab dataset (design, solves, compression, checksums,
  index) into a temporary folder: wall time, samples/s, size on disk.

Writes JSON (device, versions, every figure) to benchmarks/results/datagen_<platform>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

from steeltwin.engine.apps import CONF_DIR  # noqa: E402
from steeltwin.training import build_design, build_spec, generate  # noqa: E402
from steeltwin.training._scenarios import make_batch_solver, perturbation  # noqa: E402

from ._slab import scipy_newton_slab  # noqa: E402


def _config(name: str, **changes: Any) -> dict[str, Any]:
    cfg = yaml.safe_load((CONF_DIR / "dataset" / f"{name}.yaml").read_text())
    cfg["path"] = "unused"
    cfg.update(changes)
    return cfg


def _time(fn: Any, repeats: int = 3) -> tuple[float, float]:
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t0)
    return best, max(first - best, 0.0)


def batch_throughput(name: str, batches: list[int], dtypes: list[str]) -> list[dict[str, Any]]:
    rows = []
    ref = None
    for dtype in dtypes:
        cfg = _config(name, dtype=dtype)
        spec = build_spec(cfg)
        design = build_design(cfg, spec)
        solver = make_batch_solver(spec, design.names)
        cells = int(np.prod(spec.cells))
        steps = spec.n_out * spec.save_every
        for b in batches:
            ids = np.arange(b)
            rows_ = jnp.asarray(design.values[ids], dtype)
            noise = jnp.asarray(perturbation(spec, 0, ids), dtype)
            best, compile_s = _time(lambda r=rows_, n=noise, s=solver: s(r, n)["temperature"])
            out = np.asarray(solver(rows_, noise)["temperature"], np.float64)
            row = {"dataset": name, "dtype": dtype, "batch": b, "cells": cells, "steps": steps,
                   "seconds": best, "compile_s": compile_s, "samples_per_s": b / best,
                   "cell_updates_per_s": b * cells * steps / best}
            if dtype == "float64" and b == max(batches):
                ref = out
            if dtype == "float32" and ref is not None and b == max(batches):
                row["max_abs_dev_from_float64_K"] = float(np.max(np.abs(out - ref)))
            rows.append(row)
            print(f"{name:11s} {dtype} batch {b:4d}: {b / best:8.1f} samples/s, "
                  f"{b * cells * steps / best:.3g} cell updates/s (compile {compile_s:.1f} s)")
    return rows


def single_loop(name: str, n: int) -> dict[str, Any]:
    """n scenarios one at a time through the same jitted code (batch of one)."""
    cfg = _config(name)
    spec = build_spec(cfg)
    design = build_design(cfg, spec)
    solver = make_batch_solver(spec, design.names)
    args = [(jnp.asarray(design.values[[i]]), jnp.asarray(perturbation(spec, 0, np.array([i]))))
            for i in range(n)]
    jax.block_until_ready(solver(*args[0])["temperature"])
    t0 = time.perf_counter()
    for a in args:
        jax.block_until_ready(solver(*a)["temperature"])
    dt = time.perf_counter() - t0
    print(f"{name:11s} loop of {n} single solves: {n / dt:8.1f} samples/s")
    return {"dataset": name, "samples_per_s": n / dt, "n": n}


def scipy_baseline() -> dict[str, Any]:
    t0 = time.perf_counter()
    out = scipy_newton_slab(24, 30.0)
    dt = time.perf_counter() - t0
    hours = float(out["t"][-1]) / 3600.0
    print(f"NumPy/SciPy Newton-CN slab, 24 cells, dt 30 s: {dt:.2f} s for {hours:.2f} h "
          f"simulated ({dt / hours:.2f} s per simulated hour)")
    return {"seconds": dt, "simulated_hours": hours, "seconds_per_simulated_hour": dt / hours}


def full_generation(quick: bool) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="steeltwin-bench-"))
    try:
        changes = {"n_samples": 512, "n_extrapolation": 32} if quick else {}
        cfg = _config("slab", path=str(tmp / "slab"), **changes)
        t0 = time.perf_counter()
        report = generate(cfg)
        wall = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in (tmp / "slab").iterdir())
        spec = build_spec(cfg)
        print(f"generate slab dataset: {report.samples} samples in {wall:.1f} s "
              f"({report.samples / wall:.1f} samples/s incl. compile, writing, index), "
              f"{size / 1e6:.1f} MB on disk")
        return {"samples": report.samples, "wall_s": wall,
                "samples_per_s": report.samples / wall, "bytes": size,
                "bytes_per_sample": size / report.samples,
                "fields_per_sample": spec.n_out + 1, "cells": list(spec.cells),
                "shards": len(report.written)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller batches and dataset")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    dev = jax.devices()[0]
    slab_batches = [16, 64] if args.quick else [16, 64, 256]
    result = {
        "benchmark": "bench_datagen",
        "device": str(dev), "platform": dev.platform, "device_kind": dev.device_kind,
        "host": platform.platform(), "cpu_count": os.cpu_count(), "jax": jax.__version__,
        "slab_batch": batch_throughput("slab", slab_batches, ["float64", "float32"]),
        "section_2d_batch": batch_throughput("section_2d", [16] if args.quick else [16, 64],
                                             ["float64"]),
        "slab_single_loop": single_loop("slab", 16),
        "scipy_slab_baseline": scipy_baseline(),
        "generate_slab": full_generation(args.quick),
    }
    best = max(r["samples_per_s"] for r in result["slab_batch"] if r["dtype"] == "float64")
    hours = build_spec(_config("slab")).t_end / 3600.0
    base = result["scipy_slab_baseline"]["seconds_per_simulated_hour"] * hours
    result["speedup_batch_vs_scipy_per_scenario"] = best * base
    result["speedup_batch_vs_single_loop"] = best / result["slab_single_loop"]["samples_per_s"]
    print(f"batched vs NumPy/SciPy per scenario: {best * base:.0f}x; batched vs single-solve "
          f"loop: {result['speedup_batch_vs_single_loop']:.1f}x")
    out = args.out or os.path.join(os.path.dirname(__file__), "results",
                                   f"datagen_{dev.platform}.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
