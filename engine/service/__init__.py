"""steeltwin service: the predict and twin APIs over HTTP (FastAPI), durable and secure.

``create_app(ServeSettings(...))`` gives the ASGI app; ``steeltwin-serve``
(``steeltwin.engine.apps.serve``) runs it with uvicorn from ``conf/serve.yaml``. See the
modules: ``_app`` (start-up), ``_body`` (body size, media type and nesting limits),
``_problems`` / ``_handlers`` (every error as an RFC 9457 problem), ``_routes_*`` (the
endpoints), ``_twins`` (durable twins), ``_predicting`` (the model, batched predictions),
``_batching`` (micro-batching), ``_warmup`` (compiling in the background after start-up),
``_docs`` (the API docs, served offline), ``_store`` (SQLite/PostgreSQL), ``_auth`` (API keys,
tenants, scopes), ``_tenants`` (an operator's tenants and keys), ``_units`` (pint),
``_metrics`` (Prometheus), ``_opcua`` / ``_mqtt`` (plant data).
"""

from ._app import Service, create_app
from ._auth import Principal, new_key
from ._settings import ServeSettings
from ._store import AbstractStore
from ._store_open import open_store
from ._tenants import (
    TenantError,
    check_scopes,
    check_tenant,
    create_key,
    create_tenant,
    list_keys,
    revoke_key,
)

__all__ = ["AbstractStore", "Principal", "ServeSettings", "Service", "TenantError",
           "check_scopes", "check_tenant", "create_app", "create_key", "create_tenant",
           "list_keys", "new_key", "open_store", "revoke_key"]
