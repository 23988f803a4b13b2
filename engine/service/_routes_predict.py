"""``POST /v1/predict``: fields and summaries of slabs through the service's model."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np
from fastapi import APIRouter

from steeltwin.engine import ConfigError, Scenario
from steeltwin.engine.twin import Prediction

from ._deps import Reader, ServiceDep
from ._predicting import PredictJob
from ._scenario import residence, slab_scenario
from ._schemas import AssetPrediction, PredictRequest, PredictResponse
from ._units import from_kelvin, from_kelvin_difference, time_s

router = APIRouter(tags=["predict"])


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


def request_times(body: Any, end: float, service: Any, where: str = "") -> np.ndarray:
    """The requested times (s) of a predict or forecast body, checked against the limits."""
    if body.times is not None:
        if not body.times:
            raise ConfigError(f"{where}times=[] is invalid: expected at least one time; leave "
                              "it out for every `every` s")
        times = np.array([time_s(t, f"{where}times[{k}]") for k, t in enumerate(body.times)])
    else:
        every = time_s(body.every, f"{where}every")
        if every <= 0:
            raise ConfigError(f"{where}every={every:g} s is invalid: expected > 0")
        start = getattr(body, "_start", 0.0)
        times = np.append(np.arange(start, end, every), end)
    limit = service.settings.max_times
    if len(times) > limit:
        raise ConfigError(f"{where}times: {len(times)} requested times are over the limit of "
                          f"{limit} (serve.max_times); ask for fewer or a larger `every`")
    if np.any(times < 0):
        raise ConfigError(f"{where}times={times.min():g} s is invalid: expected >= 0 s since "
                          "charging")
    horizon = service.settings.max_horizon_s
    if times.max() > horizon:
        raise ConfigError(f"{where}times up to {times.max():g} s are invalid: expected at most "
                          f"{horizon:g} s (serve.max_horizon_s); ask for earlier times")
    return times


@router.post("/v1/predict", response_model=PredictResponse, response_model_exclude_none=True)
async def predict(body: PredictRequest, service: ServiceDep, _: Reader) -> PredictResponse:
    """Roll each slab from charging under its schedule; fields and summaries at the times."""
    if len(body.assets) > service.settings.max_assets:
        raise ConfigError(f"assets: {len(body.assets)} slabs are over the limit of "
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
