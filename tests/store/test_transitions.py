"""Every status write goes through `store.transitions`, which refuses moves the table forbids.

The expected tables are written out here, not read from `flowtui.engine.states`: a change to
the allowed moves must change this file too.
"""

from __future__ import annotations

import time
from itertools import product

import pytest

from flowtui.engine.events import RunStatusChanged, StepStatusChanged
from flowtui.engine.states import RunStatus, StepStatus, can_run_move, can_step_move
from flowtui.store import RunStore
from tests.store.store_helpers import plan

R, S = RunStatus, StepStatus

RUN_MOVES: dict[RunStatus, set[RunStatus]] = {
    R.QUEUED: {R.RUNNING, R.CANCELLED, R.INTERRUPTED},
    R.RUNNING: {R.HELD, R.SUCCEEDED, R.FAILED, R.CANCELLED, R.INTERRUPTED},
    R.HELD: {R.RUNNING, R.SUCCEEDED, R.FAILED, R.CANCELLED, R.INTERRUPTED},
    R.SUCCEEDED: set(),
    R.FAILED: set(),
    R.CANCELLED: set(),
    R.INTERRUPTED: set(),
}

STEP_MOVES: dict[StepStatus, set[StepStatus]] = {
    S.PENDING: {S.RUNNING, S.HELD, S.SKIPPED, S.CANCELLED, S.REUSED, S.SUCCEEDED, S.FAILED},
    S.RUNNING: {S.RUNNING, S.SUCCEEDED, S.FAILED, S.TIMED_OUT, S.CANCELLED},
    S.HELD: {S.HELD, S.SUCCEEDED, S.REJECTED, S.CANCELLED, S.TIMED_OUT},  # HELD: 1 of N approvals
    S.REUSED: {S.REUSED},  # announced again when the rerun starts
    S.SUCCEEDED: set(),
    S.FAILED: set(),
    S.TIMED_OUT: set(),
    S.REJECTED: set(),
    S.SKIPPED: set(),
    S.CANCELLED: set(),
}


def test_the_tables_cover_every_status() -> None:
    assert set(RUN_MOVES) == set(RunStatus)
    assert set(STEP_MOVES) == set(StepStatus)
    for old, new in product(RunStatus, RunStatus):
        assert can_run_move(old, new) == (new in RUN_MOVES[old]), (old, new)
    for old, new in product(StepStatus, StepStatus):
        assert can_step_move(old, new) == (new in STEP_MOVES[old]), (old, new)


async def _run_in(store: RunStore, status: RunStatus) -> int:
    run_id = await store.create_run(workflow="wf", steps=plan("a"))
    async with store.db.transaction() as conn:
        await conn.execute("UPDATE runs SET status = ? WHERE id = ?", (str(status), run_id))
    return run_id


async def _system_lines(store: RunStore, run_id: int) -> list[str]:
    return [r.line for r in await store.get_logs(run_id) if r.stream == "system"]


@pytest.mark.parametrize(("old", "new"), list(product(RunStatus, RunStatus)))
async def test_run_moves(store: RunStore, old: RunStatus, new: RunStatus) -> None:
    run_id = await _run_in(store, old)
    events_before = len(await store.get_events(run_id))
    await store.apply([RunStatusChanged(run_id, "wf", new, time.time(), "why")])
    run = await store.get_run(run_id)
    assert run is not None
    refused = await _system_lines(store, run_id)
    events = await store.get_events(run_id)
    if new == R.QUEUED:  # written by create_run only; a late announcement changes nothing
        assert run.status == old and not refused
    elif new in RUN_MOVES[old]:
        assert run.status == new
        assert [(e.kind, e.status) for e in events[events_before:]] == [("run", str(new))]
        assert not refused
        assert (run.ended_at is not None) == new.is_final
    elif old == new:  # announcing the status it has: no move, no complaint
        assert run.status == old and len(events) == events_before and not refused
    else:
        assert run.status == old and len(events) == events_before
        assert refused == [f"ignored run status {new}: run {run_id} is " + _said(old)]


def _said(status: RunStatus) -> str:
    return f"already {status}" if status.is_final else str(status)


@pytest.mark.parametrize(("old", "new"), list(product(StepStatus, StepStatus)))
async def test_step_moves(store: RunStore, old: StepStatus, new: StepStatus) -> None:
    run_id = await _run_in(store, R.RUNNING)
    async with store.db.transaction() as conn:
        await conn.execute(
            "UPDATE steps SET status = ? WHERE run_id = ? AND name = 'a'", (str(old), run_id)
        )
    await store.apply([StepStatusChanged(run_id, "a", new, time.time(), 1)])
    (step,) = await store.get_steps(run_id)
    refused = await _system_lines(store, run_id)
    if new in STEP_MOVES[old]:
        assert step.status == new and not refused
    else:
        assert step.status == old
        assert refused == [f"ignored step a status {new}: it is already {old}"]


