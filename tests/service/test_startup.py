"""Start-up: the port is bound at once, ``/healthz`` answers during the warm-up, ``/readyz``
answers 503 with the warm-up's progress until the programs that matter are compiled, and
they land in the persistent compilation cache (tests against the real server and the app)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from steeltwin.engine.apps._hydra import compose
from steeltwin.engine.apps.serve import build_settings
from steeltwin.engine.service import ServeSettings, create_app
from steeltwin.engine.service._warmup import WarmupStep

ROOT = Path(__file__).resolve().parents[2]
SLAB = {"zones": [{"name": "preheat", "gas_temperature": 1100, "duration": 3600},
                  {"name": "soak", "gas_temperature": 1250, "duration": 3600}]}
_COMPILED = re.compile(r"Finished XLA compilation of (\S+) in ([0-9.e+-]+) sec")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check_progress(body: dict[str, Any], ready: bool) -> dict[str, Any]:
    """The ``/readyz`` body's shape; its ``warmup`` section."""
    assert body["ready"] is ready and body["store"] is True and body["model"] == "slab-physics"
    w = body["warmup"]
    assert set(w) == {"programs_compiled", "programs_total", "compiling", "elapsed_s", "done",
                      "error"}
    assert 0 <= w["programs_compiled"] <= w["programs_total"] and w["elapsed_s"] >= 0
    assert w["error"] is None and w["done"] is ready
    return w


@pytest.mark.slow
def test_serve_answers_healthz_at_once_and_readyz_after_the_warmup(tmp_path):
    """The real ``steeltwin-serve`` on loopback with embedded SQLite in ``tmp_path`` and an
    empty compile cache: /healthz is 200 while /readyz is still 503 with the progress; /readyz
    turns 200 once the warm-up is done; the warm-up logged each program; after it a user's
    first predict, readings and state compile no rollout and no assimilation cycle; the
    compiled programs are in the cache under the state directory."""
    port = free_port()
    cmd = [sys.executable, "-m", "steeltwin.engine.apps.serve", f"serve.port={port}",
           f"serve.database=sqlite:///{tmp_path / 'st.db'}", f"serve.state_dir={tmp_path}",
           "serve.log_level=warning", f"hydra.run.dir={tmp_path / 'hydra'}"]
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    env["JAX_LOG_COMPILES"] = "1"
    log_path = tmp_path / "server.log"
    url = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        health_s = None
        while health_s is None:
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() - t0 < 120, "no /healthz in 120 s:\n" + log_path.read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    health_s = time.monotonic() - t0
            except httpx.HTTPError:
                time.sleep(0.05)
        r = httpx.get(f"{url}/readyz", timeout=10)
        assert r.status_code == 503, (health_s, r.text)
        first = check_progress(r.json(), ready=False)
        assert first["programs_total"] >= 4 and first["programs_compiled"] < first["programs_total"]
        while True:
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() - t0 < 900, "not ready in 900 s:\n" + log_path.read_text()
            r = httpx.get(f"{url}/readyz", timeout=10)
            if r.status_code == 200:
                break
            seen = check_progress(r.json(), ready=False)
            assert seen["programs_total"] == first["programs_total"]
            time.sleep(0.5)
        done = check_progress(r.json(), ready=True)
        assert done["programs_compiled"] == done["programs_total"] == first["programs_total"]
        text = log_path.read_text()
        total = done["programs_total"]
        for i in range(1, total + 1):
            assert f"warm-up {i}/{total}: " in text, text
        assert "warm-up done" in text
        # A user's first requests after ready compile no expensive program.
        before = len(text)
        key = (tmp_path / "admin.key").read_text().strip()
        h = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=url, headers=h, timeout=120) as c:
            r = c.post("/v1/predict", json={"assets": [SLAB], "times": [600, 3600, 7200],
                                            "outputs": ["summary", "stress"]})
            assert r.status_code == 200, r.text
            assert c.post("/v1/twins", json={"twin_id": "s1", "slab": SLAB}).status_code == 201
            r = c.post("/v1/twins/s1/measurements", json={"readings": [
                {"id": "p1", "time_s": 30, "sensor": "pyrometer_top", "value": 80,
                 "unit": "degC"},
                {"id": "p2", "time_s": 90, "sensor": "pyrometer_bottom", "value": 90,
                 "unit": "degC"}]})
            assert r.status_code == 200, r.text
            assert c.get("/v1/twins/s1/state").status_code == 200
            late = [m.group(1) for m in _COMPILED.finditer(log_path.read_text()[before:])]
            assert not {"jit(roll)", "jit(cycle)"} & set(late), late
            # An ensemble forecast (on demand) compiles its rollout on first use, once.
            assert c.post("/v1/twins/s1/forecast", json={"every": 600}).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    cache = tmp_path / "jax-cache"
    assert cache.is_dir() and len(list(cache.iterdir())) >= total, log_path.read_text()
    assert cache.stat().st_mode & 0o077 == 0  # the service loads these programs as code
    print(f"/healthz after {health_s:.1f} s")


