"""The API docs (Swagger UI at ``/docs``), served from this process: no CDN, no external URL.

FastAPI's own ``/docs`` page loads Swagger UI from a CDN, so it stays blank on a plant network
without internet access. Here the page names only this server's paths: the script, style
sheet and icon of Swagger UI 5 (the ``swagger-ui-bundle-v2`` package of the ``serve`` extra,
Apache-2.0) under ``/docs/assets/``, and ``/openapi.json``. Swagger UI's validator badge
(which asks an outside service) is off. ReDoc (``/redoc``, CDN-only) is not served.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, swagger_ui_default_parameters
from fastapi.responses import FileResponse, HTMLResponse

DOCS = "/docs"
ASSETS = f"{DOCS}/assets"
_FILES = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8",
          "swagger-ui.css": "text/css; charset=utf-8", "favicon-32x32.png": "image/png"}


def swagger_ui_dir() -> Path:
    """The folder of the packaged Swagger UI build."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError as err:
        raise ImportError("the API docs need swagger-ui-bundle-v2 (the serve extra): "
                          "pip install 'steeltwin[serve]'") from err
    return Path(str(swagger_ui_path))


def install_docs(app: FastAPI) -> None:
    """``GET /docs`` and its assets on ``app`` (built with ``docs_url=None``)."""
    folder = swagger_ui_dir()
    missing = [name for name in _FILES if not (folder / name).is_file()]
    if missing:
        raise ImportError(f"the Swagger UI build in {folder} lacks {', '.join(missing)}; "
                          "reinstall swagger-ui-bundle-v2")
    params = {**swagger_ui_default_parameters, "validatorUrl": None}

    @app.get(DOCS, include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - API docs",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon-32x32.png",
            swagger_ui_parameters=params)

    def asset(name: str, media_type: str) -> None:
        path = folder / name

        @app.get(f"{ASSETS}/{name}", include_in_schema=False, name=f"docs-{name}")
        async def serve() -> FileResponse:
            return FileResponse(path, media_type=media_type,
                                headers={"Cache-Control": "public, max-age=86400"})

    for name, media_type in _FILES.items():
        asset(name, media_type)
