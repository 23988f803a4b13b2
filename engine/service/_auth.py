"""API keys: issued once, stored hashed, compared in constant time, mapped to a tenant.

A key reads ``st_<key_id>_<secret>``: ``key_id`` (12 hex digits) is public and finds the
record, ``secret`` (32 random bytes, URL-safe base64) is never stored; the store holds
SHA-256(key_id + ":" + secret) in hex. A key has scopes: ``read`` (get, list, predict,
forecast, advise, metrics), ``write`` (create twins, post readings) and ``admin`` (delete
twins, manage keys; implies the others). Every twin belongs to one tenant; a key sees its
tenant's twins only (another tenant's twin id answers 404, exactly like a missing one).

A fast hash suffices because the secret has 256 bits of entropy (a password would need a slow
one). Verified keys are cached for ``cache_seconds`` (a revocation through this process takes
effect at once, through another replica within that time).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Sequence

from ._store import AbstractStore, ApiKeyRecord

SCOPES = ("read", "write", "admin")
_KEY = re.compile(r"^st_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


@dataclasses.dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, tenant and scopes."""

    key_id: str
    tenant: str
    scopes: tuple[str, ...]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def hash_key(key_id: str, secret: str) -> str:
    return hashlib.sha256(f"{key_id}:{secret}".encode()).hexdigest()


def new_key(store: AbstractStore, tenant: str, scopes: Sequence[str],
            label: str = "") -> tuple[str, ApiKeyRecord]:
    """Issue a key: returns the secret key text (show it once) and the stored record."""
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise ValueError(f"scopes={list(scopes)} is invalid: expected some of {SCOPES}")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", tenant):
        raise ValueError(f"tenant={tenant!r} is invalid: expected 1-64 letters, digits, _ . -")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    rec = ApiKeyRecord(key_id=key_id, tenant=tenant, scopes=tuple(dict.fromkeys(scopes)),
                       key_hash=hash_key(key_id, secret), label=label, created_at=time.time())
    store.add_api_key(rec)
    return f"st_{key_id}_{secret}", rec


class KeyVerifier:
    """Checks presented keys against the store (with a short cache of verified keys)."""

    def __init__(self, store: AbstractStore, cache_seconds: float = 30.0) -> None:
        self.store, self.cache_seconds = store, cache_seconds
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def verify(self, presented: str) -> Principal | None:
        """The principal of a valid key, else None (same answer for any kind of bad key)."""
        m = _KEY.match(presented or "")
        if m is None:
            return None
        digest = hashlib.sha256(presented.encode()).hexdigest()  # cache key, never the secret
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
        if hit is not None and now - hit[0] < self.cache_seconds:
            return hit[1]
        key_id, secret = m.groups()
        rec = self.store.get_api_key(key_id)
        expected = rec.key_hash if rec is not None else hash_key("0" * 12, "")
        ok = hmac.compare_digest(hash_key(key_id, secret), expected) and rec is not None
        if not ok or rec is None:
            return None
        p = Principal(rec.key_id, rec.tenant, tuple(rec.scopes))
        with self._lock:
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[digest] = (now, p)
        return p

    def forget(self, key_id: str) -> None:
        """Drop a revoked key from the cache."""
        with self._lock:
            self._cache = {d: v for d, v in self._cache.items() if v[1].key_id != key_id}
