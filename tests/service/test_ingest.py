"""Plant data into the running service, end to end: an MQTT charge event and readings through
the real Mosquitto broker, and OPC UA values from a real in-process asyncua server, reach the
twins (created, stored, assimilated) exactly like HTTP readings."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
import threading
import time
import uuid

import pytest
from fastapi.testclient import TestClient

from steeltwin.engine.service import ServeSettings, create_app

SLAB = {"zones": [{"name": "heat", "gas_temperature": 1200, "duration": 7200}]}
CHARGED = dt.datetime(2026, 5, 4, 6, 0, tzinfo=dt.UTC)


def poll(fn, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = fn()
        if out:
            return out
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def stamp(seconds: float) -> str:
    return (CHARGED + dt.timedelta(seconds=seconds)).isoformat()


def test_mqtt_charge_and_readings_reach_the_twin(tmp_path):
    aiomqtt = pytest.importorskip("aiomqtt")
    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=2).close()
    except OSError:
        pytest.skip("no MQTT broker on 127.0.0.1:1883; start mosquitto (mosquitto -d)")
    prefix = f"st-{uuid.uuid4().hex[:8]}"
    app = create_app(ServeSettings(
        database=f"sqlite:///{tmp_path / 'st.db'}", state_dir=str(tmp_path), warmup=False,
        mqtt={"tenant": "default", "topic_prefix": prefix, "client_id": f"c-{prefix}",
              "persistent_session": False, "slab": SLAB}))
    with TestClient(app) as client:
        h = {"Authorization": f"Bearer {app.state.service.bootstrap_key}"}
        adapter = app.state.service.adapters[0]
        poll(lambda: adapter.connected, "the adapter to connect")

        async def publish() -> None:
            async with aiomqtt.Client("127.0.0.1", 1883) as c:
                await c.publish(f"{prefix}/default/events/charge", json.dumps(
                    {"twin_id": "m1", "timestamp": stamp(0), "spec": None}), qos=1)
                await asyncio.sleep(0.5)  # the charge first (separate topics have no order)
                readings = [{"id": f"m{i}", "timestamp": stamp(30 * i), "value": 20 + 5 * i,
                             "sensor": "pyrometer_top", "unit": "degC"} for i in range(1, 7)]
                await c.publish(f"{prefix}/default/twins/m1/readings", json.dumps(readings),
                                qos=1)
                await c.publish(f"{prefix}/other-tenant/twins/m1/readings",
                                json.dumps(readings[:1]), qos=1)

        asyncio.run(publish())
        info = poll(lambda: (r := client.get("/v1/twins/m1", headers=h)).status_code == 200
                    and r.json()["readings"] == 6 and r.json(), "the readings")
        assert info["charged_at"].startswith("2026-05-04T06:00:00")
        st = client.get("/v1/twins/m1/state", headers=h).json()
        assert st["time_s"] == 180.0 and st["readings"] == 6
        assert adapter.stats["errors"] == 0


def test_opcua_values_reach_the_twin(tmp_path):
    asyncua = pytest.importorskip("asyncua")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    endpoint = f"opc.tcp://127.0.0.1:{port}/steeltwin/"

    async def serve_and_write(ready: threading.Event, go: threading.Event) -> None:
        server = asyncua.Server()
        await server.init()
        server.set_endpoint(endpoint)
        ns = await server.register_namespace("urn:steeltwin:ingest")
        obj = await server.nodes.objects.add_object(ns, "Furnace")
        pyro = await obj.add_variable(f"ns={ns};s=PyroTop", "PyroTop", 20.0)
        async with server:
            ready.set()
            while not go.is_set():
                await asyncio.sleep(0.05)
            for i in range(1, 5):
                dv = asyncua.ua.DataValue(asyncua.ua.Variant(30.0 + 10 * i,
                                                             asyncua.ua.VariantType.Double),
                                          SourceTimestamp=CHARGED + dt.timedelta(seconds=40 * i))
                await pyro.write_value(dv)
                await asyncio.sleep(0.3)
            await asyncio.sleep(3.0)

    ready, go = threading.Event(), threading.Event()
    thread = threading.Thread(target=asyncio.run, args=(serve_and_write(ready, go),),
                              daemon=True)
    thread.start()
    poll(ready.is_set, "the OPC UA server")
    app = create_app(ServeSettings(
        database=f"sqlite:///{tmp_path / 'st.db'}", state_dir=str(tmp_path), warmup=False,
        opcua={"endpoint": endpoint, "tenant": "default", "publishing_interval_ms": 50,
               "sensors": [{"node_id": "ns=2;s=PyroTop", "sensor": "pyrometer_top",
                            "unit": "degC", "twin_id": "o1"}]}))
    with TestClient(app) as client:
        h = {"Authorization": f"Bearer {app.state.service.bootstrap_key}"}
        r = client.post("/v1/twins", json={"twin_id": "o1", "slab": SLAB,
                                           "charged_at": CHARGED.isoformat()}, headers=h)
        assert r.status_code == 201
        adapter = app.state.service.adapters[0]
        poll(lambda: adapter.connected, "the adapter to connect")
        go.set()
        info = poll(lambda: (r := client.get("/v1/twins/o1", headers=h)).json()["readings"]
                    and r.json()["readings"] >= 4 and r.json(), "the OPC UA readings")
        assert info["readings"] >= 4
        st = client.get("/v1/twins/o1/state", headers=h).json()
        assert st["time_s"] >= 160.0
    thread.join(15)
