"""A worker's two writes per job (team mode), on an async PostgreSQL connection.

Taking a job and recording its outcome are on every remote step's path.  The history's own
connection lives on a thread (`store.pg`): each write there is two hops between the loop
and that thread, which on a busy machine wait for the GIL, and it queues behind the
worker's batches of log lines.  These two run on the loop instead, on a connection the
caller lends (the job queue's pool: its connections are in autocommit and checked before
use, a server restart included), each one round trip:

- `begin_attempt`: `flowtui_take_v1` (the step moved, and what it needs); when the step is
  not as a take expects it, the reads, then `move_step`'s writes (two);
- `end_attempt`: `flowtui_end_v1` (the check that the job is still the worker's is in it).

Both functions (PostgreSQL migration 12) take the history's write lock as every writer does
(`store.pg.WRITE_LOCK`), only for the time they run on the server, and write what
`store.transitions.move_step` and the event writer write (`tests/team/test_take.py`
compares them).  One statement each instead of a dozen: the worker's CPU per step went
mostly into psycopg's handling of each statement.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, cast

from flowtui.engine.events import AttemptEnded
from flowtui.engine.remote import attempt_key
from flowtui.engine.states import RunStatus, StepStatus, can_step_move
from flowtui.store.pg import WRITE_LOCK, pg_sql
from flowtui.store.runstore import _ids_json
from flowtui.store.transitions import WAITING, move_step

Connect = Callable[[], AbstractAsyncContextManager[Any]]  # lends a psycopg AsyncConnection


class _Statements:
    """A stand-in for a connection that only keeps what is executed on it: the store's
    write code (`move_step`, the event writer) decides the statements, which are then
    sent in the pipeline.  It is given nothing that reads."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[Any, ...]]] = []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.sent.append((pg_sql(sql), tuple(params)))

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> None:
        for params in seq:
            self.execute(sql, params)


@contextlib.asynccontextmanager
async def _transaction(connect: Connect) -> AsyncIterator[Any]:
    """BEGIN, the write lock, the caller's statements and COMMIT in one pipeline; rolled
    back on any error (the first failed statement's error is raised)."""
    import psycopg

    async with connect() as conn:
        try:
            pipelined = psycopg.Pipeline.is_supported()
            async with conn.pipeline() if pipelined else contextlib.nullcontext():
                await conn.execute("BEGIN")
                await conn.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK:d})")
                yield conn
                await conn.execute("COMMIT")
        except BaseException:
            if not conn.closed and conn.info.transaction_status != 0:  # not idle
                with contextlib.suppress(Exception):
                    await conn.execute("ROLLBACK")
            raise


async def _send(conn: Any, statements: _Statements) -> None:
    for sql, params in statements.sent:
        await conn.execute(sql, params)


async def begin_attempt(
    connect: Connect,
    job_id: int,
    worker: tuple[str, float],
    run_id: int,
    step: str,
    attempt: int,
    *,
    skip_deltas: Collection[int],
) -> tuple[RunStatus | None, list[tuple[int, bytes]], dict[str, dict[str, str]]]:
    """Worker (name, lost_after) takes job `job_id`, an attempt, in one transaction: it
    says after how long without a heartbeat it counts as lost (runners use the worker's
    word, not their own); unless the run is over, the step is marked running "on worker
    NAME"; then the run's status, its workspace deltas but `skip_deltas` and its outputs
    (a step sees its dependencies' as STEPS_*).

    One round trip when the step is as a take expects it (its run going on, the step
    pending or running: `_take_as_expected`); else the reads first, then the writes
    `move_step` decides from them (two)."""
    taken = await _take_as_expected(connect, job_id, worker, run_id, step, attempt, skip_deltas)
    if taken is not None:
        return taken
    return await _take_after_reading(connect, job_id, worker, run_id, step, attempt, skip_deltas)


# the step statuses `move_step` moves to running (the engine's table decides)
_TAKES_FROM = [str(s) for s in StepStatus if can_step_move(s, StepStatus.RUNNING)]
_GOING_ON = [str(s) for s in RunStatus if not s.is_final]


def _worker_row(conn: Any, job_id: int, name: str, lost_after: float, now: float) -> Any:
    # keyed by procrastinate's worker id (a worker's id changes when its queue restarts)
    return conn.execute(
        """INSERT INTO flowtui_workers (worker_id, name, lost_after, at)
           SELECT worker_id, %s, %s, %s FROM procrastinate_jobs
            WHERE id = %s AND worker_id IS NOT NULL
           ON CONFLICT (worker_id) DO UPDATE SET lost_after = excluded.lost_after""",
        (name, lost_after, now, job_id),
    )


async def _what_a_step_needs(
    conn: Any, run_id: int, skip_deltas: Collection[int]
) -> tuple[Any, Any]:
    """The run's workspace deltas but `skip_deltas`, and its outputs (sent, not waited for)."""
    delta_rows = await conn.execute(
        pg_sql(
            """SELECT id, data FROM workspace_deltas WHERE run_id = ?
                 AND id NOT IN (SELECT value FROM json_each(?)) ORDER BY id"""
        ),
        (run_id, _ids_json(skip_deltas)),
    )
    output_rows = await conn.execute(
        "SELECT step, key, value FROM outputs WHERE run_id = %s ORDER BY step, key", (run_id,)
    )
    return delta_rows, output_rows


