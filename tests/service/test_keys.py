"""Operators' tenants and keys: ``steeltwin-serve keys ...`` against the configured store
(SQLite and PostgreSQL; see conftest.py), and the keys it makes used over HTTP."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from steeltwin.engine.apps._keys import main as keys
from steeltwin.engine.apps._keys import split_overrides
from steeltwin.engine.service import ServeSettings, create_app, open_store
from steeltwin.engine.service._auth import KeyVerifier

KEY = re.compile(r"^st_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = keys(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_keys_create_tenant_create_list_revoke(store_url, capsys):
    db = f"serve.database='{store_url}'"  # quoted: a PostgreSQL url's options hold "="
    code, out, err = run(capsys, "create-tenant", "acme", "--label", "plant A", db)
    assert code == 0, err
    admin = out.strip()
    assert KEY.match(admin) and out.count("\n") == 1  # the key alone on stdout, once
    assert "tenant 'acme'" in err and "read,write,admin" in err and "shown this once" in err
    code, out, err = run(capsys, "create", "--tenant", "acme", "--scopes", "read,write",
                         "--label", "line 2 HMI", db)
    assert code == 0, err
    writer = out.strip()
    assert KEY.match(writer)
    assert run(capsys, "create-tenant", "beta", db)[0] == 0

    code, out, _ = run(capsys, "list", db)
    rows = [line.split("\t") for line in out.strip().splitlines()]
    assert rows[0] == ["key_id", "tenant", "scopes", "created", "label"]
    assert [(r[1], r[2], r[4]) for r in rows[1:]] == [
        ("acme", "read,write,admin", "plant A"), ("acme", "read,write", "line 2 HMI"),
        ("beta", "read,write,admin", "first key of beta")]
    assert "st_" not in out  # ids only, never a secret
    code, out, _ = run(capsys, "list", "--tenant", "beta", db)
    assert [line.split("\t")[1] for line in out.strip().splitlines()[1:]] == ["beta"]

    store = open_store(store_url)
    try:
        verifier = KeyVerifier(store)
        p = verifier.verify(writer)
        assert p is not None and p.tenant == "acme" and p.scopes == ("read", "write")
        assert verifier.verify(admin).scopes == ("read", "write", "admin")  # type: ignore[union-attr]
        writer_id = KEY.match(writer).group(1)  # type: ignore[union-attr]
        code, out, err = run(capsys, "revoke", writer_id, db)
        assert code == 0 and out == "" and f"revoked key {writer_id} of tenant 'acme'" in err
        assert KeyVerifier(store).verify(writer) is None
        assert [r.key_id for r in store.list_api_keys("acme")] == [KEY.match(admin).group(1)]  # type: ignore[union-attr]
    finally:
        store.close()


def test_keys_refusals_say_what_to_do(store_url, capsys):
    db = f"serve.database='{store_url}'"
    assert run(capsys, "create-tenant", "acme", db)[0] == 0
    code, out, err = run(capsys, "create-tenant", "acme", db)
    assert code == 1 and out == "" and "tenant 'acme' already exists (1 key)" in err
    assert "keys create --tenant acme" in err
    code, out, err = run(capsys, "create", "--tenant", "nobody", "--scopes", "read", db)
    assert code == 1 and out == "" and "keys create-tenant nobody" in err
    code, out, err = run(capsys, "revoke", "0123456789ab", db)
    assert code == 1 and "key '0123456789ab' does not exist" in err
    with pytest.raises(SystemExit) as e:  # argparse: usage error, exit 2
        run(capsys, "create", "--tenant", "acme", "--scopes", "read,root", db)
    assert e.value.code == 2 and "'root' is not a scope" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        run(capsys, "create-tenant", "bad tenant!", db)
    assert e.value.code == 2 and "1-64 letters" in capsys.readouterr().err
    code, _, err = run(capsys, "list", "serve.databse=sqlite:///x.db")
    assert code == 2 and "did you mean serve.database" in err


def test_overrides_are_told_from_the_commands_own_arguments():
    own, over = split_overrides(["create", "--label", "a=b", "serve.database=sqlite:///x.db",
                                 "--tenant", "t", "+serve.x=1"])
    assert own == ["create", "--label", "a=b", "--tenant", "t"]
    assert over == ["serve.database=sqlite:///x.db", "+serve.x=1"]


def test_steeltwin_serve_keys_as_an_operator_runs_it(tmp_path: Path):
    """The installed command makes a second tenant in the server's SQLite store; its key
    works over HTTP, sees only its own tenant, and a store with keys gets no bootstrap key."""
    exe = Path(sys.executable).with_name("steeltwin-serve")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "steeltwin.engine.apps.serve"]
    db = f"sqlite:///{tmp_path / 'st.db'}"
    made = subprocess.run([*cmd, "keys", "create-tenant", "plant-b", f"serve.database={db}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert KEY.match(key)
    help_ = subprocess.run([*cmd, "keys", "--help"], capture_output=True, text=True,
                           timeout=300)
    assert help_.returncode == 0
    assert all(c in help_.stdout for c in ("create-tenant", "create", "list", "revoke"))
    app = create_app(ServeSettings(database=db, state_dir=str(tmp_path), warmup=False))
    with TestClient(app) as client:
        assert app.state.service.bootstrap_key is None and not (tmp_path / "admin.key").exists()
        h = {"Authorization": f"Bearer {key}"}
        assert client.get("/v1/twins", headers=h).json() == {"twins": []}
        r = client.post("/v1/twins", headers=h, json={"twin_id": "b1", "slab": {"zones": [
            {"name": "soak", "gas_temperature": 1200, "duration": 1800}]}})
        assert r.status_code == 201, r.text
        keys_ = client.get("/v1/keys", headers=h).json()
        assert [k["tenant"] for k in keys_] == ["plant-b"]
