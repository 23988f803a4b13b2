"""``steeltwin-serve keys ...``: an operator's tenants and API keys, straight against the store
that ``conf/serve.yaml`` (with the same ``key=value`` overrides as the server) names.

    steeltwin-serve keys create-tenant acme                        # prints acme's first key
    steeltwin-serve keys create --tenant acme --scopes read,write --label "line 2 HMI"
    steeltwin-serve keys list [--tenant acme]
    steeltwin-serve keys revoke 0123456789ab
    steeltwin-serve keys list serve.database=postgresql://steeltwin@db:5432/steeltwin

A new key is printed once, alone on stdout (``KEY=$(steeltwin-serve keys create ...)``); what
was done goes to stderr. Exit status: 0 done; 1 refused (the tenant exists, no such key) or the
store failed; 2 bad arguments or config. The server need not run (nor stop): keys are rows of
the store, and a running server sees a new key at once, a revocation within 30 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from collections.abc import Callable, Sequence

from hydra.errors import HydraException

from steeltwin.engine import ConfigError
from steeltwin.engine.config import EXIT_CONFIG, to_plain

from ._hydra import compose, override_key_error

PROG = "steeltwin-serve keys"
_OVERRIDE = re.compile(r"^[+~]?[A-Za-z_][\w.]*=")
_VALUED = {"--tenant", "--scopes", "--label"}


def _arg(check: Callable[[str], object]) -> Callable[[str], object]:
    """An argparse type from a service check (its message becomes the usage error)."""
    from steeltwin.engine.service import TenantError

    def parse(text: str) -> object:
        try:
            return check(text)
        except TenantError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    return parse


def _parser() -> argparse.ArgumentParser:
    from steeltwin.engine.service import check_scopes, check_tenant

    tenant, scopes = _arg(check_tenant), _arg(check_scopes)
    p = argparse.ArgumentParser(
        prog=PROG, description="Manage tenants and API keys in the store of conf/serve.yaml "
        "(key=value overrides as for steeltwin-serve, e.g. serve.database=...). A tenant "
        "exists while it holds a key. Scopes: read (get, predict, forecast, advise, metrics), "
        "write (create twins, post readings), admin (delete twins, manage the tenant's keys; "
        "implies the others).",
        epilog="A new key is printed once, alone on stdout; store it now.")
    sub = p.add_subparsers(dest="command", required=True, metavar="command")
    c = sub.add_parser("create-tenant", help="a new tenant and its first key (all scopes)")
    c.add_argument("tenant", type=tenant, help="1-64 letters, digits, _ . -")
    c.add_argument("--label", default="", help="free text for people")
    k = sub.add_parser("create", help="a new key of an existing tenant")
    k.add_argument("--tenant", type=tenant, required=True)
    k.add_argument("--scopes", type=scopes, required=True,
                   help="comma-separated: read,write,admin")
    k.add_argument("--label", default="", help="free text for people")
    ls = sub.add_parser("list", help="keys (id, tenant, scopes, created, label); no secrets")
    ls.add_argument("--tenant", type=tenant, default=None,
                    help="one tenant's keys (default: every tenant's)")
    r = sub.add_parser("revoke", help="delete a key by its id")
    r.add_argument("key_id", help="the 12 hex digits after st_ (see `keys list`)")
    return p


def split_overrides(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """(the command's own arguments, the config overrides ``key=value``)."""
    own: list[str] = []
    overrides: list[str] = []
    for i, a in enumerate(args):
        value_of_option = i > 0 and args[i - 1] in _VALUED
        (overrides if _OVERRIDE.match(a) and not value_of_option else own).append(a)
    return own, overrides


def database_url(overrides: Sequence[str]) -> str:
    """``serve.database`` of ``conf/serve.yaml`` with ``overrides`` (ConfigError if bad)."""
    message = override_key_error("serve", overrides)
    if message is not None:
        raise ConfigError(message)
    try:
        plain = to_plain(compose(overrides, "serve"))
    except HydraException as err:
        raise ConfigError(str(err)) from err
    url = (plain.get("serve") or {}).get("database")
    if not isinstance(url, str):
        raise ConfigError(f"serve.database={url!r} is invalid: expected a store url")
    return url


def _when(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds")


def main(args: Sequence[str]) -> int:
    """Run ``steeltwin-serve keys <args>``; the exit status."""
    own, overrides = split_overrides(list(args))
    ns = _parser().parse_args(own)  # exits 2 on bad arguments
    from steeltwin.engine.service import (
        TenantError,
        create_key,
        create_tenant,
        list_keys,
        open_store,
        revoke_key,
    )

    try:
        store = open_store(database_url(overrides))
    except (ConfigError, HydraException) as err:
        print(f"{PROG}: invalid config: {err}", file=sys.stderr)
        return EXIT_CONFIG
    except Exception as err:  # the store cannot be opened
        print(f"{PROG}: {err}", file=sys.stderr)
        return 1
    try:
        if ns.command in ("create-tenant", "create"):
            if ns.command == "create-tenant":
                key, rec = create_tenant(store, ns.tenant, ns.label)
            else:
                key, rec = create_key(store, ns.tenant, ns.scopes, ns.label)
            print(key, flush=True)
            print(f"{PROG}: created key {rec.key_id} of tenant {rec.tenant!r} with scopes "
                  f"{','.join(rec.scopes)} in {store.url}; the line above is the key, shown "
                  "this once", file=sys.stderr)
        elif ns.command == "list":
            print("key_id\ttenant\tscopes\tcreated\tlabel")
            for rec in list_keys(store, ns.tenant):
                print(f"{rec.key_id}\t{rec.tenant}\t{','.join(rec.scopes)}\t"
                      f"{_when(rec.created_at)}\t{rec.label}")
        else:
            rec = revoke_key(store, ns.key_id)
            print(f"{PROG}: revoked key {rec.key_id} of tenant {rec.tenant!r} in {store.url}",
                  file=sys.stderr)
    except TenantError as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # the database failed (the message names the store and why)
        print(f"{PROG}: {err}", file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0
