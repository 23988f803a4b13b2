"""OPC UA adapter against a real in-process asyncua server on 127.0.0.1.

The server holds Double variables (pyrometers, gas, a thermocouple), a String variable read as
a sensor (wrong-typed values) and String variables (slab at the pyrometers, charge,
discharge). Only the sink is a stand-in: it records calls (and raises for unknown twins).
Waits poll the sink (bounded, 10 s); nothing sleeps for a fixed time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import socket
from collections.abc import Callable
from typing import Any

import pytest
from asyncua import Node, Server, ua

from steeltwin.engine._errors import ConfigError
from steeltwin.engine.service._opcua import OpcUaAdapter, opcua_config
from steeltwin.engine.service._plant import OpcUaConfig, OpcUaSensor

NS = "urn:steeltwin:test"
T0 = dt.datetime(2025, 3, 1, 8, 0, 0, 250000, tzinfo=dt.UTC)
DOUBLES = ("PyroTop", "PyroBottom", "GasTop", "TcMid")
STRINGS = ("SlabAtPyro", "Charge", "Discharge")


class RecordingSink:
    """Records ingest / charge / discharge calls; raises for twins in ``unknown``."""

    def __init__(self, unknown: tuple[str, ...] = ()) -> None:
        self.unknown = unknown
        self.readings: list[tuple[str, str, dict[str, Any]]] = []
        self.charges: list[tuple[str, str, str, Any]] = []
        self.discharges: list[tuple[str, str, str]] = []

    def _check(self, twin_id: str) -> None:
        if twin_id in self.unknown:
            raise LookupError(f"unknown twin {twin_id!r}")

    async def ingest(self, tenant: str, twin_id: str, readings: list[dict[str, Any]]) -> None:
        self._check(twin_id)
        self.readings += [(tenant, twin_id, r) for r in readings]

    async def charge(self, tenant: str, twin_id: str, timestamp: str, spec: Any) -> None:
        self._check(twin_id)
        self.charges.append((tenant, twin_id, timestamp, spec))

    async def discharge(self, tenant: str, twin_id: str, timestamp: str) -> None:
        self._check(twin_id)
        self.discharges.append((tenant, twin_id, timestamp))

    def values(self, twin: str, sensor: str) -> list[float]:
        return [r["value"] for _, t, r in self.readings if t == twin and r["sensor"] == sensor]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def stamped(variant: ua.Variant, stamp: dt.datetime, status: Any = None) -> ua.DataValue:
    """A DataValue with a source timestamp (and a status code if given)."""
    status = status or ua.StatusCode()
    return ua.DataValue(variant, status, SourceTimestamp=stamp)  # type: ignore[arg-type]


class Plant:
    """An asyncua server with the test namespace; ``write`` sets a value (stamped now or given)."""

    def __init__(self, port: int) -> None:
        self.port, self.server, self.idx = port, Server(), 0
        self.nodes: dict[str, Node] = {}

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://127.0.0.1:{self.port}/steeltwin/"

    def node_id(self, name: str) -> str:
        return f"ns={self.idx};s={name}"

    async def start(self) -> Plant:
        await self.server.init()
        self.server.set_endpoint(self.endpoint)
        self.idx = await self.server.register_namespace(NS)
        furnace = await self.server.nodes.objects.add_object(self.idx, "Furnace")
        for name in DOUBLES:
            node = ua.NodeId.from_string(self.node_id(name))
            self.nodes[name] = await furnace.add_variable(node, name, 20.0, ua.VariantType.Double)
            await self.write(name, 20.0, T0)  # fixed initial stamp: the same after a restart
        # "Text" is a misconfigured plant node: a String where the adapter expects a number
        for name, text in [*((n, "") for n in STRINGS), ("Text", "n/a")]:
            node = ua.NodeId.from_string(self.node_id(name))
            self.nodes[name] = await furnace.add_variable(node, name, text, ua.VariantType.String)
        await self.server.start()
        return self

    async def write(self, name: str, value: Any, stamp: dt.datetime | None = None) -> None:
        kind = ua.VariantType.Double if name in DOUBLES else ua.VariantType.String
        variant = ua.Variant(value, kind)
        await self.write_dv(name, stamped(variant, stamp or now()))

    async def write_dv(self, name: str, dv: ua.DataValue) -> None:
        """Write as the server's own process does (no type check: a PLC may send anything)."""
        await self.server.write_attribute_value(self.nodes[name].nodeid, dv)


