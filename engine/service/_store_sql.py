"""The store in SQL: one set of statements for SQLite and PostgreSQL (see :mod:`._store`).

Statements are written with ``?`` placeholders (PostgreSQL gets ``%s``); the backends differ
in column types, how a connection is opened, how a transaction begins and how the twin row
is locked for an append (the two backends: :mod:`._store_backends`). Each call takes a
connection from a small pool, runs one transaction and gives the connection back; driver
errors become :class:`StoreError`.
"""

from __future__ import annotations

import abc
import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np

from ._store import (
    SCHEMA_VERSION,
    AbstractStore,
    ApiKeyRecord,
    AppendResult,
    SnapshotRecord,
    StoreConflict,
    StoreError,
    TwinRecord,
    redact_url,
)

_DDL = (
    "CREATE TABLE IF NOT EXISTS api_keys (key_id TEXT PRIMARY KEY, tenant TEXT NOT NULL,"
    " scopes TEXT NOT NULL, key_hash TEXT NOT NULL, label TEXT NOT NULL,"
    " created_at {real} NOT NULL)",
    "CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys (tenant, created_at)",
    "CREATE TABLE IF NOT EXISTS twins (pk {pk}, tenant TEXT NOT NULL, twin_id TEXT NOT NULL,"
    " spec TEXT NOT NULL, created_at {real} NOT NULL, last_seq {int} NOT NULL DEFAULT 0,"
    " UNIQUE (tenant, twin_id))",
    "CREATE TABLE IF NOT EXISTS readings (twin {int} NOT NULL REFERENCES twins (pk)"
    " ON DELETE CASCADE, reading_id TEXT NOT NULL, seq {int} NOT NULL, body TEXT NOT NULL,"
    " PRIMARY KEY (twin, reading_id), UNIQUE (twin, seq))",
    "CREATE TABLE IF NOT EXISTS snapshots (twin {int} PRIMARY KEY REFERENCES twins (pk)"
    " ON DELETE CASCADE, cycle {int} NOT NULL, last_seq {int} NOT NULL, fields {blob} NOT NULL,"
    " fields_shape TEXT NOT NULL, augmented {blob} NOT NULL, augmented_shape TEXT NOT NULL,"
    " rejected TEXT NOT NULL)",
)
_KEY_COLS = "key_id, tenant, scopes, key_hash, label, created_at"
_TWIN_COLS = "tenant, twin_id, spec, created_at"
_WHERE_TWIN = "WHERE tenant = ? AND twin_id = ?"
_PUT_SNAPSHOT = (
    "INSERT INTO snapshots (twin, cycle, last_seq, fields, fields_shape, augmented,"
    " augmented_shape, rejected) SELECT pk, ?, ?, ?, ?, ?, ?, ? FROM twins "
    + _WHERE_TWIN
    + " ON CONFLICT (twin) DO UPDATE SET cycle = excluded.cycle, last_seq = excluded.last_seq,"
    " fields = excluded.fields, fields_shape = excluded.fields_shape,"
    " augmented = excluded.augmented, augmented_shape = excluded.augmented_shape,"
    " rejected = excluded.rejected WHERE snapshots.last_seq <= excluded.last_seq"
)
_GET_SNAPSHOT = (
    "SELECT s.cycle, s.last_seq, s.fields, s.fields_shape, s.augmented, s.augmented_shape,"
    " s.rejected FROM snapshots s JOIN twins t ON s.twin = t.pk"
    " WHERE t.tenant = ? AND t.twin_id = ?"
)
_POOL_WAIT_S = 60.0


def _dumps(obj: Any, what: str) -> str:
    """JSON text of ``obj`` (finite numbers only), else ValueError naming ``what``."""
    try:
        return json.dumps(obj, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what} is not JSON-serialisable ({e}); send plain JSON types") from e


def _to_blob(a: Any, what: str) -> tuple[bytes, str]:
    """Raw little-endian float64 bytes of a real array, and its shape as JSON."""
    arr = np.asarray(a)
    if arr.dtype.kind not in "fiub":
        raise ValueError(f"snapshot {what} has dtype {arr.dtype}: expected real numbers (float64)")
    return np.ascontiguousarray(arr, dtype="<f8").tobytes(), json.dumps(list(arr.shape))


def _from_blob(blob: bytes, shape: str) -> np.ndarray:
    """A fresh writable float64 array of :func:`_to_blob`'s bytes and shape."""
    return np.frombuffer(blob, dtype="<f8").reshape(json.loads(shape)).astype(np.float64)


def _key(row: Any) -> ApiKeyRecord:
    key_id, tenant, scopes, key_hash, label, created_at = row
    return ApiKeyRecord(key_id, tenant, tuple(json.loads(scopes)), key_hash, label, created_at)


def _twin(row: Any) -> TwinRecord:
    tenant, twin_id, spec, created_at = row
    return TwinRecord(tenant, twin_id, json.loads(spec), created_at)


