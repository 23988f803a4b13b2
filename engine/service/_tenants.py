"""Tenants and their API keys, as an operator manages them against the store (no HTTP).

A tenant exists while it holds a key: :func:`create_tenant` gives a new tenant its first key
(all scopes, so it can manage its own keys over ``/v1/keys``); :func:`create_key` adds a key
with chosen scopes to an existing tenant; :func:`revoke_key` deletes a key by its id;
:func:`list_keys` lists one tenant's keys or every tenant's. ``steeltwin-serve keys ...`` is the
command line over these. A running service notices a revocation at once for a key it has not
verified in the last 30 s, else within those 30 s (its cache of verified keys).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ._auth import SCOPES, new_key
from ._store import AbstractStore, ApiKeyRecord

_TENANT = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class TenantError(ValueError):
    """An operator's request that cannot be done as asked (the message says why and what to do)."""


def check_tenant(tenant: str) -> str:
    """``tenant`` if it is a valid tenant name, else :class:`TenantError`."""
    if not _TENANT.fullmatch(tenant):
        raise TenantError(f"tenant {tenant!r} is invalid: expected 1-64 letters, digits, _ . -")
    return tenant


def check_scopes(text: str) -> tuple[str, ...]:
    """The scopes of a comma-separated list (``read,write``), else :class:`TenantError`."""
    scopes = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        what = f"{bad[0]!r} is not a scope" if bad else f"scopes {text!r} name no scope"
        raise TenantError(f"{what}: expected some of {', '.join(SCOPES)}, comma-separated "
                          "(admin implies the others)")
    return scopes


def create_tenant(store: AbstractStore, tenant: str, label: str = "") -> tuple[str, ApiKeyRecord]:
    """A new tenant with its first key (scopes read, write, admin): the key text (show it
    once) and its record. :class:`TenantError` if the tenant already holds keys."""
    held = store.list_api_keys(tenant)
    if held:
        raise TenantError(f"tenant {tenant!r} already exists ({len(held)} key"
                          f"{'s' * (len(held) > 1)}); add a key with `keys create --tenant "
                          f"{tenant} --scopes ...`")
    try:
        return new_key(store, tenant, SCOPES, label or f"first key of {tenant}")
    except ValueError as err:
        raise TenantError(str(err)) from None


def create_key(store: AbstractStore, tenant: str, scopes: Sequence[str],
               label: str = "") -> tuple[str, ApiKeyRecord]:
    """A new key of an existing tenant with ``scopes`` (some of read, write, admin).
    :class:`TenantError` for an unknown tenant or bad scopes."""
    if not store.list_api_keys(tenant):
        raise TenantError(f"tenant {tenant!r} does not exist (it holds no key); create it "
                          f"with `keys create-tenant {tenant}`")
    try:
        return new_key(store, tenant, scopes, label)
    except ValueError as err:
        raise TenantError(str(err)) from None


def list_keys(store: AbstractStore, tenant: str | None = None) -> list[ApiKeyRecord]:
    """The keys of ``tenant`` (all tenants' for None), by tenant, then creation time."""
    if tenant is not None:
        return store.list_api_keys(tenant)
    return store.all_api_keys()


def revoke_key(store: AbstractStore, key_id: str) -> ApiKeyRecord:
    """Delete the key with this id (any tenant); its record. :class:`TenantError` if there is
    none."""
    rec = store.get_api_key(key_id)
    if rec is None or not store.revoke_api_key(rec.tenant, key_id):
        raise TenantError(f"key {key_id!r} does not exist; `keys list` shows the key ids")
    return rec
