"""Opening a store by url: the one place that knows the backends (SQLite, PostgreSQL).

``_store`` holds the interface and records; ``_store_sql`` the statements both backends
share; ``_store_backends`` the two backends; this module picks one from the url.
"""

from __future__ import annotations

from .._errors import ConfigError
from ._store import _ACCEPTED, AbstractStore, redact_url
from ._store_backends import PostgresStore, SqliteStore


def open_store(url: str) -> AbstractStore:
    """Open (and if needed create) the store at ``url``.

    Args:
        url: ``sqlite:///relative/path.db`` (relative to the working directory),
            ``sqlite:////absolute/path.db`` (parent directories are created),
            ``sqlite:///:memory:`` (private to this store; tests), or
            ``postgresql://user[:password]@host:port/db`` (also ``postgres://``, with libpq
            query options such as ``?options=-csearch_path%3Dmyschema``).

    Returns:
        The store, its tables created if missing.

    Raises:
        ConfigError: (a ValueError) the url has none of the accepted forms.
        StoreError: the database cannot be opened or has a newer schema version.
    """
    if not isinstance(url, str):
        raise ConfigError(f"url={url!r} is invalid: expected a string, one of {_ACCEPTED}")
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return SqliteStore(url, url[len("sqlite:///") :])
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url)
    raise ConfigError(
        f"url={redact_url(url)!r} is invalid: expected one of {_ACCEPTED}; fix the store url "
        "(four slashes before an absolute SQLite path)"
    )
