"""Plant data ingest: the sink the adapters feed, their configs, reading ids, shared lifecycle.

Two adapters turn plant signals into calls on a :class:`PlantSink` (the service core implements
it): :class:`~engine.service._opcua.OpcUaAdapter` (OPC UA subscriptions) and
:class:`~engine.service._mqtt.MqttAdapter` (MQTT topics). One adapter serves one tenant.

Reading dict (the shape the HTTP API takes)::

    {"id": str (<= 128 chars), "timestamp": ISO 8601 with a UTC offset,
     "sensor": pyrometer_top | pyrometer_bottom | thermocouple | gas_top | gas_bottom,
     "value": float, "unit": degC | K | degF, "depth": float, "depth_unit": mm | m}

``depth`` / ``depth_unit`` are sent only when they have a value (thermocouples); a None is
left out rather than sent as null.

The service converts timestamps (to seconds since the twin's charge time) and units (pint) and
rejects bad readings itself; an adapter only drops what it can see is broken (a value that is
not a finite number, a payload of the wrong shape) and logs it.

Idempotency: every reading carries a deterministic id (:func:`node_reading_id` for OPC UA,
:func:`content_reading_id` for MQTT payloads without one), so a re-delivery after a reconnect
is a duplicate the service ignores.

Stats (``adapter.stats``): ``received`` notifications / messages in; ``forwarded`` readings and
events the sink accepted; ``dropped`` values, readings or messages discarded as invalid (or, for
OPC UA, seen while no slab was in front of the sensor); ``errors`` sink calls that raised (their
readings are not forwarded); ``connects`` successful (re)connections.

Lifecycle (:class:`AbstractPlantAdapter`): ``await start()`` runs :meth:`run` as a task,
``await stop()`` ends it. :meth:`run` connects and subscribes; on connection loss (or a failed
connect) it waits ``reconnect_seconds`` and tries again, re-subscribing, until stopped. A sink
that raises, or a bad payload, never stops an adapter.
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import math
import numbers
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import MISSING
from typing import Any, Protocol, TypeVar

from .._errors import ConfigError, require
from ..twin import MAX_ID_LENGTH, SENSORS

_C = TypeVar("_C")
UNITS = ("degC", "K", "degF")
DEPTH_UNITS = ("mm", "m")


class PlantSink(Protocol):
    """Where adapters deliver readings and slab events (implemented by the service core)."""

    async def ingest(self, tenant: str, twin_id: str, readings: list[dict[str, Any]]) -> Any: ...
    async def charge(
        self, tenant: str, twin_id: str, timestamp: str, spec: dict[str, Any] | None
    ) -> Any: ...
    async def discharge(self, tenant: str, twin_id: str, timestamp: str) -> Any: ...


def iso_utc(stamp: _dt.datetime) -> str:
    """ISO 8601 in UTC with an explicit ``+00:00`` (a naive datetime is taken as UTC)."""
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=_dt.UTC)
    return stamp.astimezone(_dt.UTC).isoformat()


def now_utc() -> str:
    """The current time as :func:`iso_utc`."""
    return iso_utc(_dt.datetime.now(_dt.UTC))


def finite_float(value: Any) -> float | None:
    """``value`` as a float if it is a finite real number (bool excluded), else None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def node_reading_id(node_id: str, timestamp: str) -> str:
    """``opcua:<node_id>@<timestamp>``; the node id is hashed (sha1, 16 hex) if that is too long."""
    rid = f"opcua:{node_id}@{timestamp}"
    if len(rid) > MAX_ID_LENGTH:
        rid = f"opcua:{hashlib.sha1(node_id.encode()).hexdigest()[:16]}@{timestamp}"
    return rid


