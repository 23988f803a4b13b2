"""``create_app``: the twin service as an ASGI app (FastAPI).

One :class:`Service` per app holds the store, the propagator (the one model every route
uses), the twins, the key verifier, the metrics and the two micro-batchers (predict and
assimilation), all on one compute thread. ``create_app`` opens the store (tables created) and
builds the propagator (physics, or a trained surrogate guarded by physics): a bad setting
fails there, before anything listens. Start-up (the lifespan, after which the server
accepts requests): install a bootstrap admin key when the store has none, start the batchers
and the plant adapters, then compile the programs that matter in the background
(``_warmup``); ``/readyz`` answers 503 with the warm-up's progress until it is done, then
200. Shutdown stops the warm-up between two programs and snapshots the live twins.

Errors (RFC 9457 problem+json, see ``_problems``): bad input -> 422 with the field, value and
fix (nothing stored); an unreadable or too deeply nested body -> 400; missing/invalid key ->
401; key without the scope -> 403; another tenant's twin -> 404 (as a missing one); oversized
body -> 413; a body that is not JSON -> 415; full queue -> 429 (Retry-After); compute timeout
or store down -> 503.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request

from steeltwin.engine import ConfigError
from steeltwin.engine.twin import TwinConfig

from ._auth import KeyVerifier, hash_key, new_key
from ._batching import MicroBatcher
from ._body import BodyLimit
from ._docs import install_docs
from ._handlers import install_problems
from ._metrics import Metrics
from ._predicting import Predictor, build_service_propagator
from ._routes_admin import router as admin_router
from ._routes_oip import router as oip_router
from ._routes_predict import router as predict_router
from ._routes_twins import router as twins_router
from ._schemas import ERROR_RESPONSES, VERSION
from ._settings import ServeSettings
from ._store import AbstractStore, ApiKeyRecord
from ._store_open import open_store
from ._twins import TwinManager
from ._warmup import Warmup, WarmupStep

log = logging.getLogger("steeltwin.service")


class Service:
    """Everything the routes share (see the module doc)."""

    def __init__(self, settings: ServeSettings, store: AbstractStore | None = None) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.store = store or open_store(settings.database)
        self.verifier = KeyVerifier(self.store)
        self.executor = concurrent.futures.ThreadPoolExecutor(1, "steeltwin-compute")
        self.propagator, self.model = build_service_propagator(settings.propagator)
        self.twin_config = TwinConfig(**settings.twin)
        self.twins = TwinManager(self.store, self.propagator, self.twin_config,
                                 snapshot_every=settings.snapshot_every,
                                 max_loaded=settings.max_loaded,
                                 max_twin_seconds=settings.max_twin_seconds,
                                 metrics=self.metrics)
        self.predictor = Predictor(self.propagator, settings.max_horizon_s, self.metrics)
        window = settings.batch_window_ms / 1000.0
        self.predict_batcher = MicroBatcher(
            "predict", self.predictor.run_batch, self.executor, window, settings.max_batch,
            settings.max_queue, lambda n, s: self._observe("predict", n, s))
        self.twin_batcher = MicroBatcher(
            "assimilation", self.twins.run_batch, self.executor, window, settings.max_batch,
            settings.max_queue, lambda n, s: self._observe("assimilation", n, s))
        self.ready = False
        self.warmup = Warmup(())
        self._warming: asyncio.Task[None] | None = None
        self.adapters: list[Any] = []
        self.bootstrap_key: str | None = None

    def _observe(self, kind: str, n: int, seconds: float) -> None:
        self.metrics.batch_size.labels(kind=kind).observe(n)

    def bootstrap(self) -> None:
        """Install an admin key when the store holds none (a fresh embedded database)."""
        if self.store.count_api_keys() > 0:
            return
        s = self.settings
        if s.admin_key:
            parts = s.admin_key.split("_")
            if len(parts) < 3 or parts[0] != "st":
                raise ConfigError("serve.admin_key is invalid: expected a key made by "
                                  "steeltwin-serve (st_<id>_<secret>); leave it null")
            key_id, secret = parts[1], "_".join(parts[2:])
            self.store.add_api_key(ApiKeyRecord(key_id, s.tenant, ("read", "write", "admin"),
                                                hash_key(key_id, secret), "bootstrap",
                                                time.time()))
            return
        key, _ = new_key(self.store, s.tenant, ("read", "write", "admin"), "bootstrap")
        path = Path(s.state_dir) / "admin.key"
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # an older file keeps its mode through O_TRUNC
        with os.fdopen(fd, "w") as f:
            f.write(key + "\n")
        self.bootstrap_key = key
        log.warning("no API keys in %s: created an admin key for tenant %r in %s (shown once)",
                    self.store.url, s.tenant, path)

    def warmup_steps(self) -> list[WarmupStep]:
        """The programs compiled at start-up (none with ``serve.warmup=false``); see
        ``_warmup`` for why these."""
        s = self.settings
        if not s.warmup:
            return []
        steps = self.predictor.warmup_steps([1])
        steps += self.twins.warmup_steps([1], (4,))
        if s.max_batch > 1:  # the buckets a burst of batched requests fills
            more = [b for b in self.predictor.batch_buckets(s.max_assets) if b > 1]
            steps += self.predictor.warmup_steps(more, summaries=False)
            steps += [st for st in self.twins.warmup_steps(range(1, s.max_batch + 1), (4, 16))
                      if st.name not in {w.name for w in steps}]
        return steps

    async def start(self) -> None:
        """Open for requests; the warm-up then compiles in the background (``ready`` after)."""
        await asyncio.to_thread(self.bootstrap)
        self.predict_batcher.start()
        self.twin_batcher.start()
        from ._adapters import start_adapters

        self.adapters = await start_adapters(self)
        self.warmup = Warmup(self.warmup_steps())
        self._warming = asyncio.get_running_loop().create_task(self._warm())

    async def _warm(self) -> None:
        self.ready = await self.warmup.run(self.executor)

    async def stop(self) -> None:
        self.ready = False
        if self._warming is not None:  # stops between two programs
            self._warming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._warming
        for a in self.adapters:
            with contextlib.suppress(Exception):
                await a.stop()
        await self.predict_batcher.stop()
        await self.twin_batcher.stop()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(Exception):
            await loop.run_in_executor(self.executor, self.twins.flush)
        self.executor.shutdown(wait=True)
        self.store.close()


def create_app(settings: ServeSettings | None = None,
               store: AbstractStore | None = None) -> FastAPI:
    """The ASGI app of a service (see the module doc); the service starts in its lifespan."""
    settings = settings or ServeSettings()
    service = Service(settings, store)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(title="steeltwin", version=VERSION, lifespan=lifespan,
                  responses=ERROR_RESPONSES, docs_url=None, redoc_url=None,
                  description="Digital twins of hot steel slabs: predict, twins (EnKF), "
                  "Open Inference Protocol. Units: temperatures degC unless stated "
                  "({value, unit} accepted: degC, K, degF), lengths m, times s.")
    app.state.service = service
    install_problems(app, service)
    install_docs(app)  # /docs without a CDN

    @app.middleware("http")
    async def timing(request: Request, call_next: Callable[[Request], Awaitable[Any]]) -> Any:
        t0 = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            path = getattr(route, "path", "unmatched")
            service.metrics.http.labels(request.method, path, str(status)).observe(
                time.perf_counter() - t0)

    for r in (admin_router, predict_router, twins_router, oip_router):
        app.include_router(r)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, metrics=service.metrics)
    return app
