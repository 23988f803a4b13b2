"""The two SQL backends of the store: SQLite (the embedded default) and PostgreSQL.

What differs between them (see :mod:`._store_sql` for the shared statements): column types,
how a connection is opened, how a transaction begins and takes the write lock, and how the
schema creation is serialised between processes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from .._errors import ConfigError
from ._store import StoreError, redact_url
from ._store_sql import _AbstractSqlStore

log = logging.getLogger("steeltwin.service")


def _create_private(path: Path) -> None:
    """Create the database file 0600 (its directory 0700) unless it exists: it holds key
    hashes and every tenant's data, and SQLite would create it with the umask's mode (0644).
    SQLite gives the -wal and -shm files the database file's mode. An existing file keeps
    its mode (a warning says when others may read it)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            log.warning("store file %s has mode %o: other users may read the key hashes and "
                        "twins; chmod 600 it", path, mode)


class SqliteStore(_AbstractSqlStore):
    """SQLite in WAL mode with ``synchronous=FULL``; writes take the lock at ``BEGIN``. A new
    database file is created 0600 (its directory 0700)."""

    _types: ClassVar[dict[str, str]] = {
        "pk": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "int": "INTEGER",
        "real": "REAL",
        "blob": "BLOB",
    }
    _lock_row = ""  # BEGIN IMMEDIATE already holds the database's write lock
    _errors = (sqlite3.Error,)
    _hint = (
        "check that the directory exists and is writable, that the file is a SQLite database "
        "on a local file system (WAL needs shared memory), and that no process holds a long "
        "write transaction"
    )

    def __init__(self, url: str, path: str, busy_timeout_s: float = 30.0) -> None:
        self._path, self._busy_s = path, busy_timeout_s
        self._memory = path == ":memory:"
        if not self._memory:
            try:
                _create_private(Path(path))
            except OSError as e:
                msg = f"store {url}: cannot create the database file ({e}); {self._hint}"
                raise StoreError(msg) from e
        # :memory: is private to its connection, so it gets exactly one.
        super().__init__(url, 1 if self._memory else 8)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._path, timeout=self._busy_s, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_s * 1000)}")
            (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if mode.lower() != ("memory" if self._memory else "wal"):
                raise StoreError(f"store {self.url}: journal_mode is {mode}, not WAL; {self._hint}")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            conn.close()
            raise
        return conn

    @contextlib.contextmanager
    def _transaction(self, conn: Any, write: bool) -> Iterator[Any]:
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield conn
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:  # an exception, or a failed COMMIT
                conn.execute("ROLLBACK")

    def _lock_schema(self, run: Callable[..., Any]) -> None:
        pass  # BEGIN IMMEDIATE


class PostgresStore(_AbstractSqlStore):
    """PostgreSQL through psycopg 3; appends lock the twin row (``SELECT ... FOR UPDATE``)."""

    _types: ClassVar[dict[str, str]] = {
        "pk": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "int": "BIGINT",
        "real": "DOUBLE PRECISION",
        "blob": "BYTEA",
    }
    _lock_row = " FOR UPDATE"
    _hint = (
        "check that PostgreSQL is running and accepts connections at that address, and the "
        "user, password (PGPASSWORD or ~/.pgpass), database and search_path schema"
    )

    def __init__(self, url: str, pool_size: int = 8, connect_timeout_s: int = 10) -> None:
        import psycopg

        timeout = {} if "connect_timeout" in url else {"connect_timeout": connect_timeout_s}
        try:
            self._conninfo = psycopg.conninfo.make_conninfo(url, **timeout)
        except psycopg.Error as e:
            raise ConfigError(f"url={redact_url(url)!r} is invalid: {e}; fix the store url") from e
        self._errors = (psycopg.Error,)
        super().__init__(url, pool_size)

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self._conninfo, autocommit=False)

    def _transaction(self, conn: Any, write: bool) -> contextlib.AbstractContextManager[Any]:
        return conn.transaction()

    def _broken(self, conn: Any) -> bool:
        return bool(conn.closed or conn.broken)

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def _lock_schema(self, run: Callable[..., Any]) -> None:
        run("SELECT pg_advisory_xact_lock(7305545712)")  # any fixed key: steeltwin's schema
