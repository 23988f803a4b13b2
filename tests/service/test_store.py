"""The durable store on SQLite and PostgreSQL: round trips, idempotency, isolation, durability.

Every test taking ``store`` / ``store_url`` runs on both backends (PostgreSQL tests skip when no
server is reachable; see conftest.py).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from steeltwin.engine._errors import ConfigError
from steeltwin.engine.service import open_store
from steeltwin.engine.service._store import (
    AbstractStore,
    ApiKeyRecord,
    AppendResult,
    SnapshotRecord,
    StoreConflict,
    StoreError,
    TwinRecord,
    redact_url,
)
from steeltwin.engine.twin._measurements import make_reading

REPO = Path(__file__).resolve().parents[2]
T, W = "acme", "slab-1"  # tenant, twin


@pytest.fixture
def store(store_url: str) -> Iterator[AbstractStore]:
    s = open_store(store_url)
    s.create_twin(TwinRecord(T, W, {"kind": "slab"}, 100.0))
    yield s
    s.close()


def reading(i: int, value_c: float = 900.0) -> dict[str, Any]:
    """A real ``Reading.to_json()`` dict with id ``r<i>``."""
    return make_reading(f"r{i}", 10.0 * i, "pyrometer_top", value_c, "degC").to_json()


def raw(url: str, sql: str) -> list[Any]:
    """Run ``sql`` on the store's database outside the store; the rows it returns."""
    if url.startswith("sqlite:"):
        with contextlib.closing(sqlite3.connect(url[len("sqlite:///") :])) as conn:
            rows = conn.execute(sql).fetchall()
            conn.commit()
            return rows
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []


def test_api_keys_round_trip_conflict_and_tenant_scoped_revoke(store: AbstractStore):
    k1 = ApiKeyRecord("k1", T, ("read", "write"), "ab" * 32, "line 1 ☃", 1733150000.123456)
    k2 = ApiKeyRecord("k2", T, ["admin"], "cd" * 32, created_at=5.0)  # type: ignore[arg-type]
    kb = ApiKeyRecord("kb", "other", ("read",), "ef" * 32, created_at=1.0)
    for k in (k1, k2, kb):
        store.add_api_key(k)
    assert k2.scopes == ("admin",)
    assert store.get_api_key("k1") == k1  # floats and unicode exact
    assert store.get_api_key("nope") is None
    assert store.list_api_keys(T) == [k2, k1]  # by created_at
    assert store.list_api_keys("nobody") == []
    assert store.count_api_keys() == 3
    with pytest.raises(StoreConflict, match="'kb' already exists"):  # key ids are global
        store.add_api_key(ApiKeyRecord("kb", T, ("read",), "00"))
    assert store.get_api_key("kb") == kb
    assert not store.revoke_api_key("other", "k1")  # not that tenant's key
    assert store.get_api_key("k1") == k1
    assert store.revoke_api_key(T, "k1")
    assert not store.revoke_api_key(T, "k1")
    assert store.get_api_key("k1") is None
    assert store.count_api_keys() == 2


def test_api_key_scopes_are_checked():
    with pytest.raises(ValueError, match=r"scopes=.*expected a subset of .*drop \['root'\]"):
        ApiKeyRecord("k", T, ("read", "root"), "00")


