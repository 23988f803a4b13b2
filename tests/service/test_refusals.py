"""Refusals of the HTTP API: one error format (RFC 9457 problem+json), limits checked before
anything is built, plausibility on the Open Inference Protocol route, media types, nesting,
oversized bodies over a real connection, and safe twin ids."""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from steeltwin.engine.service import ServeSettings, create_app

SLAB = {"thickness": {"value": 200, "unit": "mm"}, "initial_temperature": 20.0,
        "zones": [{"name": "preheat", "gas_temperature": 1000, "duration": 1800},
                  {"name": "heating", "gas_temperature": {"value": 1523.15, "unit": "K"},
                   "duration": {"value": 1, "unit": "h"}}]}
PROBLEM = "application/problem+json"


def settings(tmp: Path, **kw: Any) -> ServeSettings:
    base: dict[str, Any] = {"database": f"sqlite:///{tmp / 'st.db'}", "state_dir": str(tmp),
                            "warmup": False, "request_timeout_s": 300.0}
    base.update(kw)
    return ServeSettings(**base)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict, Any]]:
    """One running app for the module: (client, admin headers, app)."""
    tmp = tmp_path_factory.mktemp("refusals")
    app = create_app(settings(tmp))
    with TestClient(app) as client:
        yield client, {"Authorization": f"Bearer {app.state.service.bootstrap_key}"}, app


