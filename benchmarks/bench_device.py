"""Every hot path in one prepared run: the script a lent GPU runs once (about 8 minutes).

Run: ``python -m benchmarks.bench_device [--smoke] [--out DIR] [--deadline-s 420]``, or on a
GPU host ``benchmarks/device/run.sh`` (installs the carried wheels first). Writes
``hotpaths_<platform>.json`` (``hotpaths_<platform>_smoke.json`` with ``--smoke``) after every
section, so a run cut short keeps what it finished; ``--table`` turns ``hotpaths_cpu.json`` and
``hotpaths_cuda.json`` into the side-by-side table ``hotpaths.md``.

Sections (each timing is warm: the program is lowered and compiled first, the compile time is
reported on its own; then the min and median of repeated ``block_until_ready`` calls):

1. ``bandwidth``: the device's memory bandwidth, a jitted scale and triad with donated buffers
   (float32 arrays several times the last-level cache); the best is the roof below.
2. ``stencil``: explicit enthalpy steps of the engine's 2D (4096²) and 3D (256³) constant-property
   grids, float32 and float64: cell updates/s and the fraction of the roof (H and T read and
   written per cell update, as in ``bench_thermal``).
3. ``slab``: the batched 1D slab solver of case (b) (220 mm EN 1993-1-2 slab, 3 zones, φ 0.6,
   Crank–Nicolson at the cheapest ≤ 1 K setting that ``bench_thermal`` found) at batches 1 to
   65536 (φ varied ±0.05): passages per second; the error of the nominal case against the SciPy
   method-of-lines reference, measured in the same run.
4. ``billet``: the batched 2D quarter billet of case (a) (CN + ADI, ≤ 1 K against the exact
   product solution, h varied ±5 %) at batches 1 to 4096.
5. ``surrogate``: for the slab MLP, the 2D section MLP and the 2D section FNO (each rebuilt from
   the configuration in its committed ``surrogate_*_cpu.json``; untrained weights, which cost
   the same as trained ones): a passage rolled out by the 4-member ensemble at batches 1 to
   65536, the solver at the setting of equal accuracy found by ``steeltwin-evaluate`` (the same
   file) at the same batches, their ratio; and training steps per second (batch 256, 4 macro
   steps of rollout, AdamW).
6. ``twin``: one full twin cycle (forecast of 64 members with the physics propagator, ETKF
   analysis, float64 and float32 members) for 1, 30, 1000 and 10000 slabs.
7. ``stress``: the 2D elastic generalized-plane-strain solve (Jacobi-PCG) at 64² to 1024².

A sweep stops where the next size would outrun ``--call-cap-s`` or the deadline (its rows say
``skipped`` with the reason); a section that fails records its error and the run goes on.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import platform
import subprocess
import sys
import time
import traceback
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

RESULTS = Path(__file__).parent / "results"
CONF = Path(__file__).resolve().parent.parent / "conf"


# ---------------------------------------------------------------- run bookkeeping


@dataclasses.dataclass
class Budget:
    """The run's deadline and the longest single timed call a sweep may attempt."""

    deadline: float
    call_cap_s: float
    solver_batches: tuple[int, ...] = (1, 4096, 65536)

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def allows(self, projected_s: float, calls: int = 3) -> str | None:
        """Why a call projected to take ``projected_s`` is skipped, or None."""
        if projected_s > self.call_cap_s:
            return f"projected {projected_s:.1f} s per call > call cap {self.call_cap_s:g} s"
        if projected_s * calls > self.left():
            return f"projected {projected_s * calls:.1f} s > {self.left():.0f} s left"
        return None


def _commit() -> str:
    if os.environ.get("STEELTWIN_COMMIT"):
        return os.environ["STEELTWIN_COMMIT"]
    try:
        root = Path(__file__).resolve().parent.parent
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--",
                                "engine", "models", "training", "benchmarks"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "") if sha else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _nvidia_smi() -> dict[str, str]:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=20).stdout.strip().splitlines()
    except (OSError, subprocess.SubprocessError):
        return {}
    if not out:
        return {}
    name, driver, memory = (s.strip() for s in out[0].split(",")[:3])
    return {"gpu": name, "driver": driver, "gpu_memory": memory}


