"""The surrogate (or physics) step through the Open Inference Protocol (KServe v2 / Triton
REST), so standard serving tooling can call it.

``POST /v2/models/{name}/infer`` with inputs ``field`` [B, n] (K), ``inputs``
[B, n_knots, 2, 3] (per knot and face bottom/top: gas temperature K, exchange factor, h
W/(m^2 K)) and ``params`` [B, 4] (thickness m, conductivity and capacity multipliers,
material index), datatype FP64 or FP32, ``data`` flat in row-major order (or nested);
outputs ``mean`` and ``spread`` [B, n] (K) and ``source`` [B] (INT32, codes of
``steeltwin.engine.twin.SOURCES``): one step of ``step_seconds``.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field

from steeltwin.engine import ConfigError
from steeltwin.engine.twin import PARAM_NAMES, SOURCES

from ._deps import Reader, ServiceDep
from ._schemas import VERSION

router = APIRouter(prefix="/v2", tags=["open inference protocol"])
MAX_ELEMENTS = 1 << 20
ModelName = Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")


class Tensor(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64)
    shape: list[int] = Field(max_length=8)
    datatype: Literal["FP64", "FP32"]
    data: list[Any] = Field(max_length=MAX_ELEMENTS)
    parameters: dict[str, Any] | None = None


class InferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(None, max_length=128)
    inputs: list[Tensor] = Field(min_length=1, max_length=3)
    outputs: list[dict[str, Any]] | None = Field(None, max_length=3)
    parameters: dict[str, Any] | None = None


def _model(service: Any, name: str) -> Any:
    if name != service.model.name:
        raise HTTPException(404, f"model {name!r} not found; this server has "
                            f"{service.model.name!r}")
    return service.model


def _metadata(service: Any) -> dict[str, Any]:
    m, p = service.model, service.propagator
    n = ["-1", str(p.cells)]
    return {"name": m.name, "versions": [m.version], "platform": f"steeltwin-{m.kind}",
            "inputs": [{"name": "field", "datatype": "FP64", "shape": [-1, p.cells]},
                       {"name": "inputs", "datatype": "FP64", "shape": [-1, p.n_knots, 2, 3]},
                       {"name": "params", "datatype": "FP64",
                        "shape": [-1, len(PARAM_NAMES)]}],
            "outputs": [{"name": "mean", "datatype": "FP64", "shape": [int(x) for x in n]},
                        {"name": "spread", "datatype": "FP64", "shape": [int(x) for x in n]},
                        {"name": "source", "datatype": "INT32", "shape": [-1]}],
            "parameters": {"step_seconds": p.step_seconds, "param_names": list(PARAM_NAMES),
                           "sources": list(SOURCES)}}


@router.get("/health/live")
async def live() -> dict[str, bool]:
    return {"live": True}


@router.get("/health/ready")
async def ready(service: ServiceDep) -> dict[str, bool]:
    if not service.ready:
        raise HTTPException(503, "not ready")
    return {"ready": True}


@router.get("")
async def server(service: ServiceDep, _: Reader) -> dict[str, Any]:
    return {"name": "steeltwin", "version": VERSION, "extensions": []}


@router.get("/models/{name}")
async def model(name: str = ModelName, *, service: ServiceDep, _: Reader) -> dict[str, Any]:
    _model(service, name)
    return _metadata(service)


@router.get("/models/{name}/ready")
async def model_ready(name: str = ModelName, *, service: ServiceDep, _: Reader) -> dict[str, Any]:
    _model(service, name)
    if not service.ready:
        raise HTTPException(503, "not ready")
    return {"name": name, "ready": True}


def _tensor(t: Tensor, shape: tuple[int, ...]) -> np.ndarray:
    if math.prod(t.shape) > MAX_ELEMENTS or any(s < 0 for s in t.shape):
        raise ConfigError(f"inputs.{t.name}.shape={t.shape} is invalid: expected non-negative "
                          f"sizes with at most {MAX_ELEMENTS} elements")
    try:
        a = np.asarray(t.data, dtype=np.float64)
    except (ValueError, TypeError):
        raise ConfigError(f"inputs.{t.name}.data is invalid: expected numbers (flat row-major "
                          "or nested to the shape)") from None
    if a.size != math.prod(t.shape):
        raise ConfigError(f"inputs.{t.name}.data has {a.size} values, shape={t.shape} needs "
                          f"{math.prod(t.shape)}; fix the shape or the data")
    a = a.reshape(t.shape)
    if tuple(a.shape[1:]) != shape[1:]:
        raise ConfigError(f"inputs.{t.name}.shape={t.shape} is invalid: expected "
                          f"{[-1, *shape[1:]]}")
    if not np.all(np.isfinite(a)):
        raise ConfigError(f"inputs.{t.name} is invalid: expected finite numbers (no NaN/inf)")
    return a


@router.post("/models/{name}/infer")
async def infer(name: str = ModelName, *, body: InferRequest, service: ServiceDep,
                _: Reader) -> dict[str, Any]:
    m = _model(service, name)
    p = service.propagator
    shapes = {"field": (-1, p.cells), "inputs": (-1, p.n_knots, 2, 3),
              "params": (-1, len(PARAM_NAMES))}
    got = {t.name: t for t in body.inputs}
    if sorted(got) != sorted(shapes):
        raise ConfigError(f"inputs names={sorted(got)} are invalid: expected {sorted(shapes)}")
    arrays = {k: _tensor(got[k], shapes[k]) for k in shapes}
    b = {a.shape[0] for a in arrays.values()}
    if len(b) != 1 or 0 in b or max(b) > service.settings.max_assets * 4:
        raise ConfigError(f"inputs batch sizes={sorted(b)} are invalid: expected one batch "
                          f"size in 1..{service.settings.max_assets * 4}")
    T, u, prm = arrays["field"], arrays["inputs"], arrays["params"]
    if np.any(T <= 0) or np.any(T > 2500) or np.any(u[..., 0] <= 0) or \
            np.any(u[..., 1] <= 0) or np.any(u[..., 1] > 1) or np.any(u[..., 2] < 0) or \
            np.any(prm[:, 0] <= 0) or np.any(prm[:, 1:3] <= 0) or \
            np.any(~np.isin(prm[:, 3], (0.0, 1.0))):
        raise ConfigError("inputs are invalid: expected fields and gas temperatures in "
                          "(0, 2500] K, exchange factors in (0, 1], h >= 0, thickness and "
                          "multipliers > 0, material 0 (carbon) or 1 (stainless)")

    def run() -> tuple[np.ndarray, ...]:
        mean, spread, src = p.step(T, u, prm)
        return np.asarray(mean, np.float64), np.asarray(spread, np.float64), np.asarray(src)

    loop = asyncio.get_running_loop()
    mean, spread, src = await asyncio.wait_for(loop.run_in_executor(service.executor, run),
                                               service.settings.request_timeout_s)
    service.metrics.count_sources([SOURCES[int(c)] for c in src])
    dtype = got["field"].datatype

    def out(n: str, a: np.ndarray, dt: str) -> dict[str, Any]:
        return {"name": n, "shape": list(a.shape), "datatype": dt, "data": a.ravel().tolist()}

    return {"model_name": m.name, "model_version": m.version, "id": body.id or "",
            "outputs": [out("mean", mean, dtype), out("spread", spread, dtype),
                        out("source", src.astype(np.int32), "INT32")]}
