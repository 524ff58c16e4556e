"""RunStore: the run history API the runner, the CLI and the dashboard use."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

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
from flowtui.engine.states import RUN_ACTIVE, RunStatus, StepStatus
from flowtui.store.db import Database, StoreFullError
from flowtui.store.owner import Owner, kill_orphan_group, owner_alive_locally
from flowtui.store.records import (
    ApprovalRecord,
    AttemptRecord,
    CommandRecord,
    EventRecord,
    LogRecord,
    RunRecord,
    StepRecord,
)

COMMAND_KINDS = frozenset({"approve", "reject", "cancel"})
_ACTIVE = tuple(sorted(str(s) for s in RUN_ACTIVE))
_ACTIVE_SQL = ", ".join(f"'{s}'" for s in _ACTIVE)
ORPHAN_KILL_GRACE = 3.0
# A runner beats every 2 s (RunnerOptions.heartbeat_interval): 10 missed beats in a row, then
# a re-read under the write lock, before another process declares it dead.
STALE_AFTER = 20.0
log = logging.getLogger("flowtui.store")


@dataclass(frozen=True, slots=True)
class NewStep:
    name: str
    type: str
    requires: list[str]
    position: int
    status: StepStatus = StepStatus.PENDING
    reused_from: int | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    started_at: float | None = None
    ended_at: float | None = None
    message: str = ""


def _json(value: Any) -> str:
    # definitions may carry tuples or Paths; their text form is what a reader wants
    return json.dumps(value, default=str, separators=(",", ":"))


def _ids_json(ids: Collection[int]) -> str:
    return json.dumps([int(i) for i in ids])


class RunStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.path: Path = db.path
        self._writer_room: Callable[[], Awaitable[None]] | None = None

    @classmethod
    async def open(cls, path: str | Path | None = None) -> RunStore:
        return cls(await Database.open(path))

    async def close(self) -> None:
        await self.db.close()

    def add_full_listener(self, listener: Callable[[StoreFullError], None]) -> None:
        """Call `listener` whenever a write fails because the disk is full."""
        self.db.full_listeners.append(listener)

    def set_writer_room(self, wait: Callable[[], Awaitable[None]] | None) -> None:
        """The store writer (StoreSink) registers how to wait while its backlog is long."""
        self._writer_room = wait

    async def wait_for_writer(self) -> None:
        """Return once the store writer has room: step output readers await it per chunk,
        so a flood of log lines slows the step (its pipe fills) instead of filling memory."""
        if self._writer_room is not None:
            await self._writer_room()

    async def log_omissions(self, run_id: int) -> dict[str, list[str]]:
        """Per step, the `… N lines (S) omitted …` markers the log cap wrote."""
        rows = await self.db.fetchall(
            "SELECT step, line FROM logs WHERE run_id = ? AND stream = 'system'"
            " AND line LIKE '… % omitted …' ORDER BY id",
            (run_id,),
        )
        found: dict[str, list[str]] = {}
        for row in rows:
            found.setdefault(row["step"], []).append(row["line"])
        return found

    async def __aenter__(self) -> RunStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ----------------------------------------------------------------- workflows

    async def upsert_workflow(self, name: str, path: str | None, source_hash: str) -> None:
        now = time.time()
        async with self.db.transaction() as conn:
            await conn.execute(
                """INSERT INTO workflows (name, path, source_hash, first_seen, last_seen)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (name) DO UPDATE SET
                     path = COALESCE(excluded.path, path),
                     source_hash = excluded.source_hash,
                     last_seen = excluded.last_seen""",
                (name, path, source_hash, now, now),
            )

    async def workflow_paused(self, name: str) -> bool:
        row = await self.db.fetchone("SELECT paused FROM workflows WHERE name = ?", (name,))
        return bool(row["paused"]) if row is not None else False

    async def set_paused(self, name: str, paused: bool) -> None:
        now = time.time()
        async with self.db.transaction() as conn:
            await conn.execute(
                """INSERT INTO workflows (name, path, source_hash, paused, first_seen, last_seen)
                   VALUES (?, NULL, '', ?, ?, ?)
                   ON CONFLICT (name) DO UPDATE SET paused = excluded.paused""",
                (name, int(paused), now, now),
            )

    # ----------------------------------------------------------------- runs

    async def create_run(
        self,
        *,
        workflow: str,
        steps: Sequence[NewStep],
        trigger: str = "manual",
        triggered_by: str = "",
        params: Mapping[str, str] = {},
        definition: Mapping[str, Any] = {},
        workflow_path: str | None = None,
        parent_run_id: int | None = None,
        rerun_mode: str | None = None,
        git_commit: str | None = None,
        owner: Owner | None = None,
        branch: str | None = None,
        concurrency_group: str | None = None,
        concurrency_limit: int | None = None,
    ) -> int:
        now = time.time()
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                """INSERT INTO runs (workflow, status, trigger, triggered_by, params, git_commit,
                     parent_run_id, rerun_mode, created_at, definition, workflow_path,
                     owner_host, owner_pid, owner_started, heartbeat_at,
                     branch, concurrency_group, concurrency_limit)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    workflow,
                    str(RunStatus.QUEUED),
                    trigger,
                    triggered_by,
                    _json(dict(params)),
                    git_commit,
                    parent_run_id,
                    rerun_mode,
                    now,
                    _json(dict(definition)),
                    workflow_path,
                    owner.host if owner else None,
                    owner.pid if owner else None,
                    owner.started if owner else None,
                    now if owner else None,
                    branch,
                    concurrency_group,
                    concurrency_limit,
                ),
            )
            run_id = cur.lastrowid
            assert run_id is not None
            await conn.executemany(
                """INSERT INTO steps (run_id, name, position, type, requires, status,
                     started_at, ended_at, message, reused_from)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    (
                        run_id,
                        s.name,
                        s.position,
                        s.type,
                        _json(list(s.requires)),
                        str(s.status),
                        s.started_at,
                        s.ended_at,
                        s.message,
                        s.reused_from,
                    )
                    for s in steps
                ],
            )
            await conn.executemany(
                "INSERT INTO outputs (run_id, step, key, value) VALUES (?, ?, ?, ?)",
                [(run_id, s.name, k, v) for s in steps for k, v in s.outputs.items()],
            )
            await conn.execute(
                """INSERT INTO events (run_id, step, kind, status, attempt, at, message)
                   VALUES (?, NULL, 'run', ?, 0, ?, '')""",
                (run_id, str(RunStatus.QUEUED), now),
            )
        return run_id

    async def try_start_run(
        self, run_id: int, concurrency: int | None, *, me: Owner | None = None
    ) -> bool:
        """Start a queued run if its turn has come: FIFO within its workflow, or within its
        concurrency group (whose limit is the smallest any of its waiting or active runs
        declared).  Older queued runs of a dead runner wait for an adopter and do not block.
        """
        async with self.db.transaction() as conn:
            row = await _one(
                conn,
                "SELECT workflow, status, concurrency_group FROM runs WHERE id = ?",
                (run_id,),
            )
            if row is None:
                raise KeyError(f"no run {run_id}")
            if row["status"] != RunStatus.QUEUED:
                return False
            group = row["concurrency_group"]
            scope, key = ("concurrency_group", group) if group else ("workflow", row["workflow"])
            if group:
                limits = await _one(
                    conn,
                    f"""SELECT MIN(concurrency_limit) AS n FROM runs
                        WHERE status IN ({_ACTIVE_SQL}) AND concurrency_group = ?""",
                    (group,),
                )
                group_limit = limits["n"] if limits is not None else None
                declared = [n for n in (concurrency, group_limit) if n is not None]
                concurrency = min(declared) if declared else 1
            # with no limit nothing waits, so FIFO order is moot
            if concurrency is not None:
                older = await _all(
                    conn,
                    f"""SELECT id, owner_host, owner_pid, owner_started, heartbeat_at, created_at
                        FROM runs WHERE status = 'queued' AND {scope} = ? AND id < ?""",
                    (key, run_id),
                )
                now, me = time.time(), me or Owner.current()
                if any(not _owner_dead(r, now, STALE_AFTER, me) for r in older):
                    return False
                busy = await _one(
                    conn,
                    "SELECT COUNT(*) AS n FROM runs"
                    f" WHERE status IN ('running', 'held') AND {scope} = ?",
                    (key,),
                )
                assert busy is not None
                if busy["n"] >= concurrency:
                    return False
            now = time.time()
            await _insert_run_event(conn, run_id, RunStatus.RUNNING, now, "")
            await conn.execute(
                "UPDATE runs SET status = 'running', started_at = COALESCE(started_at, ?)"
                " WHERE id = ?",
                (now, run_id),
            )
            return True

    async def apply(self, events: Sequence[Event]) -> None:
        """Write a batch of engine events in one transaction, in order."""
        if not events:
            return
        async with self.db.transaction():
            # the whole batch in one call on the connection's thread, not a hop per statement
            await self.db.run_in_connection(_apply_batch, events)

    # ----------------------------------------------------------------- commands

    async def add_command(
        self,
        run_id: int,
        kind: str,
        *,
        step: str | None = None,
        by: str = "",
        comment: str = "",
    ) -> int:
        if kind not in COMMAND_KINDS:
            raise ValueError(f"unknown command {kind!r}; expected one of {sorted(COMMAND_KINDS)}")
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                """INSERT INTO commands (run_id, kind, step, by_user, comment, created_at)
                   VALUES (?, ?, ?, ?, ?, ?)""",
                (run_id, kind, step, by, comment, time.time()),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

    async def take_commands(self, run_ids: Collection[int]) -> list[CommandRecord]:
        if not run_ids:
            return []
        async with self.db.transaction() as conn:
            rows = await _all(
                conn,
                """SELECT id, run_id, kind, step, by_user, comment, created_at FROM commands
                   WHERE run_id IN (SELECT value FROM json_each(?)) AND taken_at IS NULL
                   ORDER BY id""",
                (_ids_json(run_ids),),
            )
            if rows:
                await conn.execute(
                    "UPDATE commands SET taken_at = ? WHERE id IN (SELECT value FROM json_each(?))",
                    (time.time(), _ids_json([r["id"] for r in rows])),
                )
        return [
            CommandRecord(
                id=r["id"],
                run_id=r["run_id"],
                kind=r["kind"],
                step=r["step"],
                by=r["by_user"],
                comment=r["comment"],
                created_at=r["created_at"],
            )
            for r in rows
        ]

    async def command_taken(self, command_id: int) -> bool:
        row = await self.db.fetchone("SELECT taken_at FROM commands WHERE id = ?", (command_id,))
        return row is not None and row["taken_at"] is not None

    # ----------------------------------------------------------------- liveness

    async def heartbeat(self, run_ids: Collection[int], owner: Owner) -> None:
        """Mark `owner` alive for these runs (and claim them); finished runs are untouched."""
        if not run_ids:
            return
        async with self.db.transaction() as conn:
            await conn.execute(
                f"""UPDATE runs SET heartbeat_at = ?, owner_host = ?, owner_pid = ?,
                      owner_started = ?
                    WHERE id IN (SELECT value FROM json_each(?)) AND status IN ({_ACTIVE_SQL})""",
                (time.time(), owner.host, owner.pid, owner.started, _ids_json(run_ids)),
            )

    async def recover_interrupted(
        self, *, stale_after: float = STALE_AFTER, me: Owner | None = None
    ) -> list[int]:
        """Mark runs whose runner died as interrupted and kill their orphaned step processes.

        Runs nobody has claimed (no owner) are left alone: there is no one to declare dead.
        While an adopter is registered (`register_adopter`), a dead runner's *queued* runs
        are left alone too: the adopter takes them over (`claim_queued`) and runs them.
        """
        me = me or Owner.current()
        statuses = _ACTIVE_SQL
        if await self.adopter_registered():
            statuses = "'running', 'held'"
        rows = await self.db.fetchall(
            f"""SELECT id, owner_host, owner_pid, owner_started, heartbeat_at, created_at
                FROM runs WHERE status IN ({statuses})"""
        )
        suspects = [r["id"] for r in rows if _owner_dead(r, time.time(), stale_after, me)]
        if not suspects:
            return []
        async with self.db.transaction() as conn:
            # re-check under the write lock: a heartbeat may have landed since the first look
            rows = await _all(
                conn,
                f"""SELECT id, owner_host, owner_pid, owner_started, heartbeat_at, created_at
                    FROM runs WHERE id IN (SELECT value FROM json_each(?))
                      AND status IN ({statuses})""",
                (_ids_json(suspects),),
            )
            now = time.time()
            dead = [r for r in rows if _owner_dead(r, now, stale_after, me)]
            for run in dead:
                await _interrupt(conn, run["id"], run["owner_pid"], now)
            orphans = await _all(
                conn,
                """SELECT pid, pgid, proc_started FROM steps
                   WHERE run_id IN (SELECT value FROM json_each(?)) AND pid IS NOT NULL""",
                (_ids_json([r["id"] for r in dead]),),
            )
        if orphans:
            await asyncio.gather(
                *(
                    kill_orphan_group(
                        o["pid"], o["pgid"], o["proc_started"], grace=ORPHAN_KILL_GRACE
                    )
                    for o in orphans
                )
            )
        return [r["id"] for r in dead]

    # ----------------------------------------------------------------- adoption

    async def register_adopter(self, owner: Owner) -> None:
        """Record `owner` as a service that adopts queued runs of dead runners.

        The row outlives the service on purpose (killed, stopped or restarting): queued runs
        then wait for it to come back instead of being marked interrupted.
        `unregister_adopter` is for a database that will not be served any more.
        """
        async with self.db.transaction() as conn:
            await conn.execute(
                """INSERT OR REPLACE INTO adopters (host, pid, started, registered_at)
                   VALUES (?, ?, ?, ?)""",
                (owner.host, owner.pid, owner.started, time.time()),
            )

    async def unregister_adopter(self, owner: Owner) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "DELETE FROM adopters WHERE host = ? AND pid = ? AND started = ?",
                (owner.host, owner.pid, owner.started),
            )

    async def adopter_registered(self) -> bool:
        return await self.db.fetchone("SELECT 1 FROM adopters LIMIT 1") is not None

    async def orphaned_queued(
        self, *, stale_after: float = STALE_AFTER, me: Owner | None = None
    ) -> list[RunRecord]:
        """Queued runs whose runner died, oldest first: what an adopter takes over."""
        me = me or Owner.current()
        rows = await self.db.fetchall("SELECT * FROM runs WHERE status = 'queued' ORDER BY id")
        now = time.time()
        return [_run_record(r) for r in rows if _owner_dead(r, now, stale_after, me)]

    async def claim_queued(self, run: RunRecord, me: Owner) -> bool:
        """Take over a dead runner's queued run; False when someone else was quicker.

        Atomic: the row changes only while it still names the dead owner, so two adopters
        never both get it.
        """
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                """UPDATE runs SET owner_host = ?, owner_pid = ?, owner_started = ?,
                     heartbeat_at = ?
                   WHERE id = ? AND status = 'queued' AND owner_host IS ? AND owner_pid IS ?
                     AND owner_started IS ?""",
                (
                    me.host,
                    me.pid,
                    me.started,
                    time.time(),
                    run.id,
                    run.owner_host,
                    run.owner_pid,
                    run.owner_started,
                ),
            )
            if cur.rowcount != 1:
                return False
            await conn.execute(
                """INSERT INTO logs (run_id, step, attempt, stream, line, at)
                   VALUES (?, '', 0, 'system', ?, ?)""",
                (
                    run.id,
                    f"adopted by pid {me.pid} on {me.host}: runner process {run.owner_pid}"
                    " died while this run was queued",
                    time.time(),
                ),
            )
            return True

    async def cancel_orphaned_queued(self, run_id: int, by: str, me: Owner | None = None) -> bool:
        """Cancel a queued run whose runner died (no process is left to take a command)."""
        me = me or Owner.current()
        row = await self.db.fetchone("SELECT * FROM runs WHERE id = ?", (run_id,))
        if row is None or row["status"] != "queued":
            return False
        if not _owner_dead(row, time.time(), STALE_AFTER, me):
            return False
        async with self.db.transaction() as conn:
            now = time.time()
            message = f"cancelled by {by} while queued" if by else "cancelled while queued"
            cur = await conn.execute(
                """UPDATE runs SET status = 'cancelled', ended_at = ?, message = ?
                   WHERE id = ? AND status = 'queued' AND owner_pid IS ?
                     AND owner_started IS ?""",
                (now, message, run_id, row["owner_pid"], row["owner_started"]),
            )
            if cur.rowcount != 1:
                return False  # adopted or started meanwhile
            await conn.execute(
                """INSERT INTO events (run_id, step, kind, status, attempt, at, message)
                   VALUES (?, NULL, 'run', 'cancelled', 0, ?, ?)""",
                (run_id, now, message),
            )
            return True

    # ----------------------------------------------------------------- reads

    async def get_run(self, run_id: int) -> RunRecord | None:
        row = await self.db.fetchone("SELECT * FROM runs WHERE id = ?", (run_id,))
        return _run_record(row) if row is not None else None

    async def latest_run_id(self, workflow: str | None = None) -> int | None:
        if workflow is None:
            row = await self.db.fetchone("SELECT MAX(id) AS id FROM runs")
        else:
            row = await self.db.fetchone(
                "SELECT MAX(id) AS id FROM runs WHERE workflow = ?", (workflow,)
            )
        return row["id"] if row is not None else None

    def list_runs_query(
        self,
        workflow: str | None = None,
        *,
        limit: int = 50,
        before_id: int | None = None,
        statuses: Collection[RunStatus] | None = None,
    ) -> tuple[str, list[Any]]:
        """The SQL `list_runs` runs (exposed so tests can check its query plan)."""
        where: list[str] = []
        params: list[Any] = []
        if workflow is not None:
            where.append("workflow = ?")
            params.append(workflow)
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        if statuses is not None:
            values = sorted({str(s) for s in statuses})
            where.append(f"status IN ({', '.join('?' * len(values))})" if values else "0")
            params.extend(values)
        sql = "SELECT * FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        return sql, params

    async def list_runs(
        self,
        workflow: str | None = None,
        *,
        limit: int = 50,
        before_id: int | None = None,
        statuses: Collection[RunStatus] | None = None,
    ) -> list[RunRecord]:
        """Newest first; page with `before_id` = the last id of the previous page."""
        sql, params = self.list_runs_query(
            workflow, limit=limit, before_id=before_id, statuses=statuses
        )
        return [_run_record(r) for r in await self.db.fetchall(sql, params)]

    async def count_runs(self, workflow: str | None = None) -> int:
        if workflow is None:
            row = await self.db.fetchone("SELECT COUNT(*) AS n FROM runs")
        else:
            row = await self.db.fetchone(
                "SELECT COUNT(*) AS n FROM runs WHERE workflow = ?", (workflow,)
            )
        return int(row["n"]) if row is not None else 0

    async def get_steps(self, run_id: int) -> list[StepRecord]:
        rows = await self.db.fetchall(
            "SELECT * FROM steps WHERE run_id = ? ORDER BY position, name", (run_id,)
        )
        return [
            StepRecord(
                run_id=r["run_id"],
                name=r["name"],
                position=r["position"],
                type=r["type"],
                requires=json.loads(r["requires"]),
                status=StepStatus(r["status"]),
                attempt=r["attempt"],
                started_at=r["started_at"],
                ended_at=r["ended_at"],
                held_at=r["held_at"],
                exit_code=r["exit_code"],
                message=r["message"],
                reused_from=r["reused_from"],
                pid=r["pid"],
                pgid=r["pgid"],
                proc_started=r["proc_started"],
            )
            for r in rows
        ]

    async def get_attempts(self, run_id: int, step: str | None = None) -> list[AttemptRecord]:
        sql = """SELECT a.* FROM attempts a
                 LEFT JOIN steps s ON s.run_id = a.run_id AND s.name = a.step
                 WHERE a.run_id = ?"""
        params: list[Any] = [run_id]
        if step is not None:
            sql += " AND a.step = ?"
            params.append(step)
        sql += " ORDER BY s.position, a.step, a.attempt"
        return [
            AttemptRecord(
                run_id=r["run_id"],
                step=r["step"],
                attempt=r["attempt"],
                status=StepStatus(r["status"]),
                started_at=r["started_at"],
                ended_at=r["ended_at"],
                exit_code=r["exit_code"],
                message=r["message"],
            )
            for r in await self.db.fetchall(sql, params)
        ]

    async def get_logs(
        self,
        run_id: int,
        step: str | None = None,
        *,
        after_id: int = 0,
        limit: int = 10_000,
    ) -> list[LogRecord]:
        """Log lines in the order written; tail by passing the last id seen as `after_id`."""
        if step is None:
            sql = "SELECT * FROM logs WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?"
            params: tuple[Any, ...] = (run_id, after_id, limit)
        else:
            sql = "SELECT * FROM logs WHERE run_id = ? AND step = ? AND id > ? ORDER BY id LIMIT ?"
            params = (run_id, step, after_id, limit)
        return [_log_record(r) for r in await self.db.fetchall(sql, params)]

    async def tail_logs(
        self, run_id: int, step: str | None = None, *, limit: int
    ) -> list[LogRecord]:
        """The last `limit` log lines, in the order written (reads only those rows)."""
        if step is None:
            sql = "SELECT * FROM logs WHERE run_id = ? ORDER BY id DESC LIMIT ?"
            params: tuple[Any, ...] = (run_id, limit)
        else:
            sql = "SELECT * FROM logs WHERE run_id = ? AND step = ? ORDER BY id DESC LIMIT ?"
            params = (run_id, step, limit)
        rows = await self.db.fetchall(sql, params)
        return [_log_record(r) for r in reversed(rows)]

    async def get_outputs(self, run_id: int) -> dict[str, dict[str, str]]:
        rows = await self.db.fetchall(
            "SELECT step, key, value FROM outputs WHERE run_id = ? ORDER BY step, key", (run_id,)
        )
        result: dict[str, dict[str, str]] = {}
        for r in rows:
            result.setdefault(r["step"], {})[r["key"]] = r["value"]
        return result

    async def get_approvals(self, run_id: int) -> list[ApprovalRecord]:
        rows = await self.db.fetchall(
            "SELECT * FROM approvals WHERE run_id = ? ORDER BY id", (run_id,)
        )
        return [
            ApprovalRecord(
                run_id=r["run_id"],
                step=r["step"],
                approved=bool(r["approved"]),
                by=r["by_user"],
                comment=r["comment"],
                at=r["at"],
            )
            for r in rows
        ]

    async def approvers_by_run(self, run_ids: Collection[int]) -> dict[int, list[str]]:
        """Who approved something in each of `run_ids` (sorted names), in one query."""
        rows = await self.db.fetchall(
            """SELECT DISTINCT run_id, by_user FROM approvals
               WHERE run_id IN (SELECT value FROM json_each(?)) AND approved
               ORDER BY run_id, by_user""",
            (json.dumps(list(run_ids)),),
        )
        result: dict[int, list[str]] = {}
        for r in rows:
            result.setdefault(int(r["run_id"]), []).append(r["by_user"])
        return result

    async def last_event_id(self) -> int:
        """Grows with every status change any process records: a cheap "anything new?"."""
        rows = await self.db.fetchall("SELECT COALESCE(MAX(id), 0) AS last FROM events", ())
        return int(rows[0]["last"])

    async def get_events(self, run_id: int) -> list[EventRecord]:
        """The audit trail of a run's status changes, oldest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM events WHERE run_id = ? ORDER BY id", (run_id,)
        )
        return [
            EventRecord(
                id=r["id"],
                run_id=r["run_id"],
                step=r["step"],
                kind=r["kind"],
                status=r["status"],
                attempt=r["attempt"],
                at=r["at"],
                message=r["message"],
            )
            for r in rows
        ]


