"""OPC UA client adapter (asyncua): plant variables → readings and slab events for the twins.

Subscribed (one subscription, data-change notifications, ``publishing_interval_ms``; no polling):

- each sensor's value node (:class:`OpcUaSensor`): a number in the sensor's ``unit``
  (degC / K / degF), thermocouples with their ``depth``;
- each ``twin_id_node``: a String, the id of the slab now in front of the sensors that name it
  (``""``: no slab; their values are then dropped);
- ``charge_node`` / ``discharge_node``: Strings whose value changes to the id of the slab just
  charged / discharged (``""``: no event) → ``sink.charge(spec=None)`` / ``sink.discharge``.

A value becomes the reading ``{"id": "opcua:<node_id>@<time>", "timestamp": <time>, "sensor",
"value", "unit"}`` (thermocouples add ``depth``, ``depth_unit``) for the sensor's twin.
``<time>`` is the DataValue's SourceTimestamp (else ServerTimestamp, else now: then a
re-delivery is not recognised) as ISO 8601 with ``+00:00``. A value with a bad status, that is
not a finite number, or not a String for an id / event node, is dropped and logged
(``stats["dropped"]``); nothing a server sends can stop the adapter.

Slab attribution: the adapter keeps the recent history of each ``twin_id_node`` (time of each
change, from the same timestamps) and gives a reading to the slab that was in front of the
sensor at the reading's time, so the result does not depend on delivery order. Within one
batch of notifications, id changes are applied first, then charges, readings (one ``ingest``
per twin), discharges.

Idempotency: ids depend only on node and source time, so the initial values delivered again
after a reconnect (OPC UA sends each item's current value on subscribing) are duplicates the
service ignores. A charge / discharge already forwarded with the same id and source time is
not forwarded again; one first seen at start-up is forwarded (the sink treats a repeat as it
sees fit).

Reconnect: a lost connection (transport closed, a bad subscription status, asyncua's failed
keep-alive probe) ends the session; after ``reconnect_seconds`` the adapter connects again with
a fresh client and subscription, until :meth:`stop`. Sink errors are logged and counted
(``stats["errors"]``).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import datetime as _dt
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from asyncua import Client, ua

from .._errors import ConfigError
from ._plant import (
    AbstractPlantAdapter,
    OpcUaConfig,
    OpcUaSensor,
    PlantSink,
    finite_float,
    from_mapping,
    iso_utc,
    node_reading_id,
)

_LOG = logging.getLogger(__name__)
_HISTORY = 64  # slab changes kept per twin_id_node
_QUEUE = 10_000  # notifications waiting for the sink; beyond that they are dropped
_ID_NODE, _CHARGE, _READING, _DISCHARGE = range(4)  # roles, in the order a batch is applied


class _Handler:
    """asyncua subscription handler: only queues, so the publish loop never waits on the sink."""

    def __init__(self, adapter: OpcUaAdapter, lost: asyncio.Event) -> None:
        self._adapter, self._lost = adapter, lost

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        self._adapter._enqueue(node.nodeid, data.monitored_item.Value)

    def status_change_notification(self, status: Any) -> None:
        code = getattr(status, "Status", status)
        if not getattr(code, "is_good", lambda: False)():
            _LOG.warning("subscription status change: %s", code)
            self._lost.set()


class OpcUaAdapter(AbstractPlantAdapter):
    """Feed a :class:`PlantSink` from an OPC UA server's variables (see the module docstring).

    Args:
        config: endpoint, tenant, sensors, event nodes, publishing interval, reconnect delay.
        sink: the service core.
    """

    def __init__(self, config: OpcUaConfig, sink: PlantSink) -> None:
        if not isinstance(config, OpcUaConfig):
            raise ConfigError(f"config={config!r} is invalid: expected an OpcUaConfig")
        super().__init__(sink, config.tenant, config.reconnect_seconds, _LOG)
        self.config = config
        self._roles: dict[str, list[tuple[int, OpcUaSensor | None]]] = defaultdict(list)
        fields: dict[str, str] = {}
        for i, sensor in enumerate(config.sensors):
            self._roles[sensor.node_id].append((_READING, sensor))
            fields.setdefault(sensor.node_id, f"sensors[{i}].node_id")
            if sensor.twin_id_node is not None:
                self._add_role(sensor.twin_id_node, _ID_NODE)
                fields.setdefault(sensor.twin_id_node, f"sensors[{i}].twin_id_node")
        for role, name in ((_CHARGE, "charge_node"), (_DISCHARGE, "discharge_node")):
            node = getattr(config, name)
            if node is not None:
                self._add_role(node, role)
                fields.setdefault(node, name)
        self._by_node: dict[Any, str] = {}
        for node_id, field in fields.items():
            try:
                self._by_node[ua.NodeId.from_string(node_id)] = node_id
            except Exception as exc:
                raise ConfigError(
                    f"{field}={node_id!r} is invalid: expected an OPC UA node id such as "
                    f"'ns=2;s=Furnace.PyroTop' or 'ns=2;i=1001' ({exc}); fix the node id"
                ) from None
        self._slabs: dict[str, list[tuple[_dt.datetime, str]]] = defaultdict(list)
        self._events: dict[str, tuple[str, str]] = {}
        self._queue: asyncio.Queue[tuple[str, Any]] | None = None

    def _add_role(self, node_id: str, role: int) -> None:
        if (role, None) not in self._roles[node_id]:
            self._roles[node_id].append((role, None))

    def _enqueue(self, nodeid: Any, value: Any) -> None:
        node_id = self._by_node.get(nodeid)
        if node_id is None or self._queue is None:
            return
        self.stats["received"] += 1
        try:
            self._queue.put_nowait((node_id, value))
        except asyncio.QueueFull:
            self._drop(logging.WARNING, "%s: %d notifications wait for the sink", node_id, _QUEUE)

    async def run(self) -> None:
        """Connect, subscribe and deliver; reconnect on loss; until :meth:`stop`."""
        self._queue = asyncio.Queue(_QUEUE)
        consumer = asyncio.create_task(self._consume())
        try:
            await super().run()
            with contextlib.suppress(TimeoutError):  # deliver what arrived before stop
                await asyncio.wait_for(self._queue.join(), 5.0)
        finally:
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)

    async def _session(self) -> None:
        client = Client(self.config.endpoint, timeout=4.0)
        lost = asyncio.Event()

        async def on_lost(exc: Exception) -> None:
            lost.set()

        client.connection_lost_callback = on_lost
        await client.connect()
        try:
            sub = await client.create_subscription(
                self.config.publishing_interval_ms, _Handler(self, lost)
            )
            names = list(self._by_node.values())
            nodes = [client.get_node(nodeid) for nodeid in self._by_node]
            results = await sub.subscribe_data_change(nodes, queuesize=16)
            for name, result in zip(names, results, strict=True):
                if isinstance(result, ua.StatusCode):
                    _LOG.error("cannot subscribe to %s: %s; check the node id", name, result)
            self.stats["connects"] += 1
            self._connected = True
            _LOG.info("subscribed to %d nodes at %s", len(nodes), self.config.endpoint)
            while not lost.is_set():
                stop = await self._wait_first(lost, 1.0)
                if stop:
                    return
                await client.check_connection()  # raises once the connection is gone
            raise ConnectionError("the server connection was lost")
        finally:
            try:
                await asyncio.wait_for(client.disconnect(), 2.0)
            except Exception as exc:
                _LOG.debug("disconnect after session end: %r", exc)

    async def _wait_first(self, lost: asyncio.Event, seconds: float) -> bool:
        """Wait until stop (True), ``lost`` or ``seconds`` pass (False)."""
        waits = [asyncio.ensure_future(e.wait()) for e in (self._stopping, lost)]
        _, pending = await asyncio.wait(waits, timeout=seconds, return_when="FIRST_COMPLETED")
        for task in pending:
            task.cancel()
        return self._stopping.is_set()

    async def _consume(self) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._apply(batch)
            except Exception:  # a bug here must not stop ingest
                self.stats["errors"] += 1
                _LOG.exception("unexpected error handling %d notifications", len(batch))
            for _ in batch:
                self._queue.task_done()

    async def _apply(self, batch: list[tuple[str, Any]]) -> None:
        """Apply id changes, then charges, readings (one ingest per twin), discharges."""
        items = [(r, sensor, node, dv) for node, dv in batch for r, sensor in self._roles[node]]
        items.sort(key=lambda item: item[0])  # stable: arrival order within a role
        readings: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for role, sensor, node_id, dv in items:
            if role == _DISCHARGE and readings:
                await self._ingest(readings)
            try:
                await self._item(role, sensor, node_id, dv, readings)
            except Exception as exc:  # an odd DataValue must not stop ingest
                self._drop(logging.WARNING, "%s: cannot read %r (%r)", node_id, dv, exc)
        await self._ingest(readings)

    async def _item(
        self,
        role: int,
        sensor: OpcUaSensor | None,
        node_id: str,
        dv: Any,
        readings: dict[str, list[dict[str, Any]]],
    ) -> None:
        status = getattr(dv, "StatusCode", None)
        if status is not None and not status.is_good():
            self._drop(logging.WARNING, "%s has status %s", node_id, status.name)
            return
        stamp = _source_time(dv)
        value = dv.Value.Value if dv.Value is not None else None
        if sensor is not None:
            self._reading(sensor, node_id, stamp, value, readings)
        elif not isinstance(value, str | None):
            self._drop(logging.WARNING, "%s: %r is not a String slab id", node_id, value)
        elif role == _ID_NODE:
            self._slab_change(node_id, stamp, value or "")
        elif value and self._events.get(node_id) != (value, iso_utc(stamp)):
            self._events[node_id] = (value, iso_utc(stamp))
            await self._event(role, value, iso_utc(stamp))

    def _reading(
        self,
        sensor: OpcUaSensor,
        node_id: str,
        stamp: _dt.datetime,
        value: Any,
        readings: dict[str, list[dict[str, Any]]],
    ) -> None:
        number = finite_float(value)
        if number is None:
            self._drop(logging.WARNING, "%s: %r is not a finite number", node_id, value)
            return
        twin = sensor.twin_id or self._slab_at(sensor.twin_id_node or "", stamp)
        if not twin:
            self._drop(logging.DEBUG, "%s: no slab in front of the sensor at %s", node_id, stamp)
            return
        iso = iso_utc(stamp)
        reading: dict[str, Any] = {
            "id": node_reading_id(node_id, iso),
            "timestamp": iso,
            "sensor": sensor.sensor,
            "value": number,
            "unit": sensor.unit,
        }
        if sensor.depth is not None:  # thermocouples; the keys are left out otherwise
            reading.update(depth=float(sensor.depth), depth_unit=sensor.depth_unit)
        readings[twin].append(reading)

    def _slab_change(self, node_id: str, stamp: _dt.datetime, slab: str) -> None:
        history = self._slabs[node_id]
        if (stamp, slab) not in history:
            bisect.insort(history, (stamp, slab))
            del history[:-_HISTORY]

    def _slab_at(self, node_id: str, stamp: _dt.datetime) -> str | None:
        """The slab in front of ``node_id``'s sensors at ``stamp`` (None: unknown, "": none)."""
        history = self._slabs.get(node_id, [])
        i = bisect.bisect_right(history, stamp, key=lambda change: change[0])
        return history[i - 1][1] if i else None

    async def _event(self, role: int, twin: str, stamp: str) -> None:
        if role == _CHARGE:
            call = lambda: self.sink.charge(self.tenant, twin, stamp, None)  # noqa: E731
        else:
            call = lambda: self.sink.discharge(self.tenant, twin, stamp)  # noqa: E731
        await self._forward(call, 1, f"{'charge' if role == _CHARGE else 'discharge'} of {twin}")

    async def _ingest(self, readings: dict[str, list[dict[str, Any]]]) -> None:
        for twin, batch in readings.items():
            call = lambda t=twin, b=batch: self.sink.ingest(self.tenant, t, b)  # noqa: E731
            await self._forward(call, len(batch), f"{len(batch)} readings for {twin}")
        readings.clear()