def config(plant: Plant, **changes: Any) -> OpcUaConfig:
    sensors = [
        OpcUaSensor(
            plant.node_id("PyroTop"),
            "pyrometer_top",
            "degC",
            twin_id_node=plant.node_id("SlabAtPyro"),
        ),
        OpcUaSensor(
            plant.node_id("PyroBottom"),
            "pyrometer_bottom",
            "degC",
            twin_id_node=plant.node_id("SlabAtPyro"),
        ),
        OpcUaSensor(plant.node_id("GasTop"), "gas_top", "K", twin_id="zone3"),
        OpcUaSensor(
            plant.node_id("TcMid"),
            "thermocouple",
            "degC",
            depth=100.0,
            depth_unit="mm",
            twin_id="probe",
        ),
        OpcUaSensor(plant.node_id("Text"), "gas_bottom", "degC", twin_id="zone3"),
    ]
    fields: dict[str, Any] = {
        "endpoint": plant.endpoint,
        "tenant": "plant-a",
        "sensors": sensors,
        "publishing_interval_ms": 20,
        "charge_node": plant.node_id("Charge"),
        "discharge_node": plant.node_id("Discharge"),
        "reconnect_seconds": 0.2,
    }
    return OpcUaConfig(**{**fields, **changes})


def run(scenario: Callable[..., Any], *args: Any) -> None:
    """Run ``scenario(plant, *args)`` against a started server; always stop the server."""

    async def main() -> None:
        plant = await Plant(free_port()).start()
        try:
            await scenario(plant, *args)
        finally:
            await plant.server.stop()

    asyncio.run(main())


def test_values_events_and_slab_tracking_reach_the_sink() -> None:
    async def scenario(plant: Plant) -> None:
        sink = RecordingSink()
        adapter = OpcUaAdapter(config(plant), sink)
        await adapter.start()
        await until(lambda: adapter.connected, "the subscription")
        # initial values: fixed twins get theirs; the pyrometers see no slab yet (dropped)
        await until(lambda: sink.values("probe", "thermocouple") == [20.0], "initial values")
        t1 = T0 + dt.timedelta(seconds=10)
        await plant.write("Charge", "S1", t1)
        await plant.write("SlabAtPyro", "S1", t1)
        await plant.write("PyroTop", 850.5, t1 + dt.timedelta(seconds=1))
        await plant.write("PyroBottom", 840.0, t1 + dt.timedelta(seconds=1))
        await plant.write("GasTop", 1400.0, t1 + dt.timedelta(seconds=2))
        await until(lambda: sink.values("S1", "pyrometer_bottom") == [840.0], "S1 bottom")
        await until(lambda: sink.values("zone3", "gas_top") == [20.0, 1400.0], "gas_top")
        assert sink.charges == [("plant-a", "S1", t1.isoformat(), None)]
        ((tenant, twin, top),) = [r for r in sink.readings if r[2]["sensor"] == "pyrometer_top"]
        stamp = (t1 + dt.timedelta(seconds=1)).isoformat()
        assert (tenant, twin) == ("plant-a", "S1")
        assert top == {
            "id": f"opcua:{plant.node_id('PyroTop')}@{stamp}",
            "timestamp": stamp,
            "sensor": "pyrometer_top",
            "value": 850.5,
            "unit": "degC",
        }
        assert stamp.endswith("+00:00")
        ((_, _, tc),) = [r for r in sink.readings if r[1] == "probe"]
        assert (tc["depth"], tc["depth_unit"], tc["timestamp"]) == (100.0, "mm", T0.isoformat())
        # the slab moves on: the same pyrometer now reads S2; S1 is discharged
        t2 = t1 + dt.timedelta(seconds=60)
        await plant.write("SlabAtPyro", "S2", t2)
        await plant.write("Discharge", "S1", t2)
        await plant.write("PyroTop", 900.0, t2 + dt.timedelta(seconds=1))
        await until(lambda: sink.values("S2", "pyrometer_top") == [900.0], "S2 top")
        await until(lambda: sink.discharges == [("plant-a", "S1", t2.isoformat())], "discharge")
        assert sink.values("S1", "pyrometer_top") == [850.5]
        # an empty slab id: readings are dropped, not forwarded to anyone
        dropped = adapter.stats["dropped"]
        await plant.write("SlabAtPyro", "", t2 + dt.timedelta(seconds=5))
        await plant.write("PyroTop", 950.0, t2 + dt.timedelta(seconds=6))
        await until(lambda: adapter.stats["dropped"] == dropped + 1, "the no-slab drop")
        await adapter.stop()
        assert not adapter.connected
        assert len({r["id"] for _, _, r in sink.readings}) == len(sink.readings)
        assert adapter.stats["errors"] == 0
        assert adapter.stats["forwarded"] == len(sink.readings) + 2  # + charge, discharge

    run(scenario)


