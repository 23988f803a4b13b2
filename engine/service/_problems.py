"""Error answers: RFC 9457 problem details (``application/problem+json``) for every refusal.

A problem body has ``type`` (``about:blank``: the status code says what kind of problem it
is), ``title`` (the status phrase), ``status``, ``detail`` (what was wrong and the fix, in
words) and ``errors``: one ``{field, value, error}`` per bad input, where ``field`` is the
path of the value exactly as the request wrote it (``assets[0].thickness.unit``; a query or
path parameter by its name; ``""`` for the whole body) and ``value`` the value as sent (JSON;
null when it is missing; past 200 characters its JSON text, shortened). Refusals that concern
no single input (401, 404, 413, ...) have an empty ``errors``.

The Open Inference Protocol's error body is ``{"error": <text>}``: answers under ``/v2`` carry
that member too (the detail again), so KServe and Triton clients read them unchanged.

Bad input is raised as :class:`RequestError` (a ``ConfigError`` that knows its field); a plain
``ConfigError`` (the config layer's words, rewritten to the request's fields) gets its field
from the start of its message when that is a path of the request.
"""

from __future__ import annotations

import http
import json
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from steeltwin.engine import ConfigError

PROBLEM_JSON = "application/problem+json"
_SHOWN = 200  # characters of a value's JSON text shown in ``errors``
_UNSET: Any = object()
_PATH = re.compile(r"[A-Za-z_]\w*(?:\[\d+\]|\.[A-Za-z_]\w*)*")
_PART = re.compile(r"\[(\d+)\]|\.?([A-Za-z_]\w*)")
PARSE_ERROR = "There was an error parsing the body"  # FastAPI's words for an unreadable body


class RequestError(ConfigError):
    """Bad input: ``field`` is its path as the request wrote it (``assets[0].every``),
    ``message`` says what was wrong and the fix; ``value`` defaults to the value found at
    ``field`` in the request."""

    def __init__(self, field: str, message: str, value: Any = _UNSET) -> None:
        super().__init__(message)
        self.field, self.value = field, value


class InputErrors(ConfigError):
    """Several bad inputs at once: ``(field, value, message)`` each."""

    def __init__(self, errors: Sequence[tuple[str, Any, str]]) -> None:
        super().__init__("; ".join(message for _, _, message in errors))
        self.errors = list(errors)


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_JSON


def problem_response(status: int, detail: str, path: str,
                     errors: Sequence[dict[str, Any]] = (),
                     headers: dict[str, str] | None = None) -> ProblemResponse:
    """The problem answer (see the module doc); ``path`` is the request's URL path."""
    body: dict[str, Any] = {"type": "about:blank", "title": http.HTTPStatus(status).phrase,
                            "status": status, "detail": detail, "errors": list(errors)}
    if path == "/v2" or path.startswith("/v2/"):
        body["error"] = detail
    return ProblemResponse(body, status_code=status, headers=headers)


def shown(value: Any) -> Any:
    """A value for ``errors``: itself when its JSON text is short and plain JSON, else that
    text (NaN and infinities as text, long values shortened)."""
    try:
        text = json.dumps(value, allow_nan=False, default=str)
    except ValueError:
        text = json.dumps(value, default=str)
        return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."
    if len(text) > _SHOWN:
        return text[:_SHOWN] + "..."
    return json.loads(text)


def path_text(parts: Sequence[str | int]) -> str:
    """``["assets", 0, "thickness"]`` -> ``assets[0].thickness``."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _parts(path: str) -> list[str | int]:
    return [int(m[1]) if m[1] else m[2] for m in _PART.finditer(path)]


def _walk(node: Any, parts: Sequence[str | int]) -> tuple[int, Any]:
    """How many of ``parts`` lead through ``node``, and the value reached."""
    for n, p in enumerate(parts):
        if isinstance(p, int) and isinstance(node, list) and 0 <= p < len(node):
            node = node[p]
        elif isinstance(p, str) and isinstance(node, dict) and p in node:
            node = node[p]
        else:
            return n, node
    return len(parts), node


class RequestInputs:
    """Where a request's values are: its JSON body, query and path parameters."""

    def __init__(self, body: Any, request: Request) -> None:
        self.body = body
        self.params = {**request.query_params, **request.path_params}

    def find(self, path: str) -> tuple[str, Any] | None:
        """The longest prefix of ``path`` that names a value of the request, and that value
        (None when it is absent: an optional field left out); None when nothing matches."""
        parts = _parts(path)
        if not parts:
            return None
        if len(parts) == 1 and isinstance(parts[0], str) and parts[0] in self.params:
            return path, self.params[parts[0]]
        n, value = _walk(self.body, parts)
        if n == len(parts):
            return path, value
        if n == len(parts) - 1 and isinstance(value, dict) and isinstance(parts[-1], str):
            return path, None
        return (path_text(parts[:n]), value) if n else None


