"""A worker's take of a step and its end (`store.pgjobs`), and a runner's defer of its job,
on a real PostgreSQL server.

When the step is as a take expects it (its run going on, the step pending or running) the
take is one round trip, and writes what the two-trip take — every read first, then
`move_step`'s writes decided from them — writes.  Whenever it is not, the one-trip take
writes nothing and the two-trip take decides, with `move_step`'s refusals.  An end writes
what the event writer writes for the step's outputs and its `AttemptEnded`, only while the
job is still the worker's.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import psycopg
import pytest
from msgspec.structs import replace

from flowtui.engine.events import AttemptEnded, StepOutputs, StepStatusChanged
from flowtui.engine.remote import RemoteJob
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.store import RunStore
from flowtui.store.pg import PgDatabase
from flowtui.store.pgjobs import (
    Connect,
    _take_after_reading,
    _take_as_expected,
    begin_attempt,
    end_attempt,
)
from flowtui.worker.dispatch import PgDispatcher, defers_directly
from flowtui.worker.queue import ensure_schema, make_app
from tests.store.store_helpers import plan

WORKER = ("w1", 30.0)


@pytest.fixture
async def history(pg_url: str) -> AsyncIterator[tuple[RunStore, Connect]]:
    store = await RunStore.open(pg_url)
    app = make_app(pg_url)
    async with app.open_async():
        await ensure_schema(app, pg_url)  # the take reads the job's worker from its table

    @contextlib.asynccontextmanager
    async def connect() -> AsyncIterator[Any]:
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
            yield conn

    try:
        yield store, connect
    finally:
        await store.close()


async def _run(store: RunStore, run: RunStatus, step: tuple[str, int, str] | None) -> int:
    """A run of steps a, b in status `run`, step a as (status, attempt, message); b has an
    output (the take hands the run's outputs to the step)."""
    run_id = await store.create_run(workflow="wf", steps=plan("a", "b"))
    await store.apply([StepOutputs(run_id, "b", {"k": "v"})])
    async with store.db.transaction() as conn:
        await conn.execute("UPDATE runs SET status = ? WHERE id = ?", (str(run), run_id))
        if step is None:
            await conn.execute("DELETE FROM steps WHERE run_id = ? AND name = 'a'", (run_id,))
        else:
            await conn.execute(
                "UPDATE steps SET status = ?, attempt = ?, message = ?"
                " WHERE run_id = ? AND name = 'a'",
                (*step, run_id),
            )
    return run_id


async def _rows(store: RunStore, run_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """What a take may write to run `run_id`, without its times."""
    steps = [
        (s.name, str(s.status), s.attempt, s.message, s.started_at is None, s.ended_at is None)
        for s in await store.get_steps(run_id)
    ]
    events = [
        (e.step, e.kind, e.status, e.attempt, e.message) for e in await store.get_events(run_id)
    ]
    attempts = await store.db.fetchall(
        "SELECT step, attempt, status, ended_at IS NULL AS open FROM attempts"
        " WHERE run_id = ? ORDER BY step, attempt",
        (run_id,),
    )
    logs = [(r.step, r.stream, r.line) for r in await store.get_logs(run_id)]
    return {
        "steps": steps,
        "events": events,
        "attempts": [tuple(r) for r in attempts],
        "logs": logs,
    }


@pytest.mark.parametrize(
    ("step", "attempt"),
    [
        (("pending", 0, ""), 1),  # the runner's "waiting" not written yet
        (("running", 1, "waiting for a worker on queue q"), 1),
        (("running", 1, "on worker w0"), 2),  # a retry: attempt 1 is left open
    ],
)
async def test_one_trip_take_writes_what_the_two_trip_take_writes(
    history: tuple[RunStore, Connect], step: tuple[str, int, str], attempt: int
) -> None:
    store, connect = history
    one, two = (
        await _run(store, RunStatus.RUNNING, step),
        await _run(store, RunStatus.RUNNING, step),
    )
    if step[0] == "running":  # the open attempt of that status
        for run_id in (one, two):
            await store.apply([StepStatusChanged(run_id, "a", StepStatus.RUNNING, time.time(), 1)])
    # the run's workspace deltas but the ones this worker has: the second one
    seen = {
        run_id: await store.add_workspace_delta(run_id, "b", 1, b"first") for run_id in (one, two)
    }
    data = bytes(range(256))
    second = {
        run_id: await store.add_workspace_delta(run_id, "b", 1, data) for run_id in (one, two)
    }
    taken = await _take_as_expected(connect, 0, WORKER, one, "a", attempt, {seen[one]})
    assert taken == (RunStatus.RUNNING, [(second[one], data)], {"b": {"k": "v"}})
    slow = await _take_after_reading(connect, 0, WORKER, two, "a", attempt, {seen[two]})
    assert slow == (RunStatus.RUNNING, [(second[two], data)], {"b": {"k": "v"}})
    rows = await _rows(store, one)
    assert rows == await _rows(store, two)
    assert rows["steps"][0][:4] == ("a", "running", attempt, "on worker w1")
    assert rows["attempts"][-1] == ("a", attempt, "running", True)


@pytest.mark.parametrize(
    ("run", "step", "expect"),
    [
        (RunStatus.SUCCEEDED, ("pending", 0, ""), RunStatus.SUCCEEDED),  # nothing written
        (RunStatus.CANCELLED, ("running", 1, ""), RunStatus.CANCELLED),
        (RunStatus.RUNNING, ("held", 0, ""), RunStatus.RUNNING),  # refused by move_step
        (RunStatus.RUNNING, ("cancelled", 1, ""), RunStatus.RUNNING),
        (RunStatus.RUNNING, None, RunStatus.RUNNING),  # not in the plan: added
    ],
)
async def test_a_step_not_as_expected_is_taken_the_two_trip_way(
    history: tuple[RunStore, Connect],
    run: RunStatus,
    step: tuple[str, int, str] | None,
    expect: RunStatus,
) -> None:
    store, connect = history
    one, two = await _run(store, run, step), await _run(store, run, step)
    before = await _rows(store, one)
    assert await _take_as_expected(connect, 0, WORKER, one, "a", 1, ()) is None
    assert await _rows(store, one) == before  # the check refused: nothing written
    status, _, _ = await begin_attempt(connect, 0, WORKER, one, "a", 1, skip_deltas=())
    assert status == expect
    await _take_after_reading(connect, 0, WORKER, two, "a", 1, ())
    assert await _rows(store, one) == await _rows(store, two)


async def test_a_runner_defers_a_job_as_procrastinates_deferrer_does(pg_url: str) -> None:
    """The runner calls procrastinate's own SQL function with the job's fields as
    parameters: the row is the one procrastinate's deferrer writes."""
    store = await RunStore.open(pg_url)
    dispatcher = PgDispatcher(cast(PgDatabase, store.db))
    try:
        assert defers_directly()  # the installed procrastinate has that function
        app = await dispatcher._app()
        job = RemoteJob("east", 1, "a", 1, "name: wf\nsteps:\n  a: {run: 'true'}\n", "wf.yaml")
        direct = await dispatcher._defer(app, job)
        dispatcher._direct = False
        usual = await dispatcher._defer(app, job)
        rows = await store.db.fetchall(
            "SELECT id, queue_name, task_name, priority, lock, queueing_lock, args, status,"
            " scheduled_at, attempts FROM procrastinate_jobs ORDER BY id"
        )
        assert [r[0] for r in rows] == [direct, usual]
        assert tuple(rows[0])[1:] == tuple(rows[1])[1:]
        assert RemoteJob.from_payload(rows[0][6]) == job
    finally:
        await dispatcher.close()
        await store.close()


async def _job(store: RunStore, status: str, run_id: int = 0, step: str = "a") -> int:
    """A procrastinate job in `status` for attempt 1 of `step` of run `run_id`."""
    args = json.dumps({"run_id": run_id, "step": step, "attempt": 1})
    row = await store.db.fetchone(
        "INSERT INTO procrastinate_jobs (queue_name, task_name, args)"
        " VALUES ('q', 't', CAST(? AS jsonb)) RETURNING id",
        (args,),
    )
    assert row is not None
    async with store.db.transaction() as conn:
        await conn.execute(
            "UPDATE procrastinate_jobs SET status = ? WHERE id = ?", (status, row["id"])
        )
    return int(row["id"])


async def _ended(store: RunStore, run_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """What an attempt's end writes to run `run_id`."""
    attempts = await store.db.fetchall(
        "SELECT step, attempt, status, ended_at, exit_code, message FROM attempts"
        " WHERE run_id = ? ORDER BY step, attempt",
        (run_id,),
    )
    outputs = await store.db.fetchall(
        "SELECT step, key, value FROM outputs WHERE run_id = ? ORDER BY step, key", (run_id,)
    )
    deltas = await store.db.fetchall(
        "SELECT step, attempt, size, data FROM workspace_deltas WHERE run_id = ?", (run_id,)
    )
    return {
        k: [tuple(r) for r in v]
        for k, v in (("attempts", attempts), ("outputs", outputs), ("deltas", deltas))
    }


async def test_an_end_writes_what_the_event_writer_writes_while_the_job_is_the_workers(
    history: tuple[RunStore, Connect],
) -> None:
    store, connect = history
    one = await _run(store, RunStatus.RUNNING, ("pending", 0, ""))
    two = await _run(store, RunStatus.RUNNING, ("pending", 0, ""))
    now = time.time()
    for run_id in (one, two):  # an earlier attempt left an output the end replaces
        await store.apply(
            [
                StepStatusChanged(run_id, "a", StepStatus.RUNNING, now, 1),
                StepOutputs(run_id, "a", {"old": "1", "k": "0"}),
            ]
        )
    ended = AttemptEnded(one, "a", 1, StepStatus.FAILED, now, 3, 'exit 3 (it\'s "quoted")')
    outputs = {"k": "v", "ünï": "ç\n'\""}
    doing = await _job(store, "doing", one)
    delta_id = await end_attempt(connect, doing, ended, outputs, b"\x00delta")
    assert delta_id and delta_id > 0
    await store.apply([StepOutputs(two, "a", outputs, replace=True), replace(ended, run_id=two)])
    await store.add_workspace_delta(two, "a", 1, b"\x00delta")
    assert await _ended(store, one) == await _ended(store, two)
    # a job stands only for its own attempt: another step's end through it writes nothing
    before = await _ended(store, one)
    for other in (replace(ended, step="b"), replace(ended, attempt=2), replace(ended, run_id=two)):
        assert await end_attempt(connect, doing, other, {"forged": "1"}, None) is None
    assert await _ended(store, one) == before
    doing_b = await _job(store, "doing", one, "b")
    assert await end_attempt(connect, doing_b, replace(ended, step="b"), {}, None) == 0

    # a job failed meanwhile (its worker counted lost): nothing of its attempt lands
    three = await _run(store, RunStatus.RUNNING, ("pending", 0, ""))
    await store.apply([StepStatusChanged(three, "a", StepStatus.RUNNING, now, 1)])
    before = await _ended(store, three)
    for gone in (await _job(store, "failed", three), 999_999):
        assert await end_attempt(connect, gone, replace(ended, run_id=three), outputs, b"x") is None
    assert await _ended(store, three) == before