async def _needs(
    delta_rows: Any, output_rows: Any
) -> tuple[list[tuple[int, bytes]], dict[str, dict[str, str]]]:
    deltas = [(int(r[0]), bytes(r[1])) for r in await delta_rows.fetchall()]
    outputs: dict[str, dict[str, str]] = {}
    for of, key, value in await output_rows.fetchall():
        outputs.setdefault(of, {})[key] = value
    return deltas, outputs


async def _take_as_expected(
    connect: Connect,
    job_id: int,
    worker: tuple[str, float],
    run_id: int,
    step: str,
    attempt: int,
    skip_deltas: Collection[int],
) -> tuple[RunStatus | None, list[tuple[int, bytes]], dict[str, dict[str, str]]] | None:
    """The take in one statement, `flowtui_take_v1` (PostgreSQL migration 12): under the
    write lock, `move_step`'s writes for a step that may move to running, when it may and
    its run goes on, and what the step needs.  None when it moved nothing (the caller takes
    the two-trip way, which reads first and lets `move_step` decide)."""
    name, lost_after = worker
    message = f"on worker {name}"
    if WAITING in message:  # `move_step`'s special case for a runner's message: read first
        return None
    async with connect() as conn:  # in autocommit: the statement is its transaction
        taken = await conn.execute(
            """SELECT flowtui_take_v1(CAST(%s AS BIGINT), %s, CAST(%s AS DOUBLE PRECISION),
                 CAST(%s AS DOUBLE PRECISION), CAST(%s AS BIGINT), %s, CAST(%s AS INTEGER),
                 %s, CAST(%s AS TEXT[]), CAST(%s AS TEXT[]), CAST(%s AS BIGINT[]))""",
            (
                job_id,
                name,
                lost_after,
                time.time(),
                run_id,
                step,
                attempt,
                message,
                _GOING_ON,
                _TAKES_FROM,
                sorted(skip_deltas),
            ),
        )
        found = await taken.fetchone()
    if found is None or found[0] is None:
        return None
    what = json.loads(found[0])
    outputs: dict[str, dict[str, str]] = {}
    for of, key, value in what["outputs"] or ():
        outputs.setdefault(of, {})[key] = value
    deltas = [(int(i), base64.b64decode(data)) for i, data in what["deltas"] or ()]
    return RunStatus(what["status"]), deltas, outputs


async def _take_after_reading(
    connect: Connect,
    job_id: int,
    worker: tuple[str, float],
    run_id: int,
    step: str,
    attempt: int,
    skip_deltas: Collection[int],
) -> tuple[RunStatus | None, list[tuple[int, bytes]], dict[str, dict[str, str]]]:
    """The take in two round trips: every read, then `move_step`'s writes decided from
    them (it refuses, and records why, a move its table forbids)."""
    name, lost_after = worker
    now = time.time()
    async with _transaction(connect) as conn:
        await _worker_row(conn, job_id, name, lost_after, now)
        # every read is sent before any reply is read: one round trip
        run = await conn.execute("SELECT status FROM runs WHERE id = %s", (run_id,))
        step_row = await conn.execute(
            "SELECT status, attempt, message FROM steps WHERE run_id = %s AND name = %s",
            (run_id, step),
        )
        delta_rows, output_rows = await _what_a_step_needs(conn, run_id, skip_deltas)
        found = await run.fetchone()
        status = None if found is None else RunStatus(found[0])
        row = await step_row.fetchone()
        deltas, outputs = await _needs(delta_rows, output_rows)
        if status is None or status.is_final:
            return status, [], {}
        writes = _Statements()
        move_step(
            cast(Any, writes),
            run_id,
            step,
            StepStatus.RUNNING,
            now,
            attempt=attempt,
            message=f"on worker {name}",
            seen=(status, None if row is None else (str(row[0]), int(row[1]), str(row[2]))),
        )
        await _send(conn, writes)
    return status, deltas, outputs


async def end_attempt(
    connect: Connect,
    job_id: int,
    ended: AttemptEnded,
    outputs: Mapping[str, str],
    delta: bytes | None,
) -> int | None:
    """A worker's outcome for a job — the step's outputs (replacing an earlier attempt's),
    its `AttemptEnded`, its workspace delta — written only while the job is still its own
    (`doing`: not failed by a runner that counted its worker lost), in one statement
    (`flowtui_end_v1`, PostgreSQL migration 12) whose commit NOTIFYs the runner.  The
    delta's id (0: none); None when the job was no longer its own (nothing written)."""
    async with connect() as conn:  # in autocommit: the statement is its transaction
        found = await conn.execute(
            """SELECT flowtui_end_v1(CAST(%s AS BIGINT), CAST(%s AS BIGINT), %s,
                 CAST(%s AS INTEGER), %s, CAST(%s AS DOUBLE PRECISION), CAST(%s AS INTEGER),
                 %s, %s, CAST(%s AS BYTEA), %s)""",
            (
                job_id,
                ended.run_id,
                ended.step,
                ended.attempt,
                str(ended.status),
                ended.at,
                ended.exit_code,
                ended.message,
                json.dumps(dict(outputs)),
                delta,
                attempt_key(ended.run_id, ended.step, ended.attempt),
            ),
        )
        row = await found.fetchone()
    return None if row is None or row[0] is None else int(row[0])