def header(smoke: bool) -> dict[str, Any]:
    d = jax.devices()[0]
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration), open("/proc/cpuinfo") as f:
        cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    import flax
    import optax

    out = {"benchmark": "bench_device", "platform": d.platform, "device": str(d),
           "device_kind": d.device_kind, "device_count": jax.device_count(), "cpu": cpu,
           "cpu_count": os.cpu_count(), "host": platform.platform(),
           "python": platform.python_version(), "jax": jax.__version__,
           "jaxlib": getattr(jax.lib, "__version__", jax.__version__),
           "flax": flax.__version__, "optax": optax.__version__, "numpy": np.__version__,
           "commit": _commit(), "smoke": smoke,
           "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
    if d.platform == "gpu" or d.platform == "cuda":
        out.update(_nvidia_smi())
    return out


def timed(fn: Callable[..., Any], args: Sequence[Any], repeats: int = 5,
          budget_s: float = 1.0, max_calls: int = 100, max_total_s: float = 30.0
          ) -> dict[str, float]:
    """Compile ``fn`` (a jitted function) for ``args``, then time warm calls: at least
    ``repeats`` (fewer once they add up to ``max_total_s``), more while under ``budget_s``."""
    t0 = time.perf_counter()
    compiled = fn.lower(*args).compile()  # type: ignore[attr-defined]
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(compiled(*args))  # first call: transfers, autotuning
    times: list[float] = []
    while len(times) < repeats or (sum(times) < budget_s and len(times) < max_calls):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - t0)
        if sum(times) > max_total_s:
            break
    return {"compile_s": compile_s, "min_s": min(times), "median_s": float(np.median(times)),
            "calls": len(times)}


def _sweep(sizes: Sequence[int], budget: Budget, run_one: Callable[[int], dict[str, Any]],
           key: str = "min_s", power: float = 1.0) -> list[dict[str, Any]]:
    """Run ``run_one`` on increasing sizes; skip a size whose projected time (the last time
    scaled by (size ratio)**power, never below it) would outrun the budget."""
    rows: list[dict[str, Any]] = []
    last: tuple[int, float] | None = None
    for n in sizes:
        if last is not None:
            projected = last[1] * max(1.0, (n / last[0]) ** power)
            why = budget.allows(projected)
            if why:
                rows.append({"size": n, "skipped": why})
                continue
        row = run_one(n)
        rows.append(row)
        last = (n, row[key])
    return rows


# ---------------------------------------------------------------- 1. bandwidth


def bandwidth(smoke: bool, gpu: bool) -> dict[str, Any]:
    n = (1 << 20) if smoke else ((1 << 28) if gpu else (1 << 26))  # float32: 4 MB / 1 GB / 256 MB
    x = jnp.ones(n, jnp.float32)
    y = jnp.full(n, 2.0, jnp.float32)
    a = jnp.asarray(1.0001, jnp.float32)
    scale = jax.jit(lambda x, a: a * x, donate_argnums=0)
    triad = jax.jit(lambda x, y, a: x + a * y, donate_argnums=0)
    best: dict[str, float] = {"scale": 0.0, "triad": 0.0}
    for _ in range(2 if smoke else 20):
        t0 = time.perf_counter()
        x = jax.block_until_ready(scale(x, a))
        best["scale"] = max(best["scale"], 8.0 * n / (time.perf_counter() - t0) / 1e9)
        t0 = time.perf_counter()
        x = jax.block_until_ready(triad(x, y, a))
        best["triad"] = max(best["triad"], 12.0 * n / (time.perf_counter() - t0) / 1e9)
    out = {"array_mb": 4 * n / 1e6, "dtype": "float32", "scale_gbps": best["scale"],
           "triad_gbps": best["triad"],
           "note": "GB/s = 1e9 bytes/s counting reads and writes (scale 8 B, triad 12 B per "
                   "element); output buffer donated (the steady state of a time loop)"}
    if not gpu:  # the CPU roof of bench_thermal: NumPy STREAM (one thread) next to XLA
        from benchmarks.roofline import memory_bandwidth_gbps

        bw = memory_bandwidth_gbps(4.0 if smoke else 256.0, repeats=2 if smoke else 5)
        out["numpy_stream_gbps"] = {k: v for k, v in bw.items() if isinstance(v, float)}
    stream = {k: v for k, v in out.get("numpy_stream_gbps", {}).items() if k != "array_mb"}
    out["roof_gbps"] = max(out["scale_gbps"], out["triad_gbps"], *stream.values())
    return out


# ---------------------------------------------------------------- 2. stencil


def _box_scenario(shape: tuple[int, ...], dtype: Any, h: float = 150.0) -> Any:
    from steeltwin import engine as E

    grid = E.box_grid(tuple(0.001 * n for n in shape), shape, dtype)
    faces = [E.FaceSpec(1523.15, h)] * (2 * len(shape))
    mat = E.constant_material(35.0, 7850.0, 650.0, dtype)
    return E.Scenario(grid, mat, E.constant_boundary(faces, dtype), jnp.asarray(298.15, dtype))


