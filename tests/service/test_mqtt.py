"""MQTT adapter against the real Mosquitto broker at 127.0.0.1:1883 (anonymous).

Skipped, saying what to start, when the broker cannot be reached. Every test uses its own
random topic prefix and client ids, so parallel workers never see each other's messages.
Messages are published with a separate aiomqtt client at QoS 1 (in order); only the sink is a
stand-in (it records calls and raises for unknown twins). Waits poll (bounded, 10 s).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt
import pytest

from steeltwin.engine._errors import ConfigError
from steeltwin.engine.service._mqtt import MAX_PAYLOAD, MqttAdapter, mqtt_config
from steeltwin.engine.service._plant import MqttConfig

HOST, PORT = "127.0.0.1", 1883
STAMP = "2025-03-01T08:00:00+00:00"


class RecordingSink:
    """Records ingest / charge / discharge calls; raises for twins in ``unknown``."""

    def __init__(self, unknown: tuple[str, ...] = ()) -> None:
        self.unknown = unknown
        self.ingests: list[tuple[str, str, list[dict[str, Any]]]] = []
        self.charges: list[tuple[str, str, str, Any]] = []
        self.discharges: list[tuple[str, str, str]] = []

    def _check(self, twin_id: str) -> None:
        if twin_id in self.unknown:
            raise LookupError(f"unknown twin {twin_id!r}")

    async def ingest(self, tenant: str, twin_id: str, readings: list[dict[str, Any]]) -> None:
        self._check(twin_id)
        self.ingests.append((tenant, twin_id, readings))

    async def charge(self, tenant: str, twin_id: str, timestamp: str, spec: Any) -> None:
        self._check(twin_id)
        self.charges.append((tenant, twin_id, timestamp, spec))

    async def discharge(self, tenant: str, twin_id: str, timestamp: str) -> None:
        self._check(twin_id)
        self.discharges.append((tenant, twin_id, timestamp))

    def readings(self) -> list[dict[str, Any]]:
        return [r for _, _, batch in self.ingests for r in batch]


@pytest.fixture(scope="module")
def _broker() -> None:
    try:
        socket.create_connection((HOST, PORT), timeout=2).close()
    except OSError as e:
        pytest.skip(
            f"no MQTT broker at {HOST}:{PORT} ({e}); start one allowing anonymous clients, "
            "e.g. `mosquitto -p 1883` or `docker run -d -p 1883:1883 eclipse-mosquitto:2 "
            "mosquitto -c /mosquitto-no-auth.conf`"
        )


@pytest.fixture
def prefix(_broker: None) -> str:
    """A topic prefix no other test (or worker) uses."""
    return f"steeltwin-test-{uuid.uuid4().hex[:12]}"


async def until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


Publish = Callable[[str, Any], Awaitable[None]]


def run(
    prefix: str,
    scenario: Callable[[MqttAdapter, RecordingSink, Publish], Awaitable[None]],
    sink: RecordingSink | None = None,
) -> None:
    """Start an adapter for tenant ``plant-a``, run ``scenario`` with a publisher, stop."""
    sink = sink or RecordingSink()

    async def main() -> None:
        cfg = MqttConfig(
            tenant="plant-a",
            topic_prefix=prefix,
            client_id=f"{prefix}-adapter",
            persistent_session=False,  # leave no session behind on the shared broker
            reconnect_seconds=0.2,
        )
        adapter = MqttAdapter(cfg, sink)
        await adapter.start()
        try:
            await until(lambda: adapter.connected, "the adapter's subscription")
            async with aiomqtt.Client(HOST, PORT, identifier=f"{prefix}-pub") as client:

                async def publish(topic: str, payload: Any) -> None:
                    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                    await client.publish(f"{prefix}/{topic}", data, qos=1)

                await scenario(adapter, sink, publish)
        finally:
            await adapter.stop()
        assert not adapter.connected

    asyncio.run(main())


def reading(**changes: Any) -> dict[str, Any]:
    fields = {"sensor": "pyrometer_top", "value": 1012.5, "unit": "degC", "timestamp": STAMP}
    return {**fields, **changes}


def test_single_and_list_payloads_reach_the_sink(prefix: str) -> None:
    async def scenario(adapter: MqttAdapter, sink: RecordingSink, publish: Publish) -> None:
        await publish("plant-a/twins/S1/readings", reading(id="r-1"))
        tc = reading(sensor="thermocouple", value=700, depth=50, depth_unit="mm", id="r-3")
        await publish("plant-a/twins/S2/readings", [reading(id="r-2", unit="K"), tc])
        await until(lambda: len(sink.ingests) == 2, "two ingest calls")
        assert sink.ingests[0] == ("plant-a", "S1", [reading(id="r-1")])
        tenant, twin, batch = sink.ingests[1]
        assert (tenant, twin, [r["id"] for r in batch]) == ("plant-a", "S2", ["r-2", "r-3"])
        assert batch[1] == {**tc, "value": 700.0, "depth": 50.0}
        stats = {"received": 2, "forwarded": 3, "dropped": 0, "errors": 0, "connects": 1}
        assert adapter.stats == stats

    run(prefix, scenario)


def test_generated_ids_are_deterministic_and_a_missing_timestamp_is_the_receive_time(
    prefix: str,
) -> None:
    async def scenario(adapter: MqttAdapter, sink: RecordingSink, publish: Publish) -> None:
        for _ in range(2):  # a QoS 1 re-delivery looks like this
            await publish("plant-a/twins/S1/readings", reading())
        unstamped = {k: v for k, v in reading(sensor="gas_top").items() if k != "timestamp"}
        await publish("plant-a/twins/S1/readings", unstamped)
        await until(lambda: len(sink.ingests) == 3, "three ingest calls")
        a, b, c = sink.readings()
        shape = reading()
        text = json.dumps(shape, sort_keys=True, separators=(",", ":"))
        assert a == b == {"id": hashlib.sha1(text.encode()).hexdigest()[:16], **shape}
        received = dt.datetime.fromisoformat(c["timestamp"])
        assert received.utcoffset() == dt.timedelta(0)
        assert abs((dt.datetime.now(dt.UTC) - received).total_seconds()) < 60
        assert len(c["id"]) == 16 and c["id"] != a["id"]

    run(prefix, scenario)


def test_charge_and_discharge_events_reach_the_sink(prefix: str) -> None:
    async def scenario(adapter: MqttAdapter, sink: RecordingSink, publish: Publish) -> None:
        spec = {"thickness": 0.25}
        await publish("plant-a/events/charge", {"twin_id": "S1", "timestamp": STAMP, "spec": spec})
        await publish("plant-a/events/charge", {"twin_id": "S2", "timestamp": STAMP, "spec": None})
        await publish("plant-a/events/discharge", {"twin_id": "S1", "timestamp": STAMP})
        await publish("plant-a/events/discharge", {"twin_id": "S2"})
        await until(lambda: len(sink.discharges) == 2, "two discharges")
        assert sink.charges == [("plant-a", "S1", STAMP, spec), ("plant-a", "S2", STAMP, None)]
        assert sink.discharges[0] == ("plant-a", "S1", STAMP)
        assert dt.datetime.fromisoformat(sink.discharges[1][2]).tzinfo is not None
        assert adapter.stats["forwarded"] == 4

    run(prefix, scenario)


def test_bad_payloads_are_dropped_and_counted_and_the_adapter_goes_on(prefix: str) -> None:
    bad: list[tuple[str, Any]] = [
        ("plant-a/twins/S1/readings", b"{not json"),
        ("plant-a/twins/S1/readings", b"\xff\xfe"),
        ("plant-a/twins/S1/readings", b"[" + b" " * MAX_PAYLOAD + b"]"),
        ("plant-a/twins/S1/readings", 42),
        ("plant-a/twins/S1/readings", []),
        ("plant-a/twins/S1/readings", reading(value="hot")),
        ("plant-a/twins/S1/readings", b'{"sensor": "gas_top", "value": NaN, "unit": "K"}'),
        ("plant-a/twins/S1/readings", reading(value=True)),
        ("plant-a/twins/S1/readings", reading(sensor="pyrometer")),
        ("plant-a/twins/S1/readings", reading(depht=5)),
        ("plant-a/twins/S1/readings", reading(timestamp="2025-03-01T08:00:00")),
        ("plant-a/twins/S1/readings", reading(id=7)),
        ("plant-a/twins/S1/readings", reading(id="x" * 129)),
        ("plant-a/twins/S1/readings", reading(unit=None)),
        ("plant-a/twins/S1/readings", reading(sensor="thermocouple", depth="deep")),
        ("plant-a/twins//readings", reading()),
        ("plant-a/events/charge", {"timestamp": STAMP}),
        ("plant-a/events/charge", {"twin_id": "S1", "spec": [1, 2]}),
        ("plant-a/events/discharge", ["S1"]),
        ("plant-a/events/scrap", {"twin_id": "S1"}),
    ]

    async def scenario(adapter: MqttAdapter, sink: RecordingSink, publish: Publish) -> None:
        for topic, payload in bad:
            await publish(topic, payload)
        # a list with one bad reading: the good one is forwarded, the bad one dropped
        await publish("plant-a/twins/S1/readings", [reading(id="good"), reading(value=None)])
        await publish("plant-a/twins/S1/readings", reading(id="after"))
        await until(lambda: [r["id"] for r in sink.readings()] == ["good", "after"], "good ones")
        assert adapter.stats == {
            "received": len(bad) + 2,
            "forwarded": 2,
            "dropped": len(bad) + 1,
            "errors": 0,
            "connects": 1,
        }

    run(prefix, scenario)


def test_another_tenants_topics_are_never_forwarded(prefix: str) -> None:
    async def scenario(adapter: MqttAdapter, sink: RecordingSink, publish: Publish) -> None:
        await publish("plant-b/twins/S1/readings", reading(id="b"))
        await publish("plant-a-2/twins/S1/readings", reading(id="a2"))
        await publish("plant-b/events/charge", {"twin_id": "S1", "timestamp": STAMP})
        await publish("plant-a/twins/S1/readings", reading(id="a"))
        await until(lambda: len(sink.ingests) == 1, "the own tenant's reading")
        assert [r["id"] for r in sink.readings()] == ["a"] and sink.charges == []
        assert adapter.stats["received"] == 1  # the others were never even delivered
        # and if a broker delivered one anyway, the adapter would refuse it
        await adapter.handle(f"{prefix}/plant-b/twins/S1/readings", b"{}")
        assert adapter.stats["dropped"] == 1 and len(sink.ingests) == 1

    run(prefix, scenario)


def test_a_raising_sink_is_counted_and_does_not_stop_the_adapter(prefix: str) -> None:
    async def scenario(adapter: MqttAdapter, sink: RecordingSink, publish: Publish) -> None:
        await publish("plant-a/twins/ghost/readings", reading(id="lost"))
        await publish("plant-a/events/charge", {"twin_id": "ghost", "timestamp": STAMP})
        await publish("plant-a/events/discharge", {"twin_id": "ghost", "timestamp": STAMP})
        await publish("plant-a/twins/S1/readings", reading(id="kept"))
        await until(lambda: len(sink.ingests) == 1, "the reading after the errors")
        assert [r["id"] for r in sink.readings()] == ["kept"]
        assert (adapter.stats["errors"], adapter.stats["forwarded"]) == (3, 1)

    run(prefix, scenario, RecordingSink(unknown=("ghost",)))


class Proxy:
    """A TCP relay to the broker that the test can cut (every connection) and bring back."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._relay, HOST, self.port)

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        self.writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(HOST, PORT)
        self.writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


