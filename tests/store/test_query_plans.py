"""The history queries the dashboard and CLI run use indexes (EXPLAIN QUERY PLAN).

The SQL is captured from the store methods themselves with SQLite's trace callback, so a
query changed in runstore.py is checked as it is, not as a copy kept here.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from flowtui.engine.events import ApprovalDecided, StepLog, StepStatusChanged
from flowtui.engine.states import StepStatus
from flowtui.store import RunStore

from .store_helpers import plan

# tables that grow with history; a plain SCAN of one of them is a full table scan
BIG = ("runs", "steps", "attempts", "logs", "events", "outputs", "approvals", "commands")
# a few rows per run (logs and events can be 100,000s): sorting the rows of the runs an index
# search found is fine for these; the search itself must still use an index
PER_RUN_SORT_OK = ("steps", "attempts", "outputs", "approvals", "commands")


@pytest.fixture
def target(db_path: Path) -> Path:
    """Query plans are SQLite's (EXPLAIN QUERY PLAN): this module runs on SQLite only."""
    return db_path


async def _seed(store: RunStore) -> list[int]:
    run_ids = []
    for workflow in ("build", "deploy", "build", "deploy"):
        run_id = await store.create_run(workflow=workflow, steps=plan("a", "b"))
        now = time.time()
        await store.apply(
            [
                StepStatusChanged(run_id, "a", StepStatus.RUNNING, now, 1),
                StepLog(run_id, "a", 1, "stdout", "hello", now),
                StepStatusChanged(run_id, "a", StepStatus.SUCCEEDED, now, 1, 0),
                ApprovalDecided(run_id, "b", True, "ana", now, ""),
            ]
        )
        run_ids.append(run_id)
    return run_ids


async def _plans_of(
    store: RunStore, call: Callable[[], Awaitable[Any]]
) -> list[tuple[str, list[str]]]:
    """(statement, query plan lines) for each SELECT that `call` runs."""
    statements: list[str] = []
    await store.db.conn.set_trace_callback(statements.append)
    try:
        await call()
    finally:
        await store.db.conn.set_trace_callback(None)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert selects, "the call ran no SELECT: nothing was checked"
    result = []
    for sql in selects:
        rows = await store.db.fetchall("EXPLAIN QUERY PLAN " + sql)
        result.append((sql, [str(r["detail"]) for r in rows]))
    return result


def _problems(sql: str, details: list[str]) -> list[str]:
    problems = []
    for detail in details:
        words = detail.split()
        if words[:1] == ["SCAN"] and len(words) > 1 and words[1] in BIG:
            problems.append(f"full scan: {detail}")
        if "TEMP B-TREE" in detail and not any(f"FROM {t}" in sql for t in PER_RUN_SORT_OK):
            problems.append(f"sort without index: {detail}")
    return [f"{p}\n    in: {' '.join(sql.split())}" for p in problems]