class _Pool:
    """At most ``size`` connections, each lent to one thread at a time; broken ones dropped."""

    def __init__(self, url: str, connect: Callable[[], Any], size: int) -> None:
        self._url, self._connect, self._size = url, connect, size
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle: list[Any] = []
        self._closed = False

    @contextlib.contextmanager
    def connection(self, broken: Callable[[Any], bool]) -> Iterator[Any]:
        if not self._slots.acquire(timeout=_POOL_WAIT_S):
            raise StoreError(
                f"store {self._url}: all {self._size} connections stayed busy for "
                f"{_POOL_WAIT_S:g} s; check for slow queries or a stuck database"
            )
        try:
            with self._lock:
                if self._closed:
                    raise StoreError(f"store {self._url} is closed; open a new one")
                conn = self._idle.pop() if self._idle else None
            conn = self._connect() if conn is None else conn
            try:
                yield conn
            finally:
                with self._lock:
                    keep = not self._closed and not broken(conn)
                    if keep:
                        self._idle.append(conn)
                if not keep:
                    conn.close()
        finally:
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            self._closed, idle, self._idle = True, self._idle, []
        for conn in idle:
            conn.close()


class _AbstractSqlStore(AbstractStore):
    """Every store method in SQL; subclasses supply the backend's connection and dialect."""

    _types: ClassVar[dict[str, str]]  # column types for _DDL
    _lock_row: str  # appended to the twin select of an append
    _hint: str  # what to check when the driver fails
    _errors: tuple[type[Exception], ...]  # the driver's exceptions

    def __init__(self, url: str, pool_size: int) -> None:
        self.url = redact_url(url)
        self._pool = _Pool(self.url, self._connect, pool_size)
        try:
            self._create_schema()
        except BaseException:
            self._pool.close()
            raise

    @abc.abstractmethod
    def _connect(self) -> Any:
        """A new DB-API connection, set up for this store."""

    @abc.abstractmethod
    def _transaction(self, conn: Any, write: bool) -> contextlib.AbstractContextManager[Any]:
        """Begin; commit at exit, roll back on an exception."""

    @abc.abstractmethod
    def _lock_schema(self, run: Callable[..., Any]) -> None:
        """Keep other processes out while the schema is created."""

    def _broken(self, conn: Any) -> bool:
        return False

    def _sql(self, sql: str) -> str:
        return sql

    @contextlib.contextmanager
    def _tx(self, write: bool = False) -> Iterator[Callable[..., Any]]:
        """One transaction; yields ``run(sql, params=())`` returning a cursor."""
        try:
            with self._pool.connection(self._broken) as conn, self._transaction(conn, write):
                yield lambda sql, params=(): conn.execute(self._sql(sql), params)
        except self._errors as e:
            raise StoreError(f"store {self.url}: {type(e).__name__}: {e}; {self._hint}") from e

    def _create_schema(self) -> None:
        with self._tx(write=True) as run:
            self._lock_schema(run)
            run("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            (version,) = run("SELECT MAX(version) FROM schema_version").fetchone()
            if version is not None and version > SCHEMA_VERSION:
                raise StoreError(
                    f"store {self.url} has schema version {version}, newer than this "
                    f"steeltwin's {SCHEMA_VERSION}; upgrade steeltwin or use another database"
                )
            for statement in _DDL:
                run(statement.format(**self._types))
            if version is None:
                run("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))

    # API keys

    def add_api_key(self, rec: ApiKeyRecord) -> None:
        row = (rec.key_id, rec.tenant, json.dumps(list(rec.scopes)), rec.key_hash, rec.label)
        with self._tx(write=True) as run:
            cur = run(
                f"INSERT INTO api_keys ({_KEY_COLS}) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (key_id) DO NOTHING",
                (*row, float(rec.created_at)),
            )
            if cur.rowcount == 0:
                raise StoreConflict(f"API key id {rec.key_id!r} already exists; make a new key")

    def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        with self._tx() as run:
            row = run(f"SELECT {_KEY_COLS} FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
        return None if row is None else _key(row)

    def list_api_keys(self, tenant: str) -> list[ApiKeyRecord]:
        sql = f"SELECT {_KEY_COLS} FROM api_keys WHERE tenant = ? ORDER BY created_at, key_id"
        with self._tx() as run:
            return [_key(row) for row in run(sql, (tenant,)).fetchall()]

    def all_api_keys(self) -> list[ApiKeyRecord]:
        sql = f"SELECT {_KEY_COLS} FROM api_keys ORDER BY tenant, created_at, key_id"
        with self._tx() as run:
            return [_key(row) for row in run(sql).fetchall()]

    def revoke_api_key(self, tenant: str, key_id: str) -> bool:
        with self._tx(write=True) as run:
            sql = "DELETE FROM api_keys WHERE tenant = ? AND key_id = ?"
            return bool(run(sql, (tenant, key_id)).rowcount)

    def count_api_keys(self) -> int:
        with self._tx() as run:
            return int(run("SELECT COUNT(*) FROM api_keys").fetchone()[0])

    # Twins

    def create_twin(self, rec: TwinRecord) -> None:
        spec = _dumps(rec.spec, f"twin {rec.twin_id!r} spec")
        with self._tx(write=True) as run:
            cur = run(
                f"INSERT INTO twins ({_TWIN_COLS}) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (tenant, twin_id) DO NOTHING",
                (rec.tenant, rec.twin_id, spec, float(rec.created_at)),
            )
            if cur.rowcount == 0:
                raise StoreConflict(
                    f"twin {rec.twin_id!r} already exists in tenant {rec.tenant!r}; "
                    "choose another id or delete that twin first"
                )

    def get_twin(self, tenant: str, twin_id: str) -> TwinRecord | None:
        with self._tx() as run:
            row = run(f"SELECT {_TWIN_COLS} FROM twins {_WHERE_TWIN}", (tenant, twin_id)).fetchone()
        return None if row is None else _twin(row)

    def list_twins(self, tenant: str) -> list[TwinRecord]:
        sql = f"SELECT {_TWIN_COLS} FROM twins WHERE tenant = ? ORDER BY created_at, twin_id"
        with self._tx() as run:
            return [_twin(row) for row in run(sql, (tenant,)).fetchall()]

    def all_twins(self) -> list[TwinRecord]:
        sql = f"SELECT {_TWIN_COLS} FROM twins ORDER BY created_at, tenant, twin_id"
        with self._tx() as run:
            return [_twin(row) for row in run(sql).fetchall()]

    def delete_twin(self, tenant: str, twin_id: str) -> bool:
        with self._tx(write=True) as run:
            return bool(run(f"DELETE FROM twins {_WHERE_TWIN}", (tenant, twin_id)).rowcount)

    # Readings

    def append_readings(
        self, tenant: str, twin_id: str, readings: list[dict[str, Any]]
    ) -> AppendResult:
        stored: list[str] = []
        duplicates: list[str] = []
        conflicts: list[str] = []
        with self._tx(write=True) as run:
            sql = f"SELECT pk, last_seq FROM twins {_WHERE_TWIN}{self._lock_row}"
            row = run(sql, (tenant, twin_id)).fetchone()
            if row is None:
                raise KeyError(f"twin {twin_id!r} does not exist in tenant {tenant!r}")
            pk, seq = row
            first = seq
            for i, reading in enumerate(readings):
                rid = reading.get("id") if isinstance(reading, dict) else None
                if not isinstance(rid, str):
                    raise ValueError(f"reading #{i} has no string 'id': pass Reading.to_json()")
                body = _dumps(reading, f"reading {rid!r}")
                cur = run(
                    "INSERT INTO readings (twin, reading_id, seq, body) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (twin, reading_id) DO NOTHING",
                    (pk, rid, seq + 1, body),
                )
                if cur.rowcount == 1:
                    seq += 1
                    stored.append(rid)
                    continue
                sql = "SELECT body FROM readings WHERE twin = ? AND reading_id = ?"
                (held,) = run(sql, (pk, rid)).fetchone()
                same = json.loads(held) == json.loads(body)
                (duplicates if same else conflicts).append(rid)
            if seq != first:
                run("UPDATE twins SET last_seq = ? WHERE pk = ?", (seq, pk))
        return AppendResult(stored, duplicates, conflicts, seq)

    def readings(
        self, tenant: str, twin_id: str, after_seq: int = 0
    ) -> list[tuple[int, dict[str, Any]]]:
        sql = (
            "SELECT r.seq, r.body FROM readings r JOIN twins t ON r.twin = t.pk"
            " WHERE t.tenant = ? AND t.twin_id = ? AND r.seq > ? ORDER BY r.seq"
        )
        with self._tx() as run:
            rows = run(sql, (tenant, twin_id, int(after_seq))).fetchall()
        return [(int(seq), json.loads(body)) for seq, body in rows]

    def last_seq(self, tenant: str, twin_id: str) -> int:
        with self._tx() as run:
            row = run(f"SELECT last_seq FROM twins {_WHERE_TWIN}", (tenant, twin_id)).fetchone()
        return 0 if row is None else int(row[0])

    # Snapshots

    def put_snapshot(self, tenant: str, twin_id: str, snap: SnapshotRecord) -> None:
        fields, fields_shape = _to_blob(snap.fields, "fields")
        augmented, augmented_shape = _to_blob(snap.augmented, "augmented")
        rejected = _dumps(dict(snap.rejected), "snapshot rejected")
        params = (int(snap.cycle), int(snap.last_seq), fields, fields_shape, augmented)
        with self._tx(write=True) as run:
            run(_PUT_SNAPSHOT, (*params, augmented_shape, rejected, tenant, twin_id))

    def get_snapshot(self, tenant: str, twin_id: str) -> SnapshotRecord | None:
        with self._tx() as run:
            row = run(_GET_SNAPSHOT, (tenant, twin_id)).fetchone()
        if row is None:
            return None
        cycle, last_seq, fields, fields_shape, augmented, augmented_shape, rejected = row
        return SnapshotRecord(
            int(cycle),
            _from_blob(fields, fields_shape),
            _from_blob(augmented, augmented_shape),
            int(last_seq),
            json.loads(rejected),
        )

    def ping(self) -> bool:
        try:
            with self._tx() as run:
                run("SELECT 1").fetchone()
        except StoreError:
            return False
        return True

    def close(self) -> None:
        self._pool.close()
