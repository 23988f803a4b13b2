"""Request bodies before FastAPI reads them: size (413), media type (415), nesting (400).

:class:`BodyLimit` (ASGI middleware) counts the body as it streams in. Past
``serve.max_body_bytes`` it reads the rest and discards it, then answers 413: a client sends
its whole body before it reads the answer, and a server that closes with part of the body
unread makes the kernel reset the connection, so the client would see a reset instead of the
413. Bodies declared (Content-Length) or streamed past ``DRAIN_FACTOR`` times the limit, and
requests that wait for ``100 Continue``, are answered at once with ``Connection: close``.

:class:`JsonRoute` (the routes' class) checks a route's JSON body before it is parsed: a
Content-Type other than ``application/json`` (or ``application/*+json``) gets 415 naming both
types, and a body nested deeper than :data:`MAX_JSON_DEPTH` gets 400 (no request of this API
needs more than about 10 levels; deep nesting only costs the parser stack).
"""

from __future__ import annotations

import email.message
import re
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np
from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._problems import problem_response

MAX_JSON_DEPTH = 32  # arrays and objects inside each other
DRAIN_FACTOR = 16  # an oversized body is read and discarded up to this many times the limit
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPEN, _CLOSE = np.frombuffer(b"[{", np.uint8), np.frombuffer(b"]}", np.uint8)


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, counted as they stream in (a
    missing or false Content-Length does not get past it); see the module doc."""

    def __init__(self, app: ASGIApp, limit: int, metrics: Any) -> None:
        self.app, self.limit, self.metrics = app, limit, metrics
        self.drain = DRAIN_FACTOR * limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        length = headers.get(b"content-length", b"")
        declared = int(length) if length.isdigit() else 0
        over = declared > self.limit
        if over and (declared > self.drain
                     or headers.get(b"expect", b"").lower() == b"100-continue"):
            await self._refuse(scope, send, close=True)  # nothing read: answer at once
            return
        # Read the body first (at most the limit), then replay it to the app: a body that
        # streams past the limit is refused before the app parses any of it.
        chunks: list[bytes] = []
        seen = 0
        while True:
            msg = await receive()
            if msg["type"] != "http.request":
                await self.app(scope, _replay([msg]), send)
                return
            body = msg.get("body", b"")
            more = bool(msg.get("more_body", False))
            seen += len(body)
            if over or seen > self.limit:
                drained = await self._discard(receive, seen, more)
                await self._refuse(scope, send, close=not drained)
                return
            chunks.append(body)
            if not more:
                break
        message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([message], receive), send)

    async def _discard(self, receive: Receive, seen: int, more: bool) -> bool:
        """Read and drop the rest of the body, up to ``drain`` bytes in all; False when it
        stopped before the end."""
        while more:
            if seen > self.drain:
                return False
            msg = await receive()
            if msg["type"] != "http.request":
                return False
            seen += len(msg.get("body", b""))
            more = bool(msg.get("more_body", False))
        return True

    async def _refuse(self, scope: Scope, send: Send, close: bool) -> None:
        self.metrics.refused.labels(reason="body too large").inc()
        resp = problem_response(
            413, f"request body is over the limit of {self.limit} bytes (serve.max_body_bytes); "
            "send fewer readings or assets per request", scope.get("path", ""),
            headers={"Connection": "close"} if close else None)
        await resp(scope, _empty_receive, send)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A receive callable that gives ``messages``, then defers to ``then`` (disconnects)."""
    queue = list(messages)

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}


def json_depth(body: bytes) -> int:
    """How deep arrays and objects nest in JSON text (brackets in strings do not count);
    exact past :data:`MAX_JSON_DEPTH`, at most that otherwise."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return 0
    text = np.frombuffer(_STRING.sub(b'""', body), np.uint8)
    step = np.isin(text, _OPEN).astype(np.int64) - np.isin(text, _CLOSE)
    return int(np.cumsum(step).max(initial=0))


def is_json(content_type: str) -> bool:
    """``application/json`` or ``application/<anything>+json`` (parameters allowed), the
    media types FastAPI parses as JSON."""
    message = email.message.Message()
    message["content-type"] = content_type
    sub = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (sub == "json"
                                                                 or sub.endswith("+json"))


def check_json_body(content_type: str | None, body: bytes) -> None:
    """Raise 415 for a body that is not declared JSON, 400 for one nested too deeply."""
    if not content_type:
        raise HTTPException(415, "the request has a body but no Content-Type: expected "
                            "application/json; send the header Content-Type: application/json")
    if not is_json(content_type):
        raise HTTPException(415, f"Content-Type {content_type!r} is not supported: expected "
                            "application/json (this route takes a JSON body); send the header "
                            "Content-Type: application/json")
    depth = json_depth(body)
    if depth > MAX_JSON_DEPTH:
        raise HTTPException(400, f"the JSON body is nested {depth} levels deep, over the limit "
                            f"of {MAX_JSON_DEPTH}; send flat arrays (tensor data may be flat, "
                            "in row-major order)")


class JsonRoute(APIRoute):
    """A route whose JSON body is checked (:func:`check_json_body`) before it is parsed."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def checked(request: Request) -> Response:
            body = await request.body()
            if body:
                check_json_body(request.headers.get("content-type"), body)
            return await handler(request)

        return checked