async def request_body(request: Request) -> Any:
    """The request's JSON body (parsed once by FastAPI), or None."""
    try:
        return await request.json()
    except Exception:
        return None


def config_errors(err: ConfigError, inputs: RequestInputs) -> list[dict[str, Any]]:
    """The ``errors`` entry of a refused value: the field of a :class:`RequestError`, or the
    path a message starts with (``assets[0].thickness=220 m is outside ...``)."""
    message = str(err)
    if isinstance(err, InputErrors):
        return [{"field": f, "value": shown(v), "error": m} for f, v, m in err.errors]
    if isinstance(err, RequestError):
        found = inputs.find(err.field)
        value = err.value if err.value is not _UNSET else (found[1] if found else None)
        return [{"field": err.field, "value": shown(value), "error": message}]
    m = _PATH.match(message)
    found = inputs.find(m.group(0)) if m else None
    if found is None:
        return []
    return [{"field": found[0], "value": shown(found[1]), "error": message}]


def schema_errors(errors: Sequence[Any], body: Any) -> list[dict[str, Any]]:
    """pydantic's errors as ``errors`` entries: locations as the request wrote them (union
    member tags such as ``float`` or ``Quantity`` left out), one entry per field."""
    out: dict[str, dict[str, Any]] = {}
    deep: set[tuple[str, ...]] = set()
    entries: list[tuple[str, Any, str, tuple[str | int, ...] | None, bool]] = []
    for e in errors:
        loc = list(e.get("loc", ()))
        where, loc = (loc[0], loc[1:]) if loc and loc[0] in ("body", "query", "path",
                                                             "header") else ("body", loc)
        if e.get("type") == "json_invalid":
            pos = loc[0] if loc else "?"
            message = (f"the body is not valid JSON: {e.get('ctx', {}).get('error', '')} at "
                       f"character {pos}; send a JSON object")
            entries.append(("", None, message, (), False))
            continue
        node = body if where == "body" else None
        parts: list[str | int] = []
        tagged: tuple[str | int, ...] | None = None
        for i, p in enumerate(loc):
            last = i == len(loc) - 1
            if isinstance(p, int) and isinstance(node, list) and 0 <= p < len(node):
                parts.append(p)
                node = node[p]
            elif isinstance(p, str) and (where != "body" or (isinstance(node, dict) and (
                    p in node or (last and e.get("type") == "missing")))):
                parts.append(p)
                node = node.get(p) if isinstance(node, dict) else None
            else:  # a union member's tag: not in the request
                tagged = tuple(parts)
        value = None if e.get("type") == "missing" else e.get("input")
        entries.append((path_text(parts), value, str(e.get("msg", "")), tagged,
                        tagged is not None and len(parts) > len(tagged)))
        if tagged is not None and len(parts) > len(tagged):
            deep.add(tuple(map(str, tagged)))
    for field, value, message, tagged, is_deep in entries:
        # A union member that did not fit the value at all ("should be a valid number" for
        # an object) is noise when another member found the real problem inside it.
        if tagged and not is_deep and tuple(map(str, tagged)) in deep:
            continue
        if field in out:
            if message not in out[field]["error"]:
                out[field]["error"] += f", or {message[0].lower()}{message[1:]}"
            continue
        out[field] = {"field": field, "value": shown(value), "error": message}
    return list(out.values())


def summary(errors: Sequence[dict[str, Any]]) -> str:
    """The detail of a list of field errors: each ``field: error``, the first five."""
    said = [f"{e['field'] or 'the body'}: {e['error']}" for e in errors[:5]]
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(said) + more if said else "the request is invalid"


def unreadable(cause: BaseException | None) -> str:
    if isinstance(cause, RecursionError):
        return ("the JSON body is nested too deeply to read; send flat arrays (tensor data "
                "may be flat, in row-major order)")
    if isinstance(cause, UnicodeDecodeError):
        return (f"the body is not JSON text in UTF-8 ({cause.reason} at byte {cause.start}); "
                "send UTF-8 JSON")
    return (f"the body could not be read as JSON ({type(cause).__name__}); send a JSON "
            "object with Content-Type: application/json")


def document_problems(app: FastAPI) -> None:
    """Document ``app``'s error responses as problem+json: FastAPI files an extra response's
    model under the route's own media type (application/json)."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            for item in plain().get("paths", {}).values():
                for op in item.values():
                    for status, response in op.get("responses", {}).items():
                        content = response.get("content", {})
                        if status[:1] in "45" and "application/json" in content:
                            content[PROBLEM_JSON] = content.pop("application/json")
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