def test_twins_round_trip_order_and_conflict(store: AbstractStore):
    spec = {"grid": {"n": 40, "dx": 0.0025}, "steels": ["carbon"], "note": "ü ☃", "x": None}
    recs = [
        TwinRecord(T, "c", spec, 3.0),
        TwinRecord(T, "b", {}, 1.0),
        TwinRecord(T, "a", {}, 1.0),
        TwinRecord("other", "a", {"n": 1}, 0.5),
    ]
    for r in recs:
        store.create_twin(r)
    assert store.get_twin(T, "c") == recs[0]
    assert store.get_twin(T, "zz") is None
    assert [r.twin_id for r in store.list_twins(T)] == ["a", "b", "c", W]  # created_at, id
    assert store.list_twins("other") == [recs[3]]
    assert [(r.tenant, r.twin_id) for r in store.all_twins()] == [
        ("other", "a"),
        (T, "a"),
        (T, "b"),
        (T, "c"),
        (T, W),
    ]
    with pytest.raises(StoreConflict, match="twin 'c' already exists in tenant 'acme'"):
        store.create_twin(TwinRecord(T, "c", {"other": "spec"}, 9.0))
    assert store.get_twin(T, "c") == recs[0]
    with pytest.raises(ValueError, match="twin 'd' spec is not JSON-serialisable"):
        store.create_twin(TwinRecord(T, "d", {"s": {1, 2}}, 1.0))
    assert store.get_twin(T, "d") is None


def test_append_is_idempotent_by_id_and_keeps_the_stored_reading(store: AbstractStore):
    first = store.append_readings(T, W, [reading(0), reading(1)])
    assert first == AppendResult(["r0", "r1"], [], [], 2)
    batch = [
        reading(1),  # duplicate of a stored reading
        reading(2),
        reading(0, value_c=950.0),  # conflict with a stored reading
        reading(3),
        reading(2),  # duplicate within the batch
        reading(3, value_c=1.0),  # conflict within the batch
    ]
    assert store.append_readings(T, W, batch) == AppendResult(
        ["r2", "r3"], ["r1", "r2"], ["r0", "r3"], 4
    )
    assert store.readings(T, W) == [
        (1, reading(0)),
        (2, reading(1)),
        (3, reading(2)),
        (4, reading(3)),
    ]
    assert store.readings(T, W, after_seq=2) == [(3, reading(2)), (4, reading(3))]
    assert store.readings(T, W, after_seq=4) == []
    assert store.last_seq(T, W) == 4
    assert store.append_readings(T, W, []) == AppendResult([], [], [], 4)
    assert store.append_readings(T, W, [reading(9)]) == AppendResult(["r9"], [], [], 5)
    assert store.readings(T, "unknown") == [] and store.last_seq(T, "unknown") == 0


def test_append_to_a_missing_twin_raises_key_error(store: AbstractStore):
    with pytest.raises(KeyError, match="twin 'slab-9' does not exist in tenant 'acme'"):
        store.append_readings(T, "slab-9", [reading(0)])


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({**reading(1), "value": object()}, "reading 'r1' is not JSON-serialisable"),
        ({**reading(1), "value": float("nan")}, "reading 'r1' is not JSON-serialisable"),
        ({"time": 1.0}, "reading #1 has no string 'id'"),
    ],
)
def test_append_is_all_or_nothing(store: AbstractStore, bad: dict[str, Any], match: str):
    with pytest.raises(ValueError, match=match):
        store.append_readings(T, W, [reading(0), bad, reading(2)])
    assert store.readings(T, W) == [] and store.last_seq(T, W) == 0
    assert store.append_readings(T, W, [reading(0)]).last_seq == 1


def test_tenants_are_isolated(store: AbstractStore):
    store.append_readings(T, W, [reading(0)])
    assert store.get_twin("other", W) is None
    assert store.list_twins("other") == []
    assert not store.delete_twin("other", W)
    with pytest.raises(KeyError, match="slab-1"):
        store.append_readings("other", W, [reading(1)])
    store.put_snapshot("other", W, SnapshotRecord(1, np.ones((2, 3)), np.ones((2, 1)), 1, {}))
    assert store.get_snapshot("other", W) is None and store.get_snapshot(T, W) is None
    assert store.readings("other", W) == [] and store.last_seq("other", W) == 0
    # the same twin id in another tenant is another twin
    store.create_twin(TwinRecord("other", W, {}, 1.0))
    assert store.append_readings("other", W, [reading(0, 1.0)]).stored == ["r0"]
    assert store.readings(T, W) == [(1, reading(0))]


