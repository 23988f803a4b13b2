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

from .._boundary import FurnaceZone, furnace_boundary, schedule_boundary
from .._geometry import slab_grid
from .._schemes import crank_nicolson
from .._solve import Scenario, solve
from .._steels import carbon_steel
from ._measurements import Reading, make_reading
from ._predict import centre_of, predict, resample
from ._propagator import AbstractPropagator, PhysicsPropagator, build_propagator
from ._slab import member_exchange
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
        scales.append(twin.exchange_estimate()["scale"])
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


# -- the twin experiment matrix --------------------------------------------------------------
# A 210-min passage of 4 segments (s, gas degC at its start, at its end): linear ramps inside
# the first two, a step down from 1280 to 1250 degC into the soak.
SEGMENTS = ((3000.0, 900.0, 1150.0), (3600.0, 1150.0, 1280.0), (3000.0, 1280.0, 1280.0),
            (3000.0, 1250.0, 1250.0))
# Nominal (bottom, top) exchange factors the twin assumes, and the truth, per case.
PHI_CASES = {"below": ((0.5, 0.6), (0.425, 0.51)),     # truth 15 % below nominal
             "above": ((0.5, 0.6), (0.575, 0.69)),     # truth 15 % above nominal
             "near_one": ((0.85, 0.85), (0.97, 0.97))}  # truth near 1: the old clip's case
SENSOR_SETS = {"top": ("pyrometer_top",), "both": ("pyrometer_bottom", "pyrometer_top"),
               "top_tc": ("pyrometer_top", "thermocouple")}
THERMOCOUPLE_DEPTH = 0.11  # m below the top face: mid-depth of the 220 mm slab


def passage_scenario(phi: Sequence[float], cells: int = 24, initial_C: float = 25.0,
                     segments: Sequence[tuple[float, float, float]] = SEGMENTS,
                     thickness: float = 0.22) -> Scenario:
    """A carbon-steel slab through ``segments`` (ramps within, steps between) with exchange
    factors ``phi`` (bottom, top), built with the public ``schedule_boundary``."""
    times, gas = [], []
    t = 0.0
    for duration, start, end in segments:
        times += [t, t + duration]
        gas += [start + 273.15, end + 273.15]
        t += duration
    g = np.array([gas, gas])
    phis = np.array(phi, float)[:, None] * np.ones_like(g)
    return Scenario(grid=slab_grid(thickness, cells), material=carbon_steel(),
                    boundary=schedule_boundary(times, g, np.zeros_like(g), phis),
                    initial_temperature=jnp.asarray(initial_C + 273.15))


def plant_readings(truth: dict[str, Any], sensors: Sequence[str], seed: int = 0,
                   pyrometer_std: float = 5.0, thermocouple_std: float = 2.0,
                   dropout: float = 0.1, outliers: int = 6) -> tuple[list[Reading], set[str]]:
    """Readings as a plant sends them: noise, dropouts, ``outliers`` gross errors (+-150 K,
    pyrometers), and a few in K and degF among the degC ones. Returns them and the outliers'
    ids."""
    rng = np.random.default_rng(seed)
    times, surf, T = truth["times"], truth["surface"], truth["temperature"]
    n_cells = T.shape[1]
    centres = (np.arange(n_cells) + 0.5) / n_cells * truth["thickness"]
    z_tc = truth["thickness"] - THERMOCOUPLE_DEPTH
    pyros = [(i, s) for i in range(1, len(times)) for s in sensors if s.startswith("pyro")]
    gross = {pyros[j] for j in rng.choice(len(pyros), size=outliers, replace=False)}
    out, bad = [], set()
    for i in range(1, len(times)):
        for sensor in sensors:
            if rng.random() < dropout:
                continue
            if sensor == "thermocouple":
                v = float(np.interp(z_tc, centres, T[i])) + thermocouple_std * \
                    rng.standard_normal()
            else:
                v = surf[i, 0 if sensor == "pyrometer_bottom" else 1] + \
                    pyrometer_std * rng.standard_normal()
            rid = f"{sensor}-{i:05d}"
            if (i, sensor) in gross:
                v += 150.0 * rng.choice([-1.0, 1.0])
                bad.add(rid)
            unit, value = "degC", v - 273.15
            if i % 53 == 0:
                unit, value = "K", v
            elif i % 71 == 0:
                unit, value = "degF", (v - 273.15) * 1.8 + 32.0
            depth = THERMOCOUPLE_DEPTH if sensor == "thermocouple" else None
            out.append(make_reading(rid, float(times[i]), sensor, float(value), unit, depth))
    return out, bad