def free_port() -> int:
    with socket.socket() as sock:  # a port nobody listens on (until someone binds it)
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def test_reconnects_after_a_lost_connection_and_gets_what_was_sent_meanwhile(prefix: str) -> None:
    async def main() -> None:
        proxy, sink, client_id = Proxy(), RecordingSink(), f"{prefix}-adapter"
        await proxy.start()
        cfg = MqttConfig(
            tenant="plant-a",
            port=proxy.port,
            topic_prefix=prefix,
            client_id=client_id,
            reconnect_seconds=0.2,
        )
        adapter = MqttAdapter(cfg, sink)
        await adapter.start()
        topic = f"{prefix}/plant-a/twins/S1/readings"
        try:
            await until(lambda: adapter.connected, "the first connection")
            async with aiomqtt.Client(HOST, PORT, identifier=f"{prefix}-pub") as client:
                await client.publish(topic, json.dumps(reading(id="before")), qos=1)
                await until(lambda: len(sink.ingests) == 1, "the first reading")
                await proxy.cut()
                await until(lambda: not adapter.connected, "the adapter to see the loss")
                # QoS 1 to a persistent session: the broker keeps it for the adapter
                await client.publish(topic, json.dumps(reading(id="meanwhile")), qos=1)
                await proxy.start()
                await until(lambda: adapter.stats["connects"] == 2, "the reconnect")
                await client.publish(topic, json.dumps(reading(id="after")), qos=1)
                ids = lambda: [r["id"] for r in sink.readings()]  # noqa: E731
                await until(lambda: ids() == ["before", "meanwhile", "after"], "all three")
        finally:
            await adapter.stop()
            await proxy.cut()
            async with aiomqtt.Client(HOST, PORT, identifier=client_id, clean_session=True):
                pass  # drop the persistent session from the shared broker

    asyncio.run(main())


