"""Twin benchmark: EnKF analysis and full assimilation cycles, physics- vs surrogate-driven.

- analysis only: one ETKF update of one slab (64 members, 24 cells + 3 parameters, 2
  pyrometer readings), p50/p99 over repeated calls;
- full cycle (forecast of every member + the analysis, one jitted call): 1, 30 and 1000
  slabs of 64 members, with the physics propagator (30 s cycle, one Crank-Nicolson step) with
  float64 members and with float32 members (``steeltwin-twin dtype=float32``: half the time; the
  error it adds is measured by ``python -m steeltwin.engine.twin.experiment --dtype float32``) and,
  when a trained model is given (``--model outputs/train/mlp_slab``), the surrogate (its 600 s
  macro step per cycle).

Timings are warm (compile excluded), ``block_until_ready``; writes
``benchmarks/results/twin_<platform>.json``.

    python -m benchmarks.bench_twin [--model outputs/train/mlp_slab] [--repeats 200]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from steeltwin.engine.twin import PhysicsPropagator, SurrogatePropagator, TwinConfig, enkf_update  # noqa: E402
from steeltwin.engine.twin._batch import compiled_cycle  # noqa: E402


def _times(fn, repeats: int) -> dict[str, float]:
    jax.block_until_ready(fn())
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        ts.append(time.perf_counter() - t)
    ts_ms = np.array(ts) * 1e3
    return {"p50_ms": float(np.percentile(ts_ms, 50)), "p99_ms": float(np.percentile(ts_ms, 99)),
            "min_ms": float(ts_ms.min())}


def bench_analysis(repeats: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    X = jnp.asarray(1000 + 20 * rng.standard_normal((64, 27)))
    Y = jnp.asarray(1000 + 20 * rng.standard_normal((64, 2)))
    f = jax.jit(lambda X, Y, k: enkf_update(X, Y, jnp.asarray([1001.0, 999.0]),
                                            jnp.asarray([5.0, 5.0]), jnp.asarray([True, True]),
                                            k))
    key = jax.random.PRNGKey(0)
    return _times(lambda: f(X, Y, key), repeats)


def bench_cycle(prop, slabs: int, members: int, repeats: int) -> dict[str, float]:
    cfg = TwinConfig(members=members)
    dt = prop.dtype
    cycle = compiled_cycle(prop, cfg, dt)  # the twin's own program (default TwinConfig)
    n = prop.cells
    T = jnp.full((slabs, members, n), 900.0, dt) + jnp.linspace(0, 10, members, dtype=dt)[:, None]
    z = jnp.zeros((slabs, members, 3), dt) + 0.01 * jnp.linspace(-1, 1, members, dtype=dt)[:, None]
    base = jnp.tile(jnp.asarray([1500.0, 0.6, 0.0], dt), (slabs, prop.n_knots, 2, 1))
    params = jnp.tile(jnp.asarray([0.22, 1.0, 1.0, 0.0], dt), (slabs, 1))
    m = 4
    obs = {"kind": jnp.tile(jnp.asarray([0, 1, 0, 0], jnp.int32), (slabs, 1)),
           "depth": jnp.zeros((slabs, m), dt), "weight": jnp.ones((slabs, m), dt),
           "value": jnp.full((slabs, m), 1000.0, dt), "std": jnp.full((slabs, m), 5.0, dt),
           "valid": jnp.tile(jnp.asarray([True, True, False, False]), (slabs, 1))}
    seeds = jnp.arange(slabs, dtype=jnp.uint32)
    ks = jnp.full((slabs,), 5, jnp.uint32)
    # Prior and walk std of (s_bottom, s_top, offset), as a Twin on a 0.6 schedule has them.
    spread = jnp.tile(jnp.asarray([[0.5, 0.5, 30.0], [0.005, 0.005, 0.0]], dt), (slabs, 1, 1))
    return _times(lambda: cycle(T, z, base, params, obs, seeds, ks, spread), repeats)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None, help="a steeltwin-train run directory")
    # 200: a p99 over 50 calls is their maximum, one scheduler hiccup (7.5 ms for a 0.2 ms call).
    ap.add_argument("--repeats", type=int, default=200)
    args = ap.parse_args()
    out = {"device": str(jax.devices()[0]), "platform": jax.default_backend(),
           "processor": platform.processor() or platform.machine(), "jax": jax.__version__,
           "analysis_1_slab_64": bench_analysis(args.repeats), "cycles": {}}
    props = {f"physics_{d}": PhysicsPropagator(cells=24, step_seconds=30.0, n_knots=2, dt=30.0,
                                               dtype=d) for d in ("float64", "float32")}
    if args.model:
        from steeltwin.models import load_surrogate

        props["surrogate"] = SurrogatePropagator(load_surrogate(args.model))
    for name, prop in props.items():
        for slabs in (1, 30, 1000):
            reps = args.repeats if slabs < 1000 else max(5, args.repeats // 10)
            r = bench_cycle(prop, slabs, 64, reps)
            r["cycle_s"] = prop.step_seconds
            out["cycles"][f"{name}_{slabs}"] = r
            print(f"{name:17s} {slabs:5d} slabs x 64: p50 {r['p50_ms']:8.2f} ms  p99 "
                  f"{r['p99_ms']:8.2f} ms  (cycle {prop.step_seconds:g} s)", flush=True)
    a = out["analysis_1_slab_64"]
    print(f"analysis only, 1 slab x 64: p50 {a['p50_ms']:.3f} ms p99 {a['p99_ms']:.3f} ms")
    path = Path(__file__).parent / "results" / f"twin_{jax.default_backend()}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
