"""Thermal solver benchmark: stencil throughput vs the memory roofline, and time to solution.

Run: ``python -m benchmarks.bench_thermal [--quick] [--out FILE]`` (CPU), or with
``JAX_PLATFORMS=cuda`` on a GPU host. Writes JSON (device, dtype, versions, every figure) and
prints a table. Timings are warm (after compilation; compile time reported separately), the
min and median of repeated ``block_until_ready`` calls; every speed comes with its error.

Sections:
1. roofline: STREAM-like memory bandwidth of this machine (benchmarks/roofline.py).
2. step throughput: explicit steps of constant-property 2D and 3D grids, float32 and float64,
   inside one compiled scan (cell updates per second; fraction of the roofline counting the
   state's 2 arrays read and written per step), and the vmapped batch throughput.
3. time to solution at <= 1 K max error for case (a) (2D billet, exact product solution) and
   case (b) (1D Eurocode slab with radiation and three zones, against a converged SciPy
   method-of-lines reference), one scenario and a batch of 256, side by side with the NumPy/
   SciPy implicit baselines and scikit-fem run in the same process.
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
import jax.numpy as jnp
import numpy as np

from benchmarks import _billet, _slab
from benchmarks._search import (
    search_billet_fv,
    search_billet_skfem,
    search_slab_newton,
    slab_errors,
    time_warm,
)
from benchmarks._skfem_billet import skfem_billet
from benchmarks.roofline import memory_bandwidth_gbps
from steeltwin import engine as E
from steeltwin.engine.analytic import rectangle_theta


def _timed(fn: Callable[[], Any], repeats: int = 7, budget_s: float = 0.5) -> dict:
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    times: list[float] = []
    while len(times) < repeats or (sum(times) < budget_s and len(times) < 200):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"min_s": min(times), "median_s": med, "compile_s": max(first - med, 0.0),
            "calls": len(times)}


def _device() -> dict:
    d = jax.devices()[0]
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return {"platform": d.platform, "device_kind": d.device_kind, "cpu": cpu,
            "cpu_count": os.cpu_count(), "jax": jax.__version__, "numpy": np.__version__}


# ---------------------------------------------------------------- step throughput


def _box_scenario(shape: tuple[int, ...], dtype: jnp.dtype, h: float = 150.0) -> E.Scenario:
    grid = E.box_grid(tuple(0.001 * n for n in shape), shape, dtype)
    faces = [E.FaceSpec(1523.15, h)] * (2 * len(shape))
    mat = E.constant_material(35.0, 7850.0, 650.0, dtype)
    return E.Scenario(grid, mat, E.constant_boundary(faces, dtype), jnp.asarray(298.15, dtype))


def step_throughput(bandwidth_gbps: float, quick: bool) -> list[dict]:
    cases = [(256, 256), (512, 512), (1024, 1024)] + ([] if quick else [(2048, 2048)])
    cases += [(32, 32, 32), (64, 64, 64)] + ([] if quick else [(128, 128, 128)])
    out = []
    n_steps = 20
    for dtype in (jnp.float32, jnp.float64):
        item = np.dtype(dtype).itemsize
        for shape in cases:
            sc = _box_scenario(shape, dtype)
            dt = 0.5 * E.stable_time_step(sc)
            fn = jax.jit(lambda s, dt=dt: E.solve(s, dt, n_steps, n_steps, E.EXPLICIT).enthalpy)
            t = _timed(lambda fn=fn, sc=sc: fn(sc), repeats=5, budget_s=1.0)
            cells = int(np.prod(shape))
            rate = cells * n_steps / t["min_s"]
            out.append({"shape": list(shape), "dtype": np.dtype(dtype).name,
                        "cell_updates_per_s": rate, "compile_s": t["compile_s"],
                        "step_s": t["min_s"] / n_steps,
                        "roofline_fraction": rate * 4 * item / (bandwidth_gbps * 1e9)})
    # vmapped batch of 2D scenarios with different h
    for dtype in (jnp.float32, jnp.float64):
        B, shape = 16, (256, 256)
        scs = jax.tree.map(lambda *a: jnp.stack(a),
                           *[_box_scenario(shape, dtype, 100.0 + 10 * i) for i in range(B)])
        dt = 0.5 * E.stable_time_step(_box_scenario(shape, dtype))
        fn = jax.jit(jax.vmap(lambda s, dt=dt: E.solve(s, dt, n_steps, n_steps,
                                                         E.EXPLICIT).enthalpy))
        t = _timed(lambda fn=fn, scs=scs: fn(scs), repeats=5, budget_s=1.0)
        rate = B * 65536 * n_steps / t["min_s"]
        out.append({"shape": [B, *shape], "dtype": np.dtype(dtype).name, "batched": True,
                    "cell_updates_per_s": rate, "compile_s": t["compile_s"],
                    "roofline_fraction": rate * 4 * np.dtype(dtype).itemsize
                    / (bandwidth_gbps * 1e9)})
    return out


# ---------------------------------------------------------------- case (a)

L_A = _billet.HALF_WIDTH


def billet_scenario(n: int, h: float = _billet.H) -> E.Scenario:
    """Quarter billet (symmetry planes adiabatic at the minus faces), n x n cells."""
    grid = E.box_grid((L_A, L_A), (n, n))
    Tinf = _billet.T_INF + 273.15
    faces = [E.FaceSpec(Tinf, 0.0), E.FaceSpec(Tinf, h), E.FaceSpec(Tinf, 0.0),
             E.FaceSpec(Tinf, h)]
    mat = E.constant_material(_billet.K, _billet.RHO, _billet.C)
    T0 = jnp.asarray(_billet.T_INITIAL + 273.15)
    return E.Scenario(grid, mat, E.constant_boundary(faces), T0)


def _billet_solver(n: int, dt: float, linear_solver: str = "adi"
                   ) -> Callable[[E.Scenario], jax.Array]:
    """Crank-Nicolson, one iteration (the problem is linear); ADI is the fast 2D solver."""
    n_steps, every = round(3600 / dt), round(600 / dt)
    scheme = E.crank_nicolson(1, linear_solver=linear_solver)
    return lambda s: E.solve(s, dt, n_steps, every, scheme).temperature


def billet_errors(T: np.ndarray, n: int, h: float = _billet.H) -> list[float]:
    x = (np.arange(n) + 0.5) * L_A / n
    X, Y = np.meshgrid(x, x, indexing="ij")
    errs = []
    for i, t in ((1, 600.0), (6, 3600.0)):
        theta = rectangle_theta(X, Y, t, (L_A, L_A), _billet.ALPHA, h, _billet.K)
        exact = _billet.T_INF + (_billet.T_INITIAL - _billet.T_INF) * theta + 273.15
        errs.append(float(np.abs(T[i] - exact).max()))
    return errs


def case_a(quick: bool) -> dict:
    candidates = []
    for n in (4, 5, 6, 8, 10):
        for dt in (300.0, 200.0, 150.0, 120.0, 100.0, 75.0, 60.0, 50.0, 40.0, 30.0):
            fn = jax.jit(_billet_solver(n, dt))
            t0 = time.perf_counter()
            errs = billet_errors(np.asarray(fn(billet_scenario(n))), n)
            first = time.perf_counter() - t0
            if max(errs) <= 1.0:
                sc = billet_scenario(n)
                t = _timed(lambda fn=fn, sc=sc: fn(sc))
                t["compile_s"] = max(first - t["median_s"], 0.0)
                candidates.append({"n_quarter": n, "dt": dt, "max_error_K": errs, **t})
                break
    best = min(candidates, key=lambda c: c["median_s"])
    n, dt = best["n_quarter"], best["dt"]
    # The accurate default 2D solver (ADI-preconditioned BiCGStab) at the same settings.
    fk = jax.jit(_billet_solver(n, dt, "krylov"))
    krylov = {"n_quarter": n, "dt": dt,
              "max_error_K": billet_errors(np.asarray(fk(billet_scenario(n))), n),
              **_timed(lambda: fk(billet_scenario(n)))}
    hs = np.linspace(0.95, 1.05, 256) * _billet.H
    batch = jax.tree.map(lambda *a: jnp.stack(a), *[billet_scenario(n, float(h)) for h in hs])
    fb = jax.jit(jax.vmap(_billet_solver(n, dt)))
    Tb = np.asarray(fb(batch))
    batch_err = max(max(billet_errors(Tb[i], n, float(hs[i]))) for i in (0, 128, 255))
    tb = _timed(lambda: fb(batch), repeats=5, budget_s=1.0)
    fv = search_billet_fv(repeats=7)["best"]
    fv_run = lambda: [_billet.scipy_cn_billet(fv["n"], fv["dt"],  # noqa: E731
                                              rannacher=fv["rannacher"]) for _ in range(256)]
    fv_batch = time_warm(fv_run, repeats=1, budget_s=0.0)
    peers = {}
    if not quick:
        sk = search_billet_skfem(repeats=7)["best"]
        sk_run = lambda: [skfem_billet(sk["n"], sk["dt"], rannacher=sk["rannacher"])  # noqa: E731
                          for _ in range(256)]
        peers["scikit-fem Q2"] = {"single": sk, "batch256": time_warm(sk_run, 1, 0.0)}
    return {"jax": {"single": best, "batch256": {**tb, "max_error_K": batch_err,
                                                 "per_scenario_s": tb["min_s"] / 256},
                    "candidates": candidates},
            "jax_krylov_single": krylov,
            "numpy_scipy": {"single": fv, "batch256": fv_batch}, "peers": peers}


# ---------------------------------------------------------------- case (b)

ZONES_B = [E.FurnaceZone("zone1", 1000.0, 3600.0, 0.6, 0.6),
           E.FurnaceZone("zone2", 1250.0, 3600.0, 0.6, 0.6),
           E.FurnaceZone("zone3", 1230.0, 2400.0, 0.6, 0.6)]


def slab_scenario(n: int, phi: float = 0.6) -> E.Scenario:
    zones = [E.FurnaceZone(z.name, z.gas_temperature_C, z.duration, phi, phi) for z in ZONES_B]
    return E.Scenario(E.slab_grid(_slab.THICKNESS, n), E.carbon_steel(),
                      E.furnace_boundary(zones, 1), jnp.asarray(25.0 + 273.15))


def _slab_solver(n: int, dt: float, iterations: int) -> Callable[[E.Scenario], E.Trajectory]:
    n_steps, every = round(9600 / dt), round(1200 / dt)
    return lambda s: E.solve(s, dt, n_steps, every, E.crank_nicolson(iterations))


def slab_result(tr: E.Trajectory, n: int) -> dict:
    """The trajectory at 3600/7200/9600 s in the layout of benchmarks._search.slab_errors."""
    x = (np.arange(n) + 0.5) * _slab.THICKNESS / n
    times = np.asarray(tr.times)
    idx = [int(np.argmin(np.abs(times - t))) for t in (3600.0, 7200.0, 9600.0)]
    T = np.asarray(tr.temperature)[idx] - 273.15
    return {"x": x, "t": times[idx], "profile": T,
            "surface": np.asarray(tr.surface_temperature)[idx].mean(axis=1) - 273.15,
            "centre": np.array([np.interp(0.5 * _slab.THICKNESS, x, p) for p in T]),
            "mean": T.mean(axis=1)}


def case_b(quick: bool) -> dict:
    ref = _slab.reference_slab(400)
    candidates = []
    for n in (8, 10, 12, 16, 20):
        for dt in (400.0, 300.0, 240.0, 200.0, 150.0, 120.0, 100.0, 80.0, 60.0):
            fn = jax.jit(_slab_solver(n, dt, 2))
            t0 = time.perf_counter()
            errs = slab_errors(slab_result(fn(slab_scenario(n)), n), ref)
            first = time.perf_counter() - t0
            if errs.max() <= 1.0:
                sc = slab_scenario(n)
                t = _timed(lambda fn=fn, sc=sc: fn(sc).temperature)
                t["compile_s"] = max(first - t["median_s"], 0.0)
                candidates.append({"n": n, "dt": dt, "iterations": 2,
                                   "max_error_K": errs.tolist(), **t})
                break
    best = min(candidates, key=lambda c: c["median_s"])
    n, dt = best["n"], best["dt"]
    batch = jax.tree.map(lambda *a: jnp.stack(a),
                         *[slab_scenario(n, float(p)) for p in np.linspace(0.55, 0.65, 256)])
    fb = jax.jit(jax.vmap(_slab_solver(n, dt, 2)))
    tb = _timed(lambda: fb(batch).temperature, repeats=5, budget_s=1.0)
    mid = jax.tree.map(lambda a: a[0], fb(jax.tree.map(lambda a: a[127:128], batch)))
    nominal_err = float(slab_errors(slab_result(mid, n), _slab.reference_slab(
        400, phi=float(np.linspace(0.55, 0.65, 256)[127]))).max()) if not quick else None
    nb = search_slab_newton(reference=ref, repeats=3)["best"]
    reps = 32 if quick else 256
    nb_run = lambda: [_slab.scipy_newton_slab(nb["n"], nb["dt"],  # noqa: E731
                                              rannacher=nb["rannacher"]) for _ in range(reps)]
    nbt = time_warm(nb_run, repeats=1, budget_s=0.0)
    scale = 256 / reps
    return {"jax": {"single": best, "batch256": {**tb, "per_scenario_s": tb["min_s"] / 256,
                                                 "max_error_K_phi_0.6": nominal_err},
                    "candidates": candidates},
            "numpy_scipy": {"single": nb, "batch256": {k: v * scale for k, v in nbt.items()
                                                       if k.endswith("_s")},
                            "batch_note": f"{reps} scenarios timed, scaled to 256"},
            "reference_n_cells": 400}


# ---------------------------------------------------------------- report


def _ratio_rows(name: str, res: dict) -> list[str]:
    j1, jb = res["jax"]["single"], res["jax"]["batch256"]
    n1, nb = res["numpy_scipy"]["single"], res["numpy_scipy"]["batch256"]
    rows = [f"{name}: JAX one scenario {1e3 * j1['median_s']:.3f} ms "
            f"(max err {max(j1['max_error_K']):.2f} K, compile {j1['compile_s']:.2f} s) | "
            f"NumPy/SciPy {1e3 * n1['median_s']:.3f} ms (err {max(n1['max_error_K']):.2f} K) "
            f"-> {n1['median_s'] / j1['median_s']:.1f}x",
            f"{name}: batch 256 JAX {1e3 * jb['min_s']:.1f} ms | NumPy/SciPy "
            f"{1e3 * nb['min_s']:.1f} ms -> throughput {nb['min_s'] / jb['min_s']:.1f}x"]
    if "jax_krylov_single" in res:
        k = res["jax_krylov_single"]
        rows.append(f"{name}: JAX krylov solver one scenario {1e3 * k['median_s']:.3f} ms "
                    f"(max err {max(k['max_error_K']):.2f} K)")
    for peer, p in res.get("peers", {}).items():
        rows.append(f"{name}: {peer} one scenario {1e3 * p['single']['median_s']:.3f} ms -> "
                    f"JAX {p['single']['median_s'] / j1['median_s']:.1f}x faster; batch "
                    f"{p['batch256']['min_s'] / jb['min_s']:.1f}x")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller grids, no peers")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/)")
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)
    dev = _device()
    bw = memory_bandwidth_gbps(256.0, repeats=5)
    roof = max(v for k, v in bw.items() if isinstance(v, float) and k != "array_mb")
    result: dict[str, Any] = {"device": dev, "bandwidth_gbps": bw, "roofline_gbps": roof}
    result["steps"] = step_throughput(roof, args.quick)
    result["case_a"] = case_a(args.quick)
    result["case_b"] = case_b(args.quick)
    out = args.out or os.path.join(os.path.dirname(__file__), "results",
                                   f"thermal_{dev['platform']}.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=1, default=float)
    print(f"device: {dev['platform']} {dev['device_kind']} ({dev['cpu']}, {dev['cpu_count']} "
          f"cores), jax {dev['jax']}; roofline {roof:.1f} GB/s")
    for r in result["steps"]:
        print(f"  step {r['dtype']} {'x'.join(map(str, r['shape']))}: "
              f"{r['cell_updates_per_s'] / 1e6:.0f} Mcell/s, "
              f"{100 * r['roofline_fraction']:.0f}% of roofline, compile {r['compile_s']:.2f} s")
    for row in _ratio_rows("case (a)", result["case_a"]) + _ratio_rows("case (b)",
                                                                       result["case_b"]):
        print("  " + row)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
