"""The batch writer: turns engine events into rows (on the connection's thread).

Status changes go through `transitions` (the one place that writes a status)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from flowtui.engine.events import (
    ApprovalDecided,
    AttemptEnded,
    Event,
    LogTrimmed,
    RemoteLogSeen,
    RunStatusChanged,
    StepLog,
    StepOutputs,
    StepProcess,
    StepStatusChanged,
)
from flowtui.engine.logcap import OMITTED_RE, omitted_line
from flowtui.engine.states import RunStatus
from flowtui.store.transitions import Known, move_run, move_step


def _apply_batch(
    conn: sqlite3.Connection, events: Sequence[Event], known: Known | None = None
) -> None:
    """Write `events` in order (runs on the connection's thread, inside a transaction);
    `known`: the statuses the caller read for the batch (`transitions.Known`); without
    it, each run's status is read once for the batch."""
    logs: list[StepLog] = []
    known = Known() if known is None else known
    for event in events:
        if isinstance(event, StepLog):
            logs.append(event)
            continue
        if logs:
            _insert_logs(conn, logs)
            logs = []
        _apply_one(conn, event, known)
    if logs:
        _insert_logs(conn, logs)


def _insert_logs(conn: sqlite3.Connection, logs: list[StepLog]) -> None:
    conn.executemany(
        "INSERT INTO logs (run_id, step, attempt, stream, line, at) VALUES (?, ?, ?, ?, ?, ?)",
        [(e.run_id, e.step, e.attempt, e.stream, e.line, e.at) for e in logs],
    )


def _apply_one(conn: sqlite3.Connection, event: Event, known: Known | None = None) -> None:
    if isinstance(event, RunStatusChanged):
        _apply_run_status(conn, event, known)
    elif isinstance(event, StepStatusChanged):
        _apply_step_status(conn, event, known)
    elif isinstance(event, StepOutputs):
        if event.replace:
            conn.execute(
                "DELETE FROM outputs WHERE run_id = ? AND step = ?", (event.run_id, event.step)
            )
        conn.executemany(
            """INSERT INTO outputs (run_id, step, key, value) VALUES (?, ?, ?, ?)
               ON CONFLICT (run_id, step, key) DO UPDATE SET value = excluded.value""",
            [(event.run_id, event.step, k, v) for k, v in event.outputs.items()],
        )
    elif isinstance(event, ApprovalDecided):
        conn.execute(
            """INSERT INTO approvals (run_id, step, approved, by_user, comment, at, inputs)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            (
                event.run_id,
                event.step,
                int(event.approved),
                event.by,
                event.comment,
                event.at,
                json.dumps(event.inputs) if event.inputs else None,
            ),
        )
    elif isinstance(event, AttemptEnded):
        # the attempt row only: the step's own status is its runner's to write
        conn.execute(
            """UPDATE attempts SET status = ?, ended_at = ?, exit_code = ?, message = ?
               WHERE run_id = ? AND step = ? AND attempt = ? AND ended_at IS NULL""",
            (
                str(event.status),
                event.at,
                event.exit_code,
                event.message,
                event.run_id,
                event.step,
                event.attempt,
            ),
        )
    elif isinstance(event, LogTrimmed):
        _trim_logs(conn, event)
    elif isinstance(event, RemoteLogSeen):
        return  # for display: the worker stored the line
    elif isinstance(event, StepProcess):
        conn.execute(
            "UPDATE steps SET pid = ?, pgid = ?, proc_started = ? WHERE run_id = ? AND name = ?",
            (event.pid, event.pgid, event.started_at, event.run_id, event.step),
        )
    else:
        raise TypeError(f"not an engine event: {event!r}")


def _trim_logs(conn: sqlite3.Connection, e: LogTrimmed) -> None:
    """The row after the head becomes the omitted-lines marker (the first time it is the
    oldest tail line, which is one of those omitted); the `drop` rows after it go."""
    key = (e.run_id, e.step, e.attempt)
    where = "run_id = ? AND step = ? AND attempt = ?"
    row = conn.execute(
        f"SELECT id, stream, line FROM logs WHERE {where} ORDER BY id LIMIT 1 OFFSET ?",
        (*key, e.head),
    ).fetchone()
    if row is None:
        return
    marker, stream, line = row[0], row[1], row[2]
    drop = e.drop
    if not (stream == "system" and OMITTED_RE.match(line)):
        drop -= 1  # that line turns into the marker
    conn.execute(
        "UPDATE logs SET stream = 'system', line = ? WHERE id = ?",
        (omitted_line(e.omitted_lines, e.omitted_bytes), marker),
    )
    if drop > 0:
        conn.execute(
            f"""DELETE FROM logs WHERE id IN (
                   SELECT id FROM logs WHERE {where} AND id > ? ORDER BY id LIMIT ?)""",
            (*key, marker, drop),
        )


def _apply_run_status(
    conn: sqlite3.Connection, e: RunStatusChanged, known: Known | None = None
) -> None:
    if e.status == RunStatus.QUEUED:
        # create_run wrote it; applied after try_start_run it would turn `running` back
        # into `queued` and record both changes twice
        return
    moved = move_run(conn, e.run_id, e.status, e.at, e.message, known=known)
    if moved and e.status == RunStatus.SUCCEEDED:
        # its workspace deltas (team mode) served its steps; a rerun from failed steps is
        # the only later reader, and a succeeded run has none to rerun: a failed,
        # cancelled or interrupted run keeps them for that
        conn.execute("DELETE FROM workspace_deltas WHERE run_id = ?", (e.run_id,))


def _apply_step_status(
    conn: sqlite3.Connection, e: StepStatusChanged, known: Known | None = None
) -> None:
    move_step(
        conn,
        e.run_id,
        e.step,
        e.status,
        e.at,
        attempt=e.attempt,
        exit_code=e.exit_code,
        message=e.message,
        known=known,
    )
