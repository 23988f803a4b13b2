"""The twin experiment: a "true" slab the twin does not know, noisy pyrometers, the estimate.

The truth is the physics solver on a finer discretisation (48 cells, dt 10 s, 4 quasi-Newton
iterations; the twin uses 24 cells and 30 s steps, so the twin's model is not the truth's)
with exchange factors off by ``exchange_error`` (default -15 %) and an initial temperature off
by ``initial_error`` (+30 K) against the nominal scenario the twin starts from. Readings: top
and bottom pyrometers every ``interval`` s, Gaussian noise ``sigma`` (5 K), a share
``dropout`` missing, and ``outliers`` gross errors of +-150 K. The twin assimilates them live
(one cycle per reading time); the same model run open loop (nominal parameters, no readings)
is the reference. Reported: centre-temperature RMSE after ``skip`` s for the twin and open
loop, the estimated exchange factors at discharge, the share of (time, cell) points whose
true temperature lies within the twin's +-2 sigma band, and which outliers were rejected.

``python -m steeltwin.engine.twin.experiment [--out F.json] [--csv readings.csv]`` runs it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._boundary import FurnaceZone, furnace_boundary
from .._geometry import slab_grid
from .._schemes import crank_nicolson
from .._solve import Scenario, solve
from .._steels import carbon_steel
from ._measurements import Reading, make_reading
from ._predict import centre_of, predict, resample
from ._propagator import AbstractPropagator, PhysicsPropagator, build_propagator
from ._twin import Twin, TwinConfig

ZONES = (FurnaceZone("preheat", 1000.0, 3000.0, 0.6, 0.5),
         FurnaceZone("heating_1", 1200.0, 2700.0, 0.6, 0.5),
         FurnaceZone("heating_2", 1280.0, 2700.0, 0.6, 0.5),
         FurnaceZone("soak", 1250.0, 2400.0, 0.6, 0.5))


def slab_scenario(zones: Sequence[FurnaceZone] = ZONES, thickness: float = 0.22,
                  cells: int = 24, initial_C: float = 25.0, exchange_scale: float = 1.0,
                  ramp_time: float = 300.0) -> Scenario:
    """A carbon-steel slab charged at ``initial_C`` through ``zones`` (exchange factors times
    ``exchange_scale``)."""
    zs = [dataclasses.replace(z, exchange_factor_top=z.exchange_factor_top * exchange_scale,
                              exchange_factor_bottom=z.exchange_factor_bottom * exchange_scale)
          for z in zones]
    return Scenario(grid=slab_grid(thickness, cells), material=carbon_steel(),
                    boundary=furnace_boundary(zs, ndim=1, ramp_time=ramp_time),
                    initial_temperature=jnp.asarray(initial_C + 273.15))


def truth_run(exchange_error: float = -0.15, initial_error: float = 30.0,
              interval: float = 30.0, zones: Sequence[FurnaceZone] = ZONES) -> dict[str, Any]:
    """The true slab: fields (48 cells), face temperatures and the times (s)."""
    sc = slab_scenario(zones, cells=48, initial_C=25.0 + initial_error,
                       exchange_scale=1.0 + exchange_error)
    t_end = sum(z.duration for z in zones)
    n_steps = round(t_end / 10.0)
    tr = solve(sc, 10.0, n_steps, round(interval / 10.0), crank_nicolson(4))
    return {"times": np.asarray(tr.times), "temperature": np.asarray(tr.temperature),
            "surface": np.asarray(tr.surface_temperature), "scenario": sc}


def synthetic_readings(truth: dict[str, Any], sigma: float = 5.0, dropout: float = 0.1,
                       outliers: int = 6, seed: int = 0) -> tuple[list[Reading], set[str]]:
    """Pyrometer readings (degC, as a plant would send them) and the ids of the outliers."""
    rng = np.random.default_rng(seed)
    out, bad = [], set()
    times, surf = truth["times"], truth["surface"]
    n = len(times) - 1
    gross = set(rng.choice(np.arange(1, n + 1) * 2, size=outliers, replace=False).tolist())
    for i in range(1, n + 1):
        for face, sensor in ((0, "pyrometer_bottom"), (1, "pyrometer_top")):
            if rng.random() < dropout:
                continue
            v = surf[i, face] + sigma * rng.standard_normal()
            rid = f"{sensor}-{i:05d}"
            if 2 * i + face in gross:
                v += 150.0 * rng.choice([-1.0, 1.0])
                bad.add(rid)
            out.append(make_reading(rid, float(times[i]), sensor, float(v - 273.15), "degC"))
    return out, bad


def run_experiment(propagator: AbstractPropagator | None = None,
                   config: TwinConfig | None = None, skip: float = 1800.0,
                   exchange_error: float = -0.15, initial_error: float = 30.0,
                   seed: int = 0, reading_interval: float = 30.0) -> dict[str, Any]:
    """Run the twin experiment; returns the figures (K, s, shares) and the time series.

    Pyrometers read every ``reading_interval`` s whatever the propagator's step; the state
    figures are taken at the ends of the twin's cycles (where its estimate lives)."""
    prop = propagator or PhysicsPropagator(cells=24, step_seconds=30.0, n_knots=2, dt=30.0)
    cfg = config or TwinConfig(seed=seed)
    truth = truth_run(exchange_error, initial_error, interval=reading_interval)
    readings, outlier_ids = synthetic_readings(truth, seed=seed)
    nominal = slab_scenario(cells=prop.cells)
    twin = Twin(nominal, prop, cfg)
    by_time: dict[float, list[Reading]] = {}
    for r in readings:
        by_time.setdefault(r.time, []).append(r)
    times = truth["times"][1:]
    means, stds, scales, at = [], [], [], []
    wall = time.perf_counter()
    for i, t in enumerate(times):
        rs = by_time.get(float(t), [])
        if rs:
            twin.assimilate(rs)
        if twin.time < t - 1e-9:
            twin.advance_to(float(t))
        if abs(twin.time - t) > 1e-6:  # t inside a cycle: the estimate is at its end
            continue
        at.append(i)
        means.append(twin.fields.mean(0))
        stds.append(twin.fields.std(0))
        scales.append(np.exp(twin.augmented[:, :2]).mean(0))
    wall = time.perf_counter() - wall
    mean, std = np.array(means), np.array(stds)
    times = times[at]
    true_T = resample(truth["temperature"][1:][at], prop.cells)
    open_loop = predict(prop, nominal, times).temperature[0]
    after = times > skip
    c_true = centre_of(true_T)

    def rmse(x: np.ndarray) -> float:
        return float(np.sqrt(np.mean((x[after] - c_true[after]) ** 2)))

    twin_rmse, open_rmse = rmse(centre_of(mean)), rmse(centre_of(open_loop))
    inside = np.abs(mean - true_T) <= 2.0 * std
    est = scales[-1]
    true_scale = 1.0 + exchange_error
    rejected = set(twin.log.rejected)
    return {
        "propagator": type(prop).__name__, "dtype": str(prop.dtype), "members": cfg.members,
        "method": cfg.method,
        "cycle_s": prop.step_seconds, "readings": len(readings), "outliers": len(outlier_ids),
        "outliers_rejected": len(outlier_ids & rejected),
        "good_readings_rejected": len(rejected - outlier_ids),
        "centre_rmse_after_K": twin_rmse, "open_loop_centre_rmse_after_K": open_rmse,
        "improvement": open_rmse / twin_rmse, "skip_s": skip,
        "exchange_scale_estimate": est.tolist(), "exchange_scale_true": true_scale,
        "exchange_factor_error": (np.abs(est - true_scale) / true_scale).tolist(),
        "initial_offset_estimate_K": float(twin.augmented[:, 2].mean()),
        "initial_offset_true_K": initial_error,
        "coverage_2sigma_field": float(inside[after].mean()),
        "coverage_2sigma_centre": float(np.mean(np.abs(centre_of(mean) - c_true)[after]
                                                <= 2.0 * centre_of(std)[after])),
        "discharge_centre_error_K": float(centre_of(mean)[-1] - c_true[-1]),
        "discharge_centre_std_K": float(centre_of(std)[-1]),
        "wall_s": wall, "cycles": twin.cycle,
        "series": {"times": times, "mean": mean, "std": std, "truth": true_T,
                   "open_loop": open_loop, "scales": np.array(scales)},
        "twin": twin, "readings_list": readings,
    }


