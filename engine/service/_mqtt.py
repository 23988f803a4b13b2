"""MQTT adapter (aiomqtt): plant messages → readings and slab events for the twins.

Subscribed (QoS ``qos``, one adapter per tenant, only its own prefix ``<prefix>/<tenant>/``):

- ``<prefix>/<tenant>/twins/<twin_id>/readings``: one JSON reading or a JSON list of them::

      {"sensor": "pyrometer_top", "value": 1012.5, "unit": "degC",
       "timestamp": "2025-03-01T08:00:00+00:00", "id": "...", "depth": null, "depth_unit": null}

  ``sensor`` one of pyrometer_top | pyrometer_bottom | thermocouple | gas_top | gas_bottom;
  ``value`` a finite number in ``unit`` (degC / K / degF); ``depth`` (+ ``depth_unit`` mm / m)
  for thermocouples only (null or absent otherwise: only keys with a value are forwarded).
  ``timestamp`` (ISO 8601 with a UTC offset) may be omitted: the time
  the adapter receives the message is used (MQTT carries no broker time). ``id`` may be
  omitted: it is then the sha1 (16 hex) of the reading's canonical JSON, timestamp included.
- ``<prefix>/<tenant>/events/charge``: ``{"twin_id": ..., "timestamp": ..., "spec": {...} | null}``
  → ``sink.charge``; ``<prefix>/<tenant>/events/discharge``: ``{"twin_id": ..., "timestamp": ...}``
  → ``sink.discharge`` (``timestamp`` optional as above).

Checks: a payload over 256 KiB, bad JSON (UTF-8), a payload of the wrong shape, unknown keys
(a misspelt ``depth_unit`` must not pass silently), a value that is not a finite number or a
timestamp without a UTC offset is dropped and logged (``stats["dropped"]``, per reading: the
good readings of a list are forwarded). Units, ranges and twin existence are the service's to
check; a sink that raises is logged and counted (``stats["errors"]``).

Idempotency: ids are stable for a payload that carries its timestamp, so a QoS 1 re-delivery is
a duplicate the service ignores. A reading without a timestamp gets the receive time, so a
re-delivery of it is a new reading: publish timestamps where exactly-once matters.

Reconnect: a lost or refused connection ends the session; after ``reconnect_seconds`` a fresh
client connects and subscribes again, until :meth:`stop`. With ``persistent_session`` (the
default) the broker keeps the session, so QoS >= 1 messages sent meanwhile arrive afterwards.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import logging
from collections.abc import Mapping
from typing import Any

import aiomqtt

from .._errors import ConfigError
from ..twin import MAX_ID_LENGTH, SENSORS
from ._plant import (
    AbstractPlantAdapter,
    MqttConfig,
    PlantSink,
    content_reading_id,
    finite_float,
    from_mapping,
    now_utc,
)

_LOG = logging.getLogger(__name__)
MAX_PAYLOAD = 256 * 1024  # bytes
_READING_KEYS = ("id", "timestamp", "sensor", "value", "unit", "depth", "depth_unit")
_EVENT_KEYS = {"charge": ("twin_id", "timestamp", "spec"), "discharge": ("twin_id", "timestamp")}


class _Bad(ValueError):
    """A payload or reading the adapter drops (the message says why)."""


class MqttAdapter(AbstractPlantAdapter):
    """Feed a :class:`PlantSink` from MQTT topics (see the module docstring).

    Args:
        config: broker, tenant, topic prefix, client id, QoS, credentials, reconnect delay.
        sink: the service core.
    """

    def __init__(self, config: MqttConfig, sink: PlantSink) -> None:
        if not isinstance(config, MqttConfig):
            raise ConfigError(f"config={config!r} is invalid: expected an MqttConfig")
        super().__init__(sink, config.tenant, config.reconnect_seconds, _LOG)
        self.config = config
        self.base = f"{config.topic_prefix}/{config.tenant}/"
        self._busy = asyncio.Lock()

    async def _session(self) -> None:
        cfg = self.config
        client = aiomqtt.Client(
            cfg.host,
            cfg.port,
            username=cfg.username,
            password=cfg.password,
            identifier=cfg.client_id or f"steeltwin-ingest-{cfg.tenant}",
            clean_session=not cfg.persistent_session,
            timeout=10.0,
        )
        async with client:
            topics = [f"{self.base}twins/+/readings", f"{self.base}events/+"]
            await client.subscribe([(topic, cfg.qos) for topic in topics])
            self.stats["connects"] += 1
            self._connected = True
            _LOG.info("subscribed to %s at %s:%d", topics, cfg.host, cfg.port)
            receive = asyncio.create_task(self._receive(client))
            stop = asyncio.create_task(self._stopping.wait())
            await asyncio.wait((receive, stop), return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            async with self._busy:  # a message being handled is finished first
                receive.cancel()
            await asyncio.gather(stop, return_exceptions=True)
            if not self._stopping.is_set():
                await receive  # re-raises the MqttError that ended the session
            else:
                await asyncio.gather(receive, return_exceptions=True)

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            async with self._busy:
                try:
                    await self.handle(message.topic.value, message.payload)
                except Exception:  # a bug here must not stop ingest
                    self.stats["errors"] += 1
                    _LOG.exception("unexpected error handling a message on %s", message.topic)

    async def handle(self, topic: str, payload: Any) -> None:
        """Check one message and deliver it to the sink (drops and counts what is bad)."""
        self.stats["received"] += 1
        received = now_utc()
        try:
            kind, twin, data = self._decode(topic, payload)
            if kind != "readings":
                twin, stamp, spec = _check_event(kind, data, received)
        except _Bad as exc:
            self._drop(logging.WARNING, "%s: %s", topic, exc)
            return
        if kind == "charge":
            call = lambda: self.sink.charge(self.tenant, twin, stamp, spec)  # noqa: E731
            await self._forward(call, 1, f"charge of {twin}")
        elif kind == "discharge":
            call = lambda: self.sink.discharge(self.tenant, twin, stamp)  # noqa: E731
            await self._forward(call, 1, f"discharge of {twin}")
        else:
            await self._readings(topic, twin, data, received)

    async def _readings(self, topic: str, twin: str, data: Any, received: str) -> None:
        readings = []
        items = data if isinstance(data, list) else [data]
        for i, item in enumerate(items):
            try:
                readings.append(_check_reading(item, received))
            except _Bad as exc:
                self._drop(logging.WARNING, "%s reading %d: %s", topic, i, exc)
        if not items:
            self._drop(logging.WARNING, "%s: an empty list of readings", topic)
        if readings:
            call = lambda: self.sink.ingest(self.tenant, twin, readings)  # noqa: E731
            await self._forward(call, len(readings), f"{len(readings)} readings for {twin}")

    def _decode(self, topic: str, payload: Any) -> tuple[str, str, Any]:
        """(kind, twin id from the topic or "", JSON) of a message on this tenant's topics."""
        if not topic.startswith(self.base):
            raise _Bad(f"not a topic of tenant {self.tenant!r} (under {self.base!r})")
        levels = topic[len(self.base) :].split("/")
        if len(levels) == 3 and levels[0] == "twins" and levels[2] == "readings" and levels[1]:
            kind, twin = "readings", levels[1]
        elif len(levels) == 2 and levels[0] == "events" and levels[1] in _EVENT_KEYS:
            kind, twin = levels[1], ""
        else:
            raise _Bad("unknown topic: expected twins/<twin_id>/readings or events/(dis)charge")
        if not isinstance(payload, bytes | bytearray):
            raise _Bad(f"payload of type {type(payload).__name__}, expected bytes")
        if len(payload) > MAX_PAYLOAD:
            raise _Bad(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}; split it")
        try:
            return kind, twin, json.loads(payload)
        except (ValueError, RecursionError) as exc:
            raise _Bad(f"not JSON: {exc}") from None


