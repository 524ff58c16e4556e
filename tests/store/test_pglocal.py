"""flowtui.store.pglocal and the tests' PostgreSQL fixtures, against a real server."""

from __future__ import annotations

import os
import pwd
import socket
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from flowtui.store import pglocal
from flowtui.store.pglocal import LocalServer, LocalServerError, PostgresNotFoundError
from tests.pgserver import require_pg_bin
from tests.processes import is_running

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="root only")


def query(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute(sql.encode()).fetchall()


def execute(url: str, sql: str) -> None:
    with psycopg.connect(url, connect_timeout=5, autocommit=True) as conn:
        conn.execute(sql.encode())


def user_tables(url: str) -> list[tuple[object, ...]]:
    return query(
        url,
        "SELECT table_schema, table_name FROM information_schema.tables"
        " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
    )


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[LocalServer]:
    """A server of the test's own, for tests that stop it."""
    require_pg_bin()
    with LocalServer.start(tmp_path / "pg") as server:
        yield server


def test_the_server_is_the_installed_postgresql(pg_url: str) -> None:
    postgres = pglocal.find_pg_bin() / "postgres"
    installed = subprocess.run([postgres, "--version"], capture_output=True, text=True).stdout
    major = installed.split()[2].split(".")[0]  # postgres (PostgreSQL) 15.18 (Debian …)
    [(version,)] = query(pg_url, "SELECT version()")
    assert str(version).startswith(f"PostgreSQL {major}.")


def test_the_server_listens_on_127_0_0_1_only(pg_server: LocalServer) -> None:
    settings = query(
        pg_server.url,
        "SELECT name, setting FROM pg_settings"
        " WHERE name IN ('listen_addresses', 'unix_socket_directories')",
    )
    assert {str(k): str(v) for k, v in settings} == {
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": "",
    }
    others = {"::1"} | {
        addr.address.split("%")[0]
        for addrs in psutil.net_if_addrs().values()
        for addr in addrs
        if addr.family in (socket.AF_INET, socket.AF_INET6) and not addr.address.startswith("127.")
    }
    for address in others:
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(
                host=address, port=pg_server.port, user="flowtui", dbname="flowtui",
                connect_timeout=3,
            )  # fmt: skip
    listening = {
        conn.laddr.ip
        for conn in psutil.net_connections("inet")
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == pg_server.port
    }
    assert listening == {"127.0.0.1"}


def test_the_session_server_has_the_flowtui_database(pg_server: LocalServer) -> None:
    assert pg_server.url == f"postgresql://flowtui@127.0.0.1:{pg_server.port}/flowtui"
    assert query(pg_server.url, "SELECT current_user, current_database()") == [
        ("flowtui", "flowtui")
    ]
    assert query(pg_server.admin_url, "SELECT current_database()") == [("postgres",)]


def test_pg_url_databases_are_distinct_and_empty(
    pg_url: str, pg_url_factory: Callable[[], str]
) -> None:
    assert user_tables(pg_url) == []
    execute(pg_url, "CREATE TABLE runs (id int)")
    other = pg_url_factory()
    assert other != pg_url
    [(first,)] = query(pg_url, "SELECT current_database()")
    [(second,)] = query(other, "SELECT current_database()")
    assert first != second
    assert user_tables(other) == []
    assert user_tables(pg_url) == [("public", "runs")]


_seen: list[tuple[str, psycopg.Connection[tuple[object, ...]]]] = []


def test_pg_url_database_of_one_test(pg_url: str) -> None:
    [(name,)] = query(pg_url, "SELECT current_database()")
    # a session still open after the test does not keep its database from being dropped
    _seen.append((str(name), psycopg.connect(pg_url)))


def test_pg_url_database_is_dropped_after_its_test(pg_server: LocalServer) -> None:
    if not _seen:
        pytest.skip("runs after test_pg_url_database_of_one_test")
    name, conn = _seen.pop()
    conn.close()
    names = query(pg_server.admin_url, "SELECT datname FROM pg_database")
    assert (name,) not in names


def test_stop_really_stops_the_server(own_server: LocalServer) -> None:
    pid = int((own_server.data_dir / "postmaster.pid").read_text().split()[0])
    assert pid == own_server.pid
    assert is_running(pid)
    conn = psycopg.connect(own_server.url)
    own_server.stop()
    assert not is_running(pid)
    assert not (own_server.data_dir / "postmaster.pid").exists()
    with pytest.raises(psycopg.OperationalError):
        conn.execute("SELECT 1")
    conn.close()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(own_server.url, connect_timeout=3)
    own_server.stop()  # a second stop is harmless
    own_server.close()
    own_server.close()
    assert own_server.pid is None


def test_restart_keeps_data_and_address(own_server: LocalServer) -> None:
    url, port = own_server.url, own_server.port
    execute(url, "CREATE TABLE kept (id int); INSERT INTO kept VALUES (7)")
    own_server.stop()
    own_server.restart()
    assert (own_server.url, own_server.port) == (url, port)
    assert query(url, "SELECT id FROM kept") == [(7,)]


def test_leaving_the_with_block_stops_the_server(tmp_path: Path) -> None:
    require_pg_bin()
    with LocalServer.start(tmp_path / "pg") as server:
        pid = server.pid
        assert pid is not None and is_running(pid)
    assert not is_running(pid)
    assert not (tmp_path / "pg" / "data").is_symlink()  # a private temp folder is removed


def test_start_needs_a_fresh_folder(own_server: LocalServer) -> None:
    with pytest.raises(LocalServerError, match="fresh folder"):
        LocalServer.start(own_server.folder)


def test_roles(pg_server: LocalServer, pg_url: str) -> None:
    pg_server.create_role("t_team", login=False)
    url = pg_server.create_role("t_worker", password="s3cret", member_of=["t_team"])
    try:
        assert url == f"postgresql://t_worker:s3cret@127.0.0.1:{pg_server.port}/flowtui"
        rows = query(url, "SELECT current_user, pg_has_role('t_team', 'member')")
        assert rows == [("t_worker", True)]
        assert query(url, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") == [
            (False,)
        ]
    finally:
        execute(pg_server.admin_url, "DROP ROLE t_worker; DROP ROLE t_team")


def test_password_authentication(tmp_path: Path) -> None:
    require_pg_bin()
    with LocalServer.start(tmp_path / "pg", auth="scram-sha-256") as server:
        assert server.password and f"flowtui:{server.password}@" in server.url
        assert query(server.url, "SELECT current_user") == [("flowtui",)]
        worker = server.create_role("worker", password="right")
        assert query(worker, "SELECT current_user") == [("worker",)]
        for wrong in (worker.replace(":right@", ":wrong@"), worker.replace(":right@", "@")):
            with pytest.raises(psycopg.OperationalError, match="password"):
                psycopg.connect(wrong, connect_timeout=3)
        assert list(server.home.glob(".pwfile-*")) == []  # initdb's password file is gone


def test_find_pg_bin_finds_the_server_programs() -> None:
    require_pg_bin()
    folder = pglocal.find_pg_bin()
    for program in ("initdb", "pg_ctl", "postgres"):
        assert os.access(folder / program, os.X_OK)


def test_find_pg_bin_names_the_package_when_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(pglocal, "_DEBIAN_BIN_DIRS", str(tmp_path / "*" / "bin"))
    with pytest.raises(PostgresNotFoundError, match="apt-get install -y postgresql"):
        pglocal.find_pg_bin()


@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)]
)
def test_fixtures_fail_under_ci_and_skip_elsewhere_without_postgresql(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    def missing() -> Path:
        raise PostgresNotFoundError("not installed: apt-get install -y postgresql")

    monkeypatch.setattr("tests.pgserver.find_pg_bin", missing)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="apt-get install -y postgresql"):
        require_pg_bin()