def content_reading_id(reading: dict[str, Any]) -> str:
    """sha1 (16 hex) of the reading's canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(reading, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _positive(key: str, value: Any) -> None:
    number = finite_float(value)
    require(number is not None and number > 0, key, value, "a number > 0", f"fix {key}")


def _text(key: str, value: Any, expected: str, optional: bool = True) -> None:
    ok = isinstance(value, str) and value.strip() == value != ""
    require(ok or (optional and value is None), key, value, expected, f"fix {key}")


def _one_of(key: str, value: Any, choices: tuple[str, ...]) -> None:
    require(value in choices, key, value, f"one of {', '.join(choices)}", f"fix {key}")


def _tenant(value: Any) -> None:
    _text("tenant", value, "a name without spaces, '/', '+' or '#'", optional=False)
    require(not any(c in value for c in "/+#"), "tenant", value, "no '/', '+' or '#'", "rename")


def from_mapping(cls: type[_C], data: Mapping[str, Any], key: str, **extra: Any) -> _C:
    """``cls(**data, **extra)`` for plain settings (YAML), every error naming ``<key>.<field>``."""
    require(isinstance(data, Mapping), key, data, "a mapping of settings", f"fix {key}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for name in data:
        _one_of(f"{key}.{name}", name, tuple(fields))
    for name, f in fields.items():
        needed = f.default is MISSING and f.default_factory is MISSING
        require(not needed or name in data, f"{key}.{name}", None, "a value", f"set {name}")
    try:
        return cls(**{**data, **extra})
    except ConfigError as exc:  # messages start with the field: prefix the section
        raise ConfigError(f"{key}.{exc}") from None


@dataclasses.dataclass(frozen=True)
class OpcUaSensor:
    """One OPC UA variable read as one sensor, for a fixed twin or the slab in front of it.

    Args:
        node_id: the variable, e.g. ``"ns=2;s=Furnace.Zone3.PyroTop"`` (a Double or other number).
        sensor: one of :data:`SENSORS`.
        unit: the value's unit, one of :data:`UNITS`.
        depth: a thermocouple's depth below the top face (in ``depth_unit``); None otherwise.
        depth_unit: ``"mm"`` or ``"m"`` (with ``depth``).
        twin_id: the twin this sensor always reads; or
        twin_id_node: a String variable holding the id of the slab now in front of the sensor.
    """

    node_id: str
    sensor: str
    unit: str
    depth: float | None = None
    depth_unit: str | None = None
    twin_id: str | None = None
    twin_id_node: str | None = None

    def check(self, key: str) -> None:
        """Raise :class:`ConfigError` naming ``<key>.<field>`` for a bad field."""
        _text(f"{key}.node_id", self.node_id, "a node id such as 'ns=2;s=Pyro'", optional=False)
        _one_of(f"{key}.sensor", self.sensor, SENSORS)
        _one_of(f"{key}.unit", self.unit, UNITS)
        fixed, moving = self.twin_id is not None, self.twin_id_node is not None
        expected = f"exactly one of twin_id / twin_id_node (twin_id_node={self.twin_id_node!r})"
        fix = "set twin_id for a fixed slab or twin_id_node for the slab in front, not both"
        require(fixed != moving, f"{key}.twin_id", self.twin_id, expected, fix)
        _text(f"{key}.twin_id", self.twin_id, "a twin id or None")
        _text(f"{key}.twin_id_node", self.twin_id_node, "a String node id or None")
        if self.sensor == "thermocouple":
            depth = finite_float(self.depth)
            expected = "a thermocouple's depth >= 0 below the top face"
            require(
                depth is not None and depth >= 0, f"{key}.depth", self.depth, expected, "set it"
            )
            _one_of(f"{key}.depth_unit", self.depth_unit, DEPTH_UNITS)
        else:
            none = self.depth is None and self.depth_unit is None
            expected = f"no depth for a {self.sensor}"
            require(none, f"{key}.depth", self.depth, expected, "drop depth / depth_unit")


@dataclasses.dataclass(frozen=True)
class OpcUaConfig:
    """OPC UA adapter settings (see :mod:`steeltwin.engine.service._opcua`); checked on
    construction.

    Args:
        endpoint: ``opc.tcp://host:port/path``.
        tenant: the tenant every twin of this plant belongs to.
        sensors: the variables to subscribe, as :class:`OpcUaSensor`.
        publishing_interval_ms: OPC UA subscription publishing interval (ms).
        charge_node / discharge_node: String variables whose value changes to the id of the
            slab just charged / discharged (``""`` means no slab); None to ignore events.
        reconnect_seconds: wait (s) before reconnecting after a lost or failed connection.
    """

    endpoint: str
    tenant: str
    sensors: Sequence[OpcUaSensor] = ()
    publishing_interval_ms: float = 500.0
    charge_node: str | None = None
    discharge_node: str | None = None
    reconnect_seconds: float = 5.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "sensors", tuple(self.sensors))
        ok = isinstance(self.endpoint, str) and self.endpoint.startswith("opc.tcp://")
        require(ok, "endpoint", self.endpoint, "an opc.tcp://host:port/... URL", "fix endpoint")
        _tenant(self.tenant)
        _positive("publishing_interval_ms", self.publishing_interval_ms)
        _positive("reconnect_seconds", self.reconnect_seconds)
        events = (self.charge_node, self.discharge_node)
        expected, fix = "at least one sensor or event node", "add sensors or event nodes"
        require(bool(self.sensors) or events != (None, None), "sensors", [], expected, fix)
        seen: dict[str, int] = {}
        for i, sensor in enumerate(self.sensors):
            key = f"sensors[{i}]"
            require(isinstance(sensor, OpcUaSensor), key, sensor, "an OpcUaSensor", "build one")
            sensor.check(key)
            expected = f"a node not already read by sensors[{seen.get(sensor.node_id)}]"
            require(sensor.node_id not in seen, f"{key}.node_id", sensor.node_id, expected, "fix")
            seen[sensor.node_id] = i
        for name, node in zip(("charge_node", "discharge_node"), events, strict=True):
            _text(name, node, "a String node id or None")
            require(node not in seen, name, node, "a String node, not a sensor's", f"fix {name}")


@dataclasses.dataclass(frozen=True)
class MqttConfig:
    """MQTT adapter settings (see :mod:`steeltwin.engine.service._mqtt`); checked on construction.

    Args:
        tenant: the tenant; the adapter subscribes to ``<topic_prefix>/<tenant>/...`` only.
        host, port: the broker.
        topic_prefix: first topic level(s), no wildcards.
        client_id: MQTT client id (default ``steeltwin-ingest-<tenant>``).
        qos: subscription QoS (0, 1 or 2).
        username, password: broker credentials, optional.
        reconnect_seconds: wait (s) before reconnecting after a lost or failed connection.
        persistent_session: keep the broker session (clean_session=False) so QoS >= 1 messages
            published while the adapter was away are delivered on reconnect.
    """

    tenant: str
    host: str = "127.0.0.1"
    port: int = 1883
    topic_prefix: str = "steeltwin"
    client_id: str | None = None
    qos: int = 1
    username: str | None = None
    password: str | None = None
    reconnect_seconds: float = 5.0
    persistent_session: bool = True

    def __post_init__(self) -> None:
        _tenant(self.tenant)
        _text("host", self.host, "a host name or address", optional=False)
        ok = isinstance(self.port, int) and 0 < self.port < 65536
        require(ok, "port", self.port, "an integer in 1..65535", "use 1883 (the default)")
        prefix = self.topic_prefix
        _text("topic_prefix", prefix, "topic levels without wildcards", optional=False)
        ok = prefix.strip("/") == prefix and "+" not in prefix and "#" not in prefix
        require(ok, "topic_prefix", prefix, "no wildcards or outer '/'", "use e.g. 'steeltwin'")
        ok = self.qos in (0, 1, 2) and not isinstance(self.qos, bool)
        require(ok, "qos", self.qos, "0, 1 or 2", "use 1 (ids make re-delivery harmless)")
        _text("client_id", self.client_id, "a client id or None")
        _positive("reconnect_seconds", self.reconnect_seconds)


class AbstractPlantAdapter(abc.ABC):
    """Shared lifecycle: stats, start/stop, the reconnect loop, guarded sink calls."""

    def __init__(self, sink: PlantSink, tenant: str, reconnect_seconds: float, log: Any) -> None:
        self.sink = sink
        self.tenant = tenant
        self.reconnect_seconds = float(reconnect_seconds)
        self.stats = {"received": 0, "forwarded": 0, "dropped": 0, "errors": 0, "connects": 0}
        self._log: logging.Logger = log
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._connected = False

    @property
    def connected(self) -> bool:
        """True while connected and subscribed."""
        return self._connected

    async def start(self) -> None:
        """Run :meth:`run` in a background task (no-op if it is already running)."""
        if self._task is None or self._task.done():
            self._stopping.clear()
            self._task = asyncio.create_task(self.run(), name=type(self).__name__)

    async def stop(self) -> None:
        """Stop :meth:`run` (close the connection) and wait for it to end."""
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def run(self) -> None:
        """Connect and subscribe; reconnect after ``reconnect_seconds`` on loss; until stopped."""
        while not self._stopping.is_set():
            try:
                await self._session()
            except Exception as exc:
                debug = self._log.isEnabledFor(logging.DEBUG)
                name = type(self).__name__
                self._log.warning("%s: connection lost or failed: %r", name, exc, exc_info=debug)
            finally:
                self._connected = False
            if self._stopping.is_set():
                break
            self._log.info("reconnecting in %g s", self.reconnect_seconds)
            await self._wait_stop(self.reconnect_seconds)

    @abc.abstractmethod
    async def _session(self) -> None:
        """Connect, subscribe, deliver until the connection is lost (raise) or stop (return)."""

    async def _wait_stop(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for :meth:`stop`; True if stopping."""
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True

    def _drop(self, level: int, message: str, *args: Any) -> None:
        self.stats["dropped"] += 1
        self._log.log(level, "dropped: " + message, *args)

    async def _forward(self, call: Callable[[], Awaitable[Any]], count: int, what: str) -> bool:
        """Make and await a sink call; count ``count`` forwarded, or log and count an error."""
        try:
            await call()
        except Exception as exc:
            self.stats["errors"] += 1
            self._log.warning("sink refused %s: %r", what, exc)
            return False
        self.stats["forwarded"] += count
        return True