@pytest.mark.parametrize("final", [R.SUCCEEDED, R.FAILED, R.CANCELLED, R.INTERRUPTED])
async def test_no_step_of_a_finished_run_moves(store: RunStore, final: RunStatus) -> None:
    run_id = await _run_in(store, final)
    await store.apply([StepStatusChanged(run_id, "a", S.RUNNING, time.time(), 1)])
    (step,) = await store.get_steps(run_id)
    assert step.status == S.PENDING
    assert await _system_lines(store, run_id) == [
        f"ignored step a status running: run {run_id} is already {final}"
    ]


async def test_the_fifo_start_and_an_orphan_cancel_go_through_the_table(
    store: RunStore,
) -> None:
    run_id = await _run_in(store, R.CANCELLED)
    # try_start_run of a run that is not queued: no move (it checks first, then the table)
    assert not await store.try_start_run(run_id, None)
    run = await store.get_run(run_id)
    assert run is not None and run.status == R.CANCELLED
    queued = await store.create_run(workflow="wf", steps=plan("a"))
    assert await store.try_start_run(queued, None)
    events = [(e.kind, e.status) for e in await store.get_events(queued)]
    assert events == [("run", "queued"), ("run", "running")]


async def test_a_runners_late_waiting_does_not_replace_a_workers_on_worker(
    store: RunStore,
) -> None:
    run_id = await _run_in(store, R.RUNNING)
    now = time.time()
    # the worker's record of attempt 1 lands first, the runner's (written while the job
    # was queued) after it: the step stays "on worker", both events are kept
    await store.apply([StepStatusChanged(run_id, "a", S.RUNNING, now, 1, message="on worker w")])
    waiting = "waiting for a worker on queue q"
    await store.apply([StepStatusChanged(run_id, "a", S.RUNNING, now - 0.01, 1, message=waiting)])
    (step,) = await store.get_steps(run_id)
    assert (step.status, step.message) == (S.RUNNING, "on worker w")
    messages = [e.message for e in await store.get_events(run_id) if e.step == "a"]
    assert messages == ["on worker w", waiting]
    # a later attempt's wait is the runner's to record
    await store.apply([StepStatusChanged(run_id, "a", S.RUNNING, now, 2, message=waiting)])
    (step,) = await store.get_steps(run_id)
    assert step.message == waiting


async def test_one_batch_moves_what_its_earlier_moves_left(store: RunStore) -> None:
    """A batch's moves see the ones before them in the same batch (PostgreSQL reads every
    status of a batch once, up front, and keeps what it read up to date)."""
    run_id = await _run_in(store, R.RUNNING)
    now = time.time()
    await store.apply(
        [
            StepStatusChanged(run_id, "a", S.RUNNING, now, 1, message="first"),
            StepStatusChanged(run_id, "a", S.RUNNING, now, 2, message="retry"),
            StepStatusChanged(run_id, "a", S.SUCCEEDED, now, 1, exit_code=0),  # an older one
            StepStatusChanged(run_id, "extra", S.RUNNING, now, 1),  # not in the plan: added
            StepStatusChanged(run_id, "extra", S.SUCCEEDED, now, 1),
            StepStatusChanged(run_id, "extra", S.RUNNING, now, 1),  # refused: it is over
            RunStatusChanged(run_id, "wf", R.SUCCEEDED, now, ""),
            StepStatusChanged(run_id, "late", S.RUNNING, now, 1),  # refused: the run is over
        ]
    )
    steps = {s.name: s for s in await store.get_steps(run_id)}
    assert (steps["a"].status, steps["a"].attempt) == (S.SUCCEEDED, 2)
    assert steps["extra"].status == S.SUCCEEDED
    assert "late" not in steps
    run = await store.get_run(run_id)
    assert run is not None and run.status == R.SUCCEEDED
    assert await _system_lines(store, run_id) == [
        "ignored step extra status running: it is already succeeded",
        f"ignored step late status running: run {run_id} is already succeeded",
    ]
    moved = [(e.step, e.status) for e in await store.get_events(run_id) if e.kind == "step"]
    assert moved == [
        ("a", "running"),
        ("a", "running"),
        ("a", "succeeded"),
        ("extra", "running"),
        ("extra", "succeeded"),
    ]