def problem(r: Any, status: int) -> dict[str, Any]:
    """The body of an RFC 9457 problem answer with ``status`` (checked)."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].split(";")[0] == PROBLEM, r.headers
    body = r.json()
    assert body["status"] == status and body["type"] == "about:blank"
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["errors"], list)
    for e in body["errors"]:
        assert set(e) == {"field", "value", "error"}, e
    return body


def fields(body: dict[str, Any]) -> list[str]:
    return [e["field"] for e in body["errors"]]


# -- 1: the count of times is checked before any array is built --------------------------------
@pytest.mark.parametrize("every", [1e-12, 1e-9, {"value": 1e-12, "unit": "h"}])
def test_a_tiny_every_is_refused_before_the_times_are_built(served, every):
    """every=1e-12 s on a 1.5 h schedule asks for 5.4e15 times: np.arange gave a 500 (and
    every=1e-5 on 8 h would have allocated ~23 GB); the count is checked first."""
    client, admin, _ = served
    t0 = time.perf_counter()
    r = client.post("/v1/predict", json={"assets": [SLAB], "every": every}, headers=admin)
    body = problem(r, 422)
    assert time.perf_counter() - t0 < 5.0
    assert fields(body) == ["every"] and body["errors"][0]["value"] == every
    assert "serve.max_times" in body["detail"] and "every >= 5.41 s" in body["detail"], body
    # 5400 s / 5.4 s gives 1000 steps: 1001 times with the end; the suggested every fits.
    problem(client.post("/v1/predict", json={"assets": [SLAB], "every": 5.4}, headers=admin),
            422)
    ok = client.post("/v1/predict", json={"assets": [SLAB], "every": 5.41}, headers=admin)
    assert ok.status_code == 200, ok.text
    assert len(ok.json()["assets"][0]["times_s"]) == 1000  # 0, 5.41, ..., 5400


def test_a_tiny_forecast_every_is_refused_before_the_times_are_built(served):
    """A forecast runs at least one cycle past the twin's time: until=0 with every=1e-12 got
    past the count (0 s to forecast) and np.arange failed on a cycle of 1e-12 s steps."""
    client, admin, _ = served
    assert client.post("/v1/twins", json={"twin_id": "tiny", "slab": SLAB},
                       headers=admin).status_code == 201
    for body in ({"every": 1e-12, "until": 0}, {"every": 1e-12}):
        r = client.post("/v1/twins/tiny/forecast", json=body, headers=admin)
        out = problem(r, 422)
        assert fields(out) == ["every"] and "serve.max_times" in out["detail"], out


# -- 2: the Open Inference Protocol route checks the plausible ranges -------------------------
def infer_request(cells: int, knots: int, *, thickness: float = 0.2, gas: float = 1500.0,
                  field: float = 1000.0, flat: bool = True) -> dict[str, Any]:
    u = np.tile([gas, 0.6, 0.0], (knots, 2, 1))
    T = np.full(cells, field)
    return {"id": "q", "inputs": [
        {"name": "field", "shape": [1, cells], "datatype": "FP64",
         "data": T.tolist() if flat else [T.tolist()]},
        {"name": "inputs", "shape": [1, knots, 2, 3], "datatype": "FP64",
         "data": u.ravel().tolist() if flat else [u.tolist()]},
        {"name": "params", "shape": [1, 4], "datatype": "FP64",
         "data": [thickness, 1.0, 1.0, 0.0] if flat else [[thickness, 1.0, 1.0, 0.0]]}]}


def test_inference_refuses_implausible_inputs_naming_them(served):
    client, admin, app = served
    p = app.state.service.propagator
    url = "/v2/models/slab-physics/infer"
    k = p.n_knots
    ok = client.post(url, json=infer_request(p.cells, k), headers=admin)
    assert ok.status_code == 200, ok.text
    cases = [  # request, the field named, words of the message
        (infer_request(p.cells, k, thickness=1e-9), "inputs[2].data[0]",
         ["params[0, 0]", "thickness", "1e-09 m", "0.01-1 m"]),
        (infer_request(p.cells, k, gas=1e300), "inputs[1].data[0]",
         ["inputs[0, 0, 0, 0]", "gas temperature", "1e+300 K", "173.15-2273.15 K"]),
        (infer_request(p.cells, k, field=5000.0, flat=False), "inputs[0].data[0][0]",
         ["field[0, 0]", "5000 K", "173.15-1773.15 K"]),
    ]
    for req, field, words in cases:
        body = problem(client.post(url, json=req, headers=admin), 422)
        assert fields(body)[0] == field, body
        for w in words:
            assert w in body["detail"], (w, body["detail"])
        assert body["error"] == body["detail"]  # the Open Inference Protocol's error member
    # A shape error keeps its words, in both members.
    req = infer_request(p.cells, k)
    req["inputs"][0]["data"] = req["inputs"][0]["data"][:-1]
    body = problem(client.post(url, json=req, headers=admin), 422)
    assert "needs 24" in body["error"] and fields(body) == ["inputs[0].data"]


# -- 3: media type, nesting and size of the body -----------------------------------------------
def test_a_body_that_is_not_json_is_415_naming_both_types(served):
    client, admin, _ = served
    text = json.dumps({"assets": [SLAB]})
    for sent, named in (({"Content-Type": "text/plain"}, "text/plain"),
                        ({"Content-Type": "application/x-www-form-urlencoded"},
                         "application/x-www-form-urlencoded"), ({}, "no Content-Type")):
        r = client.post("/v1/predict", content=text, headers={**admin, **sent})
        body = problem(r, 415)
        assert named in body["detail"] and "application/json" in body["detail"], body
    # JSON with a charset, or a +json type, is JSON.
    r = client.post("/v1/predict", content=text, headers={
        **admin, "Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("depth", [10_000, 200])
def test_deeply_nested_json_is_refused_with_a_clear_message(served, depth):
    client, admin, _ = served
    h = {**admin, "Content-Type": "application/json"}
    for raw in ("[" * depth + "]" * depth, '{"assets": ' + "[" * depth + "]" * depth + "}",
                '{"a": ' * depth + "1" + "}" * depth):
        body = problem(client.post("/v1/predict", content=raw, headers=h), 400)
        assert re.search(r"nested \d+ levels deep, over the limit of \d+", body["detail"]), body
    # Brackets inside strings do not count.
    r = client.post("/v1/predict", content=json.dumps({"assets": [SLAB], "x": "[" * 100}),
                    headers=h)
    assert problem(r, 422)["errors"][0]["field"] == "x"
    body = problem(client.post("/v1/predict", content=b"\xff", headers=h), 400)
    assert "UTF-8" in body["detail"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, dict]]:
    """The app under uvicorn (as steeltwin-serve runs it) on loopback: (port, headers)."""
    import uvicorn

    tmp = tmp_path_factory.mktemp("uvicorn")
    app = create_app(settings(tmp))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", ws="none"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield port, {"Authorization": f"Bearer {app.state.service.bootstrap_key}",
                 "Content-Type": "application/json"}
    server.should_exit = True
    thread.join(60)


def post_raw(port: int, headers: dict[str, str], body: Any, chunked: bool = False
             ) -> tuple[int, str, dict[str, str]]:
    """POST through http.client (the stdlib client urllib uses: it sends the whole body,
    then reads the answer); a reset or broken pipe raises."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", "/v1/predict", body=body, headers=headers, encode_chunked=chunked)
        r = conn.getresponse()
        return r.status, r.read().decode(), {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()


def test_an_oversized_body_gets_413_over_a_real_connection(real_server):
    """5 MB to a 1 MiB limit: the client sees the 413, never a connection reset. Clients that
    close after the answer (urllib sends Connection: close) lost it to a reset whenever the
    server closed with the rest of the body unread."""
    port, h = real_server
    big = b'{"assets": [' + b" " * (5 << 20) + b"]}"

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        return (big[i:i + (1 << 16)] for i in range(0, len(big), 1 << 16))

    close = {**h, "Connection": "close"}
    for headers, body, chunked in ((close, lambda: big, False), (close, chunks, True),
                                   (h, lambda: big, False)):  # keep-alive too
        for _ in range(3):
            status, text, got = post_raw(port, headers, body(), chunked)
            assert status == 413, text
            assert got["content-type"].startswith(PROBLEM)
            assert "serve.max_body_bytes" in json.loads(text)["detail"]
    # And the server still answers.
    status, text, _ = post_raw(port, h, json.dumps({"assets": [SLAB], "times": [60]}))
    assert status == 200, text


# -- 4: twin ids are safe tokens -----------------------------------------------------------------
@pytest.mark.parametrize("twin_id", [".", "..", ".hidden", "-x", "a/b", "a b", "", "x" * 65])
def test_twin_ids_that_are_not_safe_tokens_are_refused(served, twin_id):
    client, admin, _ = served
    r = client.post("/v1/twins", json={"twin_id": twin_id, "slab": SLAB}, headers=admin)
    body = problem(r, 422)
    assert fields(body) == ["twin_id"] and body["errors"][0]["value"] == twin_id


def test_dot_twin_ids_in_the_path_are_refused(served):
    client, admin, _ = served
    for path in ("/v1/twins/%2E%2E", "/v1/twins/%2E", "/v1/twins/%2E%2E/state"):
        body = problem(client.get(path, headers=admin), 422)
        assert fields(body) == ["twin_id"], body
    ok = client.post("/v1/twins", json={"twin_id": "slab.4711:a-b_c", "slab": SLAB},
                     headers=admin)
    assert ok.status_code == 201, ok.text


# -- 5: one error format ----------------------------------------------------------------------
def test_every_error_is_a_problem_with_the_fields_as_the_request_wrote_them(served):
    client, admin, _ = served
    coulomb = {**SLAB, "thickness": {"value": 200, "unit": "coulomb"}}
    body = problem(client.post("/v1/predict", json={"assets": [coulomb]}, headers=admin), 422)
    assert body["errors"] == [{"field": "assets[0].thickness.unit", "value": "coulomb",
                               "error": body["detail"]}], body
    assert body["detail"].startswith("assets[0].thickness.unit='coulomb' is invalid")
    hot = {**SLAB, "zones": [SLAB["zones"][0], {**SLAB["zones"][1],
                                                "gas_temperature": {"value": 9, "unit": "degK"}}]}
    body = problem(client.post("/v1/predict", json={"assets": [hot]}, headers=admin), 422)
    assert fields(body) == ["assets[0].zones[1].gas_temperature.unit"]
    # The config layer's words, with the request's field and its value as sent.
    thick = {**SLAB, "thickness": 220}
    body = problem(client.post("/v1/predict", json={"assets": [thick]}, headers=admin), 422)
    assert body["errors"] == [{"field": "assets[0].thickness", "value": 220,
                               "error": body["detail"]}]
    # Schema errors: the path as written (no pydantic union tags), the value as sent.
    raw = '{"assets": [{"zones": [], "initial_temperature": NaN}], "every": "often"}'
    body = problem(client.post("/v1/predict", content=raw, headers={
        **admin, "Content-Type": "application/json"}), 422)
    got = {e["field"]: e for e in body["errors"]}
    assert set(got) == {"assets[0].zones", "assets[0].initial_temperature", "every"}, got
    assert got["every"]["value"] == "often" and got["assets[0].initial_temperature"][
        "value"] == "NaN"
    body = problem(client.post("/v1/predict", json={"assets": [{"zones": [
        {"name": "a", "gas_temperature": {"value": 1}, "duration": 60}]}]}, headers=admin),
        422)
    assert fields(body) == ["assets[0].zones[0].gas_temperature.unit"]
    assert body["errors"][0]["value"] is None  # missing
    body = problem(client.post("/v1/predict", content=b"{not json", headers={
        **admin, "Content-Type": "application/json"}), 422)
    assert "not valid JSON" in body["detail"]
    # Readings name the reading's own field.
    client.post("/v1/twins", json={"twin_id": "fmt", "slab": SLAB}, headers=admin)
    rs = [{"id": "a", "time_s": 10, "sensor": "pyrometer_top", "value": 30},
          {"id": "b", "time_s": 20, "sensor": "pyrometer_top", "value": 30, "unit": "coulomb"}]
    body = problem(client.post("/v1/twins/fmt/measurements", json={"readings": rs},
                               headers=admin), 422)
    assert body["errors"][0]["field"] == "readings[1].unit"
    assert body["errors"][0]["value"] == "coulomb"
    # Every other refusal has the same shape.
    assert "missing API key" in problem(client.get("/v1/twins"), 401)["detail"]
    assert problem(client.get("/v1/twins"), 401)["errors"] == []
    assert client.get("/v1/twins").headers["www-authenticate"] == "Bearer"
    problem(client.get("/v1/twins/nope", headers=admin), 404)
    problem(client.get("/no/such/route", headers=admin), 404)
    problem(client.put("/v1/predict", headers=admin), 405)
    problem(client.post("/v1/twins", json={"twin_id": "fmt", "slab": SLAB}, headers=admin), 409)
    big = b'{"assets": [' + b" " * (2 << 20) + b"]}"
    problem(client.post("/v1/predict", content=big, headers={
        **admin, "Content-Type": "application/json"}), 413)
    body = problem(client.get("/v2/models/other", headers=admin), 404)
    assert body["error"] == body["detail"]
    # The schema documents the problem bodies.
    spec = client.get("/openapi.json").json()
    responses = spec["paths"]["/v1/predict"]["post"]["responses"]
    for status in ("400", "401", "413", "415", "422"):
        assert list(responses[status]["content"]) == [PROBLEM], (status, responses[status])
