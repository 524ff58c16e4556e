"""Every write of a run or step status, in one place, checked against the allowed moves.

`move_run` and `move_step` are the only code that changes `runs.status` or `steps.status`
after a run is created: the event writer (`apply`), the FIFO start (`try_start_run`), the
interruption of a dead runner's runs and the cancel of an orphaned queued run all call
them.  Each checks `flowtui.engine.states` (`can_run_move` / `can_step_move`); a move the
table does not allow is refused, logged, and noted in the run's own log, so a late event of
a runner declared dead never turns an interrupted run back into a running or succeeded one.
One exception, on PostgreSQL: a worker's take of a step in one statement
(`flowtui_take_v1`, `store.pgjobs`) writes what `move_step` writes for a step the table lets
move to running (the list is `can_step_move`'s, passed by the caller) and moves nothing
otherwise, leaving it to `move_step`; `tests/team/test_take.py` compares the two.

They run on the SQLite connection's thread inside the caller's transaction
(`Database.run_in_connection`), one call per batch rather than a thread hop per statement.
"""

from __future__ import annotations

import logging
import sqlite3
import time

from flowtui.engine.states import RunStatus, StepStatus, can_run_move, can_step_move

log = logging.getLogger("flowtui.store")

# a remote step's messages (team mode): the runner's while queued, the worker's once taken
WAITING = "waiting for a worker"
ON_WORKER = "on worker "


def refuse(conn: sqlite3.Connection, run_id: int, step: str, line: str) -> None:
    """Record a refused change in the logger and in the run's log (as a system line)."""
    log.warning("flowtui store: %s", line)
    conn.execute(
        "INSERT INTO logs (run_id, step, attempt, stream, line, at) VALUES (?, ?, 0, ?, ?, ?)",
        (run_id, step, "system", line, time.time()),
    )


def run_status_of(conn: sqlite3.Connection, run_id: int) -> RunStatus | None:
    row = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
    return None if row is None else RunStatus(row[0])


StepRow = tuple[str, int, str]  # a step's (status, attempt, message)


class Known:
    """Run statuses and step rows a writer read once for a whole batch, under the write
    lock (PostgreSQL: one round trip, instead of one per status read of each move while
    the lock is held — every other writer, a worker taking a step included, waits for it).
    The moves keep it up to date; a run status it lacks is read once and kept (a batch of
    a run's events reads its status once, not once per step change: issue #18), a step
    row it lacks is read as without it.  Valid only inside the batch's transaction: the
    write lock (SQLite's BEGIN IMMEDIATE, PostgreSQL's advisory lock) lets only the moves
    below change a status meanwhile."""

    def __init__(
        self,
        runs: dict[int, RunStatus | None] | None = None,
        steps: dict[tuple[int, str], StepRow | None] | None = None,
    ) -> None:
        self.runs = {} if runs is None else runs
        self.steps = {} if steps is None else steps

    def run(self, conn: sqlite3.Connection, run_id: int) -> RunStatus | None:
        if run_id in self.runs:
            return self.runs[run_id]
        status = self.runs[run_id] = run_status_of(conn, run_id)
        return status

    def step(self, conn: sqlite3.Connection, run_id: int, step: str) -> StepRow | None:
        if (run_id, step) in self.steps:
            return self.steps[(run_id, step)]
        return step_row_of(conn, run_id, step)


def step_row_of(conn: sqlite3.Connection, run_id: int, step: str) -> StepRow | None:
    row = conn.execute(
        "SELECT status, attempt, message FROM steps WHERE run_id = ? AND name = ?",
        (run_id, step),
    ).fetchone()
    return None if row is None else (str(row[0]), int(row[1]), str(row[2]))


def move_run(
    conn: sqlite3.Connection,
    run_id: int,
    new: RunStatus,
    at: float,
    message: str = "",
    *,
    known: Known | None = None,
) -> bool:
    """Move run `run_id` to `new`; True if it moved.

    Announcing the status a run already has is no move (the runner re-announces `running`
    after `try_start_run` wrote it): only a non-empty `message` is kept.  A move out of a
    final status, or any other the table forbids, is refused and recorded.  `known`: what
    the caller read for its batch (kept up to date).
    """
    old = run_status_of(conn, run_id) if known is None else known.run(conn, run_id)
    if old is None:
        log.warning("flowtui store: run status %s for unknown run %s ignored", new, run_id)
        return False
    if old == new:
        if message and not old.is_final:
            conn.execute("UPDATE runs SET message = ? WHERE id = ?", (message, run_id))
        return False
    if not can_run_move(old, new):
        why = f"run {run_id} is already {old}" if old.is_final else f"run {run_id} is {old}"
        refuse(conn, run_id, "", f"ignored run status {new}: {why}")
        return False
    final = new.is_final
    conn.execute(
        """INSERT INTO events (run_id, step, kind, status, attempt, at, message)
           VALUES (?, NULL, 'run', ?, 0, ?, ?)""",
        (run_id, str(new), at, message),
    )
    conn.execute(
        """UPDATE runs SET status = ?,
             started_at = CASE WHEN ? THEN COALESCE(started_at, ?) ELSE started_at END,
             ended_at = CASE WHEN ? THEN ? ELSE ended_at END,
             message = CASE WHEN ? OR ? != '' THEN ? ELSE message END
           WHERE id = ?""",
        (str(new), new == RunStatus.RUNNING, at, final, at, final, message, message, run_id),
    )
    if known is not None:
        known.runs[run_id] = new
    return True


