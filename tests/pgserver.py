"""pytest fixtures for a real PostgreSQL server (flowtui.store.pglocal).

`pg_server`: one throw-away server for the whole test session, on 127.0.0.1.
`pg_url`: a fresh empty database on it for one test (dropped afterwards); its URL.
`pg_url_factory`: more of those in one test.
A test that stops or restarts a server starts its own (`LocalServer.start(tmp_path / "pg")`,
closed at the end): `pg_server` is shared.

Registered as a plugin (`pytest_plugins = ["tests.pgserver"]` in the root conftest). Without
PostgreSQL's server programs the fixtures skip their tests, or fail them when the `CI`
environment variable is set (CI must not pass by skipping).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator

import pytest

from flowtui.store.pglocal import LocalServer, PostgresNotFoundError, find_pg_bin

_database_numbers = itertools.count(1)


def require_pg_bin() -> None:
    """Skip (fail under CI) when PostgreSQL's server programs are missing."""
    try:
        find_pg_bin()
    except PostgresNotFoundError as e:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs PostgreSQL: {e}", pytrace=False)
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    require_pg_bin()
    with LocalServer.start(tmp_path_factory.mktemp("pg")) as server:
        yield server


@pytest.fixture
def pg_url_factory(pg_server: LocalServer) -> Iterator[Callable[[], str]]:
    """Call it for the URL of a new empty database `t_<n>` (the superuser's); all are
    dropped after the test, open sessions included."""
    created: list[str] = []

    def new_database() -> str:
        name = f"t_{next(_database_numbers)}"
        url = pg_server.create_database(name)
        created.append(name)
        return url

    yield new_database
    for name in created:
        pg_server.drop_database(name)


@pytest.fixture
def pg_url(pg_url_factory: Callable[[], str]) -> str:
    return pg_url_factory()
