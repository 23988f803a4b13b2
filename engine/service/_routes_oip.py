"""The surrogate (or physics) step through the Open Inference Protocol (KServe v2 / Triton
REST), so standard serving tooling can call it.

``POST /v2/models/{name}/infer`` with inputs ``field`` [B, n] (K), ``inputs``
[B, n_knots, 2, 3] (per knot and face bottom/top: gas temperature K, exchange factor, h
W/(m^2 K)) and ``params`` [B, 4] (thickness m, conductivity and capacity multipliers,
material index), datatype FP64 or FP32, ``data`` flat in row-major order (or nested);
outputs ``mean`` and ``spread`` [B, n] (K) and ``source`` [B] (INT32, codes of
``steeltwin.engine.twin.SOURCES``): one step of ``step_seconds``.

The inputs are checked against the plausible ranges that ``/v1`` applies (the config layer's
``RANGES`` for temperatures and thickness, here in K and m; the request schema's for exchange
factors, h and the multipliers). A refusal is 422 naming ``inputs[k].data[i]`` as the request
wrote it; its problem body has the protocol's ``error`` member (see ``_problems``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field

from steeltwin.engine.config import RANGES
from steeltwin.engine.twin import PARAM_NAMES, SOURCES

from ._body import JsonRoute
from ._deps import Reader, ServiceDep
from ._problems import InputErrors, RequestError
from ._schemas import H_MAX, SCALE_MAX, SCALE_MIN, VERSION

router = APIRouter(prefix="/v2", tags=["open inference protocol"],
                   route_class=JsonRoute)
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


def _nested_shape(data: list[Any]) -> tuple[int, ...]:
    """The shape of ``data`` as sent (flat: one axis; nested: one per level)."""
    shape: list[int] = []
    x: Any = data
    while isinstance(x, list):
        shape.append(len(x))
        x = x[0] if x else None
    return tuple(shape)


def _tensor(t: Tensor, k: int, shape: tuple[int, ...]) -> np.ndarray:
    """Input ``k`` of the request (``inputs[k]``) as an array of ``shape`` (-1: any)."""
    where = f"inputs[{k}]"
    if math.prod(t.shape) > MAX_ELEMENTS or any(s < 0 for s in t.shape):
        raise RequestError(f"{where}.shape", f"{where}.shape={t.shape} ({t.name}) is invalid: "
                           f"expected non-negative sizes with at most {MAX_ELEMENTS} elements")
    try:
        a = np.asarray(t.data, dtype=np.float64)
    except (ValueError, TypeError):
        raise RequestError(f"{where}.data", f"{where}.data ({t.name}) is invalid: expected "
                           "numbers (flat row-major or nested to the shape)") from None
    if a.size != math.prod(t.shape):
        raise RequestError(f"{where}.data", f"{where}.data ({t.name}) has {a.size} values, "
                           f"shape={t.shape} needs {math.prod(t.shape)}; fix the shape or the "
                           "data")
    a = a.reshape(t.shape)
    if tuple(a.shape[1:]) != shape[1:]:
        raise RequestError(f"{where}.shape", f"{where}.shape={t.shape} ({t.name}) is invalid: "
                           f"expected {[-1, *shape[1:]]}")
    if not np.all(np.isfinite(a)):
        raise RequestError(f"{where}.data", f"{where}.data ({t.name}) is invalid: expected "
                           "finite numbers (no NaN/inf)")
    return a


@dataclasses.dataclass(frozen=True)
class _Bound:
    """A plausible range of one component of an input (the /v1 ranges, in this route's
    units): ``column`` indexes the input's last axis."""

    tensor: str
    column: int | None
    name: str
    what: str
    lo: float
    hi: float
    unit: str
    open_lo: bool = False
    choices: tuple[float, ...] | None = None

    def text(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if self.open_lo:
            return f"({self.lo:g}, {self.hi:g}]{unit}"
        return f"{self.lo:g}-{self.hi:g}{unit}"


def _bounds() -> list[_Bound]:
    steel, gas = RANGES["steel_temperature"], RANGES["gas_temperature"]
    thick = RANGES["thickness"]
    return [
        _Bound("field", None, "temperature", steel.what, steel.lo + 273.15, steel.hi + 273.15,
               "K"),
        _Bound("inputs", 0, "gas temperature", gas.what, gas.lo + 273.15, gas.hi + 273.15, "K"),
        _Bound("inputs", 1, "exchange factor", "an exchange factor", 0.0, 1.0, "",
               open_lo=True),
        _Bound("inputs", 2, "h", "a convection coefficient", 0.0, H_MAX, "W/(m^2 K)"),
        _Bound("params", 0, "thickness", thick.what, thick.lo, thick.hi, "m"),
        _Bound("params", 1, "conductivity multiplier", "a multiplier", SCALE_MIN, SCALE_MAX,
               ""),
        _Bound("params", 2, "capacity multiplier", "a multiplier", SCALE_MIN, SCALE_MAX, ""),
        _Bound("params", 3, "material", "a material index (0 carbon, 1 stainless steel)", 0.0,
               1.0, "", choices=(0.0, 1.0)),
    ]


def _plausible(arrays: dict[str, np.ndarray], body: InferRequest,
               index: dict[str, int]) -> None:
    """Refuse values outside the plausible ranges that /v1 applies (the config layer's
    ``RANGES`` for temperatures and thickness, the request schema's for the rest), naming
    the first bad element of each: ``inputs[k].data[i]`` as the request wrote it."""
    errors: list[tuple[str, float, str]] = []
    for b in _bounds():
        a = arrays[b.tensor]
        col = a if b.column is None else a[..., b.column]
        bad = (col < b.lo) | (col > b.hi)
        if b.open_lo:
            bad |= col <= b.lo
        if b.choices is not None:
            bad |= ~np.isin(col, b.choices)
        if not bad.any():
            continue
        at = [int(i) for i in np.unravel_index(int(np.argmax(bad)), bad.shape)]
        full = (*at, b.column) if b.column is not None else tuple(at)
        flat = int(np.ravel_multi_index(full, a.shape))
        k = index[b.tensor]
        nested = _nested_shape(body.inputs[k].data)
        field = f"inputs[{k}].data" + "".join(
            f"[{i}]" for i in np.unravel_index(flat, nested))
        value = float(a[full])
        unit = f" {b.unit}" if b.unit else ""
        errors.append((field, value, f"{field} ({b.tensor}[{', '.join(map(str, full))}], "
                       f"{b.name})={value:g}{unit} is outside {b.text()} for {b.what}; fix "
                       "the value (units: K, m, W/(m^2 K))"))
    if errors:
        raise InputErrors(errors)


@router.post("/models/{name}/infer")
async def infer(name: str = ModelName, *, body: InferRequest, service: ServiceDep,
                _: Reader) -> dict[str, Any]:
    m = _model(service, name)
    p = service.propagator
    shapes = {"field": (-1, p.cells), "inputs": (-1, p.n_knots, 2, 3),
              "params": (-1, len(PARAM_NAMES))}
    index = {t.name: k for k, t in enumerate(body.inputs)}
    names = [t.name for t in body.inputs]
    if sorted(names) != sorted(shapes):
        raise RequestError("inputs", f"inputs names={names} are invalid: expected "
                           f"{sorted(shapes)}, each once")
    arrays = {n: _tensor(body.inputs[index[n]], index[n], shapes[n]) for n in shapes}
    b = {a.shape[0] for a in arrays.values()}
    if len(b) != 1 or 0 in b or max(b) > service.settings.max_assets * 4:
        raise RequestError("inputs", f"inputs batch sizes={sorted(b)} are invalid: expected "
                           f"one batch size in 1..{service.settings.max_assets * 4}")
    _plausible(arrays, body, index)
    T, u, prm = arrays["field"], arrays["inputs"], arrays["params"]

    def run() -> tuple[np.ndarray, ...]:
        mean, spread, src = p.step(T, u, prm)
        return np.asarray(mean, np.float64), np.asarray(spread, np.float64), np.asarray(src)

    loop = asyncio.get_running_loop()
    mean, spread, src = await asyncio.wait_for(loop.run_in_executor(service.executor, run),
                                               service.settings.request_timeout_s)
    service.metrics.count_sources([SOURCES[int(c)] for c in src])
    dtype = body.inputs[index["field"]].datatype

    def out(n: str, a: np.ndarray, dt: str) -> dict[str, Any]:
        return {"name": n, "shape": list(a.shape), "datatype": dt, "data": a.ravel().tolist()}

    return {"model_name": m.name, "model_version": m.version, "id": body.id or "",
            "outputs": [out("mean", mean, dtype), out("spread", spread, dtype),
                        out("source", src.astype(np.int32), "INT32")]}