def test_stop_while_the_broker_is_unreachable_returns_promptly() -> None:
    async def main() -> None:
        cfg = MqttConfig(tenant="plant-a", port=free_port(), reconnect_seconds=30.0)
        adapter = MqttAdapter(cfg, RecordingSink())
        await adapter.start()
        await asyncio.sleep(0.1)
        await asyncio.wait_for(adapter.stop(), 5.0)
        assert adapter.stats["connects"] == 0 and not adapter.connected

    asyncio.run(main())


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"tenant": "a/b"}, r"tenant='a/b' is invalid: expected no '/', '\+' or '#'"),
        ({"tenant": " a"}, r"tenant=' a' is invalid: expected a name without spaces"),
        ({"topic_prefix": "plant/#"}, r"topic_prefix='plant/#' is invalid: expected no wildcards"),
        ({"topic_prefix": "/plant"}, r"topic_prefix='/plant' is invalid"),
        ({"qos": 3}, r"qos=3 is invalid: expected 0, 1 or 2"),
        ({"port": 0}, r"port=0 is invalid: expected an integer in 1\.\.65535"),
        ({"client_id": ""}, r"client_id='' is invalid"),
        ({"reconnect_seconds": -1}, r"reconnect_seconds=-1 is invalid: expected a number > 0"),
    ],
)
def test_bad_config_is_refused_with_a_clear_message(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        MqttConfig(**{"tenant": "plant-a", **changes})


def test_mqtt_config_builds_from_plain_settings_and_names_the_key() -> None:
    cfg = mqtt_config({"tenant": "plant-a", "host": "broker", "qos": 0})
    assert (cfg.host, cfg.port, cfg.qos, cfg.topic_prefix) == ("broker", 1883, 0, "steeltwin")
    with pytest.raises(ConfigError, match=r"serve\.mqtt\.hots='hots' is invalid: expected one of"):
        mqtt_config({"tenant": "plant-a", "hots": "broker"})
    with pytest.raises(ConfigError, match=r"serve\.mqtt\.qos=5 is invalid"):
        mqtt_config({"tenant": "plant-a", "qos": 5})
