"""The PostgreSQL history: choosing it by URL, what it refuses, and what only it does.

Everything the store does is tested on both backends (the `store` fixture in conftest.py);
this file holds what is particular to PostgreSQL or to choosing a backend.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from flowtui.engine.events import StepLog
from flowtui.engine.runner import RunnerOptions
from flowtui.engine.states import RunStatus
from flowtui.store import RunStore
from flowtui.store.backends import resolve_target
from flowtui.store.db import StoreError
from flowtui.store.pg import PG_SCHEMA_VERSION, redact
from flowtui.store.pglocal import LocalServer
from tests.harness import Harness

from .store_helpers import plan


def test_targets_by_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_target(str(tmp_path / "h.db")) == tmp_path / "h.db"
    assert resolve_target(f"sqlite://{tmp_path}/h.db") == tmp_path / "h.db"
    url = "postgresql://ci@127.0.0.1:5432/flowtui"
    assert resolve_target(url) == url
    assert resolve_target("postgres://x@h/db") == "postgres://x@h/db"
    monkeypatch.setenv("FLOWTUI_DB", url)
    assert resolve_target(None) == url


@pytest.mark.parametrize("url", ["postgresql+asyncpg://x@h/db", "mysql://x@h/db", "redis://h"])
def test_an_unsupported_url_is_an_error_not_a_folder(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError, match="unsupported history URL"):
        resolve_target(url)
    monkeypatch.setenv("FLOWTUI_DB", url)
    with pytest.raises(StoreError, match="postgresql://USER@HOST:PORT/DATABASE"):
        resolve_target(None)
    assert list(tmp_path.iterdir()) == []  # nothing was created for it


def test_passwords_never_appear_in_messages() -> None:
    assert redact("postgresql://bob:s3cret@db.example:5432/flowtui") == (
        "postgresql://bob@db.example:5432/flowtui"
    )
    assert redact("postgresql://bob@db/flowtui") == "postgresql://bob@db/flowtui"


async def test_a_server_that_is_not_there_is_a_clear_error() -> None:
    url = "postgresql://nobody:pw@127.0.0.1:9/flowtui"  # the discard port: nothing listens
    with pytest.raises(StoreError) as caught:
        await RunStore.open(url)
    assert "cannot connect to postgresql://nobody@127.0.0.1:9/flowtui" in str(caught.value)
    assert "pw" not in str(caught.value)


async def test_schema_is_created_once_and_versioned(pg_url: str) -> None:
    first, second = await asyncio.gather(RunStore.open(pg_url), RunStore.open(pg_url))
    try:
        row = await first.db.fetchone("SELECT version FROM flowtui_schema")
        assert row is not None and row["version"] == PG_SCHEMA_VERSION
        assert first.dialect == "postgresql" and first.path is None
        assert first.location == pg_url
    finally:
        await first.close()
        await second.close()


async def test_cancelled_mid_transaction_rolls_back_and_frees_the_lock(pg_url: str) -> None:
    store, other = await RunStore.open(pg_url), await RunStore.open(pg_url)
    try:
        run_id = await store.create_run(workflow="wf", steps=plan("a"))
        inside = asyncio.Event()

        async def stuck_writer() -> None:
            async with store.db.transaction() as conn:
                await conn.execute("UPDATE runs SET message = 'half-done' WHERE id = ?", (run_id,))
                inside.set()
                await asyncio.Event().wait()  # cancelled here, mid-transaction

        task = asyncio.create_task(stuck_writer())
        await asyncio.wait_for(inside.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        run = await other.get_run(run_id)
        assert run is not None and run.message == ""
        # the advisory write lock went with the transaction: both can write again
        await asyncio.wait_for(other.set_paused("wf", True), 5)
        await store.apply([StepLog(run_id, "a", 1, "stdout", "after", 1.0)])
        assert [r.line for r in await other.get_logs(run_id)] == ["after"]
    finally:
        await store.close()
        await other.close()


async def test_an_engine_runs_a_workflow_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    options = RunnerOptions(workspace_root=tmp_path / "workspaces")
    async with (
        await RunStore.open(pg_url) as store,
        Harness.open(tmp_path, options, store=store) as env,
    ):
        workflow = env.workflow(
            """
            name: pg
            steps:
              a: {run: echo one}
              b: {run: echo two, requires: [a]}
            """
        )
        run_id, status = await env.run(workflow)
        assert status == RunStatus.SUCCEEDED
        logs = [r.line for r in await store.get_logs(run_id) if r.stream == "stdout"]
        assert logs == ["one", "two"]
        assert env.runner.workspace_for(run_id).is_dir()


def test_passwords_in_the_query_string_never_appear_either() -> None:
    assert redact("postgresql://bob@db:5432/flowtui?password=s3cret&sslmode=require") == (
        "postgresql://bob@db:5432/flowtui?sslmode=require"
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # libpq reads a # or ? in the password as part of it (urlsplit does not)
        ("postgresql://u:sec#ret@h/db", "postgresql://u@h/db"),
        ("postgresql://u:se?cret@h:5/db", "postgresql://u@h:5/db"),
        ("postgresql://h/db?pass%77ord=zz", "postgresql://h/db"),  # a percent-encoded key
        (
            "postgresql://h/db?sslpassword=q&application_name=x",
            "postgresql://h/db?application_name=x",
        ),
        ("postgresql:///db?host=/tmp&password=x", "postgresql:///db?host=/tmp"),  # a socket
        ("postgresql://[bad", "postgresql://…"),  # unreadable: nothing of it
    ],
)
def test_secrets_libpq_would_read_are_never_shown(url: str, shown: str) -> None:
    """Found in review once hints printed `--db URL`: what urlsplit missed was printed."""
    from psycopg.conninfo import conninfo_to_dict

    assert redact(url) == shown
    if "…" not in shown:  # and what is shown still connects the same way, but the secrets
        wanted = {k: v for k, v in conninfo_to_dict(url).items() if "password" not in k}
        assert conninfo_to_dict(shown) == wanted


async def test_a_command_of_an_unknown_role_is_taken_not_lost(pg_url: str) -> None:
    async with await RunStore.open(pg_url) as store:
        run_id = await store.create_run(workflow="wf", steps=plan("gate"))
        async with store.db.transaction() as conn:  # as `db copy` or a dropped role leaves it
            await conn.execute("ALTER TABLE commands DISABLE TRIGGER USER")
            for kind, by in (("cancel", "flowtui"), ("approve", "no_such_role")):
                await conn.execute(
                    "INSERT INTO commands (run_id, kind, step, by_user, comment, created_at)"
                    " VALUES (?, ?, 'gate', ?, '', 0)",
                    (run_id, kind, by),
                )
            await conn.execute("ALTER TABLE commands ENABLE TRIGGER USER")
        taken = await store.take_commands([run_id])
        assert [(c.kind, c.by) for c in taken] == [
            ("cancel", "flowtui"),
            ("approve", "no_such_role"),
        ]
        assert taken[1].groups == frozenset()  # a role that does not exist is in no team
        assert await store.take_commands([run_id]) == []


async def test_a_role_that_may_not_migrate_is_told_who_may(
    pg_server: LocalServer, pg_url: str
) -> None:
    """A worker's role upgraded before its database: a clear error, not a traceback."""
    store = await RunStore.open(pg_url)  # the owner's: the current schema
    await store.close()
    database = urlsplit(pg_url).path.lstrip("/")
    role = f"nomigrate_{database}"
    pg_server.create_role(role)
    with psycopg.connect(pg_url, autocommit=True) as admin:  # as if one version behind
        admin.execute("DROP FUNCTION flowtui_take_v1, flowtui_end_v1")
        admin.execute("UPDATE flowtui_schema SET version = %s", (PG_SCHEMA_VERSION - 1,))
        admin.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
        )
        admin.execute(f"REVOKE CREATE ON SCHEMA public FROM PUBLIC, {role}")
    with pytest.raises(StoreError) as caught:
        await RunStore.open(pg_server.url_for(role, database=database))
    message = str(caught.value)
    assert f"has schema version {PG_SCHEMA_VERSION - 1}, this flowtui needs" in message
    assert f"role {role} may not migrate it" in message and "owner's role" in message