class HeartbeatThread:
    """Beats for a runner's active runs from its own thread and SQLite connection.

    A thread, not an asyncio task: a runner whose event loop is stuck in a long synchronous
    call is slow, not dead, and must not have its runs (and step processes) taken away.
    `on_lost` is called (from this thread) with the ids of runs that are no longer active
    although the runner still has them: another process declared them interrupted.
    """

    def __init__(
        self,
        path: Path,
        owner: Owner,
        interval: float,
        run_ids: Callable[[], Collection[int]],
        on_lost: Callable[[list[int]], None],
    ) -> None:
        self._path = path
        self._owner = owner
        self._interval = interval
        self._run_ids = run_ids
        self._on_lost = on_lost
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="flowtui-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=15)

    def _loop(self) -> None:
        conn = sqlite3.connect(self._path, timeout=10, isolation_level=None)
        try:
            while not self._stop.is_set():
                try:
                    ids = list(self._run_ids())
                    lost = self._beat(conn, ids) if ids else []
                except Exception as exc:  # a locked or full disk is transient: beat again
                    log.warning("flowtui heartbeat: %s", exc)
                    lost = []
                if lost:
                    self._on_lost(lost)
                self._stop.wait(self._interval)
        finally:
            conn.close()

    def _beat(self, conn: sqlite3.Connection, run_ids: list[int]) -> list[int]:
        owner, ids = self._owner, _ids_json(run_ids)
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                f"""UPDATE runs SET heartbeat_at = ?, owner_host = ?, owner_pid = ?,
                      owner_started = ?
                    WHERE id IN (SELECT value FROM json_each(?)) AND status IN ({_ACTIVE_SQL})""",
                (time.time(), owner.host, owner.pid, owner.started, ids),
            )
            rows = conn.execute(
                f"""SELECT id FROM runs WHERE id IN (SELECT value FROM json_each(?))
                      AND status NOT IN ({_ACTIVE_SQL})""",
                (ids,),
            ).fetchall()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return [int(r[0]) for r in rows]


