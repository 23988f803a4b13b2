"""Durable state: kill -9 of a live server loses no acknowledged reading; replicas sharing a
PostgreSQL store serve the same twins (tests against the real server on this machine)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from steeltwin.engine.service import ServeSettings, create_app, open_store

ROOT = Path(__file__).resolve().parents[2]
SLAB = {"zones": [{"name": "preheat", "gas_temperature": 1100, "duration": 3600},
                  {"name": "soak", "gas_temperature": 1250, "duration": 3600}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "steeltwin.engine.apps.serve", f"serve.port={port}",
           f"serve.database=sqlite:///{tmp / 'st.db'}", f"serve.state_dir={tmp}",
           "serve.warmup=false", "serve.log_level=warning", f"hydra.run.dir={tmp / 'hydra'}"]
    with open(tmp / f"server-{port}.log", "ab") as log:  # the child keeps its own copy
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError((tmp / f"server-{port}.log").read_text())
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server did not become ready in 120 s")


@pytest.mark.slow
def test_kill_9_mid_request_loses_no_acknowledged_reading(tmp_path):
    port = free_port()
    proc = start_server(tmp_path, port)
    key = (tmp_path / "admin.key").read_text().strip()
    h = {"Authorization": f"Bearer {key}"}
    url = f"http://127.0.0.1:{port}"
    acked: list[str] = []
    try:
        r = httpx.post(f"{url}/v1/twins", json={"twin_id": "k9", "slab": SLAB}, headers=h,
                       timeout=60)
        assert r.status_code == 201, r.text
        stop = threading.Event()

        def post_forever() -> None:
            i = 0
            with httpx.Client(timeout=60) as c:
                while not stop.is_set():
                    i += 1
                    rs = [{"id": f"r{i}-{j}", "time_s": 10.0 * (3 * i + j), "value": 30 + i,
                           "sensor": "pyrometer_top", "unit": "degC"} for j in range(3)]
                    try:
                        resp = c.post(f"{url}/v1/twins/k9/measurements", json={"readings": rs},
                                      headers=h)
                    except httpx.HTTPError:
                        return  # the server is gone mid-request
                    if resp.status_code == 200:
                        acked.extend(resp.json()["stored"])

        t = threading.Thread(target=post_forever)
        t.start()
        deadline = time.monotonic() + 60
        while len(acked) < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)  # while requests are in flight
        proc.wait(10)
        stop.set()
        t.join(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(acked) >= 30
    store = open_store(f"sqlite:///{tmp_path / 'st.db'}")
    held = {d["id"] for _, d in store.readings("default", "k9")}
    store.close()
    assert set(acked) <= held
    # The restarted server rebuilds the twin from the store and carries on.
    proc = start_server(tmp_path, port)
    try:
        st = httpx.get(f"{url}/v1/twins/k9/state", headers=h, timeout=120).json()
        assert st["readings"] == len(held)
        assert st["time_s"] >= max(10.0 * (3 * int(i.split("-")[0][1:]) + 2) for i in held)
        r = httpx.post(f"{url}/v1/twins/k9/measurements", json={"readings": [
            {"id": "after", "time_s": st["time_s"] + 30, "sensor": "pyrometer_top",
             "value": 200, "unit": "degC"}]}, headers=h, timeout=60)
        assert r.status_code == 200 and r.json()["stored"] == ["after"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def test_replicas_share_a_postgresql_store(postgres_url, tmp_path):
    # Two service instances on one database: a twin created on one is served by the other,
    # readings posted to either are assimilated by both, a delete on one is seen by the other.
    s = {"database": postgres_url, "warmup": False, "snapshot_every": 2}
    a = create_app(ServeSettings(state_dir=str(tmp_path / "a"), **s))  # type: ignore[arg-type]
    b = create_app(ServeSettings(state_dir=str(tmp_path / "b"), **s))  # type: ignore[arg-type]
    with TestClient(a) as ca, TestClient(b) as cb:
        key = a.state.service.bootstrap_key
        assert key and b.state.service.bootstrap_key is None  # one store, one bootstrap key
        h = {"Authorization": f"Bearer {key}"}
        assert ca.post("/v1/twins", json={"twin_id": "pg1", "slab": SLAB},
                       headers=h).status_code == 201
        for k, client in enumerate((ca, cb, ca, cb)):
            rs = [{"id": f"p{k}-{j}", "time_s": 20.0 * (4 * k + j + 1), "value": 40 + 10 * k,
                   "sensor": "pyrometer_bottom", "unit": "degC"} for j in range(4)]
            r = client.post("/v1/twins/pg1/measurements", json={"readings": rs}, headers=h)
            assert r.status_code == 200 and len(r.json()["stored"]) == 4
        sa = ca.get("/v1/twins/pg1/state", headers=h).json()
        sb = cb.get("/v1/twins/pg1/state", headers=h).json()
        assert sa["readings"] == sb["readings"] == 16
        np.testing.assert_allclose(sa["field_mean"], sb["field_mean"], atol=1e-9)
        assert cb.delete("/v1/twins/pg1", headers=h).status_code == 204
        assert ca.get("/v1/twins/pg1/state", headers=h).status_code == 404