def test_delete_cascades_to_readings_and_snapshot(store: AbstractStore, store_url: str):
    store.append_readings(T, W, [reading(0), reading(1)])
    store.put_snapshot(T, W, SnapshotRecord(1, np.ones((2, 3)), np.ones((2, 1)), 2, {}))
    store.create_twin(TwinRecord(T, "keep", {}, 1.0))
    store.append_readings(T, "keep", [reading(0)])
    assert store.delete_twin(T, W)
    assert not store.delete_twin(T, W)
    assert store.get_twin(T, W) is None and store.get_snapshot(T, W) is None
    assert raw(store_url, "SELECT COUNT(*) FROM readings") == [(1,)]  # only "keep"'s
    assert raw(store_url, "SELECT COUNT(*) FROM snapshots") == [(0,)]
    store.create_twin(TwinRecord(T, W, {}, 2.0))  # a new twin starts from nothing
    assert store.readings(T, W) == [] and store.last_seq(T, W) == 0
    assert store.append_readings(T, W, [reading(5)]).last_seq == 1


def test_snapshot_round_trip_is_bit_exact(store: AbstractStore):
    rng = np.random.default_rng(0)
    fields = rng.normal(1200.0, 50.0, (16, 7))
    fields[0, :4] = [np.nan, -0.0, np.inf, 5e-324]
    augmented = np.asfortranarray(rng.normal(size=(16, 3)))  # layout must not matter
    snap = SnapshotRecord(7, fields, augmented, 3, {"r1": "innovation 9.1 std > gate 5"})
    store.put_snapshot(T, W, snap)
    got = store.get_snapshot(T, W)
    assert got is not None
    assert (got.cycle, got.last_seq, got.rejected) == (7, 3, snap.rejected)
    for a, b in [(got.fields, fields), (got.augmented, augmented)]:
        assert a.dtype == np.float64 and a.shape == b.shape and a.flags.writeable
        assert a.tobytes() == np.ascontiguousarray(b).tobytes()
    store.put_snapshot(
        T, W, SnapshotRecord(8, np.zeros((4, 2), np.float32), np.zeros((4, 0)), 3, {})
    )
    got = store.get_snapshot(T, W)
    assert got is not None and got.fields.dtype == np.float64 and got.augmented.shape == (4, 0)
    with pytest.raises(ValueError, match="snapshot fields has dtype complex128"):
        store.put_snapshot(
            T, W, SnapshotRecord(9, np.zeros((2, 2), complex), np.zeros((2, 1)), 9, {})
        )


def test_snapshot_is_replaced_only_by_newer_information(store: AbstractStore):
    def put(cycle: int, last_seq: int) -> None:
        arr = np.full((2, 2), float(cycle))
        store.put_snapshot(T, W, SnapshotRecord(cycle, arr, arr[:, :1], last_seq, {}))

    def held() -> tuple[int, int, float]:
        s = store.get_snapshot(T, W)
        assert s is not None
        return s.cycle, s.last_seq, float(s.fields[0, 0])

    assert store.get_snapshot(T, W) is None
    put(2, 5)
    put(9, 3)  # older information: kept out
    assert held() == (2, 5, 2.0)
    put(3, 5)  # the same readings, a later cycle: replaces
    assert held() == (3, 5, 3.0)
    put(1, 8)
    assert held() == (1, 8, 1.0)
    store.put_snapshot(T, "gone", SnapshotRecord(1, np.ones((1, 1)), np.ones((1, 1)), 1, {}))
    assert store.get_snapshot(T, "gone") is None


