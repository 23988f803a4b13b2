"""Database fixtures for the service tests: a fresh PostgreSQL schema per test, and both backends.

PostgreSQL comes from ``STEELTWIN_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``); tests that need it are skipped, saying what to
start, when it cannot be reached. Each test gets its own schema (``search_path`` through the
url's ``options``), dropped afterwards, so pytest-xdist workers never see each other's tables.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRES_URL = os.environ.get(
    "STEELTWIN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def _postgres_server() -> str:
    """The server's url, or skip (once per session) if it cannot be reached."""
    psycopg = pytest.importorskip("psycopg")
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=5).close()
    except psycopg.Error as e:
        pytest.skip(
            f"PostgreSQL is not reachable at {POSTGRES_URL} ({str(e).strip()}); start one, e.g. "
            "`docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust -e POSTGRES_DB=test "
            "postgres:16`, or set STEELTWIN_TEST_POSTGRES_URL"
        )
    return POSTGRES_URL


@pytest.fixture
def postgres_url(_postgres_server: str) -> Iterator[str]:
    """A url whose ``search_path`` is a fresh, empty schema (dropped after the test)."""
    import psycopg

    schema = f"steeltwin_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_postgres_server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in _postgres_server else "?"
    yield f"{_postgres_server}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(_postgres_server, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '10s'")  # fail, not hang, if a test left a lock
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A url of an empty store: a SQLite file in ``tmp_path``, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'twins.db'}"
    return str(request.getfixturevalue("postgres_url"))