def write_csv(readings: Sequence[Reading], path: str | Path) -> None:
    """Readings as a measurement CSV (time s, sensor, value, unit, id)."""
    lines = ["time,sensor,value,unit,id"]
    lines += [f"{r.time:g},{r.sensor},{r.raw_value:.2f},{r.raw_unit},{r.id}" for r in readings]
    Path(path).write_text("\n".join(lines) + "\n")


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    ap.add_argument("--csv", default=None, help="write the synthetic readings as CSV here")
    ap.add_argument("--members", type=int, default=64)
    ap.add_argument("--method", default="etkf")
    ap.add_argument("--dtype", default="float64", choices=("float64", "float32"),
                    help="the members' precision (the truth is always float64)")
    ap.add_argument("--model", default=None,
                    help="a steeltwin-train run: the twin runs on that surrogate (its 600 s "
                         "macro step is the cycle) instead of the physics solver")
    ap.add_argument("--propagator", default="surrogate", choices=("surrogate", "guarded"),
                    help="with --model: the surrogate alone or guarded by physics")
    args = ap.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    if args.model:
        prop = build_propagator({"kind": args.propagator, "model": args.model})
    else:
        prop = PhysicsPropagator(cells=24, step_seconds=30.0, n_knots=2, dt=30.0,
                                 dtype=args.dtype)
    res = run_experiment(prop, config=TwinConfig(members=args.members, method=args.method))
    figures = {k: v for k, v in res.items() if k not in ("series", "twin", "readings_list")}
    print(json.dumps(figures, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")
    if args.csv:
        write_csv(res["readings_list"], args.csv)


if __name__ == "__main__":
    main()
