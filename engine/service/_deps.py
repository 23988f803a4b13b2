"""Typed FastAPI dependencies: the service, and the caller's principal with a scope."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from ._auth import Principal

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer st_<id>_<secret>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="or X-API-Key")


def get_service(request: Request) -> Any:
    return request.app.state.service


ServiceDep = Annotated[Any, Depends(get_service)]


def _principal(scope: str) -> Any:
    def dependency(request: Request,
                   bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                   header: Annotated[str | None, Depends(_header)]) -> Principal:
        presented = bearer.credentials if bearer is not None else header
        if not presented:
            raise HTTPException(401, "missing API key: send Authorization: Bearer <key> or "
                                "X-API-Key: <key>", headers={"WWW-Authenticate": "Bearer"})
        p = request.app.state.service.verifier.verify(presented)
        if p is None:
            raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
        if not p.allows(scope):
            raise HTTPException(403, f"this key lacks the {scope!r} scope (it has "
                                f"{', '.join(p.scopes)}); ask an admin for a key with it")
        return p

    return dependency


Reader = Annotated[Principal, Depends(_principal("read"))]
Writer = Annotated[Principal, Depends(_principal("write"))]
Admin = Annotated[Principal, Depends(_principal("admin"))]
