"""``run_replay``: replay a measurement file through a twin and write the estimate.

The config (``conf/twin.yaml``) holds the simulate groups for the nominal scenario
(geometry, material, boundary, initial), the filter (``twin``), the propagator and the
measurement file. Everything is checked before the first cycle: the scenario (as for
``steeltwin-simulate``), the filter settings, the propagator (a surrogate's run directory
must exist), every row of the CSV. The readings are then assimilated in time order, one
cycle at a time as a plant would send them, and the estimate after every cycle goes to
``estimate.h5``; ``estimate.png`` shows the estimate +- 2 sigma against the readings.

``estimate.h5`` (schema ``steeltwin.twin_estimate`` v3; units on every dataset):
``times`` [n_c] s; ``field_mean``, ``field_std`` [n_c, cells] K; ``centre_mean`` [n_c] K and
``centre_std`` (the spread of the members' centre values; v2 held the mean of the two middle
cells' spreads); ``exchange_scale_median``, ``exchange_scale_std`` [n_c, 2] (bottom, top) and
``exchange_scale_interval`` [n_c, 2 (5 %, 95 %), 2] (v2: the members' mean, skewed);
``initial_offset_mean``/``_std`` [n_c] K; ``readings/{time, value, sensor, id, accepted,
reason}``; attrs ``config`` (YAML) and the final-state summary.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from steeltwin.engine import ConfigError
from steeltwin.engine.config import build_scenario, to_plain
from steeltwin.engine.io import atomic_file, plot_estimate, put, scale, strings, write_header
from steeltwin.engine.twin import (
    Twin,
    TwinConfig,
    build_propagator,
    centre_of,
    read_measurements_csv,
)

from ._run import check_precision

SCHEMA = "steeltwin.twin_estimate"
SCHEMA_VERSION = 3  # 2: dimension scales, strings as UTF-8, accepted as int8;
# 3: centre_std of the centre values, exchange scale as median + 5-95 % interval
def run_replay(cfg: DictConfig | Mapping[str, Any], output_dir: str | os.PathLike[str],
               plots: bool | None = None) -> dict[str, Any]:
    """Replay ``measurements.path`` through a twin of the config's scenario; write the files.

    Returns the final state summary (K, s) plus ``files``. Raises ``ConfigError`` (nothing
    computed, nothing written) for any bad value.
    """
    plain = to_plain(cfg)
    check_precision(str(plain.get("dtype", "float64")))
    notes: list[str] = []
    scenario = build_scenario(plain, notes)
    twin_cfg = TwinConfig(**plain["twin"])
    prop = build_propagator(plain["propagator"])
    m = plain.get("measurements", {})
    path = m.get("path")
    if not path or not Path(path).is_file():
        raise ConfigError(f"measurements.path={path!r} is invalid: expected a CSV file (time, "
                          "sensor, value, unit); check the path")
    readings = read_measurements_csv(path, t0=m.get("t0"), columns=m.get("columns") or None,
                                     sensors=m.get("sensors") or None)
    if readings.ignored_columns:
        notes.append(f"measurements: ignored the columns {', '.join(readings.ignored_columns)} "
                     "(not time, sensor, value, unit, id, depth, depth_unit)")
    if readings.ignored_tags:
        tags = ", ".join(f"{k} ({v} rows)" for k, v in sorted(readings.ignored_tags.items()))
        notes.append(f"measurements: skipped the tags {tags}, not in measurements.sensors")
    if not readings:
        raise ConfigError(f"measurements.path={path!r} is invalid: it holds no readings")
    twin = Twin(scenario, prop, twin_cfg, asset_id=Path(path).stem)
    c = twin.cycle_seconds
    by_cycle: dict[int, list[Any]] = {}
    for r in readings:
        by_cycle.setdefault(max(int(np.ceil(r.time / c - 1e-9)), 1), []).append(r)
    last = max(by_cycle)
    rows: dict[str, list[Any]] = {k: [] for k in ("times", "field_mean", "field_std", "scale",
                                                   "scale_std", "scale_interval", "offset",
                                                   "offset_std", "centre_std")}
    for k in range(1, last + 1):
        twin.assimilate(by_cycle.get(k, []))
        if twin.cycle < k:
            twin.advance_to(k * c)
        T, z = twin.fields, twin.augmented
        rows["times"].append(twin.time)
        rows["field_mean"].append(T.mean(0))
        rows["field_std"].append(T.std(0))
        est = twin.exchange_estimate()
        rows["scale"].append(est["scale"])
        rows["scale_std"].append(est["scale_std"])
        rows["scale_interval"].append(est["interval"])
        # The spread of the members' centre values (not the mean of two cells' spreads).
        rows["centre_std"].append(centre_of(T).std())
        rows["offset"].append(z[:, 2].mean())
        rows["offset_std"].append(z[:, 2].std())
    state = twin.state()
    arrays = {k: np.asarray(v) for k, v in rows.items()}
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = [_write(out / "estimate.h5", arrays, twin, readings, plain, state)]
    if plots if plots is not None else bool(plain.get("output", {}).get("plots", True)):
        files.append(plot_estimate(out / "estimate.png", arrays, readings,
                                   dict(twin.log.rejected), title=twin.asset_id))
    summary = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
    summary["exchange_scale"] = state["exchange_scale"].tolist()
    summary["rejected"] = len(state["rejected"])
    summary["cycles"] = twin.cycle
    summary["files"] = [str(f) for f in files]
    summary["warnings"] = notes
    return summary


def _write(path: Path, a: Mapping[str, np.ndarray], twin: Twin, readings: list[Any],
           plain: Mapping[str, Any], state: Mapping[str, Any]) -> Path:
    finals = {f"final_{k}": v for k, v in state.items() if isinstance(v, int | float | str)}
    with atomic_file(path) as f:
        write_header(f, SCHEMA, SCHEMA_VERSION, plain,
                     propagator=type(twin.propagator).__name__, **finals)
        times = scale(f, "times", a["times"], "s", "end of each assimilation cycle")
        cells = scale(f, "cells", np.arange(a["field_mean"].shape[1]), "1",
                      "cell index through the thickness, bottom to top")
        faces = scale(f, "faces", strings(["bottom", "top"]), "", "face groups")
        put(f, "field_mean", a["field_mean"], "K", dims=[times, cells])
        put(f, "field_std", a["field_std"], "K", dims=[times, cells])
        put(f, "centre_mean", centre_of(a["field_mean"]), "K", dims=[times])
        put(f, "centre_std", a["centre_std"], "K", dims=[times])
        put(f, "exchange_scale_median", a["scale"], "1", dims=[times, faces])
        bounds = scale(f, "quantiles", np.array([0.05, 0.95]), "1", "ensemble quantiles")
        put(f, "exchange_scale_interval", a["scale_interval"], "1",
            dims=[times, bounds, faces])
        put(f, "exchange_scale_std", a["scale_std"], "1", dims=[times, faces])
        put(f, "initial_offset_mean", a["offset"], "K", dims=[times])
        put(f, "initial_offset_std", a["offset_std"], "K", dims=[times])
        g = f.create_group("readings")
        rej = twin.log.rejected
        put(g, "time", [r.time for r in readings], "s")
        put(g, "value", [r.value for r in readings], "K")
        put(g, "sensor", strings([r.sensor for r in readings]), "")
        put(g, "id", strings([r.id for r in readings]), "")
        put(g, "accepted", np.array([r.id not in rej for r in readings], np.int8), "1")
        put(g, "reason", strings([rej.get(r.id, "") for r in readings]), "")
    return path


def state_json(state: Mapping[str, Any]) -> str:
    """A twin state as JSON (arrays as lists)."""
    return json.dumps({k: (v.tolist() if isinstance(v, np.ndarray) else v)
                       for k, v in state.items()}, indent=2)