def move_step(
    conn: sqlite3.Connection,
    run_id: int,
    step: str,
    new: StepStatus,
    at: float,
    *,
    attempt: int = 0,
    exit_code: int | None = None,
    message: str = "",
    seen: tuple[RunStatus | None, StepRow | None] | None = None,
    known: Known | None = None,
) -> bool:
    """Move step `step` of run `run_id` to `new` (with its attempt row); True if it moved.

    Refused, and recorded, when the run is already over or the table forbids the move.
    A step the run's plan did not list is added at the end, as if it had been pending.
    `seen`: the run's status and the step's (status, attempt, message) row, already read
    in this transaction (a worker reads them with the rest in one round trip); `known`:
    what the caller read for its batch (kept up to date).
    """
    if seen is not None:
        run = seen[0]
    else:
        run = run_status_of(conn, run_id) if known is None else known.run(conn, run_id)
    if run is not None and run.is_final:
        line = f"ignored step {step} status {new}: run {run_id} is already {run}"
        refuse(conn, run_id, step, line)
        return False
    if seen is not None:
        row = seen[1]
    else:
        row = step_row_of(conn, run_id, step) if known is None else known.step(conn, run_id, step)
    old = StepStatus(row[0]) if row is not None else StepStatus.PENDING
    if (
        row is not None
        and old == new == StepStatus.RUNNING
        and row[1] == attempt
        and str(row[2]).startswith(ON_WORKER)
        and WAITING in message
    ):
        # team mode: the runner queues a remote step's job without waiting for its own
        # "waiting for a worker" to be written; a worker that took the job first has the
        # last word on this attempt (the event is kept, with its own time)
        conn.execute(
            """INSERT INTO events (run_id, step, kind, status, attempt, at, message)
               VALUES (?, ?, 'step', ?, ?, ?, ?)""",
            (run_id, step, str(new), attempt, at, message),
        )
        return False
    if not can_step_move(old, new):
        refuse(conn, run_id, step, f"ignored step {step} status {new}: it is already {old}")
        return False
    running = new == StepStatus.RUNNING
    final = new.is_final
    held = new == StepStatus.HELD and old != StepStatus.HELD  # held since it was first held
    values = (str(new), attempt, exit_code, message, running, at, held, at, final, at, running)
    if row is not None:
        conn.execute(
            """UPDATE steps SET status = ?,
                 attempt = CASE WHEN attempt > ? THEN attempt ELSE ? END, exit_code = ?,
                 message = ?,
                 started_at = CASE WHEN ? THEN COALESCE(started_at, ?) ELSE started_at END,
                 held_at = CASE WHEN ? THEN ? ELSE held_at END,
                 ended_at = CASE WHEN ? THEN ? WHEN ? THEN NULL ELSE ended_at END
               WHERE run_id = ? AND name = ?""",
            (values[0], attempt, *values[1:], run_id, step),
        )
    else:
        conn.execute(
            """INSERT INTO steps (run_id, name, position, type, status, attempt, exit_code,
                 message, started_at, held_at, ended_at)
               SELECT ?, ?, COALESCE(MAX(position) + 1, 0), '', ?, ?, ?, ?,
                 CASE WHEN ? THEN ? END, CASE WHEN ? THEN ? END,
                 CASE WHEN ? THEN ? WHEN ? THEN NULL END
               FROM steps WHERE run_id = ?""",
            (run_id, step, *values, run_id),
        )
    if known is not None:
        kept = attempt if row is None or row[1] <= attempt else row[1]
        known.steps[(run_id, step)] = (str(new), kept, message)
    conn.execute(
        """INSERT INTO events (run_id, step, kind, status, attempt, at, message)
           VALUES (?, ?, 'step', ?, ?, ?, ?)""",
        (run_id, step, str(new), attempt, at, message),
    )
    if running:
        # a new attempt starting means any earlier one still open failed (a retry)
        conn.execute(
            """UPDATE attempts SET status = 'failed', ended_at = ?,
                 exit_code = COALESCE(?, exit_code)
               WHERE run_id = ? AND step = ? AND ended_at IS NULL AND attempt != ?""",
            (at, exit_code, run_id, step, attempt),
        )
        conn.execute(
            """INSERT INTO attempts (run_id, step, attempt, status, started_at)
               VALUES (?, ?, ?, 'running', ?) ON CONFLICT DO NOTHING""",
            (run_id, step, attempt, at),
        )
    elif final:
        conn.execute(
            """UPDATE attempts SET status = ?, ended_at = ?, exit_code = ?, message = ?
               WHERE run_id = ? AND step = ? AND ended_at IS NULL""",
            (str(new), at, exit_code, message, run_id, step),
        )
    return True


def interrupt_run(conn: sqlite3.Connection, run_id: int, owner_pid: int, at: float) -> None:
    """The runner of `run_id` died: its running and held steps are cancelled, it is
    interrupted (steps first: a step cannot move once its run is over)."""
    step_message = "interrupted: runner process died"
    rows = conn.execute(
        "SELECT name, attempt FROM steps WHERE run_id = ? AND status IN ('running', 'held')",
        (run_id,),
    ).fetchall()
    for name, attempt in rows:
        move_step(
            conn, run_id, name, StepStatus.CANCELLED, at, attempt=attempt, message=step_message
        )
    # attempts a step left open (e.g. a retry between two attempts) end with the run
    conn.execute(
        """UPDATE attempts SET status = 'cancelled', ended_at = ?, message = ?
           WHERE run_id = ? AND ended_at IS NULL""",
        (at, step_message, run_id),
    )
    move_run(conn, run_id, RunStatus.INTERRUPTED, at, f"runner process {owner_pid} died")
