"""Twins: create, list, get, state, readings (batch), forecast, set-point advice, delete.

Readings are validated (units, times, sensors) before anything is stored, then committed to
the store (the acknowledgement means durable), then assimilated through the batcher; a
response that waited longer than ``serve.request_timeout_s`` says ``assimilated: false`` (the
readings are stored and will be assimilated).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from fastapi import APIRouter, Path, Query, Response

from steeltwin.engine.twin import advise_setpoints

from ._body import JsonRoute
from ._deps import Admin, Reader, ServiceDep, Writer
from ._problems import RequestError
from ._routes_predict import asset_out, check_count, units_of
from ._scenario import furnace_zones, slab_scenario
from ._schemas import (
    TWIN_ID,
    AdviceOut,
    AdviseRequest,
    ForecastRequest,
    PredictResponse,
    ReadingsAck,
    ReadingsIn,
    SlabIn,
    TwinCreate,
    TwinInfo,
    TwinList,
    TwinState,
)
from ._store import TwinRecord
from ._twins import Job, NotFound, charged_at
from ._units import from_kelvin, from_kelvin_difference, temperature_c, time_s

router = APIRouter(prefix="/v1/twins", tags=["twins"], route_class=JsonRoute)
TemperatureUnit = Query("degC", pattern="^(degC|K|degF)$")
TwinId = Path(pattern=TWIN_ID, description="the twin's id: a letter or digit, then letters, "
              "digits, _ . : - (<= 64)")


def info(rec: TwinRecord, live: Any = None) -> TwinInfo:
    import datetime as dt

    return TwinInfo(twin_id=rec.twin_id, label=rec.spec.get("label", ""),
                    created_at=dt.datetime.fromtimestamp(rec.created_at, dt.UTC),
                    charged_at=charged_at(rec),
                    time_s=None if live is None else live.twin.time,
                    readings=None if live is None else len(live.twin.log))


async def record(service: Any, tenant: str, twin_id: str) -> TwinRecord:
    rec = await asyncio.to_thread(service.store.get_twin, tenant, twin_id)
    if rec is None:
        raise NotFound(twin_id)
    return rec


@router.post("", status_code=201, response_model=TwinInfo)
async def create(body: TwinCreate, service: ServiceDep, who: Writer) -> TwinInfo:
    """A twin of a slab as charged (checked first; 409 if the id exists in the tenant)."""
    notes: list[str] = []
    rec = await asyncio.to_thread(service.twins.new_record, who.tenant, body, notes)
    await asyncio.to_thread(service.store.create_twin, rec)
    return info(rec).model_copy(update={"warnings": notes or None})


@router.get("", response_model=TwinList)
async def list_twins(service: ServiceDep, who: Reader) -> TwinList:
    recs = await asyncio.to_thread(service.store.list_twins, who.tenant)
    return TwinList(twins=[info(r, service.twins.live.get((who.tenant, r.twin_id)))
                           for r in recs])


@router.get("/{twin_id}", response_model=TwinInfo)
async def get(twin_id: str = TwinId, *, service: ServiceDep, who: Reader) -> TwinInfo:
    rec = await record(service, who.tenant, twin_id)
    return info(rec, service.twins.live.get((who.tenant, twin_id)))


@router.delete("/{twin_id}", status_code=204)
async def delete(twin_id: str = TwinId, *, service: ServiceDep, who: Admin) -> Response:
    """Delete a twin with its readings and snapshots (admin scope)."""
    if not await asyncio.to_thread(service.store.delete_twin, who.tenant, twin_id):
        raise NotFound(twin_id)
    service.twins.forget(who.tenant, twin_id)
    return Response(status_code=204)


@router.post("/{twin_id}/measurements", response_model=ReadingsAck)
async def post_readings(twin_id: str = TwinId, *, body: ReadingsIn, service: ServiceDep,
                        who: Writer) -> ReadingsAck:
    """Store readings (idempotent by id), then assimilate them."""
    limit = service.settings.max_readings
    if len(body.readings) > limit:
        raise RequestError("readings", f"readings: {len(body.readings)} readings are over the "
                           f"limit of {limit} per request (serve.max_readings); send them in "
                           "batches")
    return await ingest(service, who.tenant, twin_id, body.readings)


async def ingest(service: Any, tenant: str, twin_id: str, items: list[Any]) -> ReadingsAck:
    """Validate, store (durable), assimilate: the path of HTTP and the plant adapters."""
    rec = await record(service, tenant, twin_id)
    readings = service.twins.readings_of(rec, items)
    try:
        res = await asyncio.to_thread(service.store.append_readings, tenant, twin_id,
                                      [r.to_json() for r in readings])
    except KeyError:
        raise NotFound(twin_id) from None
    m = service.metrics.readings
    m.labels(outcome="stored").inc(len(res.stored))
    m.labels(outcome="duplicate").inc(len(res.duplicates))
    m.labels(outcome="conflict").inc(len(res.conflicts))
    try:
        out = await service.twin_batcher.submit(Job(tenant, twin_id),
                                                service.settings.request_timeout_s)
    except TimeoutError:
        return ReadingsAck(stored=res.stored, duplicates=res.duplicates,
                           conflicts=res.conflicts, rejected={}, assimilated=False, time_s=-1)
    ids = {r.id for r in readings}
    rejected = {i: why for i, why in out["rejected"].items() if i in ids}
    m.labels(outcome="rejected").inc(len(rejected))
    return ReadingsAck(stored=res.stored, duplicates=res.duplicates, conflicts=res.conflicts,
                       rejected=rejected, assimilated=True, time_s=out["time_s"])


@router.get("/{twin_id}/state", response_model=TwinState)
async def state(twin_id: str = TwinId, *, service: ServiceDep, who: Reader,
                temperature_unit: str = TemperatureUnit) -> TwinState:
    """The estimate now: mean and spread of the field, faces, parameters, alerts."""
    out = await service.twin_batcher.submit(Job(who.tenant, twin_id, state=True),
                                            service.settings.request_timeout_s)
    s, u = out["state"], temperature_unit

    def t(v: Any) -> Any:
        return from_kelvin(v, u)

    def d(v: Any) -> Any:
        return from_kelvin_difference(v, u)

    faces = ("bottom", "top")
    return TwinState(
        twin_id=twin_id, time_s=s["time_s"], units=units_of(u), centre=t(s["centre_K"]),
        centre_std=d(s["centre_std_K"]), surface_top=t(s["surface_top_K"]),
        surface_bottom=t(s["surface_bottom_K"]), mean=t(s["mean_K"]),
        surface_centre=d(s["surface_centre_K"]),
        field_mean=[float(v) for v in t(s["field_mean_K"])],
        field_std=[float(v) for v in d(s["field_std_K"])],
        exchange_scale=dict(zip(faces, map(float, s["exchange_scale"]), strict=True)),
        exchange_scale_std=dict(zip(faces, map(float, s["exchange_scale_std"]), strict=True)),
        exchange_scale_interval={f: [float(v) for v in s["exchange_scale_interval"][:, j]]
                                 for j, f in enumerate(faces)},
        initial_offset=d(s["initial_offset_K"]), initial_offset_std=d(s["initial_offset_std_K"]),
        max_utilisation=s["max_utilisation"], alerts=s["alerts"], readings=s["readings"],
        rejected=s["rejected"], sources=s["sources"])


def _run_on_twin(service: Any, tenant: str, twin_id: str, fn: Any) -> Any:
    """Sync the twin, then ``fn(live)`` (on the compute thread)."""
    return fn(service.twins.entry(tenant, twin_id))


async def on_compute(service: Any, fn: Any, *args: Any) -> Any:
    loop = asyncio.get_running_loop()
    fut = loop.run_in_executor(service.executor, fn, *args)
    return await asyncio.wait_for(fut, service.settings.request_timeout_s)


@router.post("/{twin_id}/forecast", response_model=PredictResponse,
             response_model_exclude_none=True)
async def forecast(twin_id: str = TwinId, *, body: ForecastRequest, service: ServiceDep,
                   who: Reader) -> PredictResponse:
    """From the estimate now to ``until`` (default discharge), under the twin's schedule or
    the what-if ``zones``, with the estimated exchange factors."""
    rec = await record(service, who.tenant, twin_id)
    slab = SlabIn.model_validate(rec.spec["slab"])
    zones = "slab.zones"  # the stored schedule; a what-if's zones are the request's
    if body.zones is not None:
        slab, zones = slab.model_copy(update={"zones": body.zones}), "zones"
    cells = service.propagator.cells
    scenario = await asyncio.to_thread(slab_scenario, slab, cells, "slab", None, zones)
    end = sum(time_s(z.duration, f"{zones}[{i}].duration") for i, z in enumerate(slab.zones))
    until = end if body.until is None else time_s(body.until, "until")
    every = time_s(body.every, "every")
    if every <= 0:
        raise RequestError("every", f"every={every:g} s is invalid: expected > 0; ask for a "
                           "positive interval")
    if until > service.settings.max_horizon_s:
        raise RequestError("until", f"until={until:g} s is invalid: expected at most "
                           f"{service.settings.max_horizon_s:g} s after charging "
                           "(serve.max_horizon_s); forecast to an earlier time")
    buckets = service.predictor.step_buckets
    stress = "stress" in body.outputs

    def run(live: Any) -> Any:
        if until < live.twin.time:
            raise RequestError("until", f"until={until:g} s is invalid: the twin is at "
                               f"{live.twin.time:g} s; forecast later times")
        # The forecast runs at least one cycle past the twin's time (Twin.forecast).
        span = max(until, live.twin.time + live.twin.cycle_seconds) - live.twin.time
        check_count(span, every, service.settings.max_times, "every")
        return live.twin.forecast(until, scenario, every, stress=stress, step_buckets=buckets)

    pred = await on_compute(service, _run_on_twin, service, who.tenant, twin_id, run)
    return PredictResponse(model=service.model, units=units_of(body.temperature_unit),
                           assets=[asset_out(pred, 0, body.outputs, body.temperature_unit)],
                           batch_size=1)


@router.post("/{twin_id}/advise", response_model=AdviceOut)
async def advise(twin_id: str = TwinId, *, body: AdviseRequest, service: ServiceDep,
                 who: Reader) -> AdviceOut:
    """Zone set-points (and soak time) for a discharge target with the least heat, through
    the differentiable model from charging, with the twin's estimated exchange factors."""
    if body.iterations > service.settings.advise_max_iterations:
        raise RequestError("iterations", f"iterations={body.iterations} is invalid: expected "
                           f"at most {service.settings.advise_max_iterations} "
                           "(serve.advise_max_iterations); ask for fewer")
    rec = await record(service, who.tenant, twin_id)
    slab = SlabIn.model_validate(rec.spec["slab"])
    gas = (temperature_c(body.gas_min, "gas_min"), temperature_c(body.gas_max, "gas_max"))
    soak = None
    if (body.soak_min is None) != (body.soak_max is None):
        given = "soak_min" if body.soak_min is not None else "soak_max"
        raise RequestError(given, "soak_min, soak_max are invalid: give both (s) or neither")
    if body.soak_min is not None and body.soak_max is not None:
        soak = (time_s(body.soak_min, "soak_min"), time_s(body.soak_max, "soak_max"))
    target = temperature_c(body.target_mean, "target_mean")
    cells = service.propagator.cells

    def run(live: Any) -> Any:
        scale = live.twin.exchange_estimate()["scale"]  # bottom, top: the median member
        zones = [dataclasses.replace(z, exchange_factor_bottom=min(1.0, z.exchange_factor_bottom
                                                                   * scale[0]),
                                     exchange_factor_top=min(1.0, z.exchange_factor_top
                                                             * scale[1]))
                 for z in furnace_zones(slab)]
        sc = slab_scenario(slab, cells)
        return advise_setpoints(service.propagator, sc, zones, target, body.max_delta,
                                gas_bounds_C=gas, soak_bounds_s=soak,
                                iterations=body.iterations)

    adv = await on_compute(service, _run_on_twin, service, who.tenant, twin_id, run)
    return AdviceOut(
        zones=[{"name": z.name, "gas_temperature": z.gas_temperature_C, "duration": z.duration}
               for z in adv.zones],
        units={"gas_temperature": "degC", "duration": "s", "discharge_mean": "degC",
               "discharge_delta": "K", "heat_demand": "J/m^2"},
        discharge_mean=adv.discharge_mean_C, discharge_delta=adv.discharge_delta_K,
        discharge_time_s=adv.discharge_time_s, heat_demand_J_per_m2=adv.heat_demand,
        initial_heat_demand_J_per_m2=adv.initial_heat_demand,
        initial_discharge_mean=adv.initial_discharge_mean_C, iterations=adv.iterations)