def test_two_replicas_see_each_others_writes(store_url: str):
    a, b = open_store(store_url), open_store(store_url)
    try:
        a.create_twin(TwinRecord(T, W, {"n": 1}, 1.0))
        assert b.get_twin(T, W) == TwinRecord(T, W, {"n": 1}, 1.0)
        assert b.append_readings(T, W, [reading(0)]).last_seq == 1
        assert a.append_readings(T, W, [reading(0), reading(1)]) == AppendResult(
            ["r1"], ["r0"], [], 2
        )
        assert b.readings(T, W) == [(1, reading(0)), (2, reading(1))]
        a.put_snapshot(T, W, SnapshotRecord(4, np.ones((2, 2)), np.ones((2, 1)), 2, {}))
        assert (snap := b.get_snapshot(T, W)) is not None and snap.cycle == 4
        b.add_api_key(ApiKeyRecord("kk", T, ("read",), "00"))
        assert a.get_api_key("kk") is not None
        assert a.delete_twin(T, W) and b.get_twin(T, W) is None
        with pytest.raises(KeyError):
            b.append_readings(T, W, [reading(2)])
    finally:
        a.close()
        b.close()


def test_concurrent_overlapping_appends_store_each_id_once(store_url: str):
    a, b = open_store(store_url), open_store(store_url)  # two replicas, four threads each
    a.create_twin(TwinRecord(T, W, {}, 1.0))

    def work(k: int) -> list[AppendResult]:
        mine = range(5 * k, 5 * k + 30)  # windows overlap their neighbours'
        s = a if k % 2 else b
        return [
            s.append_readings(T, W, [reading(i) for i in mine[j : j + 3]]) for j in range(0, 30, 3)
        ]

    try:
        with ThreadPoolExecutor(8) as pool:
            results = [r for rs in pool.map(work, range(8)) for r in rs]
        log = a.readings(T, W)
    finally:
        a.close()
        b.close()
    assert [seq for seq, _ in log] == list(range(1, 66))
    assert sorted(r["id"] for _, r in log) == sorted(f"r{i}" for i in range(65))
    assert sum(len(r.stored) + len(r.duplicates) for r in results) == 8 * 30
    assert not any(r.conflicts for r in results)
    by_seq = {seq: r["id"] for seq, r in log}
    for r in results:  # each append's new ids hold the seqs just below its last_seq
        n = len(r.stored)
        assert [by_seq[s] for s in range(r.last_seq - n + 1, r.last_seq + 1)] == r.stored


_WRITER = """
import sys
from steeltwin.engine.service import open_store
from steeltwin.engine.twin._measurements import make_reading

store = open_store(sys.argv[1])
i = 0
while True:
    r = make_reading(f"r{i}", 10.0 * i, "pyrometer_top", 900.0, "degC").to_json()
    store.append_readings("acme", "slab-1", [r])
    print("ack", r["id"], flush=True)
    i += 1
"""


def test_acknowledged_readings_survive_sigkill(store: AbstractStore, store_url: str, tmp_path):
    acked: list[str] = []
    with (
        (tmp_path / "writer.err").open("w") as err,
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, store_url],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        ) as proc,
    ):
        timer = threading.Timer(60.0, proc.kill)  # never hang the suite on a stuck writer
        timer.start()
        try:
            assert proc.stdout is not None
            while len(acked) < 40 and (line := proc.stdout.readline()):
                acked.append(line.split()[1])
            proc.send_signal(signal.SIGKILL)  # at once, maybe mid-append
            proc.wait()
        finally:
            timer.cancel()
    assert len(acked) == 40, (tmp_path / "writer.err").read_text()
    reopened = open_store(store_url)
    try:
        held = [r["id"] for _, r in reopened.readings(T, W)]
        assert (
            held[: len(acked)] == acked
        )  # every ack, in order (later ones may be committed, their ack unread)
        assert reopened.last_seq(T, W) == len(held)
    finally:
        reopened.close()


def test_newer_schema_version_is_refused(store_url: str):
    open_store(store_url).close()
    raw(store_url, "UPDATE schema_version SET version = 99")
    with pytest.raises(StoreError, match="has schema version 99, newer than this steeltwin's 1"):
        open_store(store_url)


def test_driver_errors_become_store_errors_naming_the_url(store: AbstractStore, store_url: str):
    raw(store_url, "DROP TABLE snapshots")
    with pytest.raises(StoreError, match=re.escape(f"store {store.url}: ") + ".*snapshots"):
        store.get_snapshot(T, W)
    assert store.ping() and store.get_twin(T, W) is not None  # the connection still works