def opcua_config(settings: Mapping[str, Any], key: str = "serve.opcua") -> OpcUaConfig:
    """An :class:`OpcUaConfig` from plain settings (e.g. YAML), sensors as mappings.

    Unknown or missing keys and bad values raise :class:`ConfigError` naming ``<key>.<field>``.
    """
    if not isinstance(settings, Mapping):
        raise ConfigError(f"{key}={settings!r} is invalid: expected a mapping of settings")
    sensors = settings.get("sensors", ())
    if not isinstance(sensors, Sequence) or isinstance(sensors, str):
        raise ConfigError(f"{key}.sensors={sensors!r} is invalid: expected a list of sensors")
    built = [
        s if isinstance(s, OpcUaSensor) else from_mapping(OpcUaSensor, s, f"{key}.sensors[{i}]")
        for i, s in enumerate(sensors)
    ]
    rest = {k: v for k, v in settings.items() if k != "sensors"}
    return from_mapping(OpcUaConfig, rest, key, sensors=built)


def _source_time(dv: Any) -> _dt.datetime:
    """SourceTimestamp, else ServerTimestamp, else now; always timezone-aware UTC."""
    stamp = getattr(dv, "SourceTimestamp", None) or getattr(dv, "ServerTimestamp", None)
    if stamp is None:
        return _dt.datetime.now(_dt.UTC)
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=_dt.UTC)
