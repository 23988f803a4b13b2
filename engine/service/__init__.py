"""steeltwin service: the predict and twin APIs over HTTP (FastAPI), durable and secure.

``create_app(ServeSettings(...))`` gives the ASGI app; ``steeltwin-serve``
(``steeltwin.engine.apps.serve``) runs it with uvicorn from ``conf/serve.yaml``. See the
modules: ``_app`` (start-up), ``_body`` (body size, media type and nesting limits),
``_problems`` / ``_handlers`` (every error as an RFC 9457 problem), ``_routes_*`` (the
endpoints), ``_twins`` (durable twins), ``_predicting`` (the model, batched predictions),
``_batching`` (micro-batching), ``_store`` (SQLite/PostgreSQL), ``_auth`` (API keys, tenants,
scopes), ``_units`` (pint), ``_metrics`` (Prometheus), ``_opcua`` / ``_mqtt`` (plant data).
"""

from ._app import Service, create_app
from ._auth import Principal, new_key
from ._settings import ServeSettings
from ._store import AbstractStore
from ._store_open import open_store

__all__ = ["AbstractStore", "Principal", "ServeSettings", "Service", "create_app", "new_key",
           "open_store"]
