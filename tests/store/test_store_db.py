from __future__ import annotations

import asyncio
import logging
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from flowtui.engine.events import Event, StepLog, StepStatusChanged
from flowtui.engine.states import StepStatus
from flowtui.store import (
    SCHEMA_VERSION,
    RunStore,
    SchemaTooNewError,
    StoreBusyError,
    default_db_path,
)
from flowtui.store import db as db_module
from flowtui.store.db import MIGRATIONS

from .store_helpers import plan

TABLES = {
    "workflows",
    "runs",
    "steps",
    "attempts",
    "logs",
    "outputs",
    "approvals",
    "commands",
    "events",
}


@pytest.fixture
def target(db_path: Path) -> Path:
    """This module is about the SQLite file (modes, PRAGMAs, its lock): SQLite only.
    PostgreSQL's own counterparts are in test_pg_backend.py."""
    return db_path


def test_default_path_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLOWTUI_DB", str(tmp_path / "x.db"))
    assert default_db_path() == tmp_path / "x.db"
    monkeypatch.delenv("FLOWTUI_DB")
    assert default_db_path().name == "flowtui.db"
    assert "flowtui" in str(default_db_path().parent)


async def test_open_none_uses_env_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    target = tmp_path / "deep" / "dir" / "env.db"
    monkeypatch.setenv("FLOWTUI_DB", str(target))
    async with await RunStore.open() as store:
        assert store.path == target
    assert target.exists()


async def test_migrates_empty_file_and_reopens(db_path: Path) -> None:
    async with await RunStore.open(db_path) as store:
        run_id = await store.create_run(workflow="wf", steps=plan("a"))
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600

    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
        names = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert names >= TABLES
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()

    # reopening runs no migration again and keeps the data
    async with await RunStore.open(db_path) as store:
        run = await store.get_run(run_id)
        assert run is not None and run.workflow == "wf"
        row = await store.db.fetchone("PRAGMA synchronous")
        assert row is not None and row[0] == 2  # FULL
        row = await store.db.fetchone("PRAGMA foreign_keys")
        assert row is not None and row[0] == 1
        row = await store.db.fetchone("PRAGMA busy_timeout")
        assert row is not None and row[0] == 10_000


async def test_existing_file_mode_kept_and_new_file_private(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    async with await RunStore.open(path):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # the WAL side files inherit the database file's mode
    for side in (tmp_path / "new.db-wal", tmp_path / "new.db-shm"):
        if side.exists():
            assert stat.S_IMODE(side.stat().st_mode) & 0o077 == 0


async def test_newer_schema_is_refused(db_path: Path) -> None:
    async with await RunStore.open(db_path):
        pass
    raw = sqlite3.connect(db_path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.commit()
    raw.close()
    with pytest.raises(SchemaTooNewError, match="schema version"):
        await RunStore.open(db_path)


async def test_cancelled_mid_transaction_rolls_back(store: RunStore, db_path: Path) -> None:
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

    assert not store.db.conn.in_transaction
    run = await store.get_run(run_id)
    assert run is not None and run.message == ""
    # the write lock was released: another connection can write, and so can we
    other = await RunStore.open(db_path)
    try:
        await asyncio.wait_for(other.set_paused("wf", True), 5)
    finally:
        await other.close()
    await store.apply([StepLog(run_id, "a", 1, "stdout", "after", 1.0)])
    assert [r.line for r in await store.get_logs(run_id)] == ["after"]


async def test_cancelled_apply_is_all_or_nothing(store: RunStore) -> None:
    run_id = await store.create_run(workflow="wf", steps=plan("a"))
    outcomes = set()
    for n in range(6):
        before = len(await store.get_logs(run_id))
        batch: list[Event] = []
        for i in range(200):  # a status change between logs: many awaits inside the transaction
            batch.append(StepLog(run_id, "a", i, "stdout", f"line {i}", float(i)))
            batch.append(StepStatusChanged(run_id, "a", StepStatus.RUNNING, float(i), attempt=i))
        task = asyncio.create_task(store.apply(batch))
        async with asyncio.timeout(5):
            while not store.db.conn.in_transaction and not task.done():
                await asyncio.sleep(0.0005)
        await asyncio.sleep(0.003 * n)
        task.cancel()
        try:
            await task
            outcomes.add("committed")
            assert len(await store.get_logs(run_id)) - before == 200
        except asyncio.CancelledError:
            outcomes.add("cancelled")
            # all or nothing; a cancel that lands on COMMIT itself cannot undo it (see
            # docs/reliability.md, known limits), so "all" is possible here too
            assert len(await store.get_logs(run_id)) - before in (0, 200)
        assert not store.db.conn.in_transaction
    assert "cancelled" in outcomes
    await store.apply(batch[:1])
    assert not store.db.conn.in_transaction


async def test_list_runs_by_workflow_uses_index(store: RunStore) -> None:
    sql, params = store.list_runs_query("wf", before_id=100)
    rows = await store.db.fetchall("EXPLAIN QUERY PLAN " + sql, params)
    detail = " ".join(r["detail"] for r in rows)
    assert "runs_by_workflow" in detail
    assert "TEMP B-TREE" not in detail  # no sort: the index gives id DESC order

    sql, params = store.list_runs_query(None, before_id=100)
    detail = " ".join(
        r["detail"] for r in await store.db.fetchall("EXPLAIN QUERY PLAN " + sql, params)
    )
    assert "TEMP B-TREE" not in detail

    detail = " ".join(
        r["detail"]
        for r in await store.db.fetchall(
            "EXPLAIN QUERY PLAN SELECT * FROM logs WHERE run_id = ? AND step = ? AND id > ?"
            " ORDER BY id",
            (1, "a", 0),
        )
    )
    assert "logs_by_step" in detail and "TEMP B-TREE" not in detail


class _OnRecord(logging.Handler):
    """Calls `fn` for each warning logged (in the thread that logs it)."""

    def __init__(self, fn: Callable[[], object]) -> None:
        super().__init__(logging.WARNING)
        self.fn = fn

    def emit(self, record: logging.LogRecord) -> None:
        self.fn()


async def test_lock_held_too_long_gives_clear_error_then_recovers(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", 100)
    monkeypatch.setattr(db_module, "BUSY_RETRIES", 2)
    monkeypatch.setattr(db_module, "BUSY_BACKOFF", 0.01)
    store = await RunStore.open(db_path)
    hog = sqlite3.connect(db_path, isolation_level=None)
    try:
        hog.execute("BEGIN IMMEDIATE")  # another process sits on the write lock
        with pytest.raises(StoreBusyError, match="locked by another flowtui process"):
            await store.set_paused("wf", True)
        assert not store.db.conn.in_transaction

        # released while we back off: the retry gets through
        monkeypatch.setattr(db_module, "BUSY_RETRIES", 6)  # about 1 s to release it in
        backing_off = asyncio.Event()
        tried = _OnRecord(backing_off.set)  # "... is busy, retrying": a try failed
        db_module.log.addHandler(tried)
        try:
            task = asyncio.create_task(store.set_paused("wf", True))
            await asyncio.wait_for(backing_off.wait(), 5)
        finally:
            db_module.log.removeHandler(tried)
        hog.execute("ROLLBACK")
        await asyncio.wait_for(task, 5)
        assert await store.workflow_paused("wf")
    finally:
        hog.close()
        await store.close()
