"""Fuzzing the HTTP API from its OpenAPI schema (schemathesis): no request gets a 5xx.

Every operation of the served ``/openapi.json`` gets schemathesis' positive and negative cases,
sent with the admin key through one ``TestClient`` whose lifespan runs the service (server
exceptions are raised into the test, with their traceback). Numbers that are merely valid for
the schema are almost never a physical slab, so the bodies that drive computation (predict,
twin create, readings, forecast, advice, OIP infer) also get plausible bodies drawn here:
physical values with edge cases, units, and limits just past the service's own. Path
parameters name an existing twin, key or model in two cases out of three.

Checks: no 5xx (``not_a_server_error``), invalid data refused with a 4xx
(``negative_data_rejection``), the documented content type and headers, and the documented body
(errors are RFC 9457 problems, ``application/problem+json``; see
``test_error_responses_are_documented``). The service's limits are set low so that every
example is cheap, and after each operation's fuzzing a plain predict must still answer 200
with sane numbers.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from steeltwin.engine.service import ServeSettings, create_app

MAX_EXAMPLES = 20  # per operation: the file takes about 50 s on 2 cores, mostly compiling
FUZZ = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.data_too_large])
OPERATIONS = [
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/dashboard"), ("GET", "/metrics"),
    ("GET", "/v1/keys"), ("POST", "/v1/keys"), ("DELETE", "/v1/keys/{key_id}"),
    ("POST", "/v1/predict"),
    ("GET", "/v1/twins"), ("POST", "/v1/twins"), ("GET", "/v1/twins/{twin_id}"),
    ("DELETE", "/v1/twins/{twin_id}"), ("POST", "/v1/twins/{twin_id}/measurements"),
    ("GET", "/v1/twins/{twin_id}/state"), ("POST", "/v1/twins/{twin_id}/forecast"),
    ("POST", "/v1/twins/{twin_id}/advise"),
    ("GET", "/v2/health/live"), ("GET", "/v2/health/ready"), ("GET", "/v2"),
    ("GET", "/v2/models/{name}"), ("GET", "/v2/models/{name}/ready"),
    ("POST", "/v2/models/{name}/infer"),
]
# Invalid data must be refused with one of schemathesis' default statuses, or 413 when it is
# larger than serve.max_body_bytes (a schema-violating 20000 readings are refused unread).
CONFIG = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {
    "expected-statuses": ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422",
                          "428", "429", "5xx"]}}})
TWIN, CHARGED = "fuzzed", dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SLAB = {"thickness": 0.2, "initial_temperature": 25.0,
        "zones": [{"name": "preheat", "gas_temperature": 1100.0, "duration": 1800.0},
                  {"name": "heating", "gas_temperature": 1250.0, "duration": 1800.0}]}


class Fuzzed(NamedTuple):
    client: TestClient
    headers: dict[str, str]
    schema: schemathesis.BaseSchema
    plausible: dict[tuple[str, str], st.SearchStrategy[Any]]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    """The running app with small limits, its schema as served, and a twin to aim at."""
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    app = create_app(ServeSettings(
        database=f"sqlite:///{tmp / 'st.db'}", state_dir=str(tmp), warmup=False,
        twin={"members": 8}, max_assets=2, max_times=20, max_readings=20, max_horizon_s=7200.0,
        max_twin_seconds=7200.0, advise_max_iterations=3, max_body_bytes=1 << 16,
        request_timeout_s=120.0))  # a slow CI box must not turn into a 503
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {app.state.service.bootstrap_key}"}
        schema = schemathesis.openapi.from_dict(client.get("/openapi.json").json(),
                                                config=CONFIG)
        prop = app.state.service.propagator
        yield Fuzzed(client, headers, schema, plausible_bodies(prop.cells, prop.n_knots))


# -- plausible bodies: physical values, edge cases and units ---------------------------------
def number(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.one_of(st.sampled_from([lo, hi]), st.floats(lo, hi))


def quantity(lo: float, hi: float, units: dict[str, Callable[[float], float]]
             ) -> st.SearchStrategy[Any]:
    """A bare number in the default unit, or ``{value, unit}`` in another one."""
    bare = number(lo, hi)
    return st.one_of(bare, st.builds(lambda v, u: {"value": units[u](v), "unit": u}, bare,
                                     st.sampled_from(sorted(units))))


TEMPERATURE = {"K": lambda c: c + 273.15, "degF": lambda c: c * 1.8 + 32.0, "degC": lambda c: c}
DURATION = {"min": lambda s: s / 60.0, "h": lambda s: s / 3600.0, "s": lambda s: s}
LENGTH = {"mm": lambda m: m * 1000.0, "m": lambda m: m}
OUTPUTS = st.lists(st.sampled_from(["summary", "field", "stress"]), min_size=1, max_size=3)
UNIT = st.sampled_from(["degC", "K", "degF"])


def zones(max_size: int = 3) -> st.SearchStrategy[list[dict[str, Any]]]:
    zone = st.fixed_dictionaries(
        {"gas_temperature": quantity(20.0, 1600.0, TEMPERATURE),
         "duration": quantity(300.0, 3000.0, DURATION)},
        optional={"exchange_factor_top": number(1e-3, 1.0),
                  "exchange_factor_bottom": number(1e-3, 1.0), "h": number(0.0, 2000.0)})
    return st.lists(zone, min_size=1, max_size=max_size).map(
        lambda zs: [{"name": f"z{i}", **z} for i, z in enumerate(zs)])


SLABS = st.fixed_dictionaries(
    {"zones": zones()},
    optional={"thickness": quantity(0.01, 1.0, LENGTH),
              "material": st.sampled_from(["carbon_steel", "stainless_steel"]),
              "conductivity_scale": number(0.5, 2.0), "capacity_scale": number(0.5, 2.0),
              "initial_temperature": quantity(-40.0, 1300.0, TEMPERATURE),
              "ramp_time": quantity(0.0, 300.0, DURATION)})
SURFACE = st.fixed_dictionaries(
    {"sensor": st.sampled_from(["pyrometer_top", "pyrometer_bottom", "gas_top", "gas_bottom"])})
THERMOCOUPLE = st.fixed_dictionaries(  # depths past the 0.2 m slab too
    {"sensor": st.just("thermocouple"), "depth": number(0.0, 0.5)},
    optional={"depth_unit": st.sampled_from(["m", "mm"])})
WHEN = st.one_of(  # on the twin's clock, or a timestamp after its charging
    st.builds(lambda t: {"time_s": t}, number(0.0, 3600.0)),
    st.builds(lambda t: {"timestamp": (CHARGED + dt.timedelta(seconds=t)).isoformat()},
              number(0.0, 3600.0)))
READING = st.builds(
    lambda common, when, sensor: {**common, **when, **sensor},
    st.fixed_dictionaries({"id": st.text("abcdef0123", min_size=1, max_size=6),
                           "value": number(20.0, 1500.0)}, optional={"unit": st.just("degC")}),
    WHEN, st.one_of(SURFACE, THERMOCOUPLE))


def tensor(name: str, shape: tuple[int, ...], lo: float, hi: float
           ) -> st.SearchStrategy[dict[str, Any]]:
    n = math.prod(shape)
    return st.builds(lambda data, dtype: {"name": name, "shape": list(shape),
                                          "datatype": dtype, "data": data},
                     st.lists(number(lo, hi), min_size=n, max_size=n),
                     st.sampled_from(["FP64", "FP32"]))


def infer_body(cells: int, n_knots: int) -> st.SearchStrategy[dict[str, Any]]:
    def body(b: int) -> st.SearchStrategy[dict[str, Any]]:
        # inputs per knot and face: gas K, exchange factor, h; params: thickness m,
        # conductivity and capacity multipliers, material index (0 or 1).
        inputs = st.lists(st.tuples(number(250.0, 2000.0), number(1e-3, 1.0),
                                    number(0.0, 300.0)), min_size=b * n_knots * 2,
                          max_size=b * n_knots * 2).map(lambda t: [x for k in t for x in k])
        params = st.lists(st.tuples(number(0.01, 1.0), number(0.5, 2.0), number(0.5, 2.0),
                                    st.sampled_from([0.0, 1.0])), min_size=b, max_size=b
                          ).map(lambda t: [x for k in t for x in k])
        return st.builds(lambda f, u, p: {"inputs": [f, u, p]},
                         tensor("field", (b, cells), 250.0, 2000.0),
                         st.builds(lambda d: {"name": "inputs", "shape": [b, n_knots, 2, 3],
                                              "datatype": "FP64", "data": d}, inputs),
                         st.builds(lambda d: {"name": "params", "shape": [b, 4],
                                              "datatype": "FP64", "data": d}, params))

    return st.integers(1, 9).flatmap(body)  # the limit is 4 * max_assets = 8 rows


def plausible_bodies(cells: int, n_knots: int) -> dict[tuple[str, str], st.SearchStrategy[Any]]:
    return {
        ("POST", "/v1/predict"): st.fixed_dictionaries(
            {"assets": st.lists(SLABS, min_size=1, max_size=2)},
            optional={"times": st.lists(quantity(0.0, 7200.0, DURATION), max_size=21),
                      "every": quantity(0.0, 4000.0, DURATION), "outputs": OUTPUTS,
                      "temperature_unit": UNIT}),
        ("POST", "/v1/twins"): st.fixed_dictionaries(
            {"slab": SLABS},
            optional={"twin_id": st.sampled_from(["fuzzed-2", "fuzzed-3"]),  # 409 when taken
                      "charged_at": st.sampled_from(["2026-01-02T03:04:05+00:00",
                                                     "2026-01-02T03:04:05"]),
                      "label": st.text(max_size=8)}),
        ("POST", "/v1/twins/{twin_id}/measurements"): st.fixed_dictionaries(
            {"readings": st.lists(READING, min_size=1, max_size=4)}),
        ("POST", "/v1/twins/{twin_id}/forecast"): st.fixed_dictionaries(
            {}, optional={"until": quantity(0.0, 7200.0, DURATION),
                          "every": quantity(0.0, 4000.0, DURATION), "zones": zones(),
                          "outputs": OUTPUTS, "temperature_unit": UNIT}),
        # The twin's SLAB (gas 1100, 1250 degC; 1800 s in its last zone). Each advice program
        # (with or without soak; 64 or 128 steps) compiles in about 15 s, so only one is made:
        # with soak bounds, at most 63 steps of 60 s long (test_api has the advice without).
        ("POST", "/v1/twins/{twin_id}/advise"): st.fixed_dictionaries(
            {"target_mean": quantity(1000.0, 1300.0, TEMPERATURE),
             "iterations": st.integers(1, 4), "soak_min": quantity(60.0, 1800.0, DURATION),
             "soak_max": quantity(1800.0, 1980.0, DURATION)},
            optional={"max_delta": number(0.1, 500.0),
                      "gas_min": quantity(600.0, 1100.0, TEMPERATURE),
                      "gas_max": quantity(1250.0, 1600.0, TEMPERATURE)}),
        ("POST", "/v2/models/{name}/infer"): infer_body(cells, n_knots),
    }


# -- the fuzzing ------------------------------------------------------------------------------
def send(fz: Fuzzed, case: Any) -> Any:
    """The case through the test client, with the admin key (the generated keys dropped)."""
    kw = case.as_transport_kwargs(headers=fz.headers)
    kw["headers"].pop("X-API-Key", None)
    assert not kw.get("cookies"), "the API takes no cookies"
    body: dict[str, Any] = {}
    if "json" in kw:
        body["json"] = kw["json"]
    elif "data" in kw:  # bytes, e.g. a JSON null or a negative case's raw body
        body["content"] = kw["data"]
    return fz.client.request(kw["method"], kw["url"], params=kw["params"],
                             headers=kw["headers"], **body)


def ensure_twin(fz: Fuzzed) -> None:
    """The twin the path parameters aim at exists (fuzzing DELETE removes it)."""
    if fz.client.get(f"/v1/twins/{TWIN}", headers=fz.headers).status_code == 404:
        r = fz.client.post("/v1/twins", json={"twin_id": TWIN, "slab": SLAB,
                                              "charged_at": CHARGED.isoformat()},
                           headers=fz.headers)
        assert r.status_code == 201, r.text


def existing(fz: Fuzzed, path: str) -> dict[str, str]:
    """Path parameters that name something that exists (a fresh read key to revoke)."""
    if "{twin_id}" in path:
        return {"twin_id": TWIN}
    if "{name}" in path:
        return {"name": "slab-physics"}
    if "{key_id}" in path:
        r = fz.client.post("/v1/keys", json={"scopes": ["read"]}, headers=fz.headers)
        return {"key_id": r.json()["key_id"]}
    return {}


def assert_still_serves(fz: Fuzzed) -> None:
    """A plain predict answers 200: the slab heats from 25 degC, hotter at the faces."""
    r = fz.client.post("/v1/predict", json={"assets": [SLAB], "times": [0, 1800, 3600]},
                       headers=fz.headers)
    assert r.status_code == 200, r.text
    a = r.json()["assets"][0]
    assert a["times_s"] == [0.0, 1800.0, 3600.0]
    assert a["centre"][0] == pytest.approx(25.0)
    for key in ("centre", "surface_top", "surface_bottom", "mean"):
        v = a[key]
        assert all(math.isfinite(x) for x in v) and 25.0 - 1e-6 <= v[0] < v[1] < v[2] < 1250.0
    assert a["centre"][2] < a["mean"][2] < a["surface_top"][2]


def test_every_operation_is_fuzzed(fuzzed: Fuzzed) -> None:
    ops = {(op.method.upper(), op.path) for op in
           (r.ok() for r in fuzzed.schema.get_all_operations())}
    assert ops == set(OPERATIONS), "add a new route to OPERATIONS (and a plausible body)"


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_request_gets_a_server_error(fuzzed: Fuzzed, method: str, path: str) -> None:
    op = fuzzed.schema[path][method]
    raw = op.definition.raw  # negative cases need something to break: inputs or a key
    has_inputs = any(raw.get(k) for k in ("parameters", "requestBody", "security"))
    kinds = ["positive", *(["negative"] if has_inputs else []),
             *(["plausible"] if (method, path) in fuzzed.plausible else [])]

    @FUZZ
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        if "{twin_id}" in path:
            ensure_twin(fuzzed)
        kind = data.draw(st.sampled_from(kinds), label="kind")
        aim = data.draw(st.sampled_from([True, True, False]), label="existing")
        fixed = existing(fuzzed, path) if aim else {}
        mode = GenerationMode.NEGATIVE if kind == "negative" else GenerationMode.POSITIVE
        extra = {"body": data.draw(fuzzed.plausible[(method, path)], label="body")} \
            if kind == "plausible" else {}
        case = data.draw(op.as_strategy(mode, path_parameters=fixed or None, **extra),
                         label="case")
        response = send(fuzzed, case)
        checks = [not_a_server_error, content_type_conformance, response_headers_conformance]
        if mode == GenerationMode.NEGATIVE:
            checks.append(negative_data_rejection)
        checks += [response_schema_conformance, status_code_conformance]
        case.validate_response(response, checks=checks)

    fuzz()
    assert_still_serves(fuzzed)


class SchemaGap(Exception):
    """An error response that the OpenAPI schema does not describe."""


def test_error_responses_are_documented(fuzzed: Fuzzed) -> None:
    """Each kind of refusal the app gives is in the schema, with its body (429 and 503 alike)."""
    fz, twin = fuzzed, {"twin_id": TWIN}
    ensure_twin(fz)
    r = fz.client.post("/v1/keys", json={"scopes": ["read"]}, headers=fz.headers)
    reader = {"Authorization": f"Bearer {r.json()['key']}"}
    forecast, create = "/v1/twins/{twin_id}/forecast", "/v1/twins"
    refusals = [  # path, its parameters, body, headers, the status the app answers
        (forecast, twin, {"every": "often"}, fz.headers, 422),  # pydantic's check
        (forecast, twin, {"every": -1.0}, fz.headers, 422),  # the app's own check
        (forecast, {"twin_id": "missing"}, {}, fz.headers, 404),
        (forecast, twin, {}, {}, 401),
        (create, {}, {"twin_id": TWIN, "slab": SLAB}, reader, 403),
        (create, {}, {"twin_id": TWIN, "slab": SLAB}, fz.headers, 409),
        ("/v1/predict", {}, b"\xff", fz.headers, 400),
        ("/v1/predict", {}, b"[" * 100 + b"]" * 100, fz.headers, 400),  # nested too deeply
        ("/v1/predict", {}, {"assets": [SLAB], "every": 1e-12}, fz.headers, 422),
        ("/v1/predict", {}, {"assets": [SLAB] * 1000}, fz.headers, 413),
    ]
    gaps = []
    for path, params, body, headers, status in refusals:
        case = fz.schema[path]["POST"].Case(path_parameters=params or None, body=body)
        sent = {"content": body, "headers": {**headers, "Content-Type": "application/json"}} \
            if isinstance(body, bytes) else {"json": body, "headers": headers}
        response = fz.client.post(path.format(**params), **sent)
        assert response.status_code == status, response.text
        try:
            case.validate_response(response, checks=[status_code_conformance,
                                                     response_schema_conformance])
        except BaseExceptionGroup as e:  # schemathesis' FailureGroup
            gaps.append(f"POST {path} -> {status}: " + " ".join(str(e).split("\n")[:6]))
    if gaps:
        raise SchemaGap("\n".join(gaps))