def stencil(smoke: bool, roof_gbps: float, budget: Budget) -> list[dict[str, Any]]:
    from steeltwin import engine as E

    cases = ([((16, 16), jnp.float32), ((4, 4, 4), jnp.float64)] if smoke else
             [(shape, dtype) for shape in ((4096, 4096), (256, 256, 256))
              for dtype in (jnp.float32, jnp.float64)])
    n_steps = 4 if smoke else 20
    rows = []
    for shape, dtype in cases:
        if True:
            sc = _box_scenario(shape, dtype)
            dt = 0.5 * E.stable_time_step(sc)
            fn = jax.jit(lambda s, dt=dt: E.solve(s, dt, n_steps, n_steps, E.EXPLICIT).enthalpy)
            t = timed(fn, (sc,), repeats=3 if smoke else 5)
            cells = int(np.prod(shape))
            rate = cells * n_steps / t["min_s"]
            item = np.dtype(dtype).itemsize
            rows.append({"shape": list(shape), "dtype": np.dtype(dtype).name, "steps": n_steps,
                         "cell_updates_per_s": rate, "step_s": t["min_s"] / n_steps,
                         "roof_fraction": rate * 4 * item / (roof_gbps * 1e9), **t})
            print(f"  stencil {'x'.join(map(str, shape))} {np.dtype(dtype).name}: "
                  f"{rate / 1e9:.2f} Gcell/s, {100 * rows[-1]['roof_fraction']:.0f} % of roof "
                  f"(compile {t['compile_s']:.1f} s)", flush=True)
            if budget.left() < 0:
                break
    rows.append(_bare_stencil((16, 16) if smoke else (4096, 4096), n_steps, roof_gbps))
    return rows


def _bare_stencil(shape: tuple[int, int], n_steps: int, roof_gbps: float) -> dict[str, Any]:
    """What XLA reaches on a bare float32 5-point explicit update (fixed edges, one array
    read and written per step): the ceiling the engine's step is measured against."""

    def steps(T: jax.Array) -> jax.Array:
        def body(T: jax.Array, _: None) -> tuple[jax.Array, None]:
            lap = (T[:-2, 1:-1] + T[2:, 1:-1] + T[1:-1, :-2] + T[1:-1, 2:]
                   - 4.0 * T[1:-1, 1:-1])
            return T.at[1:-1, 1:-1].add(0.1 * lap), None

        return jax.lax.scan(body, T, None, length=n_steps)[0]

    T = jnp.linspace(300.0, 1500.0, shape[0] * shape[1], dtype=jnp.float32).reshape(shape)
    t = timed(jax.jit(steps), (T,), repeats=5)
    rate = shape[0] * shape[1] * n_steps / t["min_s"]
    print(f"  bare 5-point stencil {shape[0]}x{shape[1]} float32: {rate / 1e9:.2f} Gcell/s, "
          f"{100 * rate * 8 / (roof_gbps * 1e9):.0f} % of roof", flush=True)
    return {"shape": list(shape), "dtype": "float32", "bare": True, "steps": n_steps,
            "cell_updates_per_s": rate, "roof_fraction": rate * 8 / (roof_gbps * 1e9),
            "note": "plain jnp 5-point update, 2 arrays per cell update (T read, T written)",
            **t}


# ---------------------------------------------------------------- 3./4. batched solvers


def _thermal_choice(case: str, default: dict[str, Any]) -> dict[str, Any]:
    """The cheapest <= 1 K setting bench_thermal found on this project's CPU run."""
    try:
        d = json.loads((RESULTS / "thermal_cpu.json").read_text())
        return {**default, **{k: d[case]["jax"]["single"][k] for k in default}}
    except (OSError, KeyError, ValueError):
        return default


def slab(smoke: bool, budget: Budget) -> dict[str, Any]:
    from benchmarks import _slab
    from benchmarks._search import slab_errors
    from benchmarks.bench_thermal import slab_result, slab_scenario
    from steeltwin import engine as E

    choice = _thermal_choice("case_b", {"n": 16, "dt": 120.0, "iterations": 2})
    n, dt, its = int(choice["n"]), float(choice["dt"]), int(choice["iterations"])
    n_steps, every = round(9600 / dt), round(1200 / dt)
    base = slab_scenario(n)

    def passage(phi_scale: jax.Array) -> jax.Array:
        b = base.boundary
        sc = dataclasses.replace(base, boundary=dataclasses.replace(
            b, exchange_factor=b.exchange_factor * phi_scale))
        tr = E.solve(sc, dt, n_steps, every, E.crank_nicolson(its))
        return tr.temperature, tr.surface_temperature

    fn = jax.jit(jax.vmap(passage))
    ref = _slab.reference_slab(20 if smoke else 200)
    errs: list[float] = []

    def run_one(B: int) -> dict[str, Any]:
        phis = jnp.linspace(0.55 / 0.6, 0.65 / 0.6, B) if B > 1 else jnp.ones(1)
        t = timed(fn, (phis,), repeats=3 if smoke else 5)
        if B == 1:  # the nominal case (phi 0.6) against the reference
            T, surface = (np.asarray(a)[0] for a in fn(phis))
            times = np.arange(T.shape[0]) * every * dt
            tr = types.SimpleNamespace(times=times, temperature=T, surface_temperature=surface)
            errs.append(float(slab_errors(slab_result(tr, n), ref).max()))
        row = {"batch": B, "passages_per_s": B / t["min_s"], **t}
        print(f"  slab batch {B:6d}: {row['passages_per_s']:12.0f} passages/s "
              f"({1e3 * t['min_s']:.2f} ms, compile {t['compile_s']:.1f} s)", flush=True)
        return row

    sizes = [1] if smoke else [1, 16, 256, 4096, 65536]
    rows = _sweep(sizes, budget, run_one)
    return {"cells": n, "dt_s": dt, "iterations": its, "passage_s": 9600.0,
            "max_error_K_nominal": errs[0] if errs else None,
            "reference": f"SciPy BDF method of lines, {20 if smoke else 200} cells",
            "rows": rows}


