"""Health (with the static dashboard page, the only routes without a key), Prometheus
metrics, and API keys of a tenant."""

from __future__ import annotations

import asyncio
from pathlib import Path as FilePath

from fastapi import APIRouter, HTTPException, Path, Response
from fastapi.responses import HTMLResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ._auth import new_key
from ._body import JsonRoute
from ._deps import Admin, Reader, ServiceDep
from ._schemas import KeyCreate, KeyOut

router = APIRouter(route_class=JsonRoute)
DASHBOARD = FilePath(__file__).with_name("static") / "dashboard.html"


@router.get("/healthz", tags=["health"])
async def live() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", tags=["health"], responses={503: {"description": "not ready yet: "
                                                       "the body has the warm-up's progress"}})
async def ready(service: ServiceDep, response: Response) -> dict[str, object]:
    """Readiness: the start-up's programs are compiled and the store answers. Until then
    503, with ``warmup``: programs compiled of the total, the one compiling now, seconds
    since the warm-up began (and an error if one stopped it)."""
    store_ok = await asyncio.to_thread(service.store.ping)
    ok = bool(service.ready and store_ok)
    response.status_code = 200 if ok else 503
    return {"ready": ok, "model": service.model.name, "store": store_ok,
            "warmup": service.warmup.progress()}


@router.get("/dashboard", tags=["dashboard"], response_class=HTMLResponse)
async def dashboard() -> HTMLResponse:
    """A live table of the caller's twins. The page is static and holds no data: its script
    asks for the API key and reads ``/v1/twins`` with it."""
    return HTMLResponse(DASHBOARD.read_text(encoding="utf-8"),
                        headers={"Cache-Control": "no-store",
                                 "Content-Security-Policy": "default-src 'self'; "
                                 "script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                                 "img-src 'self' data:"})


@router.get("/metrics", tags=["health"], response_class=Response)
async def metrics(service: ServiceDep, _: Reader) -> Response:
    """Prometheus metrics (text format); needs a key (any scope)."""
    m = service.metrics
    m.queue_depth.labels(kind="predict").set(service.predict_batcher.depth)
    m.queue_depth.labels(kind="assimilation").set(service.twin_batcher.depth)
    m.twins_loaded.set(len(service.twins.live))
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)


def _out(rec: object, key: str | None = None) -> KeyOut:
    return KeyOut(key_id=rec.key_id, tenant=rec.tenant, scopes=list(rec.scopes),  # type: ignore[attr-defined]
                  label=rec.label, created_at=rec.created_at, key=key)  # type: ignore[attr-defined]


@router.post("/v1/keys", tags=["keys"], status_code=201, response_model=KeyOut)
async def create_key(body: KeyCreate, service: ServiceDep, who: Admin) -> KeyOut:
    """A new key for the caller's tenant; the secret is in this response only."""
    key, rec = await asyncio.to_thread(new_key, service.store, who.tenant, body.scopes,
                                       body.label)
    return _out(rec, key)


@router.get("/v1/keys", tags=["keys"], response_model=list[KeyOut])
async def list_keys(service: ServiceDep, who: Admin) -> list[KeyOut]:
    recs = await asyncio.to_thread(service.store.list_api_keys, who.tenant)
    return [_out(r) for r in recs]


@router.delete("/v1/keys/{key_id}", tags=["keys"], status_code=204)
async def revoke_key(service: ServiceDep, who: Admin,
                     key_id: str = Path(pattern=r"^[0-9a-f]{12}$")) -> Response:
    if not await asyncio.to_thread(service.store.revoke_api_key, who.tenant, key_id):
        raise HTTPException(404, f"key {key_id!r} not found")
    service.verifier.forget(key_id)
    return Response(status_code=204)
