"""The exception handlers of the app: every refusal as an RFC 9457 problem (``_problems``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from steeltwin.engine import ConfigError

from ._batching import Overloaded
from ._problems import (
    PARSE_ERROR,
    ProblemResponse,
    RequestInputs,
    config_errors,
    document_problems,
    problem_response,
    request_body,
    schema_errors,
    summary,
    unreadable,
)
from ._store import StoreConflict, StoreError
from ._twins import NotFound

log = logging.getLogger("steeltwin.service")
_LISTED = 100  # field errors listed in one answer


def install_problems(app: FastAPI, service: Any) -> None:
    """Every refusal of ``app`` as a problem answer (see ``_problems``), and the OpenAPI
    document saying so."""

    def answer(request: Request, status: int, detail: str,
               errors: Sequence[dict[str, Any]] = (),
               headers: dict[str, str] | None = None) -> ProblemResponse:
        return problem_response(status, detail, request.url.path, errors[:_LISTED], headers)

    @app.exception_handler(ConfigError)
    async def _config(request: Request, err: ConfigError) -> ProblemResponse:
        inputs = RequestInputs(await request_body(request), request)
        return answer(request, 422, str(err), config_errors(err, inputs))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, err: RequestValidationError) -> ProblemResponse:
        errors = schema_errors(err.errors(), err.body)
        return answer(request, 422, summary(errors), errors)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, err: HTTPException) -> ProblemResponse:
        detail = err.detail if isinstance(err.detail, str) else json.dumps(err.detail)
        if err.status_code == 400 and detail == PARSE_ERROR:
            detail = unreadable(err.__cause__)
        headers = dict(err.headers) if err.headers else None
        return answer(request, err.status_code, detail, headers=headers)

    @app.exception_handler(NotFound)
    async def _missing(request: Request, err: NotFound) -> ProblemResponse:
        return answer(request, 404, f"twin {err.args[0]!r} not found")

    @app.exception_handler(Overloaded)
    async def _busy(request: Request, err: Overloaded) -> ProblemResponse:
        service.metrics.refused.labels(reason="queue full").inc()
        return answer(request, 429, str(err), headers={"Retry-After": "1"})

    @app.exception_handler(TimeoutError)
    async def _slow(request: Request, err: TimeoutError) -> ProblemResponse:
        service.metrics.refused.labels(reason="timeout").inc()
        return answer(request, 503, f"compute did not finish within "
                      f"{service.settings.request_timeout_s} s (serve.request_timeout_s); "
                      "retry, or ask for less", headers={"Retry-After": "5"})

    @app.exception_handler(StoreConflict)
    async def _conflict(request: Request, err: StoreConflict) -> ProblemResponse:
        return answer(request, 409, str(err))

    @app.exception_handler(StoreError)
    async def _store(request: Request, err: StoreError) -> ProblemResponse:
        service.metrics.refused.labels(reason="store").inc()
        log.error("store error on %s %s: %s", request.method, request.url.path, err)
        return answer(request, 503, "the store is unavailable; retry shortly (the cause is in "
                      "the server log)", headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def _bug(request: Request, err: Exception) -> ProblemResponse:
        # The server logs the exception itself (Starlette raises it on after this answer).
        return answer(request, 500, "the server failed on this request (the cause is in the "
                      "server log); retry, and report it if it persists")

    document_problems(app)
