"""The batch writer: turns engine events into rows (on the connection's thread)."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence

import aiosqlite

from flowtui.engine.events import (
    ApprovalDecided,
    Event,
    RunStatusChanged,
    StepLog,
    StepOutputs,
    StepProcess,
    StepStatusChanged,
)
from flowtui.engine.states import RunStatus, StepStatus

log = logging.getLogger("flowtui.store")


# only real changes: the runner re-announces statuses try_start_run already wrote
_RUN_EVENT_SQL = """INSERT INTO events (run_id, step, kind, status, attempt, at, message)
    SELECT id, NULL, 'run', ?, 0, ?, ? FROM runs WHERE id = ? AND status != ?"""


def _run_event_params(
    run_id: int, status: RunStatus, at: float, message: str
) -> tuple[str, float, str, int, str]:
    return (str(status), at, message, run_id, str(status))


async def _insert_run_event(
    conn: aiosqlite.Connection, run_id: int, status: RunStatus, at: float, message: str
) -> None:
    await conn.execute(_RUN_EVENT_SQL, _run_event_params(run_id, status, at, message))


def _apply_batch(conn: sqlite3.Connection, events: Sequence[Event]) -> None:
    """Write `events` in order (runs on the connection's thread, inside a transaction)."""
    logs: list[StepLog] = []
    for event in events:
        if isinstance(event, StepLog):
            logs.append(event)
            continue
        if logs:
            _insert_logs(conn, logs)
            logs = []
        _apply_one(conn, event)
    if logs:
        _insert_logs(conn, logs)


def _insert_logs(conn: sqlite3.Connection, logs: list[StepLog]) -> None:
    conn.executemany(
        "INSERT INTO logs (run_id, step, attempt, stream, line, at) VALUES (?, ?, ?, ?, ?, ?)",
        [(e.run_id, e.step, e.attempt, e.stream, e.line, e.at) for e in logs],
    )


def _apply_one(conn: sqlite3.Connection, event: Event) -> None:
    if isinstance(event, RunStatusChanged):
        _apply_run_status(conn, event)
    elif isinstance(event, StepStatusChanged):
        _apply_step_status(conn, event)
    elif isinstance(event, StepOutputs):
        conn.executemany(
            """INSERT INTO outputs (run_id, step, key, value) VALUES (?, ?, ?, ?)
               ON CONFLICT (run_id, step, key) DO UPDATE SET value = excluded.value""",
            [(event.run_id, event.step, k, v) for k, v in event.outputs.items()],
        )
    elif isinstance(event, ApprovalDecided):
        conn.execute(
            """INSERT INTO approvals (run_id, step, approved, by_user, comment, at)
               VALUES (?, ?, ?, ?, ?, ?)""",
            (event.run_id, event.step, int(event.approved), event.by, event.comment, event.at),
        )
    elif isinstance(event, StepProcess):
        conn.execute(
            "UPDATE steps SET pid = ?, pgid = ?, proc_started = ? WHERE run_id = ? AND name = ?",
            (event.pid, event.pgid, event.started_at, event.run_id, event.step),
        )
    else:
        raise TypeError(f"not an engine event: {event!r}")


def _final_status_of(conn: sqlite3.Connection, run_id: int) -> str | None:
    """The run's status if it is final (then nothing may change it any more), else None."""
    row = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None or not RunStatus(row["status"]).is_final:
        return None
    return str(row["status"])


def _refuse(conn: sqlite3.Connection, run_id: int, step: str, what: str, final: str) -> None:
    """Record, in the run's log, a change refused because the run is already over.

    This is how a runner that was declared dead but was only slow shows up: its late events
    never turn an interrupted run back into a running or succeeded one.
    """
    line = f"ignored {what}: run {run_id} is already {final}"
    log.warning("flowtui store: %s", line)
    conn.execute(
        "INSERT INTO logs (run_id, step, attempt, stream, line, at) VALUES (?, ?, 0, ?, ?, ?)",
        (run_id, step, "system", line, time.time()),
    )


def _apply_run_status(conn: sqlite3.Connection, e: RunStatusChanged) -> None:
    if e.status == RunStatus.QUEUED:
        # create_run wrote it; applied after try_start_run it would turn `running` back
        # into `queued` and record both changes twice
        return
    final = e.status.is_final
    if (was := _final_status_of(conn, e.run_id)) is not None:
        if was != e.status:
            _refuse(conn, e.run_id, "", f"run status {e.status}", was)
        return
    conn.execute(_RUN_EVENT_SQL, _run_event_params(e.run_id, e.status, e.at, e.message))
    conn.execute(
        """UPDATE runs SET status = ?,
             started_at = CASE WHEN ? THEN COALESCE(started_at, ?) ELSE started_at END,
             ended_at = CASE WHEN ? THEN ? ELSE ended_at END,
             message = CASE WHEN ? OR ? != '' THEN ? ELSE message END
           WHERE id = ?""",
        (
            str(e.status),
            e.status == RunStatus.RUNNING,
            e.at,
            final,
            e.at,
            final,
            e.message,
            e.message,
            e.run_id,
        ),
    )


def _apply_step_status(conn: sqlite3.Connection, e: StepStatusChanged) -> None:
    if (was := _final_status_of(conn, e.run_id)) is not None:
        _refuse(conn, e.run_id, e.step, f"step {e.step} status {e.status}", was)
        return
    running = e.status == StepStatus.RUNNING
    final = e.status.is_final
    values = (
        str(e.status),
        e.attempt,
        e.exit_code,
        e.message,
        running,
        e.at,
        e.status == StepStatus.HELD,
        e.at,
        final,
        e.at,
        running,
    )
    cur = conn.execute(
        """UPDATE steps SET status = ?, attempt = MAX(attempt, ?), exit_code = ?, message = ?,
             started_at = CASE WHEN ? THEN COALESCE(started_at, ?) ELSE started_at END,
             held_at = CASE WHEN ? THEN ? ELSE held_at END,
             ended_at = CASE WHEN ? THEN ? WHEN ? THEN NULL ELSE ended_at END
           WHERE run_id = ? AND name = ?""",
        (*values, e.run_id, e.step),
    )
    if cur.rowcount == 0:
        # a step the plan did not list (e.g. added while running): record it at the end
        conn.execute(
            """INSERT INTO steps (run_id, name, position, type, status, attempt, exit_code,
                 message, started_at, held_at, ended_at)
               SELECT ?, ?, COALESCE(MAX(position) + 1, 0), '', ?, ?, ?, ?,
                 CASE WHEN ? THEN ? END, CASE WHEN ? THEN ? END,
                 CASE WHEN ? THEN ? WHEN ? THEN NULL END
               FROM steps WHERE run_id = ?""",
            (e.run_id, e.step, *values, e.run_id),
        )
    conn.execute(
        """INSERT INTO events (run_id, step, kind, status, attempt, at, message)
           VALUES (?, ?, 'step', ?, ?, ?, ?)""",
        (e.run_id, e.step, str(e.status), e.attempt, e.at, e.message),
    )
    if running:
        # a new attempt starting means any earlier one still open failed (a retry)
        conn.execute(
            """UPDATE attempts SET status = 'failed', ended_at = ?,
                 exit_code = COALESCE(?, exit_code)
               WHERE run_id = ? AND step = ? AND ended_at IS NULL AND attempt != ?""",
            (e.at, e.exit_code, e.run_id, e.step, e.attempt),
        )
        conn.execute(
            """INSERT OR IGNORE INTO attempts (run_id, step, attempt, status, started_at)
               VALUES (?, ?, ?, 'running', ?)""",
            (e.run_id, e.step, e.attempt, e.at),
        )
    elif final:
        conn.execute(
            """UPDATE attempts SET status = ?, ended_at = ?, exit_code = ?, message = ?
               WHERE run_id = ? AND step = ? AND ended_at IS NULL""",
            (str(e.status), e.at, e.exit_code, e.message, e.run_id, e.step),
        )
