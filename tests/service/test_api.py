"""HTTP round trips with the real app: predict, twins, units, auth and tenants, validation,
limits, keys, metrics, the Open Inference Protocol, micro-batching, timeouts and restarts."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from steeltwin.engine.service import ServeSettings, create_app, new_key, open_store
from steeltwin.engine.service._scenario import slab_scenario
from steeltwin.engine.service._schemas import SlabIn
from steeltwin.engine.twin import predict as engine_predict

SLAB = {"thickness": {"value": 200, "unit": "mm"}, "initial_temperature": 20.0,
        "zones": [{"name": "preheat", "gas_temperature": 1000, "duration": 1800},
                  {"name": "heating", "gas_temperature": {"value": 1523.15, "unit": "K"},
                   "duration": {"value": 1, "unit": "h"}}]}


def settings(tmp: Path, **kw: object) -> ServeSettings:
    base: dict[str, object] = {"database": f"sqlite:///{tmp / 'st.db'}",
                               "state_dir": str(tmp), "warmup": False}
    base.update(kw)
    return ServeSettings(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    """One running app for the module: (client, admin headers, app)."""
    tmp = tmp_path_factory.mktemp("serve")
    # No warm-up here, so the first advice compiles inside its request: 30 s (the default
    # timeout) was too short for a 2-core box running the suite on both cores. Batching on
    # (off by default) for test_concurrent_predicts_share_one_compiled_call.
    app = create_app(settings(tmp, batch_window_ms=30.0, request_timeout_s=300.0,
                              max_batch=64))
    with TestClient(app) as client:
        key = app.state.service.bootstrap_key
        assert key and (tmp / "admin.key").read_text().strip() == key
        yield client, {"Authorization": f"Bearer {key}"}, app


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_health_is_open_and_everything_else_needs_a_key(served):
    client, _admin, _ = served
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    for method, path in (("get", "/v1/twins"), ("post", "/v1/predict"), ("get", "/metrics"),
                         ("get", "/v1/keys"), ("get", "/v2/models/slab-physics"),
                         ("post", "/v2/models/slab-physics/infer")):
        r = client.request(method, path, json={})
        assert r.status_code == 401, (path, r.status_code)
        assert "missing API key" in r.json()["detail"]
    page = client.get("/dashboard")  # a static page: no data without a key
    assert page.status_code == 200 and "steeltwin" in page.text and "Bearer" in page.text
    assert "slab-" not in page.text
    bad = "st_0123456789ab_" + "A" * 43
    assert client.get("/v1/twins", headers=auth(bad)).status_code == 401
    assert client.get("/v1/twins", headers={"X-API-Key": "nonsense"}).status_code == 401



def test_predict_at_zone_changes_matches_simulate(served):
    """Issue 19: at 3600 s the surface came out 13.3 K too high: the 1250 degC zone starting
    there was already on the face balance. Zones 1000 / 1250 / 1230 degC from 0 / 3600 /
    7200 s, phi 0.6, charged at 25 degC; the reference is the engine's simulate with the
    service's own step (30 s, 24 cells, 2 iterations)."""
    import jax.numpy as jnp

    from steeltwin import engine as E

    client, admin, _ = served
    slab = {"thickness": {"value": 220, "unit": "mm"}, "initial_temperature": 25.0,
            "zones": [{"name": n, "gas_temperature": g, "duration": 3600,
                       "exchange_factor_top": 0.6, "exchange_factor_bottom": 0.6}
                      for n, g in (("a", 1000), ("b", 1250), ("c", 1230))]}
    r = client.post("/v1/predict", json={"assets": [slab], "times": [3600, 7200, 10800],
                                         "temperature_unit": "K"}, headers=admin)
    assert r.status_code == 200, r.text
    a = r.json()["assets"][0]
    zones = [E.FurnaceZone(n, g, 3600.0, 0.6, 0.6) for n, g in
             (("a", 1000.0), ("b", 1250.0), ("c", 1230.0))]
    sc = E.Scenario(grid=E.slab_grid(0.22, 24), material=E.carbon_steel(),
                    boundary=E.furnace_boundary(zones, ndim=1, ramp_time=300.0),  # defaults
                    initial_temperature=jnp.asarray(298.15))
    traj = E.simulate(sc, E.SolverSettings(t_end=10800.0, dt=30.0, save_interval=3600.0,
                                           iterations=2))
    surf = np.asarray(traj.surface_temperature)[1:]
    # Measured within 0.01 K (the same solver and steps); before the fix 13 K at 3600 s.
    np.testing.assert_allclose(a["surface_top"], surf[:, 1], atol=0.05)
    np.testing.assert_allclose(a["surface_bottom"], surf[:, 0], atol=0.05)

