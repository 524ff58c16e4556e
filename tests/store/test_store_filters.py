"""`history`/`logs` filters run in the database, on every backend; `--only/--skip` is kept
with the run."""

from __future__ import annotations

import time

from flowtui.engine.events import RunStatusChanged, StepLog
from flowtui.engine.states import RunStatus
from flowtui.store import RunStore
from flowtui.store.filters import LogFilter, RunFilter

from .store_helpers import plan


async def _run(store: RunStore, workflow: str, *, branch: str | None, trigger: str) -> int:
    return await store.create_run(
        workflow=workflow, steps=plan("a"), trigger=trigger, branch=branch
    )


async def test_runs_filtered_by_status_workflow_branch_trigger_and_time(
    store: RunStore,
) -> None:
    one = await _run(store, "deploy", branch="main", trigger="manual")
    two = await _run(store, "deploy", branch="dev", trigger="cron")
    three = await _run(store, "backup", branch="main", trigger="cron")
    assert await store.try_start_run(two, None)
    await store.apply([RunStatusChanged(two, "deploy", RunStatus.FAILED, time.time())])

    async def ids(f: RunFilter) -> list[int]:
        return [r.id for r in await store.list_runs(filters=f)]

    assert await ids(RunFilter(statuses=["failed"])) == [two]
    assert await ids(RunFilter(statuses=["failed", "queued"])) == [three, two, one]
    assert await ids(RunFilter(statuses=["queued"])) == [three, one]
    assert await ids(RunFilter(workflow="deploy")) == [two, one]
    assert await ids(RunFilter(branch="main")) == [three, one]
    assert await ids(RunFilter(trigger="cron", workflow="deploy")) == [two]
    now = time.time()
    assert await ids(RunFilter(since=now - 60)) == [three, two, one]
    assert await ids(RunFilter(since=now + 60)) == []
    assert await ids(RunFilter(until=now - 60)) == []
    # filters and paging together
    assert [r.id for r in await store.list_runs(before_id=three, filters=RunFilter())] == [
        two,
        one,
    ]


async def test_logs_filtered_by_pattern_and_time(store: RunStore) -> None:
    run_id = await _run(store, "deploy", branch=None, trigger="manual")
    old = time.time() - 3600
    await store.apply(
        [
            StepLog(run_id, "a", 1, "stdout", "starting up", old),
            StepLog(run_id, "a", 1, "stderr", "warning: disk 91% full", old),
            StepLog(run_id, "a", 1, "stdout", "error 42 in module", time.time()),
            StepLog(run_id, "a", 1, "stdout", "done", time.time()),
        ]
    )

    async def lines(f: LogFilter, tail: int | None = None) -> list[str]:
        if tail is not None:
            return [x.line for x in await store.tail_logs(run_id, "a", limit=tail, filters=f)]
        return [x.line for x in await store.get_logs(run_id, filters=f)]

    assert await lines(LogFilter(pattern="error|warn")) == [
        "warning: disk 91% full",
        "error 42 in module",
    ]
    assert await lines(LogFilter(pattern=r"^error [0-9]+")) == ["error 42 in module"]
    assert await lines(LogFilter(since=time.time() - 60)) == ["error 42 in module", "done"]
    assert await lines(LogFilter(pattern="o", since=time.time() - 60), tail=1) == ["done"]
    assert await lines(LogFilter(), tail=2) == ["error 42 in module", "done"]


async def test_left_out_steps_are_kept_with_the_run(store: RunStore) -> None:
    run_id = await store.create_run(
        workflow="deploy", steps=plan("lint", "build"), left_out={"lint": "--skip"}
    )
    run = await store.get_run(run_id)
    assert run is not None and run.left_out == {"lint": "--skip"}
    other = await store.get_run(await store.create_run(workflow="deploy", steps=plan("a")))
    assert other is not None and other.left_out == {}
