"""``/docs`` works on a network without internet access: the page names no URL outside the
server, and every script, style sheet and icon it names is served by the server itself."""

from __future__ import annotations

import re
from urllib.parse import urljoin

from fastapi.testclient import TestClient

from steeltwin.engine.service import ServeSettings, create_app


def test_docs_reference_no_external_url_and_their_assets_are_served(tmp_path):
    app = create_app(ServeSettings(database=f"sqlite:///{tmp_path / 'st.db'}",
                                   state_dir=str(tmp_path), warmup=False))
    with TestClient(app) as client:
        page = client.get("/docs")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        html = page.text
        assert "SwaggerUIBundle(" in html
        # No absolute URL at all (no CDN, no favicon from the web), no protocol-relative one.
        assert not re.findall(r"(?i)https?://|[\"'(]//[a-z0-9]", html), html
        assert '"validatorUrl": null' in html  # Swagger UI's badge would ask an outside service
        refs = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
        refs += re.findall(r"""\burl:\s*["']([^"']+)["']""", html)  # the spec Swagger UI loads
        assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css",
                "/openapi.json"} <= set(refs), refs
        kinds = {".js": "text/javascript", ".css": "text/css", ".png": "image/png",
                 ".json": "application/json"}
        for ref in refs:
            r = client.get(urljoin("http://testserver/docs", ref))
            assert r.status_code == 200, ref
            assert r.headers["content-type"].startswith(kinds[ref[ref.rfind("."):]]), ref
            assert len(r.content) > 100, ref
        bundle = client.get("/docs/assets/swagger-ui-bundle.js").text
        assert "SwaggerUIBundle" in bundle and len(bundle) > 500_000  # the real build
        assert client.get("/openapi.json").json()["openapi"].startswith("3.1")  # Swagger UI 5
        assert client.get("/redoc").status_code == 404  # ReDoc needs a CDN: not served
        assert client.get("/docs/assets/swagger-ui.js.map").status_code == 404  # only these