def mqtt_config(settings: Mapping[str, Any], key: str = "serve.mqtt") -> MqttConfig:
    """An :class:`MqttConfig` from plain settings (e.g. YAML); errors name ``<key>.<field>``."""
    return from_mapping(MqttConfig, settings, key)


def _timestamp(value: Any, received: str) -> str:
    if value is None:
        return received
    try:
        ok = isinstance(value, str) and _dt.datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        ok = False
    if not ok:
        raise _Bad(f"timestamp={value!r}: expected ISO 8601 with a UTC offset, e.g. +00:00")
    return str(value)


def _object(data: Any, keys: tuple[str, ...], what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _Bad(f"{what} must be a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(keys))
    if unknown:
        raise _Bad(f"unknown keys {unknown} in {what}; expected only {list(keys)}")
    return data


def _name(value: Any, key: str) -> str:
    ok = isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH and value.strip() == value
    if not ok:
        raise _Bad(f"{key}={value!r}: expected a string of 1..{MAX_ID_LENGTH} characters")
    return str(value)


def _check_event(kind: str, data: Any, received: str) -> tuple[str, str, dict[str, Any] | None]:
    event = _object(data, _EVENT_KEYS[kind], f"a {kind} event")
    spec = event.get("spec")
    if spec is not None and not isinstance(spec, dict):
        raise _Bad(f"spec of type {type(spec).__name__}: expected a JSON object or null")
    stamp = _timestamp(event.get("timestamp"), received)
    return _name(event.get("twin_id"), "twin_id"), stamp, spec


def _check_reading(data: Any, received: str) -> dict[str, Any]:
    raw = _object(data, _READING_KEYS, "a reading")
    if raw.get("sensor") not in SENSORS:
        raise _Bad(f"sensor={raw.get('sensor')!r}: expected one of {', '.join(SENSORS)}")
    value = finite_float(raw.get("value"))
    if value is None:
        raise _Bad(f"value={raw.get('value')!r}: expected a finite number")
    unit, depth_unit = raw.get("unit"), raw.get("depth_unit")
    if not isinstance(unit, str) or not unit or not isinstance(depth_unit, str | None):
        raise _Bad(f"unit={unit!r}, depth_unit={depth_unit!r}: expected strings (depth_unit: null)")
    depth = raw.get("depth")
    if depth is not None and finite_float(depth) is None:
        raise _Bad(f"depth={depth!r}: expected a finite number or null")
    reading = {
        "timestamp": _timestamp(raw.get("timestamp"), received),
        "sensor": raw["sensor"],
        "value": value,
        "unit": unit,
    }
    if depth is not None:
        reading["depth"] = float(depth)
    if depth_unit is not None:
        reading["depth_unit"] = depth_unit
    rid = raw.get("id")
    return {"id": content_reading_id(reading) if rid is None else _name(rid, "id"), **reading}