def test_bad_values_are_dropped_and_counted_and_the_adapter_goes_on() -> None:
    async def scenario(plant: Plant) -> None:
        sink = RecordingSink()
        adapter = OpcUaAdapter(config(plant), sink)
        await adapter.start()
        await until(lambda: sink.values("zone3", "gas_top") == [20.0], "initial values")
        # one at a time: the asyncua server reports a node's *current* value, so quick
        # successive writes to one node can merge into one notification
        failed = ua.StatusCode(ua.UInt32(ua.StatusCodes.BadSensorFailure))
        bad = stamped(ua.Variant(1.0), now(), failed)
        writes = [("GasTop", math.nan), ("Text", "hot"), ("Text", "1250"), ("GasTop", bad)]
        for i, (name, value) in enumerate(writes):
            dropped = adapter.stats["dropped"]
            if isinstance(value, ua.DataValue):
                await plant.write_dv(name, value)
            else:
                await plant.write(name, value)
            await until(lambda: adapter.stats["dropped"] == dropped + 1, f"drop {i}")  # noqa: B023
        await plant.write("GasTop", 1500.0)
        await until(lambda: 1500.0 in sink.values("zone3", "gas_top"), "a good value after")
        assert all(math.isfinite(r["value"]) for _, _, r in sink.readings)
        assert adapter.stats["errors"] == 0
        await adapter.stop()

    run(scenario)


def test_a_raising_sink_is_counted_and_does_not_stop_the_adapter() -> None:
    async def scenario(plant: Plant) -> None:
        sink = RecordingSink(unknown=("zone3", "ghost"))
        adapter = OpcUaAdapter(config(plant), sink)
        await adapter.start()
        await until(lambda: sink.values("probe", "thermocouple") == [20.0], "initial values")
        await until(lambda: adapter.stats["errors"] >= 1, "the refused zone3 readings")
        await plant.write("Charge", "ghost")
        await until(lambda: adapter.stats["errors"] >= 2, "the refused charge")
        await plant.write("TcMid", 300.0)
        await until(lambda: sink.values("probe", "thermocouple") == [20.0, 300.0], "later values")
        assert sink.values("zone3", "gas_top") == [] and sink.charges == []
        await adapter.stop()

    run(scenario)


def test_reconnects_after_the_server_restarts_and_redelivery_keeps_ids() -> None:
    async def scenario(plant: Plant) -> None:
        sink = RecordingSink()
        adapter = OpcUaAdapter(config(plant), sink)
        await adapter.start()
        await until(lambda: sink.values("probe", "thermocouple") == [20.0], "initial values")
        ids = {r["id"] for _, t, r in sink.readings if t == "probe"}
        await plant.server.stop()
        await until(lambda: not adapter.connected, "the adapter to see the loss")
        plant.server = Server()
        await plant.start()  # same port, same initial values and source timestamps
        await until(lambda: adapter.stats["connects"] == 2, "the reconnect")
        await until(lambda: len(sink.values("probe", "thermocouple")) == 2, "re-delivery")
        assert {r["id"] for _, t, r in sink.readings if t == "probe"} == ids  # a duplicate
        await plant.write("TcMid", 310.0)
        await until(lambda: 310.0 in sink.values("probe", "thermocouple"), "a value after")
        await adapter.stop()

    run(scenario)


def test_stop_while_the_server_is_unreachable_returns_promptly() -> None:
    async def main() -> None:
        plant = Plant(free_port())
        adapter = OpcUaAdapter(config(plant, reconnect_seconds=30.0), RecordingSink())
        await adapter.start()
        await asyncio.sleep(0.2)
        await asyncio.wait_for(adapter.stop(), 5.0)
        assert adapter.stats["connects"] == 0 and not adapter.connected

    asyncio.run(main())