def test_readyz_is_503_with_progress_until_the_warmup_is_done(tmp_path, monkeypatch):
    """Requests are served while the warm-up compiles; /readyz reports it step by step."""
    from steeltwin.engine.service import Service

    gates = [threading.Event(), threading.Event()]
    steps = [WarmupStep("first program", gates[0].wait),
             WarmupStep("second program", gates[1].wait)]
    monkeypatch.setattr(Service, "warmup_steps", lambda self: steps)
    app = create_app(ServeSettings(database=f"sqlite:///{tmp_path / 'st.db'}",
                                   state_dir=str(tmp_path)))
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        r = client.get("/readyz")
        assert r.status_code == 503
        w = check_progress(r.json(), ready=False)
        assert (w["programs_compiled"], w["programs_total"]) == (0, 2)
        assert w["compiling"] == "first program"
        assert client.get("/v2/health/ready").status_code == 503
        gates[0].set()
        deadline = time.monotonic() + 30
        while client.get("/readyz").json()["warmup"]["programs_compiled"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        w = check_progress(client.get("/readyz").json(), ready=False)
        assert w["compiling"] == "second program"
        gates[1].set()
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        w = check_progress(client.get("/readyz").json(), ready=True)
        assert (w["programs_compiled"], w["compiling"]) == (2, None)
        assert client.get("/v2/health/ready").json() == {"ready": True}


def test_a_failed_warmup_keeps_the_service_not_ready_and_says_why(tmp_path, monkeypatch):
    from steeltwin.engine.service import Service

    def broken() -> None:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(Service, "warmup_steps", lambda self: [WarmupStep("rollout", broken)])
    app = create_app(ServeSettings(database=f"sqlite:///{tmp_path / 'st.db'}",
                                   state_dir=str(tmp_path)))
    with TestClient(app) as client:
        deadline = time.monotonic() + 30
        while not client.get("/readyz").json()["warmup"]["done"]:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json()["ready"] is False
        assert r.json()["warmup"]["error"] == "rollout: RuntimeError: out of memory"
        assert client.get("/healthz").status_code == 200


def test_the_warmup_compiles_what_a_plant_uses_and_more_with_batching(tmp_path):
    """Batching off (the default): one slab's predict at both step buckets, its summaries,
    one twin's cycle with up to 4 readings and its state. Batching on adds the batch
    buckets (16 readings per cycle too)."""
    base = {"database": f"sqlite:///{tmp_path / 'st.db'}", "state_dir": str(tmp_path)}
    off = create_app(ServeSettings(**base)).state.service  # type: ignore[arg-type]
    names = [s.name for s in off.warmup_steps()]
    n1, n2 = off.predictor.step_buckets
    assert names == [f"predict rollout: 1 slab x {n1} steps", f"predict rollout: 1 slab x {n2} "
                     "steps", "predict summaries with stress: 1 slab",
                     "assimilation cycle: 1 twin, 4 reading slots"]
    on = create_app(ServeSettings(**base, max_batch=64)).state.service  # type: ignore[arg-type]
    more = [s.name for s in on.warmup_steps()]
    assert more[:len(names)] == names and len(set(more)) == len(more)
    assert "assimilation cycle: 64 twins, 16 reading slots" in more
    assert f"predict rollout: 256 slabs x {n2} steps" in more
    assert create_app(ServeSettings(**base, warmup=False)).state.service.warmup_steps() == []  # type: ignore[arg-type]
    off.store.close()
    on.store.close()


def test_compile_cache_is_on_by_default_under_the_state_dir_and_null_turns_it_off():
    settings, server = build_settings(compose(["serve.state_dir=/srv/st"], "serve"))
    assert server["compile_cache"] == "/srv/st/jax-cache"
    _, server = build_settings(compose(["serve.compile_cache=null"], "serve"))
    assert server["compile_cache"] is None
    assert isinstance(settings, ServeSettings)