async def test_history_queries_use_indexes(store: RunStore) -> None:
    run_ids = await _seed(store)
    run = run_ids[-1]
    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "list_runs(workflow)": lambda: store.list_runs("build", limit=10),
        "list_runs(page)": lambda: store.list_runs("build", limit=50, before_id=run),
        "list_runs(all, page)": lambda: store.list_runs(None, limit=50, before_id=run),
        "latest_run_id(workflow)": lambda: store.latest_run_id("deploy"),
        "count_runs(workflow)": lambda: store.count_runs("deploy"),
        "get_run": lambda: store.get_run(run),
        "get_steps": lambda: store.get_steps(run),
        "get_attempts(step)": lambda: store.get_attempts(run, "a"),
        "get_logs(step)": lambda: store.get_logs(run, "a", after_id=0),
        "get_logs(run)": lambda: store.get_logs(run, after_id=0),
        "tail_logs(step)": lambda: store.tail_logs(run, "a", limit=100),
        "tail_logs(run)": lambda: store.tail_logs(run, limit=100),
        "tail_logs(step, page)": lambda: store.tail_logs(run, "a", limit=100, before_id=50),
        "tail_logs(run, page)": lambda: store.tail_logs(run, limit=100, before_id=50),
        "count_logs(step)": lambda: store.count_logs(run, "a", before_id=50),
        "count_logs(run)": lambda: store.count_logs(run),
        "get_outputs": lambda: store.get_outputs(run),
        "get_approvals": lambda: store.get_approvals(run),
        "approvers_by_run": lambda: store.approvers_by_run(run_ids),
        "get_events": lambda: store.get_events(run),
        "workflow_paused": lambda: store.workflow_paused("build"),
        "paused_workflows": store.paused_workflows,
        "take_commands": lambda: store.take_commands(run_ids),
        "usual_durations": lambda: store.usual_durations("build"),
        "usual_durations(before)": lambda: store.usual_durations("build", before_run=run),
    }
    failures = []
    for label, call in calls.items():
        for sql, details in await _plans_of(store, call):
            failures += [f"{label}: {p}" for p in _problems(sql, details)]
    assert not failures, "\n".join(failures)


async def test_last_event_id_reads_one_index_entry(store: RunStore) -> None:
    await _seed(store)
    [(sql, details)] = await _plans_of(store, store.last_event_id)
    # MAX(id) over the rowid is answered from the b-tree's last entry, not by a scan
    assert details == ["SEARCH events"], (sql, details)


async def test_the_checker_catches_a_full_scan(store: RunStore) -> None:
    """The helper must flag a query without an index, or the tests above prove nothing."""
    await _seed(store)

    async def bad() -> None:
        await store.db.fetchall("SELECT * FROM logs WHERE line = ? ORDER BY at", ("hello",))

    [(sql, details)] = await _plans_of(store, bad)
    found = _problems(sql, details)
    assert any("full scan" in p for p in found), found
    assert any("sort without index" in p for p in found), found


async def test_newest_runs_searches_the_index_per_workflow(store: RunStore) -> None:
    """The dashboard's list reads every workflow's newest runs in one statement: one index
    search each, no scan, no sort, and the same runs as `list_runs` per workflow."""
    await _seed(store)
    [(sql, details)] = await _plans_of(
        store, lambda: store.newest_runs(["build", "deploy", "none"], limit=1)
    )
    assert not _problems(sql, details), details
    searches = [d for d in details if d.startswith(("SEARCH runs", "SCAN runs"))]
    assert len(searches) == 3 and all("runs_by_workflow" in d for d in searches), details
    found = await store.newest_runs(["build", "deploy", "none"], limit=10)
    for name in ("build", "deploy"):
        runs = await store.list_runs(name, limit=10)
        assert [(r.id, r.status, r.duration) for r in found[name]] == [
            (r.id, r.status, r.duration) for r in runs
        ]
    assert found["none"] == []


async def test_recovery_reads_the_active_runs_by_index_after_analyze(store: RunStore) -> None:
    """Every start looks for runs left by dead runners.  After an ANALYZE of a history of
    1,000,000 runs with two statuses, SQLite reckons a status matches half of them and
    would scan them all (0.1 s); the query names its index.  The statistics are the ones
    ANALYZE writes for such a history, reloaded (`ANALYZE sqlite_schema`)."""
    await _seed(store)
    conn = store.db.conn
    await conn.execute("ANALYZE")
    await conn.execute("DELETE FROM sqlite_stat1 WHERE tbl = 'runs'")
    await conn.executemany(
        "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('runs', ?, ?)",
        [("runs_by_status", "1000000 500000 2500"), ("runs_by_workflow", "1000000 5000 1")],
    )
    await conn.execute("ANALYZE sqlite_schema")
    plans = await _plans_of(store, store.recover_interrupted)
    failures = [p for sql, details in plans for p in _problems(sql, details)]
    assert not failures, failures
    assert any("runs_by_status" in d for _, details in plans for d in details), plans
