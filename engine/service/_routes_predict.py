"""``POST /v1/predict``: fields and summaries of slabs through the service's model."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from fastapi import APIRouter

from steeltwin.engine import Scenario
from steeltwin.engine.twin import Prediction

from ._body import JsonRoute
from ._deps import Reader, ServiceDep
from ._predicting import PredictJob
from ._problems import RequestError
from ._scenario import residence, slab_scenario
from ._schemas import AssetPrediction, PredictRequest, PredictResponse
from ._units import from_kelvin, from_kelvin_difference, time_s

router = APIRouter(tags=["predict"], route_class=JsonRoute)


def units_of(unit: str) -> dict[str, str]:
    return {"temperature": unit, "temperature_difference": "K" if unit != "degF" else "degF",
            "time": "s", "stress": "MPa", "utilisation": "1"}


def asset_out(pred: Prediction, i: int, outputs: Sequence[str], unit: str) -> AssetPrediction:
    """One asset of a prediction in the response's units."""
    def t(a: np.ndarray) -> list[float]:
        return [round(float(v), 6) for v in from_kelvin(a, unit)]

    src = pred.provenance[i]
    out = AssetPrediction(
        times_s=[float(v) for v in pred.times], centre=t(pred.centre[i]),
        surface_top=t(pred.surface_top[i]), surface_bottom=t(pred.surface_bottom[i]),
        mean=t(pred.mean[i]),
        centre_spread=[float(v) for v in from_kelvin_difference(pred.centre_spread[i], unit)],
        max_surface_centre=float(from_kelvin_difference(
            np.max(np.abs(pred.surface_centre[i])), unit)),
        provenance={s: src.count(s) for s in sorted(set(src))})
    if "field" in outputs:
        out.field = [t(row) for row in pred.temperature[i]]
        out.field_spread = [[float(v) for v in from_kelvin_difference(row, unit)]
                            for row in pred.spread[i]]
    if "stress" in outputs and pred.stress is not None and pred.utilisation is not None:
        out.stress_MPa = [[round(float(v) / 1e6, 6) for v in row] for row in pred.stress[i]]
        out.max_utilisation = float(np.max(pred.utilisation[i]))
    return out


def _round_up(x: float) -> float:
    """``x`` rounded up to 3 significant digits (a value to suggest)."""
    scale = 10.0 ** (math.floor(math.log10(x)) - 2)
    return math.ceil(x / scale - 1e-9) * scale


def check_count(span: float, every: float, limit: int, field: str) -> int:
    """The number of times from t to t + ``span`` s every ``every`` s, the end included
    (``np.arange`` and the end), checked against ``limit`` before anything is built."""
    steps = span / every
    if math.isfinite(steps) and math.ceil(steps) + 1 <= limit:
        return max(math.ceil(steps), 0) + 1
    fix = (f"use {field} >= {_round_up(span / (limit - 1)):g} s" if limit > 1 else
           f"ask for one time ({field} >= {span:g} s)")
    raise RequestError(field, f"{field}={every:g} s gives {steps + 1:.4g} times over {span:g} s,"
                       f" over the limit of {limit} (serve.max_times); {fix}, or list `times`")


def request_times(body: Any, end: float, service: Any) -> np.ndarray:
    """The requested times (s) of a predict body, checked against the limits (the count
    before any array is built)."""
    limit = service.settings.max_times
    if body.times is not None:
        if not body.times:
            raise RequestError("times", "times=[] is invalid: expected at least one time; leave "
                               "it out for every `every` s")
        if len(body.times) > limit:
            raise RequestError("times", f"times: {len(body.times)} requested times are over the "
                               f"limit of {limit} (serve.max_times); ask for fewer")
        times = np.array([time_s(t, f"times[{k}]") for k, t in enumerate(body.times)])
    else:
        every = time_s(body.every, "every")
        if every <= 0:
            raise RequestError("every", f"every={every:g} s is invalid: expected > 0; ask for a "
                               "positive interval")
        check_count(end, every, limit, "every")
        times = np.append(np.arange(0.0, end, every), end)
    if np.any(times < 0):
        k = int(np.argmin(times))
        raise RequestError(f"times[{k}]", f"times[{k}]={times[k]:g} s is invalid: expected >= 0 "
                           "s since charging")
    horizon = service.settings.max_horizon_s
    if times.max() > horizon:
        k = int(np.argmax(times))
        raise RequestError(f"times[{k}]", f"times[{k}]={times[k]:g} s is invalid: expected at "
                           f"most {horizon:g} s (serve.max_horizon_s); ask for earlier times")
    return times


@router.post("/v1/predict", response_model=PredictResponse, response_model_exclude_none=True)
async def predict(body: PredictRequest, service: ServiceDep, _: Reader) -> PredictResponse:
    """Roll each slab from charging under its schedule; fields and summaries at the times."""
    if len(body.assets) > service.settings.max_assets:
        raise RequestError("assets", f"assets: {len(body.assets)} slabs are over the limit of "
                           f"{service.settings.max_assets} per request (serve.max_assets); "
                           "split the request")
    cells = service.propagator.cells
    scs: list[Scenario] = []
    ends: list[float] = []
    notes: list[str] = []
    for i, slab in enumerate(body.assets):
        scs.append(await asyncio.to_thread(slab_scenario, slab, cells, f"assets[{i}]", notes))
        ends.append(residence(slab, f"assets[{i}]"))
    times = request_times(body, min(max(ends), service.settings.max_horizon_s), service)
    job = PredictJob(scs, times, "stress" in body.outputs)
    pred, batch = await service.predict_batcher.submit(job,
                                                       service.settings.request_timeout_s)
    assets = [asset_out(pred, i, body.outputs, body.temperature_unit) for i in range(len(scs))]
    return PredictResponse(model=service.model, units=units_of(body.temperature_unit),
                           assets=assets, batch_size=batch, warnings=notes or None)
