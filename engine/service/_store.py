"""The twin service's durable store: twins, their reading logs, snapshots and API keys.

Backends (:func:`open_store`): SQLite in WAL mode, the embedded default
(``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, ``sqlite:///:memory:`` for
tests), and PostgreSQL through the same SQL for several replicas (``postgresql://user@host:5432/db``
or ``postgres://``; libpq query options pass through, e.g.
``?options=-csearch_path%3Dmyschema``).

Schema (version :data:`SCHEMA_VERSION`, kept in ``schema_version``; a newer version is refused):

- ``api_keys(key_id PK, tenant, scopes JSON, key_hash, label, created_at)``: the store only
  sees the hash, never the secret.
- ``twins(pk, tenant, twin_id, spec JSON, created_at, last_seq)``, unique ``(tenant, twin_id)``.
  ``last_seq`` is the twin's reading counter.
- ``readings(twin -> twins.pk, reading_id, seq, body JSON)``, primary key ``(twin, reading_id)``
  and unique ``(twin, seq)``; ``seq`` counts 1, 2, ... per twin in commit order.
- ``snapshots(twin -> twins.pk PK, cycle, last_seq, fields, augmented, shapes, rejected JSON)``:
  the latest estimate; arrays are raw little-endian float64 bytes plus their shape as JSON.

Deleting a twin deletes its readings and snapshot (``ON DELETE CASCADE``). Nothing read from
the database is unpickled: records are JSON text, numbers and raw float64 bytes.

Durability: every method is one transaction, committed before it returns, so a reading
acknowledged to a client survives ``kill -9`` of the process (SQLite ``synchronous=FULL``,
PostgreSQL's default ``synchronous_commit=on``). An append is all or nothing.

Concurrency: a store object is shared by the service's threads; it hands each call a pooled
connection of its own. Several processes (replicas) may share one SQLite file or one
PostgreSQL database. Appends to a twin are serialised by its row (SQLite: ``BEGIN IMMEDIATE``;
PostgreSQL: ``SELECT ... FOR UPDATE``), so seqs become visible in order: a reader that has
seen seq s will never later find a new reading with seq <= s. The unique keys keep a reading
id stored once even if that lock were bypassed.

Errors: database trouble (unreachable server, locked file, broken schema) raises
:class:`StoreError` naming the url (without password) and what to check; a clash on a unique
key in ``create_twin`` / ``add_api_key`` raises :class:`StoreConflict`.
"""

from __future__ import annotations

import abc
import dataclasses
import re
from typing import Any

import numpy as np

SCHEMA_VERSION = 1
SCOPES = ("read", "write", "admin")


class StoreError(Exception):
    """The database failed or cannot be reached (the service answers 503)."""


class StoreConflict(StoreError):
    """A unique key is already taken (a twin id in the tenant, an API key id)."""


@dataclasses.dataclass(frozen=True)
class ApiKeyRecord:
    """An API key as stored: only its public id and the hash of its secret.

    Attributes:
        key_id: public prefix of the key, unique over all tenants.
        tenant: the tenant the key acts for.
        scopes: a subset of :data:`SCOPES` (a list is turned into a tuple).
        key_hash: hex digest of the secret (the service hashes; the store never sees it).
        label: free text for people.
        created_at: unix time, s.
    """

    key_id: str
    tenant: str
    scopes: tuple[str, ...]
    key_hash: str
    label: str = ""
    created_at: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "scopes", tuple(self.scopes))
        bad = [s for s in self.scopes if s not in SCOPES]
        if bad:
            raise ValueError(
                f"scopes={self.scopes!r} is invalid: expected a subset of {SCOPES}; drop {bad}"
            )


@dataclasses.dataclass(frozen=True)
class TwinRecord:
    """A twin's identity and the spec it is rebuilt from at start-up.

    Attributes:
        tenant: owner of the twin.
        twin_id: unique within the tenant.
        spec: JSON-serialisable dict (stored as JSON text: tuples come back as lists).
        created_at: unix time, s.
    """

    tenant: str
    twin_id: str
    spec: dict[str, Any]
    created_at: float


@dataclasses.dataclass(frozen=True)
class AppendResult:
    """What :meth:`AbstractStore.append_readings` did with each reading id.

    Attributes:
        stored: ids newly stored, in input order.
        duplicates: ids already held with identical content (ignored).
        conflicts: ids already held with different content (refused; the stored one is kept).
        last_seq: the twin's highest seq after the append.
    """

    stored: list[str]
    duplicates: list[str]
    conflicts: list[str]
    last_seq: int


@dataclasses.dataclass(frozen=True, eq=False)
class SnapshotRecord:
    """A twin's latest ensemble (compared by identity: it holds arrays).

    Attributes:
        cycle: assimilation cycle index the ensemble is at.
        fields: member temperature fields, K, float64 ``[N, n]``.
        augmented: member augmented parameters, float64 ``[N, k]``.
        last_seq: readings with ``seq <= last_seq`` are reflected in it.
        rejected: reading id -> reason it was rejected.
    """

    cycle: int
    fields: np.ndarray
    augmented: np.ndarray
    last_seq: int
    rejected: dict[str, str]