def test_predict_equals_the_engine_and_converts_units(served):
    client, admin, app = served
    body = {"assets": [SLAB], "times": [0, 600, {"value": 1.25, "unit": "h"}]}
    r = client.post("/v1/predict", json=body, headers=admin)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["units"]["temperature"] == "degC" and out["model"]["kind"] == "physics"
    a = out["assets"][0]
    assert a["times_s"] == [0.0, 600.0, 4500.0]
    # The same slab through the engine's predict directly (K): identical numbers.
    svc = app.state.service
    sc = slab_scenario(SlabIn.model_validate(SLAB), svc.propagator.cells)
    ref = engine_predict(svc.propagator, sc, [0.0, 600.0, 4500.0])
    np.testing.assert_allclose(a["centre"], ref.centre[0] - 273.15, atol=1e-5)
    np.testing.assert_allclose(a["surface_top"], ref.surface_top[0] - 273.15, atol=1e-5)
    assert a["centre"][0] == pytest.approx(20.0)
    assert a["provenance"] == {"physics": svc.predictor.step_buckets[0]}
    # Fahrenheit and kelvin are the same answer (pint-defined affine maps).
    f = client.post("/v1/predict", json={**body, "temperature_unit": "degF"}, headers=admin)
    k = client.post("/v1/predict", json={**body, "temperature_unit": "K"}, headers=admin)
    cf, ck = f.json()["assets"][0]["centre"], k.json()["assets"][0]["centre"]
    np.testing.assert_allclose(np.array(cf), (np.array(ck) - 273.15) * 1.8 + 32, atol=1e-5)
    assert f.json()["units"]["temperature"] == "degF"
    # Fields and stress on request.
    r = client.post("/v1/predict", json={**body, "outputs": ["field", "stress"]}, headers=admin)
    a = r.json()["assets"][0]
    assert len(a["field"]) == 3 and len(a["field"][0]) == svc.propagator.cells
    assert len(a["stress_MPa"][1]) == svc.propagator.cells and a["max_utilisation"] > 0
    # A free plate's stress integrates to zero through the thickness (self-equilibrated).
    assert abs(np.mean(a["stress_MPa"][1])) < 1e-6 * np.max(np.abs(a["stress_MPa"][1]))