def run_case(sensors: str = "top", phi_case: str = "below", offset: float = 30.0,
             propagator: AbstractPropagator | None = None, config: TwinConfig | None = None,
             segments: Sequence[tuple[float, float, float]] = SEGMENTS, skip: float = 1800.0,
             seed: int = 0, interval: float = 30.0) -> dict[str, Any]:
    """One cell of the twin experiment matrix; returns its figures (K, shares, factors).

    The truth: the physics solver on 48 cells with dt 10 s and 4 iterations (the twin: 24
    cells, 30 s), the true exchange factors of ``phi_case`` and a charging temperature
    ``offset`` K off the nominal 25 degC. The twin: the nominal scenario, ``config`` (default
    ``TwinConfig()``), readings of ``sensors`` every ``interval`` s."""
    nominal_phi, true_phi = PHI_CASES[phi_case]
    prop = propagator or PhysicsPropagator(cells=24, step_seconds=30.0, n_knots=2, dt=30.0)
    cfg = config or TwinConfig(seed=seed)
    true_sc = passage_scenario(true_phi, cells=48, initial_C=25.0 + offset, segments=segments)
    t_end = float(true_sc.boundary.times[-1])
    tr = solve(true_sc, 10.0, round(t_end / 10.0), round(interval / 10.0), crank_nicolson(4))
    truth: dict[str, Any] = {"times": np.asarray(tr.times),
                             "temperature": np.asarray(tr.temperature),
                             "surface": np.asarray(tr.surface_temperature), "thickness": 0.22}
    readings, outlier_ids = plant_readings(truth, SENSOR_SETS[sensors], seed=seed)
    nominal = passage_scenario(nominal_phi, cells=prop.cells, segments=segments)
    twin = Twin(nominal, prop, cfg)
    by_time: dict[float, list[Reading]] = {}
    for r in readings:
        by_time.setdefault(r.time, []).append(r)
    times = truth["times"][1:]
    means, centre_sd, at = [], [], []
    wall = time.perf_counter()
    for i, t in enumerate(times):
        if by_time.get(float(t)):
            twin.assimilate(by_time[float(t)])
        if twin.time < t - 1e-9:
            twin.advance_to(float(t))
        if abs(twin.time - t) > 1e-6:
            continue
        at.append(i)
        means.append(twin.fields.mean(0))
        centre_sd.append(float(centre_of(twin.fields).std()))
    wall = time.perf_counter() - wall
    times = times[at]
    mean, c_sd = np.array(means), np.array(centre_sd)
    c_true = centre_of(resample(truth["temperature"][1:][at], prop.cells))
    c_open = centre_of(predict(prop, nominal, times).temperature[0])
    after = times > skip

    def rmse(c: np.ndarray) -> float:
        return float(np.sqrt(np.mean((c[after] - c_true[after]) ** 2)))

    est = twin.exchange_estimate(np.array(nominal_phi))
    faces = {}
    observed = {"bottom": "pyrometer_bottom" in SENSOR_SETS[sensors],
                "top": "pyrometer_top" in SENSOR_SETS[sensors]}
    for j, face in enumerate(("bottom", "top")):
        prior = twin.spread[0, j]
        lo, hi = (member_exchange(nominal_phi[j], k * prior) for k in (-2.0, 2.0))
        factor = float(est["factor"][j])
        faces[face] = {"observed": observed[face], "nominal": nominal_phi[j],
                       "true": true_phi[j], "estimate": factor,
                       "interval": (est["interval"][:, j] * nominal_phi[j]).tolist(),
                       "error": abs(factor - true_phi[j]) / true_phi[j],
                       "prior_interval": [float(lo), float(hi)],
                       "inside_prior": bool(lo <= factor <= hi and 0 < factor <= 1)}
    z = twin.augmented[:, 2]
    rejected = set(twin.log.rejected)
    c_mean = centre_of(mean)
    return {
        "sensors": sensors, "phi_case": phi_case, "offset_K": offset,
        "centre_rmse_after_K": rmse(c_mean), "open_loop_centre_rmse_after_K": rmse(c_open),
        "improvement": rmse(c_open) / rmse(c_mean),
        "faces": faces,
        "initial_offset_estimate_K": float(z.mean()), "initial_offset_std_K": float(z.std()),
        "offset_within_2sigma": bool(abs(z.mean() - offset) <= 2.0 * z.std()),
        "coverage_2sigma_centre": float(np.mean(np.abs(c_mean - c_true)[after]
                                                <= 2.0 * c_sd[after])),
        "median_centre_std_K": float(np.median(c_sd[after])),
        "readings": len(readings), "outliers": len(outlier_ids),
        "outliers_rejected": len(outlier_ids & rejected),
        "good_readings_rejected": len(rejected - outlier_ids),
        "wall_s": wall, "cycles": twin.cycle,
    }