def _sensor(**changes: Any) -> OpcUaSensor:
    fields = {"node_id": "ns=2;s=P", "sensor": "pyrometer_top", "unit": "degC", "twin_id": "S1"}
    return OpcUaSensor(**{**fields, **changes})


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        (
            {"endpoint": "http://plc:4840"},
            r"endpoint='http://plc:4840' is invalid: expected an opc",
        ),
        ({"tenant": ""}, r"tenant='' is invalid"),
        ({"reconnect_seconds": 0}, r"reconnect_seconds=0 is invalid: expected a number > 0"),
        ({"publishing_interval_ms": math.nan}, r"publishing_interval_ms=nan is invalid"),
        ({"sensors": []}, r"sensors=\[\] is invalid: expected at least one sensor"),
        (
            {"sensors": [_sensor(twin_id_node="ns=2;s=Slab")]},
            r"sensors\[0\]\.twin_id='S1' is invalid: expected exactly one of twin_id / "
            r"twin_id_node \(twin_id_node='ns=2;s=Slab'\)",
        ),
        ({"sensors": [_sensor(twin_id=None)]}, r"sensors\[0\]\.twin_id=None is invalid.*not both"),
        (
            {"sensors": [_sensor(sensor="pyrometer")]},
            r"sensors\[0\]\.sensor='pyrometer' is invalid: expected one of pyrometer_top",
        ),
        (
            {"sensors": [_sensor(unit="C")]},
            r"sensors\[0\]\.unit='C' is invalid: expected one of degC",
        ),
        (
            {"sensors": [_sensor(sensor="thermocouple")]},
            r"sensors\[0\]\.depth=None is invalid: expected a thermocouple's depth >= 0",
        ),
        (
            {"sensors": [_sensor(sensor="thermocouple", depth=5.0)]},
            r"sensors\[0\]\.depth_unit=None is invalid: expected one of mm, m",
        ),
        (
            {"sensors": [_sensor(depth=5.0, depth_unit="mm")]},
            r"sensors\[0\]\.depth=5\.0 is invalid: expected no depth for a pyrometer_top",
        ),
        (
            {"sensors": [_sensor(), _sensor(sensor="gas_top")]},
            r"sensors\[1\]\.node_id='ns=2;s=P' is invalid: expected a node not already read by "
            r"sensors\[0\]",
        ),
        (
            {"charge_node": "ns=2;s=P"},
            r"charge_node='ns=2;s=P' is invalid: expected a String node, not a sensor's",
        ),
    ],
)
def test_bad_config_is_refused_with_a_clear_message(changes: dict[str, Any], match: str) -> None:
    fields: dict[str, Any] = {
        "endpoint": "opc.tcp://127.0.0.1:4840/",
        "tenant": "plant-a",
        "sensors": [_sensor()],
    }
    with pytest.raises(ConfigError, match=match):
        OpcUaConfig(**{**fields, **changes})


def test_a_malformed_node_id_is_refused_when_the_adapter_is_built() -> None:
    cfg = OpcUaConfig("opc.tcp://127.0.0.1:4840/", "plant-a", [_sensor(node_id="Pyro;;top")])
    with pytest.raises(ConfigError, match=r"sensors\[0\]\.node_id='Pyro;;top' is invalid"):
        OpcUaAdapter(cfg, RecordingSink())


def test_opcua_config_builds_from_plain_settings_and_names_the_key() -> None:
    settings = {
        "endpoint": "opc.tcp://plc:4840/",
        "tenant": "plant-a",
        "sensors": [{"node_id": "ns=2;s=P", "sensor": "gas_top", "unit": "K", "twin_id": "z"}],
        "charge_node": "ns=2;s=Charge",
    }
    cfg = opcua_config(settings)
    assert cfg.sensors == (OpcUaSensor("ns=2;s=P", "gas_top", "K", twin_id="z"),)
    assert cfg.charge_node == "ns=2;s=Charge" and cfg.publishing_interval_ms == 500.0
    with pytest.raises(ConfigError, match=r"serve\.opcua\.endpont='endpont' is invalid: expec"):
        opcua_config({**settings, "endpont": "x"})
    bad = [{"node_id": "ns=2;s=P", "sensor": "gas_top", "unit": "C", "twin_id": "z"}]
    with pytest.raises(ConfigError, match=r"serve\.opcua\.sensors\[0\]\.unit='C' is invalid"):
        opcua_config({**settings, "sensors": bad})
    with pytest.raises(ConfigError, match=r"serve\.opcua\.tenant=None is invalid.*set tenant"):
        opcua_config({"endpoint": "opc.tcp://plc:4840/"})