def test_plausibility_has_the_cli_words_with_the_request_fields(served):
    """The thickness and kelvin mistakes get the same words as steeltwin-simulate
    (tests/test_plausibility.py), naming the request's fields."""
    client, admin, _ = served
    r = client.post("/v1/predict", json={"assets": [{**SLAB, "thickness": 220}]}, headers=admin)
    assert r.status_code == 422, r.text
    assert ("assets[0].thickness=220 m is outside 0.01-1 m for a slab thickness: a value in mm? "
            "220 mm = 0.22 m") in r.json()["detail"]
    hot = {**SLAB, "initial_temperature": 1173.15,
           "zones": [SLAB["zones"][0], {**SLAB["zones"][1], "gas_temperature": 1523.15}]}
    r = client.post("/v1/predict", json={"assets": [SLAB, hot]}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["warnings"] == [
        "assets[1].zones[1].gas_temperature=1523.15 degC looks like a temperature in K "
        "(1523.15 K = 1250 degC); temperatures in the config are in degC: set "
        "assets[1].zones[1].gas_temperature=1250 if that was meant",
        "assets[1].initial_temperature=1173.15 degC looks like a temperature in K (1173.15 K = "
        "900 degC); temperatures in the config are in degC: set "
        "assets[1].initial_temperature=900 if that was meant"]
    assert "warnings" not in client.post("/v1/predict", json={"assets": [SLAB]},
                                         headers=admin).json()
    # Kelvin stated as kelvin is no mistake.
    ok = {**SLAB, "initial_temperature": {"value": 1173.15, "unit": "K"}}
    assert "warnings" not in client.post("/v1/predict", json={"assets": [ok]},
                                         headers=admin).json()
    created = client.post("/v1/twins", json={"slab": {**SLAB, "initial_temperature": 293.15}},
                          headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["warnings"][0].startswith(
        "slab.initial_temperature=293.15 degC looks like a temperature in K (293.15 K = 20 degC)")


def test_bad_input_is_refused_with_the_field_and_nothing_breaks(served):
    client, admin, _ = served
    cases = [
        ({"assets": [{**SLAB, "initial_temperature": {"value": 20, "unit": "coulomb"}}]},
         "assets[0].initial_temperature.unit='coulomb' is invalid"),
        ({"assets": [{**SLAB, "thickness": {"value": 5, "unit": "m"}}]}, "assets[0].thickness"),
        ({"assets": [{**SLAB, "zones": [{**SLAB["zones"][0], "exchange_factor_top": 1.5}]}]},
         "exchange_factor_top"),
        ({"assets": [SLAB], "times": [-5]}, "times"),
        ({"assets": [SLAB], "times": [1e6]}, "serve.max_horizon_s"),
        ({"assets": [SLAB] * 65}, "serve.max_assets"),
        ({"assets": [{**SLAB, "zones": [SLAB["zones"][0], SLAB["zones"][0]]}]}, "unique zone"),
        ({"assets": [SLAB], "extra": 1}, "extra"),
    ]
    for body, needle in cases:
        r = client.post("/v1/predict", json=body, headers=admin)
        assert r.status_code == 422, (body, r.text)
        assert needle in r.text, (needle, r.text)
    # NaN and infinity in the JSON text (Python's json writes them) are refused by field.
    raw = json.dumps({"assets": [{**SLAB, "initial_temperature": math.nan}]})
    r = client.post("/v1/predict", content=raw, headers={**admin,
                                                        "Content-Type": "application/json"})
    assert r.status_code == 422 and "assets[0].initial_temperature" in r.text
    r = client.post("/v1/predict", content=b"{not json", headers={
        **admin, "Content-Type": "application/json"})
    assert r.status_code == 422
    # Oversized body: 413 before parsing, with or without a Content-Length.
    big = b'{"assets": [' + b" " * (2 << 20) + b"]}"
    r = client.post("/v1/predict", content=big, headers={**admin,
                                                        "Content-Type": "application/json"})
    assert r.status_code == 413 and "serve.max_body_bytes" in r.text
    r = client.post("/v1/predict", content=iter([big[:500_000]] * 3),
                    headers={**admin, "Content-Type": "application/json"})
    assert r.status_code == 413
    assert client.post("/v1/predict", json={"assets": [SLAB], "times": [60]},
                       headers=admin).status_code == 200


def _readings(n: int, start: int = 1, value=None) -> list[dict]:
    out = []
    for i in range(start, start + n):
        v = value if value is not None else 20 + 4.0 * i
        out.append({"id": f"top-{i}", "time_s": 20.0 * i, "sensor": "pyrometer_top",
                    "value": v, "unit": "degC"})
    return out


def test_twin_lifecycle_idempotent_readings_and_gate(served):
    client, admin, _ = served
    r = client.post("/v1/twins", json={"twin_id": "slab-a", "slab": SLAB,
                                       "charged_at": "2026-01-01T06:00:00+00:00"},
                    headers=admin)
    assert r.status_code == 201 and r.json()["twin_id"] == "slab-a"
    assert client.post("/v1/twins", json={"twin_id": "slab-a", "slab": SLAB},
                       headers=admin).status_code == 409
    rs = _readings(6)
    r = client.post("/v1/twins/slab-a/measurements", json={"readings": rs}, headers=admin)
    ack = r.json()
    assert r.status_code == 200 and ack["stored"] == [x["id"] for x in rs]
    assert ack["assimilated"] and ack["time_s"] == 120.0  # two 60 s cycles
    # Re-sent: duplicates; same id with other content: conflict (the stored one is kept).
    again = [*rs[:2], {**rs[2], "value": 999.0}]
    ack = client.post("/v1/twins/slab-a/measurements", json={"readings": again},
                      headers=admin).json()
    assert ack["stored"] == [] and ack["duplicates"] == ["top-1", "top-2"]
    assert ack["conflicts"] == ["top-3"]
    # A timestamp counts from the charge time; an outlier is rejected with its reason.
    ts = {"id": "ts-1", "timestamp": "2026-01-01T06:02:30+00:00", "sensor": "pyrometer_top",
          "value": {"value": 1800.0, "unit": "degF"}["value"], "unit": "degF"}
    ack = client.post("/v1/twins/slab-a/measurements", json={"readings": [ts]},
                      headers=admin).json()
    assert ack["stored"] == ["ts-1"] and ack["time_s"] == 180.0
    assert "innovation" in ack["rejected"]["ts-1"]
    # Bad readings: nothing of the request is stored.
    before = client.get("/v1/twins/slab-a", headers=admin).json()["readings"]
    bad = [_readings(1, start=50)[0], {**_readings(1, start=51)[0], "unit": "coulomb"}]
    r = client.post("/v1/twins/slab-a/measurements", json={"readings": bad}, headers=admin)
    assert r.status_code == 422 and "readings[1]" in r.text and "coulomb" in r.text
    early = {**_readings(1, start=52)[0], "time_s": None,
             "timestamp": "2026-01-01T05:00:00+00:00"}
    r = client.post("/v1/twins/slab-a/measurements", json={"readings": [early]},
                    headers=admin)
    assert r.status_code == 422 and "before the twin was charged" in r.text
    deep = {"id": "tc-1", "time_s": 200, "sensor": "thermocouple", "value": 300, "unit": "degC",
            "depth": 300, "depth_unit": "mm"}  # the slab is 200 mm thick
    r = client.post("/v1/twins/slab-a/measurements", json={"readings": [deep]}, headers=admin)
    assert r.status_code == 422 and "at most the slab's thickness (0.2 m)" in r.text
    # Control characters (NUL breaks PostgreSQL text) are refused at the edge.
    r = client.post("/v1/twins/slab-a/measurements", json={"readings": [
        {**_readings(1, start=53)[0], "id": "a\u0000b"}]}, headers=admin)
    assert r.status_code == 422 and "readings[0].id" in r.text
    assert client.get("/v1/twins/a%00b", headers=admin).status_code == 422
    assert client.delete("/v1/keys/a%00b", headers=admin).status_code == 422
    assert client.get("/v1/twins/slab-a", headers=admin).json()["readings"] == before
    # State and forecast.
    st = client.get("/v1/twins/slab-a/state", headers=admin).json()
    assert st["time_s"] == 180.0 and st["units"]["temperature"] == "degC"
    assert 0 < st["centre_std"] < 60 and len(st["field_mean"]) == 24
    for face, (lo, hi) in st["exchange_scale_interval"].items():  # median inside 5-95 %
        assert 0 < lo <= st["exchange_scale"][face] <= hi
    assert st["rejected"] == {"ts-1": ack["rejected"]["ts-1"]}
    st_k = client.get("/v1/twins/slab-a/state?temperature_unit=K", headers=admin).json()
    assert st_k["centre"] == pytest.approx(st["centre"] + 273.15)
    fc = client.post("/v1/twins/slab-a/forecast", json={"every": 900}, headers=admin).json()
    a = fc["assets"][0]
    assert a["times_s"][0] == 180.0 and a["times_s"][-1] == 5400.0
    assert a["centre"][-1] > a["centre"][0] + 300
    what_if = client.post("/v1/twins/slab-a/forecast", json={
        "every": 900, "zones": [{**SLAB["zones"][0], "duration": 1800},
                                {**SLAB["zones"][1], "gas_temperature": 1100}]},
        headers=admin).json()
    assert what_if["assets"][0]["centre"][-1] < a["centre"][-1] - 20
    lst = client.get("/v1/twins", headers=admin).json()["twins"]
    assert "slab-a" in [t["twin_id"] for t in lst]
    assert client.delete("/v1/twins/slab-a", headers=admin).status_code == 204
    assert client.get("/v1/twins/slab-a/state", headers=admin).status_code == 404


def test_tenants_are_isolated_and_scopes_enforced(served):
    client, admin, app = served
    store = app.state.service.store
    other, _ = new_key(store, "plant-b", ("read", "write", "admin"))
    reader = client.post("/v1/keys", json={"scopes": ["read"], "label": "dash"},
                         headers=admin).json()
    assert reader["tenant"] == "default" and reader["key"].startswith("st_")
    assert client.post("/v1/twins", json={"twin_id": "slab-t", "slab": SLAB},
                       headers=admin).status_code == 201
    ro = auth(reader["key"])
    assert client.get("/v1/twins/slab-t", headers=ro).status_code == 200
    r = client.post("/v1/twins", json={"twin_id": "x", "slab": SLAB}, headers=ro)
    assert r.status_code == 403 and "'write'" in r.json()["detail"]
    assert client.delete("/v1/twins/slab-t", headers=ro).status_code == 403
    # Another tenant sees nothing: 404 everywhere, never data.
    ob = auth(other)
    assert client.get("/v1/twins", headers=ob).json() == {"twins": []}
    for method, path, body in (("get", "/v1/twins/slab-t", None),
                               ("get", "/v1/twins/slab-t/state", None),
                               ("post", "/v1/twins/slab-t/measurements",
                                {"readings": _readings(1)}),
                               ("post", "/v1/twins/slab-t/forecast", {}),
                               ("delete", "/v1/twins/slab-t", None)):
        r = client.request(method, path, json=body, headers=ob)
        assert r.status_code == 404, (path, r.text)
        assert "slab-t" in r.text and "centre" not in r.text
    assert client.get("/v1/twins/slab-t", headers=admin).json()["readings"] is None
    assert store.readings("default", "slab-t") == []
    # The same id in another tenant is another twin.
    assert client.post("/v1/twins", json={"twin_id": "slab-t", "slab": SLAB},
                       headers=ob).status_code == 201
    # Keys: listed per tenant, revoked keys stop working at once.
    ids = [k["key_id"] for k in client.get("/v1/keys", headers=admin).json()]
    assert reader["key_id"] in ids and all("key" not in k or k["key"] is None
                                           for k in client.get("/v1/keys",
                                                               headers=admin).json())
    assert client.delete(f"/v1/keys/{reader['key_id']}", headers=ob).status_code == 404
    assert client.delete(f"/v1/keys/{reader['key_id']}", headers=admin).status_code == 204
    assert client.get("/v1/twins", headers=ro).status_code == 401
    # Keys are stored hashed: the secret appears nowhere in the store.
    rec = store.get_api_key(reader["key_id"])
    assert rec is None or reader["key"].split("_")[2] not in rec.key_hash


def test_metrics_and_open_inference_protocol(served):
    client, admin, app = served
    svc = app.state.service
    meta = client.get("/v2/models/slab-physics", headers=admin).json()
    assert meta["inputs"][0]["shape"] == [-1, 24]
    assert client.get("/v2/models/other", headers=admin).status_code == 404
    assert client.get("/v2/health/ready").json() == {"ready": True}
    T = np.linspace(900.0, 1100.0, 24)
    k = svc.propagator.n_knots  # a knot per 30 s sub-step of the 60 s step: 3
    u = np.tile([1500.0, 0.6, 0.0], (k, 2, 1))
    p = [0.2, 1.0, 1.0, 0.0]
    req = {"id": "q1", "inputs": [
        {"name": "field", "shape": [1, 24], "datatype": "FP64", "data": T.tolist()},
        {"name": "inputs", "shape": [1, k, 2, 3], "datatype": "FP64",
         "data": u.ravel().tolist()},
        {"name": "params", "shape": [1, 4], "datatype": "FP64", "data": p}]}
    r = client.post("/v2/models/slab-physics/infer", json=req, headers=admin)
    assert r.status_code == 200, r.text
    out = {o["name"]: o for o in r.json()["outputs"]}
    ref, _, _ = svc.propagator.step(T[None], u[None], np.array([p]))
    np.testing.assert_allclose(out["mean"]["data"], np.asarray(ref)[0], atol=1e-9)
    assert out["mean"]["shape"] == [1, 24] and out["source"]["data"] == [0]
    bad = {**req, "inputs": [{**req["inputs"][0], "data": T.tolist()[:-1]}, *req["inputs"][1:]]}
    r = client.post("/v2/models/slab-physics/infer", json=bad, headers=admin)
    assert r.status_code == 422 and "needs 24" in r.text
    text = client.get("/metrics", headers=admin).text
    assert 'steeltwin_http_request_seconds_count{method="POST",route="/v2/models/{name}/infer"' \
        in text
    assert "steeltwin_batch_size_bucket" in text and "steeltwin_readings_total" in text


def test_concurrent_predicts_share_one_compiled_call(served):
    client, admin, _ = served
    body = {"assets": [SLAB], "times": [600, 1200]}
    single = client.post("/v1/predict", json=body, headers=admin).json()["assets"][0]
    results: list[dict] = []

    def call() -> None:
        results.append(client.post("/v1/predict", json=body, headers=admin).json())

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    assert max(r["batch_size"] for r in results) > 1  # batched within the 30 ms window
    for r in results:  # and the answers are those of a call on its own
        np.testing.assert_allclose(r["assets"][0]["centre"], single["centre"], atol=1e-9)


def test_compute_timeout_answers_503_and_the_service_recovers(tmp_path):
    app = create_app(settings(tmp_path, request_timeout_s=1e-4))
    with TestClient(app) as client:
        h = auth(app.state.service.bootstrap_key)
        r = client.post("/v1/predict", json={"assets": [SLAB], "times": [600]}, headers=h)
        assert r.status_code == 503 and "serve.request_timeout_s" in r.text
        assert r.headers["Retry-After"] == "5"
        assert client.get("/healthz").status_code == 200


def test_restart_rebuilds_twins_from_the_store(tmp_path):
    # Readings acknowledged before a restart are all there after it, and the rebuilt twin
    # (snapshot + readings since) equals the one that was running.
    s = settings(tmp_path, snapshot_every=3)
    app = create_app(s)
    with TestClient(app) as client:
        h = auth(app.state.service.bootstrap_key)
        client.post("/v1/twins", json={"twin_id": "r1", "slab": SLAB}, headers=h)
        for k in range(4):
            client.post("/v1/twins/r1/measurements",
                        json={"readings": _readings(5, start=1 + 5 * k)}, headers=h)
        before = client.get("/v1/twins/r1/state", headers=h).json()
        # A late reading (out of order) too: it rewinds and replays.
        late = {"id": "late", "time_s": 65.0, "sensor": "pyrometer_bottom", "value": 60.0,
                "unit": "degC"}
        client.post("/v1/twins/r1/measurements", json={"readings": [late]}, headers=h)
        after_late = client.get("/v1/twins/r1/state", headers=h).json()
    assert after_late["centre"] != before["centre"]
    store = open_store(s.database)
    assert store.get_snapshot("default", "r1") is not None
    assert len(store.readings("default", "r1")) == 21
    store.close()
    app2 = create_app(s)
    with TestClient(app2) as client:
        h = auth(app.state.service.bootstrap_key)  # the key survived the restart
        st = client.get("/v1/twins/r1/state", headers=h).json()
    assert st["readings"] == 21 and st["time_s"] == after_late["time_s"]
    np.testing.assert_allclose(st["field_mean"], after_late["field_mean"], atol=1e-9)
    assert st["exchange_scale"] == pytest.approx(after_late["exchange_scale"], abs=1e-12)


def test_advise_proposes_setpoints_within_the_bounds(served):
    client, admin, _ = served
    client.post("/v1/twins", json={"twin_id": "adv", "slab": SLAB}, headers=admin)
    body = {"target_mean": 1150, "max_delta": 40, "gas_min": 900, "gas_max": 1350,
            "iterations": 40}
    r = client.post("/v1/twins/adv/advise", json=body, headers=admin)
    assert r.status_code == 200, r.text
    adv = r.json()
    assert all(900 - 1e-9 <= z["gas_temperature"] <= 1350 + 1e-9 for z in adv["zones"])
    # Closer to the target than the schedule as given (40 Adam steps from it).
    assert abs(adv["discharge_mean"] - 1150) < abs(adv["initial_discharge_mean"] - 1150)
    r = client.post("/v1/twins/adv/advise", json={**body, "iterations": 500}, headers=admin)
    assert r.status_code == 422 and "serve.advise_max_iterations" in r.text


def test_predict_takes_a_ramp_inside_a_zone(served):
    """Issue 19 item 3 over HTTP: gas_temperature_end ramps the set-point inside a zone (with
    units), exactly as the engine's FurnaceZone.gas_temperature_end_C; an implausible end is
    refused naming the field as written."""
    import jax.numpy as jnp

    from steeltwin import engine as E

    client, admin, _ = served
    zones = [{"name": "a", "gas_temperature": 1000, "duration": 3600,
              "gas_temperature_end": {"value": 1473.15, "unit": "K"},
              "exchange_factor_top": 0.6, "exchange_factor_bottom": 0.6},
             {"name": "b", "gas_temperature": 1250, "duration": 3600,
              "exchange_factor_top": 0.6, "exchange_factor_bottom": 0.6}]
    slab = {"thickness": 0.22, "initial_temperature": 25.0, "zones": zones}
    r = client.post("/v1/predict", json={"assets": [slab], "times": [1800, 3600, 7200],
                                         "temperature_unit": "K"}, headers=admin)
    assert r.status_code == 200, r.text
    a = r.json()["assets"][0]
    ez = [E.FurnaceZone("a", 1000.0, 3600.0, 0.6, 0.6, gas_temperature_end_C=1200.0),
          E.FurnaceZone("b", 1250.0, 3600.0, 0.6, 0.6)]
    sc = E.Scenario(grid=E.slab_grid(0.22, 24), material=E.carbon_steel(),
                    boundary=E.furnace_boundary(ez, ndim=1, ramp_time=300.0),
                    initial_temperature=jnp.asarray(298.15))
    traj = E.simulate(sc, E.SolverSettings(t_end=7200.0, dt=30.0, save_interval=1800.0,
                                           iterations=2))
    surf = np.asarray(traj.surface_temperature)[[1, 2, 4]]
    np.testing.assert_allclose(a["surface_top"], surf[:, 1], atol=0.05)
    zones[0]["gas_temperature_end"] = 5000
    r = client.post("/v1/predict", json={"assets": [slab], "times": [1800]}, headers=admin)
    assert r.status_code == 422
    assert any(e["field"] == "assets[0].zones[0].gas_temperature_end"
               for e in r.json()["errors"]), r.text