def run_matrix(config: TwinConfig | None = None, **kw: Any) -> list[dict[str, Any]]:
    """Every cell: sensors x truth phi x charging offset (3 x 3 x 2)."""
    return [run_case(sensors, phi_case, offset, config=config, **kw)
            for sensors in SENSOR_SETS for phi_case in PHI_CASES for offset in (-30.0, 30.0)]


def matrix_table(rows: Sequence[dict[str, Any]]) -> str:
    """The matrix as a Markdown table."""
    out = ["| sensors | truth phi | offset K | centre RMSE K | open loop K | x better | "
           "phi bottom (err) | phi top (err) | offset est +- sd | cover 2 sd | median sd K | "
           "outliers rej | good rej |", "|" + " --- |" * 13]
    for r in rows:
        f = [f"{v['estimate']:.3f} ({100 * v['error']:.1f} %{'' if v['observed'] else ', unobs'})"
             for v in r["faces"].values()]
        out.append(f"| {r['sensors']} | {r['phi_case']} | {r['offset_K']:+.0f} | "
                   f"{r['centre_rmse_after_K']:.2f} | {r['open_loop_centre_rmse_after_K']:.1f} | "
                   f"{r['improvement']:.1f} | {f[0]} | {f[1]} | "
                   f"{r['initial_offset_estimate_K']:+.1f} +- {r['initial_offset_std_K']:.1f} | "
                   f"{r['coverage_2sigma_centre']:.2f} | {r['median_centre_std_K']:.2f} | "
                   f"{r['outliers_rejected']}/{r['outliers']} | {r['good_readings_rejected']} |")
    return "\n".join(out)


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
    ap.add_argument("--matrix", action="store_true",
                    help="run the experiment matrix (sensors x truth phi x charging offset) "
                         "with the default TwinConfig; --out gets the JSON, a .md beside it "
                         "the table")
    args = ap.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    if args.matrix:
        wall = time.perf_counter()
        rows = run_matrix(TwinConfig(members=args.members, method=args.method))
        table = matrix_table(rows)
        print(table)
        if args.out:
            doc = {"config": dataclasses.asdict(TwinConfig(members=args.members,
                                                           method=args.method)),
                   "propagator": "physics, 24 cells, 30 s cycle (truth: 48 cells, 10 s)",
                   "segments_s_degC": SEGMENTS, "phi_cases": PHI_CASES,
                   "wall_s": time.perf_counter() - wall, "cells": rows}
            Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
            Path(args.out).with_suffix(".md").write_text(table + "\n")
        return
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