# --------------------------------------------------------------------- helpers
def _log_record(r: sqlite3.Row) -> LogRecord:
    return LogRecord(
        id=r["id"],
        run_id=r["run_id"],
        step=r["step"],
        attempt=r["attempt"],
        stream=r["stream"],
        line=r["line"],
        at=r["at"],
    )


async def _all(
    conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()
) -> list[sqlite3.Row]:
    async with conn.execute(sql, tuple(params)) as cur:
        return list(await cur.fetchall())


async def _one(
    conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()
) -> sqlite3.Row | None:
    async with conn.execute(sql, tuple(params)) as cur:
        return await cur.fetchone()


def _run_record(r: sqlite3.Row) -> RunRecord:
    return RunRecord(
        id=r["id"],
        workflow=r["workflow"],
        status=RunStatus(r["status"]),
        trigger=r["trigger"],
        triggered_by=r["triggered_by"],
        params=json.loads(r["params"]),
        git_commit=r["git_commit"],
        parent_run_id=r["parent_run_id"],
        rerun_mode=r["rerun_mode"],
        created_at=r["created_at"],
        started_at=r["started_at"],
        ended_at=r["ended_at"],
        message=r["message"],
        definition=json.loads(r["definition"]),
        workflow_path=r["workflow_path"],
        owner_host=r["owner_host"],
        owner_pid=r["owner_pid"],
        owner_started=r["owner_started"],
        heartbeat_at=r["heartbeat_at"],
        branch=r["branch"],
        concurrency_group=r["concurrency_group"],
    )