class AbstractStore(abc.ABC):
    """The store's interface; see the module docstring for schema and guarantees.

    Attributes:
        url: the url the store was opened with, password removed.
    """

    url: str

    @abc.abstractmethod
    def add_api_key(self, rec: ApiKeyRecord) -> None:
        """Store a key; :class:`StoreConflict` if ``rec.key_id`` exists (in any tenant)."""

    @abc.abstractmethod
    def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        """The key with this id, or None."""

    @abc.abstractmethod
    def list_api_keys(self, tenant: str) -> list[ApiKeyRecord]:
        """The tenant's keys by ``created_at``, then ``key_id``."""

    @abc.abstractmethod
    def all_api_keys(self) -> list[ApiKeyRecord]:
        """Every tenant's keys by tenant, then ``created_at``, then ``key_id`` (operators)."""

    @abc.abstractmethod
    def revoke_api_key(self, tenant: str, key_id: str) -> bool:
        """Delete the tenant's key; False if the tenant holds no key with that id."""

    @abc.abstractmethod
    def count_api_keys(self) -> int:
        """The number of keys over all tenants."""

    @abc.abstractmethod
    def create_twin(self, rec: TwinRecord) -> None:
        """Store a twin; :class:`StoreConflict` if ``(tenant, twin_id)`` exists."""

    @abc.abstractmethod
    def get_twin(self, tenant: str, twin_id: str) -> TwinRecord | None:
        """The tenant's twin, or None."""

    @abc.abstractmethod
    def list_twins(self, tenant: str) -> list[TwinRecord]:
        """The tenant's twins by ``created_at``, then ``twin_id``."""

    @abc.abstractmethod
    def all_twins(self) -> list[TwinRecord]:
        """Every tenant's twins (restore at start-up), by ``created_at``, tenant, ``twin_id``."""

    @abc.abstractmethod
    def delete_twin(self, tenant: str, twin_id: str) -> bool:
        """Delete the twin with its readings and snapshot; False if it does not exist."""

    @abc.abstractmethod
    def append_readings(
        self, tenant: str, twin_id: str, readings: list[dict[str, Any]]
    ) -> AppendResult:
        """Store readings (``Reading.to_json()`` dicts) idempotently by their ``id``.

        An id already held (or earlier in the same list) with content equal after a JSON
        round trip is a duplicate, with other content a conflict; new ids get the next seqs
        in input order. One transaction: if any reading fails, nothing is stored.

        Raises:
            KeyError: the tenant has no twin ``twin_id``.
            ValueError: a reading has no string ``id`` or is not JSON-serialisable (finite
                numbers only).
        """

    @abc.abstractmethod
    def readings(
        self, tenant: str, twin_id: str, after_seq: int = 0
    ) -> list[tuple[int, dict[str, Any]]]:
        """``(seq, reading)`` with ``seq > after_seq``, by seq; empty for an unknown twin."""

    @abc.abstractmethod
    def last_seq(self, tenant: str, twin_id: str) -> int:
        """The twin's highest seq; 0 before any reading and for an unknown twin."""

    @abc.abstractmethod
    def put_snapshot(self, tenant: str, twin_id: str, snap: SnapshotRecord) -> None:
        """Keep ``snap`` as the twin's latest unless the stored one has a higher ``last_seq``.

        A no-op if the twin does not exist (it may have been deleted meanwhile). Arrays are
        stored as float64 (other real dtypes are converted).
        """

    @abc.abstractmethod
    def get_snapshot(self, tenant: str, twin_id: str) -> SnapshotRecord | None:
        """The twin's latest snapshot (fresh writable float64 arrays), or None."""

    @abc.abstractmethod
    def ping(self) -> bool:
        """Whether a cheap query succeeds (False on any failure, never raises)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connections; later calls raise :class:`StoreError`."""


_ACCEPTED = (
    "sqlite:///relative/path.db, sqlite:////absolute/path.db, sqlite:///:memory:, "
    "postgresql://user@host:port/db (or postgres://)"
)


def redact_url(url: str) -> str:
    """``url`` without its password (in ``user:password@`` or a ``password=`` query option)."""
    m = re.match(r"([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*@)?(.*)", url, re.DOTALL)
    if m is None or url.startswith("sqlite:"):
        return url
    scheme, userinfo, rest = m.groups()
    user = userinfo.rsplit("@", 1)[0].split(":", 1)[0] + "@" if userinfo else ""
    rest = re.sub(r"(?i)([?&])password=[^&#]*&?", r"\1", rest).replace("?#", "#")
    return scheme + user + rest.rstrip("?&")
