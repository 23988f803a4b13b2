"""The service as the plant adapters' sink (``_plant.PlantSink``): OPC UA and MQTT readings
and charge/discharge events go the same way as HTTP ones (validated, stored, assimilated).

A charge event creates the twin (from the event's slab spec, else ``serve.<adapter>.slab``,
else the default 220 mm slab and furnace schedule) charged at the event's time; a repeated
charge of an existing id is ignored (idempotent). A discharge snapshots the twin and lets it
go from memory (its record and readings stay in the store).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from ._routes_twins import ingest
from ._schemas import ReadingIn, SlabIn, TwinCreate
from ._store import StoreConflict

log = logging.getLogger("steeltwin.service")

DEFAULT_SLAB = {"thickness": 0.22, "initial_temperature": 25.0, "ramp_time": 300.0, "zones": [
    {"name": "preheat", "gas_temperature": 1000.0, "duration": 3000.0},
    {"name": "heating_1", "gas_temperature": 1200.0, "duration": 2700.0},
    {"name": "heating_2", "gas_temperature": 1280.0, "duration": 2700.0},
    {"name": "soak", "gas_temperature": 1250.0, "duration": 2400.0}]}


class ServiceSink:
    """Implements ``PlantSink`` over a running :class:`~steeltwin.engine.service.Service`."""

    def __init__(self, service: Any, slab: dict[str, Any] | None = None) -> None:
        self.service = service
        self.slab = SlabIn.model_validate(slab or DEFAULT_SLAB)

    async def ingest(self, tenant: str, twin_id: str, readings: list[dict[str, Any]]) -> Any:
        items = [ReadingIn.model_validate(r) for r in readings]
        return await ingest(self.service, tenant, twin_id, items)

    async def charge(self, tenant: str, twin_id: str, timestamp: str,
                     spec: dict[str, Any] | None) -> Any:
        slab = SlabIn.model_validate(spec) if spec else self.slab
        body = TwinCreate(twin_id=twin_id, slab=slab,
                          charged_at=dt.datetime.fromisoformat(timestamp), label="plant")
        rec = await asyncio.to_thread(self.service.twins.new_record, tenant, body)
        try:
            await asyncio.to_thread(self.service.store.create_twin, rec)
        except StoreConflict:
            log.info("charge of %s/%s: the twin exists already", tenant, twin_id)
        return rec

    async def discharge(self, tenant: str, twin_id: str, timestamp: str) -> Any:
        svc = self.service
        loop = asyncio.get_running_loop()

        def done() -> None:
            e = svc.twins.live.get((tenant, twin_id))
            if e is not None:
                svc.twins._persist_now(e)
                svc.twins.forget(tenant, twin_id)

        await loop.run_in_executor(svc.executor, done)


async def start_adapters(service: Any) -> list[Any]:
    """Start the adapters configured in ``serve.opcua`` / ``serve.mqtt`` (none by default)."""
    out: list[Any] = []
    s = service.settings
    if s.opcua:
        from ._opcua import OpcUaAdapter, opcua_config

        cfg = dict(s.opcua)
        sink = ServiceSink(service, cfg.pop("slab", None))
        out.append(OpcUaAdapter(opcua_config(cfg), sink))
    if s.mqtt:
        from ._mqtt import MqttAdapter, mqtt_config

        cfg = dict(s.mqtt)
        sink = ServiceSink(service, cfg.pop("slab", None))
        out.append(MqttAdapter(mqtt_config(cfg), sink))
    for a in out:
        await a.start()
    return out