def _owner_dead(run: sqlite3.Row, now: float, stale_after: float, me: Owner) -> bool:
    host, pid, started = run["owner_host"], run["owner_pid"], run["owner_started"]
    if pid is None:
        return False
    if host == me.host and pid == me.pid and started == me.started:
        return False
    if owner_alive_locally(host, pid, started) is False:
        return True
    last_sign = run["heartbeat_at"] if run["heartbeat_at"] is not None else run["created_at"]
    return now - last_sign > stale_after


async def _interrupt(conn: aiosqlite.Connection, run_id: int, owner_pid: int, now: float) -> None:
    message = f"runner process {owner_pid} died"
    await _insert_run_event(conn, run_id, RunStatus.INTERRUPTED, now, message)
    await conn.execute(
        "UPDATE runs SET status = 'interrupted', ended_at = ?, message = ? WHERE id = ?",
        (now, message, run_id),
    )
    step_message = "interrupted: runner process died"
    await conn.execute(
        """INSERT INTO events (run_id, step, kind, status, attempt, at, message)
           SELECT run_id, name, 'step', 'cancelled', attempt, ?, ? FROM steps
           WHERE run_id = ? AND status IN ('running', 'held')""",
        (now, step_message, run_id),
    )
    await conn.execute(
        """UPDATE steps SET status = 'cancelled', ended_at = ?, message = ?
           WHERE run_id = ? AND status IN ('running', 'held')""",
        (now, step_message, run_id),
    )
    await conn.execute(
        """UPDATE attempts SET status = 'cancelled', ended_at = ?, message = ?
           WHERE run_id = ? AND ended_at IS NULL""",
        (now, step_message, run_id),
    )


async def _insert_run_event(
    conn: aiosqlite.Connection, run_id: int, status: RunStatus, at: float, message: str
) -> None:
    await conn.execute(_RUN_EVENT_SQL, _run_event_params(run_id, status, at, message))


# only real changes: the runner re-announces statuses try_start_run already wrote
_RUN_EVENT_SQL = """INSERT INTO events (run_id, step, kind, status, attempt, at, message)
    SELECT id, NULL, 'run', ?, 0, ?, ? FROM runs WHERE id = ? AND status != ?"""


def _run_event_params(
    run_id: int, status: RunStatus, at: float, message: str
) -> tuple[str, float, str, int, str]:
    return (str(status), at, message, run_id, str(status))


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


def _refuse(
    conn: sqlite3.Connection, run_id: int, step: str, what: str, final: str
) -> None:
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
