"""The store's tests run against every history backend: a SQLite file, and a database on a
real PostgreSQL server (tests/pgserver.py).  `db_path` stays for the SQLite-only tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flowtui.store import RunStore

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    folder = tmp_path / "history"  # a given path's folder must exist (store.backends)
    folder.mkdir()
    return folder / "flowtui.db"


@pytest.fixture(params=BACKENDS)
def target(request: pytest.FixtureRequest, db_path: Path) -> str | Path:
    """What `--db` would say for a fresh history: a file path or a postgresql:// URL."""
    if request.param == "sqlite":
        return db_path
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
async def store(target: str | Path) -> AsyncIterator[RunStore]:
    s = await RunStore.open(target)
    try:
        yield s
    finally:
        await s.close()
