"""Thermal-stress benchmark: time per 2D section solve vs grid size, CG iterations, accuracy.

Run: ``python -m benchmarks.bench_stress [--quick] [--out FILE]`` (CPU by default; set
``JAX_PLATFORMS=cuda`` on a GPU host). float64. For an n x n square section of carbon steel
(EN 1993-1-2, S355) with a smooth temperature field (500-1100 K, quadratic plus linear):

* elastic generalized-plane-strain solve (Q1 elements, Jacobi-PCG to 1e-10): compile time,
  then min/median of repeated ``block_until_ready`` calls, CG iterations, and the error of the
  quarter-mean sigma_zz against the Richardson extrapolation of the two finest grids;
* one plastic increment (J2, perfectly plastic; the history [T_ref, T] so the second field is
  the increment, 6 safeguarded Newton iterations): time, CG iterations, force residual.

Writes JSON (device, versions, every figure) to benchmarks/results/stress_cpu.json by default.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from steeltwin import engine as E  # noqa: E402
from steeltwin.engine._stress_material import carbon_steel_mechanical  # noqa: E402
from steeltwin.engine._stress_section import _section_elastic_jit  # noqa: E402
from steeltwin.engine._stress_section_plastic import _section_plastic_jit  # noqa: E402

SIZE = 0.1  # m, side of the square section


def _timed(fn: Callable[[], Any], repeats: int = 5, budget_s: float = 1.0) -> dict:
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    times: list[float] = []
    while len(times) < repeats or (sum(times) < budget_s and len(times) < 50):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
        if sum(times) > 60.0:
            break
    med = statistics.median(times)
    return {"min_s": min(times), "median_s": med, "compile_s": max(first - med, 0.0),
            "calls": len(times)}


def _field(n: int) -> np.ndarray:
    x = (np.arange(n) + 0.5) / n - 0.5
    X, Y = np.meshgrid(x, x, indexing="ij")
    return 500.0 + 2000.0 * (X**2 + Y**2) + 200.0 * X + 100.0 * Y


def run(sizes: list[int], plastic_sizes: list[int]) -> dict:
    mat = carbon_steel_mechanical("S355")
    rows: list[dict] = []
    quarter: dict[int, float] = {}
    for n in sizes:
        grid = E.box_grid((SIZE, SIZE), (n, n))
        T = jnp.asarray(_field(n))
        t = _timed(lambda grid=grid, T=T: _section_elastic_jit(T, grid, mat, "generalized"))
        out = _section_elastic_jit(T, grid, mat, "generalized")
        q = slice(n // 4, 3 * n // 4)
        quarter[n] = float(jnp.mean(out.szz[q, q]))
        row = {"n": n, "cells": n * n, "dofs": 2 * (n + 1) ** 2 + 3, "kind": "elastic",
               "cg_iterations": int(out.iterations), "cg_residual": float(out.residual),
               "max_von_mises_MPa": float(jnp.max(out.von_mises)) / 1e6, **t}
        rows.append(row)
        print(f"elastic n={n:4d}: {t['median_s'] * 1e3:9.2f} ms (compile {t['compile_s']:.1f} s)"
              f", CG {row['cg_iterations']} it, residual {row['cg_residual']:.1e}")
    # Error of the quarter-mean sigma_zz: Richardson (order 2) from the two finest grids.
    ns = sorted(quarter)
    if len(ns) >= 2:
        a, b = quarter[ns[-2]], quarter[ns[-1]]
        ref = b + (b - a) / 3.0
        for row in rows:
            row["quarter_mean_szz_MPa"] = quarter[row["n"]] / 1e6
            row["quarter_mean_szz_error_MPa"] = abs(quarter[row["n"]] - ref) / 1e6
        orders = [float(np.log2(abs(quarter[ns[i]] - quarter[ns[i + 1]])
                                / abs(quarter[ns[i + 1]] - quarter[ns[i + 2]])))
                  for i in range(len(ns) - 2)]
    else:
        orders = []
    for n in plastic_sizes:
        grid = E.box_grid((SIZE, SIZE), (n, n))
        Th = jnp.asarray(np.stack([np.full((n, n), 293.15), _field(n)]))
        t = _timed(lambda grid=grid, Th=Th: _section_plastic_jit(Th, grid, mat, "generalized",
                                                                 12, None, None), repeats=3)
        out = _section_plastic_jit(Th, grid, mat, "generalized", 12, None, None)
        row = {"n": n, "cells": n * n, "kind": "plastic_increment",
               "cg_iterations": int(out.iterations[1]),
               "newton_iterations": int(out.newton_iterations[1]),
               "force_residual": float(out.residual[1]),
               "max_equivalent_plastic_strain": float(jnp.max(out.equivalent_plastic_strain)),
               **t}
        rows.append(row)
        print(f"plastic n={n:4d}: {t['median_s'] * 1e3:9.2f} ms (compile {t['compile_s']:.1f} s)"
              f", Newton {row['newton_iterations']} it, CG {row['cg_iterations']} it total, "
              f"residual {row['force_residual']:.1e}")
    return {
        "benchmark": "bench_stress",
        "device": str(jax.devices()[0]),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "dtype": "float64",
        "material": "EN 1993-1-2 carbon steel S355",
        "section": f"{SIZE} m square, generalized plane strain",
        "observed_order_quarter_mean_szz": orders,
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                      "stress_cpu.json"))
    args = parser.parse_args()
    sizes = [16, 32, 64] if args.quick else [16, 32, 64, 128, 256]
    plastic = [16, 32] if args.quick else [16, 32, 64, 128]
    result = run(sizes, plastic)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