@root_only
def test_as_root_the_server_runs_as_the_service_user(pg_server: LocalServer) -> None:
    assert pg_server.os_user == pglocal.SERVICE_USER
    assert pg_server.pid is not None
    assert psutil.Process(pg_server.pid).username() == pglocal.SERVICE_USER
    info = pg_server.data_dir.stat()
    assert pwd.getpwuid(info.st_uid).pw_name == pglocal.SERVICE_USER
    assert stat.S_IMODE(info.st_mode) == 0o700


@root_only
def test_as_root_an_unreachable_folder_gets_a_private_data_folder(
    own_server: LocalServer, tmp_path: Path
) -> None:
    # pytest's tmp_path lies under /tmp/pytest-of-root (mode 700): the service user cannot
    # reach it, so the data is in a temp folder of its own, linked from FOLDER/data
    if pglocal._can_traverse(pglocal.SERVICE_USER, tmp_path):
        pytest.skip(f"{pglocal.SERVICE_USER} can reach {tmp_path} (--basetemp?)")
    link = own_server.folder / "data"
    assert link.is_symlink() and link.resolve() == own_server.data_dir
    assert not own_server.data_dir.is_relative_to(tmp_path)
    home = own_server.home
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    own_server.close()
    assert not home.exists() and not link.is_symlink()


@root_only
def test_as_root_a_reachable_folder_holds_the_data_itself() -> None:
    require_pg_bin()
    parent = Path(tempfile.mkdtemp())
    try:
        parent.chmod(0o711)  # searchable, not listable, by others
        with LocalServer.start(parent / "pg") as server:
            assert server.data_dir == parent / "pg" / "data"
            assert not server.data_dir.is_symlink()
            assert query(server.url, "SELECT 1") == [(1,)]
    finally:
        subprocess.run(["rm", "-rf", str(parent)], check=True)