def billet(smoke: bool, budget: Budget) -> dict[str, Any]:
    from benchmarks import _billet
    from benchmarks.bench_thermal import _billet_solver, billet_errors, billet_scenario

    choice = _thermal_choice("case_a", {"n_quarter": 4, "dt": 120.0})
    n, dt = int(choice["n_quarter"]), float(choice["dt"])
    base = billet_scenario(n)
    solver = _billet_solver(n, dt)

    def passage(h_scale: jax.Array) -> jax.Array:
        b = base.boundary
        return solver(dataclasses.replace(base, boundary=dataclasses.replace(b, h=b.h * h_scale)))

    fn = jax.jit(jax.vmap(passage))
    errs: list[float] = []

    def run_one(B: int) -> dict[str, Any]:
        scales = jnp.linspace(0.95, 1.05, B) if B > 1 else jnp.ones(1)
        t = timed(fn, (scales,), repeats=3 if smoke else 5)
        if B > 1 or smoke:  # first, middle and last h of the batch against the exact solution
            T = np.asarray(fn(scales))
            errs.extend(max(billet_errors(T[i], n, float(scales[i]) * _billet.H))
                        for i in sorted({0, B // 2, B - 1}))
        row = {"batch": B, "passages_per_s": B / t["min_s"], **t}
        print(f"  billet batch {B:5d}: {row['passages_per_s']:12.0f} passages/s "
              f"({1e3 * t['min_s']:.2f} ms, compile {t['compile_s']:.1f} s)", flush=True)
        return row

    sizes = [1] if smoke else [1, 16, 256, 4096]
    rows = _sweep(sizes, budget, run_one)
    return {"n_quarter": n, "dt_s": dt, "passage_s": 3600.0, "scheme": "CN + ADI",
            "max_error_K": max(errs) if errs else None, "rows": rows}


# ---------------------------------------------------------------- 5. surrogate


SURROGATES = {"mlp_slab": "surrogate_mlp_slab_cpu.json",
              "mlp_section_2d": "surrogate_mlp_section_2d_cpu.json",
              "fno_section_2d": "surrogate_fno_section_2d_cpu.json"}


def _dataset_solver(cells: int, dt: float) -> tuple[Any, Any, Any, Any]:
    """The evaluation's solver (training._evaluate): the dataset's scenario builder at ``dt``,
    one Crank–Nicolson iteration; returns (one, rows, noise, spec)."""
    import yaml

    from steeltwin.engine import crank_nicolson, solve
    from steeltwin.training import build_design, build_spec
    from steeltwin.training._scenarios import material_tables, perturbation, scenario_from_row

    name = "slab" if cells == 1 else "section_2d"
    cfg = yaml.safe_load((CONF / "dataset" / f"{name}.yaml").read_text())
    cfg["n_samples"], cfg["n_extrapolation"] = 64, 0
    spec = build_spec(cfg)
    design = build_design(cfg, spec)
    tables = material_tables(spec.materials, jnp.float64)
    names = design.names
    ids = np.arange(len(design.values))
    noise = perturbation(spec, int(cfg.get("seed", 0)), ids)

    def one(row: jax.Array, nz: jax.Array, every: int, n_save: int) -> jax.Array:
        sc, _ = scenario_from_row(spec, names, tables, row, nz)
        return solve(sc, dt, n_save * every, every, crank_nicolson(1)).temperature[1:]

    return one, np.asarray(design.values), np.asarray(noise), spec


def surrogate(smoke: bool, budget: Budget) -> dict[str, Any]:
    import optax
    from flax import nnx

    from steeltwin.models import Normalizer, SurrogateConfig, build_ensemble, rollout
    from steeltwin.training._train import make_train_step

    out: dict[str, Any] = {}
    # Solver timings by (cell dims, dt, steps, batch): the two 2D models share their solver.
    solver_times: dict[tuple[int, float, int, int], dict[str, float]] = {}
    # The smoke run keeps one model: the code path is the same for the others.
    models = {"mlp_slab": SURROGATES["mlp_slab"]} if smoke else SURROGATES
    for name, file in models.items():
        d = json.loads((RESULTS / file).read_text())
        cfg = SurrogateConfig.from_json(d["model"])
        speed = d["speed"]
        S = 2 if smoke else int(speed["steps_per_passage"])
        dt = float(speed["solver_dt_s"])
        graphdef, state = nnx.split(build_ensemble(cfg))
        P = len(cfg.param_names)
        norm = Normalizer(t_centre=1000.0, t_scale=300.0, input_centre=(1000.0, 0.6, 0.0),
                          input_scale=(300.0, 0.1, 1.0), param_centre=(0.0,) * P,
                          param_scale=(1.0,) * P, delta_scale=50.0)
        roll = jax.jit(lambda st, T0, u, p, graphdef=graphdef, norm=norm:
                       rollout(graphdef, st, norm, T0, u, p))
        one, rows_all, noise_all, _ = _dataset_solver(len(cfg.cells), dt)
        every = round(cfg.step_seconds / dt)
        solver = jax.jit(jax.vmap(lambda r, nz, one=one, every=every, S=S:
                                  one(r, nz, every, S)))
        rng = np.random.default_rng(0)

        def inputs(B: int, S: int = S, cfg: Any = cfg, P: int = P,
                   rng: Any = rng) -> tuple[jax.Array, ...]:
            T0 = jnp.asarray(900.0 + 100.0 * rng.random((B, *cfg.cells)), jnp.float32)
            u = np.empty((B, S, cfg.horizon + 1, cfg.n_faces, 3), np.float32)
            u[..., 0], u[..., 1], u[..., 2] = 1500.0, 0.6, 0.0
            p = jnp.asarray(rng.random((B, P)), jnp.float32)
            return T0, jnp.asarray(u), p

        res: dict[str, Any] = {"model": d["model"], "steps_per_passage": S,
                               "solver_dt_s": dt, "solver_iterations": 1,
                               "accuracy_source": f"benchmarks/results/{file}",
                               "surrogate_test_rmse_K": d["test"]["rmse_K"],
                               "solver_rmse_K": next((c["rmse_K"] for c in speed["candidates"]
                                                      if c["dt_s"] == dt), None),
                               "rows": []}
        out[name] = res
        sizes = [1] if smoke else [1, 256, 4096, 65536]
        solver_sizes = set(budget.solver_batches) if not smoke else {1}
        gpu = jax.default_backend() in ("gpu", "cuda")
        last_sur: tuple[int, float] | None = None
        last_sol: tuple[int, float] | None = None
        for B in sizes:
            if last_sur is not None:
                why = budget.allows(last_sur[1] * max(1.0, B / last_sur[0]))
                if why:
                    res["rows"].append({"batch": B, "skipped": why})
                    continue
            T0, u, p = inputs(B)
            t = timed(roll, (state, T0, u, p), repeats=3 if smoke else 5)
            last_sur = (B, t["min_s"])
            row: dict[str, Any] = {"batch": B, "surrogate": t,
                                   "surrogate_passages_per_s": B / t["min_s"]}
            if B in solver_sizes:
                key = (len(cfg.cells), dt, S, B)
                # A GPU's batch-1 time is launch-bound: it does not project to large batches.
                why = (budget.allows(last_sol[1] * max(1.0, B / last_sol[0]))
                       if last_sol is not None and key not in solver_times
                       and not (gpu and last_sol[0] == 1) else None)
                if why:
                    row["solver"] = {"skipped": why}
                else:
                    if key not in solver_times:
                        idx = np.arange(B) % len(rows_all)
                        r, nz = jnp.asarray(rows_all[idx]), jnp.asarray(noise_all[idx])
                        solver_times[key] = timed(solver, (r, nz), repeats=1 if B > 1 else 2,
                                                  budget_s=0.0)
                    ts = solver_times[key]
                    last_sol = (B, ts["min_s"])
                    row["solver"] = ts
                    row["speedup"] = ts["min_s"] / t["min_s"]
            res["rows"].append(row)
            print(f"  {name} batch {B:6d}: surrogate {1e3 * t['min_s']:9.2f} ms"
                  + (f", solver {1e3 * row['solver']['min_s']:9.2f} ms -> "
                     f"{row['speedup']:.0f}x" if "speedup" in row else "")
                  + f" (compile {t['compile_s']:.1f} s)", flush=True)
        # Training steps per second: batch 256 (2 in smoke), 4 macro steps of rollout.
        Bt, R = (2, 2) if smoke else (256, 4)
        if budget.left() < 30:
            res["training"] = {"skipped": f"{budget.left():.0f} s left"}
            continue
        tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-3, weight_decay=1e-4))
        step = jax.jit(make_train_step(graphdef, norm, tx))
        T0, u, p = inputs(Bt)
        uR = jnp.asarray(np.broadcast_to(np.asarray(u)[:, :1], (Bt, R, *u.shape[2:])))
        targets = jnp.broadcast_to(T0[:, None], (Bt, R, *cfg.cells)) + 1.0
        batch = {"state": T0, "inputs": uR, "params": p, "targets": targets}
        opt_state = tx.init(state)
        t = timed(step, (state, opt_state, batch), repeats=3 if smoke else 10)
        res["training"] = {"batch": Bt, "rollout_steps": R, "steps_per_s": 1.0 / t["min_s"], **t}
        print(f"  {name} training: {res['training']['steps_per_s']:.1f} steps/s "
              f"(batch {Bt}, rollout {R}; compile {t['compile_s']:.1f} s)", flush=True)
    return out


# ---------------------------------------------------------------- 6. twin


def twin(smoke: bool, budget: Budget) -> list[dict[str, Any]]:
    from benchmarks.bench_twin import bench_cycle
    from steeltwin.engine.twin import PhysicsPropagator

    rows: list[dict[str, Any]] = []
    sizes = [1] if smoke else [1, 30, 1000, 10000]
    for dtype in ("float32",) if smoke else ("float64", "float32"):
        prop = PhysicsPropagator(cells=24, step_seconds=30.0, n_knots=2, dt=30.0, dtype=dtype)

        def run_one(slabs: int, prop: Any = prop, dtype: str = dtype) -> dict[str, Any]:
            reps = 3 if smoke else (50 if slabs <= 30 else 10)
            t0 = time.perf_counter()
            r = bench_cycle(prop, slabs, 64, reps)
            row = {"slabs": slabs, "members": 64, "dtype": dtype, "cycle_s": 30.0,
                   "min_s": r["min_ms"] / 1e3, "p50_s": r["p50_ms"] / 1e3, **r,
                   "wall_with_compile_s": time.perf_counter() - t0}
            print(f"  twin {dtype} {slabs:6d} slabs x 64: p50 {r['p50_ms']:9.3f} ms, "
                  f"p99 {r['p99_ms']:9.3f} ms", flush=True)
            return row

        rows += _sweep(sizes, budget, run_one, key="p50_s")
    rows += _twin_analysis([1] if smoke else [1000, 10000], budget)
    return rows


def _twin_analysis(sizes: Sequence[int], budget: Budget) -> list[dict[str, Any]]:
    """The ETKF analysis alone (64 members, 24 cells + 3 parameters, 2 readings), vmapped over
    slabs: how much of a cycle is the analysis rather than the forecast."""
    from steeltwin.engine.twin import enkf_update

    rng = np.random.default_rng(0)
    obs, std, valid = jnp.asarray([1001.0, 999.0]), jnp.asarray([5.0, 5.0]), jnp.asarray(
        [True, True])
    fn = jax.jit(jax.vmap(lambda X, Y, k: enkf_update(X, Y, obs, std, valid, k)))
    rows = []
    for n in sizes:
        if budget.left() < 20:
            break
        X = jnp.asarray(1000 + 20 * rng.standard_normal((n, 64, 27)))
        Y = jnp.asarray(1000 + 20 * rng.standard_normal((n, 64, 2)))
        keys = jax.random.split(jax.random.PRNGKey(0), n)
        t = timed(fn, (X, Y, keys), repeats=10)
        rows.append({"slabs": n, "members": 64, "dtype": "float64", "analysis_only": True, **t})
        print(f"  twin analysis only {n:6d} slabs x 64: {1e3 * t['min_s']:.3f} ms", flush=True)
    return rows


# ---------------------------------------------------------------- 7. stress


def stress(smoke: bool, budget: Budget) -> list[dict[str, Any]]:
    from benchmarks.bench_stress import SIZE, _field
    from steeltwin import engine as E
    from steeltwin.engine._stress_material import carbon_steel_mechanical
    from steeltwin.engine._stress_section import _section_elastic_jit

    mat = carbon_steel_mechanical("S355")

    def run_one(n: int) -> dict[str, Any]:
        grid = E.box_grid((SIZE, SIZE), (n, n))
        T = jnp.asarray(_field(n))
        fn = jax.jit(lambda T: _section_elastic_jit(T, grid, mat, "generalized"))
        t = timed(fn, (T,), repeats=1 if n >= 256 else 3, budget_s=0.0)
        res = fn(T)
        row = {"n": n, "cells": n * n, "cg_iterations": int(res.iterations),
               "cg_residual": float(res.residual), **t}
        print(f"  stress elastic {n:5d}^2: {1e3 * t['min_s']:10.1f} ms, CG {row['cg_iterations']}"
              f" it (compile {t['compile_s']:.1f} s)", flush=True)
        return row

    sizes = [8] if smoke else [64, 128, 256, 512, 1024]
    # Jacobi-PCG: iterations ~ n, work per iteration ~ n^2, so time ~ n^3.
    return _sweep(sizes, budget, run_one, power=3.0)


# ---------------------------------------------------------------- driver


SECTIONS = ("bandwidth", "stencil", "slab", "billet", "twin", "surrogate", "stress")


def run(smoke: bool, out_dir: Path, deadline_s: float, call_cap_s: float,
        sections: Sequence[str] = SECTIONS, merge: bool = False,
        solver_batches: Sequence[int] = (1, 4096, 65536)) -> Path:
    """Run ``sections`` and write the result file; with ``merge``, the sections of an
    existing file that this run does not redo are kept (each section names its commit)."""
    start = time.perf_counter()
    budget = Budget(start + deadline_s, call_cap_s, tuple(solver_batches))
    gpu = jax.default_backend() in ("gpu", "cuda")
    result: dict[str, Any] = {**header(smoke), "deadline_s": deadline_s,
                              "call_cap_s": call_cap_s, "sections": {}}
    plat = "cuda" if gpu else jax.default_backend()
    path = out_dir / f"hotpaths_{plat}{'_smoke' if smoke else ''}.json"
    out_dir.mkdir(parents=True, exist_ok=True)
    if merge and path.exists():
        old = json.loads(path.read_text())
        result["sections"] = {k: {"commit": old["commit"], "date": old["date"], **v}
                              for k, v in old["sections"].items() if k not in sections}
    roof = None
    for name in sections:
        if budget.left() <= 0:
            result["sections"][name] = {"skipped": "deadline reached"}
            continue
        t0 = time.perf_counter()
        print(f"[{time.perf_counter() - start:6.1f} s] {name}", flush=True)
        try:
            if name == "bandwidth":
                res: Any = bandwidth(smoke, gpu)
                roof = res["roof_gbps"]
            elif name == "stencil":
                res = stencil(smoke, roof or bandwidth(smoke, gpu)["roof_gbps"], budget)
            else:
                res = globals()[name](smoke, budget)
            result["sections"][name] = {"result": res, "wall_s": time.perf_counter() - t0,
                                        "commit": result["commit"], "date": result["date"],
                                        # other jobs on the machine show here (1-min mean)
                                        "load_average_end": os.getloadavg()[0]}
        except Exception as exc:  # one broken section must not cost the rest of the lease
            traceback.print_exc()
            result["sections"][name] = {"error": f"{type(exc).__name__}: {exc}",
                                        "traceback": traceback.format_exc()[-4000:],
                                        "wall_s": time.perf_counter() - t0}
        result["total_wall_s"] = time.perf_counter() - start
        path.write_text(json.dumps(result, indent=1, default=float) + "\n")
    print(f"[{time.perf_counter() - start:6.1f} s] wrote {path}", flush=True)
    return path


# ---------------------------------------------------------------- table


def _fmt_rate(v: float | None, unit: str = "") -> str:
    if v is None:
        return "–"
    for scale, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(v) >= scale:
            return f"{v / scale:.3g}{suffix}{unit}"
    return f"{v:.3g} {unit}".rstrip()


def _ms(seconds: float) -> str:
    return f"{seconds:.3g} s" if seconds >= 1 else f"{1e3 * seconds:.3g} ms"


def _times(x: float) -> str:
    return f"{x:.0f}×" if x >= 100 else f"{x:.2g}×"


def _rows_by(res: dict[str, Any], section: str) -> Any:
    sec = res.get("sections", {}).get(section, {})
    return sec.get("result")


def table(cpu: dict[str, Any] | None, cuda: dict[str, Any] | None) -> str:
    """The CPU and CUDA columns side by side (markdown)."""
    cols = [("CPU", cpu), ("CUDA", cuda)]

    def head(r: dict[str, Any] | None) -> str:
        if r is None:
            return "not run"
        dev = r.get("gpu") or r.get("cpu")
        return f"{dev}, jax {r['jax']}, commit {str(r['commit'])[:10]}"

    lines = [f"| hot path | {' | '.join(f'{n} ({head(r)})' for n, r in cols)} |",
             "| --- | --- | --- |"]

    def row(label: str, get: Callable[[dict[str, Any]], str]) -> None:
        cells = []
        for _, r in cols:
            try:
                cells.append(get(r) if r is not None else "–")
            except (KeyError, TypeError, IndexError, StopIteration, ValueError):
                cells.append("–")
        lines.append(f"| {label} | {' | '.join(cells)} |")

    row("memory bandwidth (best of scale/triad)",
        lambda r: f"{_rows_by(r, 'bandwidth')['roof_gbps']:.0f} GB/s")
    for shape, dtype in (("4096x4096", "float32"), ("4096x4096", "float64"),
                         ("256x256x256", "float32"), ("256x256x256", "float64")):
        def get(r: dict[str, Any], shape: str = shape, dtype: str = dtype) -> str:
            s = next(x for x in _rows_by(r, "stencil") if not x.get("bare")
                     and "x".join(map(str, x["shape"])) == shape and x["dtype"] == dtype)
            return (f"{_fmt_rate(s['cell_updates_per_s'], 'cell/s')}, "
                    f"{100 * s['roof_fraction']:.0f} % of roof")
        row(f"explicit stencil {shape} {dtype}", get)
    row("bare jnp 5-point stencil 4096x4096 float32 (XLA's ceiling)",
        lambda r: "{:.0f} % of roof".format(100 * next(
            x for x in _rows_by(r, "stencil") if x.get("bare"))["roof_fraction"]))
    for section, label, sizes in (("slab", "1D slab passages/s (case b, ≤ 1 K)",
                                   (1, 256, 4096, 65536)),
                                  ("billet", "2D billet passages/s (case a, ≤ 1 K)",
                                   (1, 256, 4096))):
        for B in sizes:
            def get(r: dict[str, Any], section: str = section, B: int = B) -> str:
                s = next(x for x in _rows_by(r, section)["rows"] if x.get("batch") == B)
                if "skipped" in s:
                    return "skipped (budget)"
                return _fmt_rate(s["passages_per_s"], "/s")
            row(f"{label}, batch {B}", get)
    for name in SURROGATES:
        for B in (1, 65536):
            def get(r: dict[str, Any], name: str = name, B: int = B) -> str:
                s = next(x for x in _rows_by(r, "surrogate")[name]["rows"]
                         if x.get("batch") == B)
                if "skipped" in s:
                    return "skipped (budget)"
                txt = _ms(s["surrogate"]["min_s"])
                if "speedup" in s:
                    txt += f", {_times(s['speedup'])} the solver"
                return txt
            row(f"surrogate {name} passage, batch {B}", get)
        row(f"surrogate {name} training steps/s",
            lambda r, name=name: f"{_rows_by(r, 'surrogate')[name]['training']['steps_per_s']:.1f}")
    for dtype in ("float64", "float32"):
        for slabs in (1, 30, 1000, 10000):
            def get(r: dict[str, Any], dtype: str = dtype, slabs: int = slabs) -> str:
                s = next(x for x in _rows_by(r, "twin") if not x.get("analysis_only")
                         and x.get("slabs", x.get("size")) == slabs
                         and x.get("dtype", dtype) == dtype)
                if "skipped" in s:
                    return "skipped (budget)"
                return f"p50 {_ms(s['p50_ms'] / 1e3)}, p99 {_ms(s['p99_ms'] / 1e3)}"
            row(f"twin cycle {slabs} slabs × 64, {dtype}", get)
    for slabs in (1000, 10000):
        row(f"of which the ETKF analysis alone, {slabs} slabs, float64",
            lambda r, slabs=slabs: _ms(next(
                x for x in _rows_by(r, "twin")
                if x.get("analysis_only") and x["slabs"] == slabs)["min_s"]))
    for n in (128, 256, 1024):
        def get(r: dict[str, Any], n: int = n) -> str:
            s = next(x for x in _rows_by(r, "stress") if x.get("n", x.get("size")) == n)
            if "skipped" in s:
                return "skipped (budget)"
            return f"{_ms(s['min_s'])} ({s['cg_iterations']} CG it)"
        row(f"elastic stress {n}²", get)
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (the test suite's check)")
    ap.add_argument("--out", default=str(RESULTS), help="folder for hotpaths_<platform>.json")
    ap.add_argument("--deadline-s", type=float, default=420.0,
                    help="stop starting new work after this many seconds")
    ap.add_argument("--call-cap-s", type=float, default=20.0,
                    help="skip sizes whose one timed call would take longer")
    ap.add_argument("--sections", default=",".join(SECTIONS),
                    help=f"comma-separated subset of {','.join(SECTIONS)}")
    ap.add_argument("--solver-batches", default="1,4096,65536",
                    help="batches at which the surrogate section also times the solver")
    ap.add_argument("--merge", action="store_true",
                    help="keep the existing file's other sections (a rerun of a subset)")
    ap.add_argument("--table", action="store_true",
                    help="write hotpaths.md from hotpaths_cpu.json and hotpaths_cuda.json")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.table:
        load = lambda p: json.loads(p.read_text()) if p.exists() else None  # noqa: E731
        md = table(load(out / "hotpaths_cpu.json"), load(out / "hotpaths_cuda.json"))
        (out / "hotpaths.md").write_text(md)
        print(md)
        return
    if args.smoke:  # tiny sizes check code paths, not speed: compile fast (-25 % wall)
        jax.config.update("jax_disable_most_optimizations", True)
    sections = [s for s in args.sections.split(",") if s]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        sys.exit(f"--sections: unknown {', '.join(unknown)}; expected some of "
                 f"{', '.join(SECTIONS)}")
    run(args.smoke, out, args.deadline_s, args.call_cap_s, sections, args.merge,
        [int(b) for b in args.solver_batches.split(",") if b])


if __name__ == "__main__":
    main()