def test_closed_store_refuses_calls(store_url: str):
    s = open_store(store_url)
    assert s.ping()
    s.close()
    assert not s.ping()
    with pytest.raises(StoreError, match="is closed"):
        s.get_twin(T, W)


@pytest.mark.parametrize(
    "url",
    ["", "twins.db", "sqlite://", "sqlite:///", "sqlite:twins.db", "mysql://me:hunter2@db/x"],
)
def test_bad_url_names_the_accepted_forms(url: str):
    with pytest.raises(ConfigError, match=r"url=.* is invalid: expected one of sqlite:///") as e:
        open_store(url)
    assert "postgresql://user@host:port/db" in str(e.value) and "hunter2" not in str(e.value)


def test_bad_postgres_option_is_a_config_error():
    with pytest.raises(ValueError, match=r"url=.*bogus.* is invalid"):
        open_store("postgresql://me:hunter2@127.0.0.1:5432/test?bogus=1")


def test_unreachable_postgres_is_a_store_error_without_password():
    with pytest.raises(StoreError, match=r"store postgresql://postgres@127\.0\.0\.1:1/test: ") as e:
        open_store("postgresql://postgres:hunter2@127.0.0.1:1/test")
    assert "hunter2" not in str(e.value) and "check that PostgreSQL is running" in str(e.value)


def test_store_url_has_no_password(postgres_url: str):
    url = re.sub(r"://([^:@/]+)@", r"://\1:secret@", postgres_url, count=1)  # trust auth
    s = open_store(url)
    try:
        assert s.ping() and "secret" not in s.url
    finally:
        s.close()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://u:p@ss@h:5/db?password=x&sslmode=require",
            "postgresql://u@h:5/db?sslmode=require",
        ),
        ("postgres://h/db?sslmode=require&password=x", "postgres://h/db?sslmode=require"),
        ("postgresql://u@h/db?password=x", "postgresql://u@h/db"),
        ("sqlite:////data/a@b:c.db", "sqlite:////data/a@b:c.db"),
    ],
)
def test_redact_url(url: str, shown: str):
    assert redact_url(url) == shown


def test_sqlite_creates_parents_in_wal_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    s = open_store("sqlite:///sub/dir/twins.db")  # relative to the working directory
    s.close()
    path = tmp_path / "sub" / "dir" / "twins.db"
    assert path.is_file()
    assert raw(f"sqlite:///{path}", "PRAGMA journal_mode") == [("wal",)]


def test_sqlite_memory_store_is_shared_by_threads_and_private_to_the_store():
    s, other = open_store("sqlite:///:memory:"), open_store("sqlite:///:memory:")
    try:
        s.create_twin(TwinRecord(T, W, {}, 1.0))
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda i: s.append_readings(T, W, [reading(i)]), range(8)))
        assert sorted(r.last_seq for r in results) == list(range(1, 9))
        assert other.get_twin(T, W) is None
    finally:
        s.close()
        other.close()


def test_sqlite_files_and_the_directory_made_for_them_are_private(tmp_path: Path):
    """The database holds key hashes and every tenant's data: 0600 files (the WAL and shared
    memory files take the database's mode), 0700 for the directory the store creates."""
    old = os.umask(0o022)  # the usual umask, which gave 0644 files
    try:
        s = open_store(f"sqlite:///{tmp_path / 'made' / 'twins.db'}")
        try:
            s.create_twin(TwinRecord(T, W, {}, 1.0))  # a write: the WAL exists
            made = tmp_path / "made"
            modes = {p.name: p.stat().st_mode & 0o777 for p in made.iterdir()}
            assert modes == {"twins.db": 0o600, "twins.db-wal": 0o600, "twins.db-shm": 0o600}
            assert made.stat().st_mode & 0o777 == 0o700
        finally:
            s.close()
    finally:
        os.umask(old)
