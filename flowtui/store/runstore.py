"""RunStore: the SQLite run history the runner (through its ports), the CLI and the
dashboard use.

It implements the engine's `RunLedger`, `Liveness` (via `liveness()`) and `PauseFlags`
ports. The batch writer lives in `apply`, status writes in `transitions`, liveness and
adoption in `recovery`, the runner's heartbeat thread in `heartbeat`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from msgspec import Struct

from flowtui.engine.events import AttemptEnded, Event, RunStatusChanged, StepStatusChanged
from flowtui.engine.owner import STALE_AFTER, Owner
from flowtui.engine.records import (
    ApprovalRecord,
    AttemptRecord,
    CommandRecord,
    EventRecord,
    LogRecord,
    NewStep,
    RemoteOutcome,
    RunRecord,
    StepRecord,
)
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.store import seal
from flowtui.store.apply import _apply_batch
from flowtui.store.backends import HistoryDb, open_database
from flowtui.store.heartbeat import HeartbeatThread
from flowtui.store.recovery import RecoveryMixin, _owner_dead
from flowtui.store.rows import (
    _ACTIVE_SQL,
    _all,
    _attempt_record,
    _ids_json,
    _json,
    _log_record,
    _one,
    _run_record,
)
from flowtui.store.transitions import Known, StepRow, move_run
from flowtui.store.usual import usual_durations

if TYPE_CHECKING:  # only the history commands build filters (#18: run starts without)
    from flowtui.store.filters import LogFilter, RunFilter

_T = TypeVar("_T")

COMMAND_KINDS = frozenset({"approve", "reject", "cancel"})
# the roles a user is a member of, directly or through other roles, as granted
# (pg_auth_members): not pg_has_role, which a superuser passes for every role, so a
# superuser is in no team it was not made a member of (none for an unknown role)
ROLES_SQL = """WITH RECURSIVE member_of (oid) AS (
        SELECT m.roleid FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member
         WHERE u.rolname = ?
        UNION
        SELECT m.roleid FROM pg_auth_members m JOIN member_of ON m.member = member_of.oid
    )
    SELECT rolname FROM pg_roles WHERE oid IN (SELECT oid FROM member_of)"""


# workflows per `newest_runs` statement: SQLite allows 500 terms in a compound SELECT
NEWEST_RUNS_CHUNK = 100


class RunSummary(Struct, frozen=True):
    """What a list of workflows shows of a run (`newest_runs`): not its definition, params
    or owner, which a full RunRecord parses from JSON (a definition is kilobytes)."""

    id: int
    workflow: str
    status: RunStatus
    started_at: float | None
    ended_at: float | None

    @property
    def duration(self) -> float | None:
        """Seconds from start to end; for a run still going, the time elapsed so far."""
        if self.started_at is None:
            return None
        end = self.ended_at if self.ended_at is not None else time.time()
        return max(0.0, end - self.started_at)


class RunStore(RecoveryMixin):
    def __init__(self, db: HistoryDb) -> None:
        self.db = db
        self.path: Path | None = db.path  # the SQLite file; None for PostgreSQL
        self._writer_room: Callable[[], Awaitable[None]] | None = None
        self._writer_flush: Callable[[], Awaitable[None]] | None = None
        self._key: bytes | None = None  # the decision key, once read (seal.py)

    @classmethod
    async def open(cls, target: str | Path | None = None, *, read_only: bool = False) -> RunStore:
        """Open the history `target` names: a path or URL (`store.backends`).  `read_only`:
        on a full disk, open it for reading instead of failing (`read_only` is then True)."""
        return cls(await open_database(target, read_only=read_only))

    @property
    def read_only(self) -> bool:
        return bool(getattr(self.db, "read_only", False))

    async def close(self) -> None:
        await self.db.close()

    @property
    def dialect(self) -> str:
        return self.db.dialect

    @property
    def location(self) -> str:
        """The file path, or the URL without its password."""
        return self.db.location

    @property
    def default_workspace_root(self) -> Path:
        return self.db.workspace_root

    def liveness(self) -> HeartbeatThread:
        """A heartbeat for one runner (the engine's `Liveness` port), on its own connection."""
        return HeartbeatThread(self.db.connect_sync)

    def add_full_listener(self, listener: Callable[[Exception], None]) -> None:
        """Call `listener` whenever a write fails because the disk is full."""
        self.db.full_listeners.append(listener)

    def set_writer_room(self, wait: Callable[[], Awaitable[None]] | None) -> None:
        """The store writer (StoreSink) registers how to wait while its backlog is long."""
        self._writer_room = wait

    def set_writer_flush(self, flush: Callable[[], Awaitable[None]] | None) -> None:
        """The store writer (StoreSink) registers how to wait until it has written all."""
        self._writer_flush = flush

    async def flush_writes(self) -> None:
        """Return once every event published so far is in the history (other processes,
        e.g. a worker about to take a step, then see it)."""
        if self._writer_flush is not None:
            await self._writer_flush()

    async def wait_for_writer(self) -> None:
        """Return once the store writer has room: step output readers await it per chunk,
        so a flood of log lines slows the step (its pipe fills) instead of filling memory."""
        if self._writer_room is not None:
            await self._writer_room()

    async def log_omissions(
        self, run_id: int, *, through_id: int | None = None
    ) -> dict[str, list[str]]:
        """Per step, the `… N lines (S) omitted …` markers the log cap wrote (up to line
        `through_id` when given: the markers among lines already read)."""
        rows = await self.db.fetchall(
            "SELECT step, line FROM logs WHERE run_id = ? AND stream = 'system'"
            " AND line LIKE '… % omitted …' AND id <= ? ORDER BY id",
            (run_id, 2**62 if through_id is None else through_id),
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
        async with self.db.transaction() as conn:
            await _upsert_workflow(conn, name, path, source_hash, time.time())

    async def workflow_paused(self, name: str) -> bool:
        row = await self.db.fetchone("SELECT paused FROM workflows WHERE name = ?", (name,))
        return bool(row["paused"]) if row is not None else False

    async def paused_workflows(self) -> set[str]:
        """The names of every paused workflow, in one query (the dashboard's list)."""
        rows = await self.db.fetchall("SELECT name FROM workflows WHERE paused <> 0")
        return {str(row["name"]) for row in rows}

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
        left_out: Mapping[str, str] = {},
        environment: str | None = None,
        source_hash: str | None = None,
    ) -> int:
        now = time.time()
        async with self.db.transaction() as conn:
            if source_hash is not None:  # the workflow seen, in the same transaction (#18)
                await _upsert_workflow(conn, workflow, workflow_path, source_hash, now)
            row = await _one(
                conn,
                """INSERT INTO runs (workflow, status, trigger, triggered_by, params, git_commit,
                     parent_run_id, rerun_mode, created_at, definition, workflow_path,
                     owner_host, owner_pid, owner_started, heartbeat_at,
                     branch, concurrency_group, concurrency_limit, left_out, environment)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   RETURNING id""",
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
                    _json(dict(left_out)),
                    environment,
                ),
            )
            assert row is not None
            run_id = int(row["id"])
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
            if parent_run_id is not None and rerun_mode == "from-failed":
                # a rerun starts from its parent's workspace on every machine, as its
                # runner copies the parent's folder: the parent's deltas become its own
                await conn.execute(
                    """INSERT INTO workspace_deltas (run_id, step, attempt, size, data, at)
                       SELECT ?, step, attempt, size, data, at FROM workspace_deltas
                        WHERE run_id = ? ORDER BY id""",
                    (run_id, parent_run_id),
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
            return await self.db.run_in_connection(
                move_run, run_id, RunStatus.RUNNING, time.time(), ""
            )

    async def apply(
        self, events: Sequence[Event], *, batch: str | None = None, again: bool = False
    ) -> None:
        """Write a batch of engine events in one transaction, in order (the whole batch in
        one call on the connection's thread, not a hop per statement).

        `batch`: an id for it; written `again` (a retry), a batch already written is not
        written twice (PostgreSQL: a COMMIT whose reply was lost did commit).
        """
        if not events:
            return
        if self.dialect == "postgresql":  # BEGIN … COMMIT pipelined: the write lock is
            # held for fewer round trips (a worker's transaction may be waiting for it)
            await self._write_pipelined(_apply_and_announce, events, True, batch, again)
        else:
            await self.db.write(_apply_and_announce, events, False, None, False)

    async def _write_pipelined(self, fn: Callable[..., _T], /, *args: Any) -> _T:
        """A team-mode transaction whose statements may be pipelined, BEGIN and COMMIT
        with them (PostgreSQL's `write_pipelined`)."""
        write = getattr(self.db, "write_pipelined", self.db.write)
        return cast("_T", await write(fn, *args))

    async def job_standing(self, run_id: int, job_id: int) -> tuple[RunStatus | None, str | None]:
        """A worker's look at one of its jobs: the run's status and the job's (`doing` while
        it is still the worker's; `failed` once a runner counted the worker lost)."""
        row = await self.db.fetchone(
            """SELECT (SELECT status FROM runs WHERE id = ?) AS run,
                      (SELECT status FROM procrastinate_jobs WHERE id = ?) AS job""",
            (run_id, job_id),
        )
        if row is None:
            return None, None
        run = RunStatus(row["run"]) if row["run"] is not None else None
        return run, (str(row["job"]) if row["job"] is not None else None)

    async def finished_runs(self, run_ids: Collection[int]) -> set[int]:
        """Which of `run_ids` are over (or gone)."""
        if not run_ids:
            return set()
        rows = await self.db.fetchall(
            "SELECT id, status FROM runs WHERE id IN (SELECT value FROM json_each(?))",
            (_ids_json(run_ids),),
        )
        going = {int(r["id"]) for r in rows if not RunStatus(r["status"]).is_final}
        return set(run_ids) - going

    async def remote_outcome(
        self, run_id: int, step: str, attempt: int, *, after_log_id: int = 0
    ) -> RemoteOutcome:
        """What a worker recorded for `attempt` of `step`, in one read (team mode)."""
        return await self.db.read(_remote_outcome, run_id, step, attempt, after_log_id)

    # ----------------------------------------------------------------- workspaces

    async def add_workspace_delta(self, run_id: int, step: str, attempt: int, data: bytes) -> int:
        """Store what `step` changed in the run's workspace (team mode); its id."""
        async with self.db.transaction() as conn:
            row = await _one(
                conn,
                """INSERT INTO workspace_deltas (run_id, step, attempt, size, data, at)
                   VALUES (?, ?, ?, ?, ?, ?) RETURNING id""",
                (run_id, step, attempt, len(data), data, time.time()),
            )
        assert row is not None
        return int(row["id"])

    async def workspace_deltas(
        self, run_id: int, skip: Collection[int] = ()
    ) -> list[tuple[int, bytes]]:
        """The run's workspace deltas in the order written, but the ids in `skip`."""
        rows = await self.db.fetchall(
            """SELECT id, data FROM workspace_deltas WHERE run_id = ?
                 AND id NOT IN (SELECT value FROM json_each(?)) ORDER BY id""",
            (run_id, _ids_json(skip)),
        )
        return [(int(r["id"]), bytes(r["data"])) for r in rows]

    # ----------------------------------------------------------------- commands

    async def add_command(
        self,
        run_id: int,
        kind: str,
        *,
        step: str | None = None,
        by: str = "",
        comment: str = "",
        inputs: Mapping[str, str] | None = None,
    ) -> int:
        if kind not in COMMAND_KINDS:
            raise ValueError(f"unknown command {kind!r}; expected one of {sorted(COMMAND_KINDS)}")
        created = time.time()
        given = json.dumps(dict(inputs)) if inputs else None
        key = await self._decision_key(create=True)
        sealed = (
            seal.seal(key, run_id, kind, step, by, comment, created, inputs=given) if key else ""
        )
        async with self.db.transaction() as conn:
            row = await _one(
                conn,
                """INSERT INTO commands
                   (run_id, kind, step, by_user, comment, created_at, seal, inputs)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
                (run_id, kind, step, by, comment, created, sealed, given),
            )
            if self.dialect == "postgresql":  # its runner, wherever it is, takes it at once
                await conn.execute("SELECT pg_notify('flowtui_commands', ?)", (str(run_id),))
            assert row is not None
            return int(row["id"])

    async def session_user(self) -> str | None:
        """Who the database says this connection is (PostgreSQL); None for SQLite, where
        identity is the OS user."""
        if self.dialect != "postgresql":
            return None
        row = await self.db.fetchone("SELECT session_user AS who")
        return str(row["who"]) if row is not None else None

    async def roles_of(self, user: str) -> frozenset[str] | None:
        """The database roles `user` is a member of (PostgreSQL: what `team:ROLE` approver
        entries mean there); None for SQLite (OS groups)."""
        if self.dialect != "postgresql":
            return None
        rows = await self.db.fetchall(ROLES_SQL, (user,))
        return frozenset(str(r["rolname"]) for r in rows)

    async def wait_for_commands(self, timeout: float) -> None:
        """Return when a command may have arrived: at once on PostgreSQL (NOTIFY), after
        `timeout` on SQLite (a poll)."""
        await self.db.wait_for("flowtui_commands", timeout)

    async def wait_for_events(self, timeout: float) -> None:
        """Return when other processes may have written events (as `wait_for_commands`)."""
        await self.db.wait_for("flowtui_events", timeout)

    async def take_commands(self, run_ids: Collection[int]) -> list[CommandRecord]:
        if not run_ids:
            return []
        async with self.db.transaction() as conn:
            rows = await _all(
                conn,
                """SELECT id, run_id, kind, step, by_user, comment, created_at, seal, inputs
                   FROM commands
                   WHERE run_id IN (SELECT value FROM json_each(?)) AND taken_at IS NULL
                   ORDER BY id""",
                (_ids_json(run_ids),),
            )
            # before they are marked taken: a failure here leaves them for the next take
            roles: dict[str, frozenset[str] | None] = {}
            for by in {str(r["by_user"]) for r in rows if r["kind"] != "cancel"}:
                if self.dialect == "postgresql":
                    found = await _all(conn, ROLES_SQL, (by,))
                    roles[by] = frozenset(str(r["rolname"]) for r in found)
            if rows:
                await conn.execute(
                    "UPDATE commands SET taken_at = ? WHERE id IN (SELECT value FROM json_each(?))",
                    (time.time(), _ids_json([r["id"] for r in rows])),
                )
        key = await self._decision_key(create=False) if rows else None
        return [
            CommandRecord(
                id=r["id"],
                run_id=r["run_id"],
                kind=r["kind"],
                step=r["step"],
                by=r["by_user"],
                comment=r["comment"],
                created_at=r["created_at"],
                groups=roles.get(str(r["by_user"])),
                authentic=self.dialect == "postgresql"
                or seal.verify(
                    key,
                    str(r["seal"]),
                    int(r["run_id"]),
                    str(r["kind"]),
                    r["step"],
                    str(r["by_user"]),
                    str(r["comment"]),
                    float(r["created_at"]),
                    inputs=r["inputs"],
                ),
                inputs=_json_map(r["inputs"]),
            )
            for r in rows
        ]

    async def _decision_key(self, *, create: bool) -> bytes | None:
        """The SQLite history's key for sealing decisions (None on PostgreSQL)."""
        if self.dialect != "sqlite":
            return None
        if self._key is None:
            assert self.path is not None
            path = self.path
            self._key = await asyncio.to_thread(seal.load_key, path, create=create)
        return self._key

    def make_decision_key(self) -> None:
        """Make the SQLite history's decision key now, before any step runs: a step under
        bwrap may create files beside a history kept among other files, and must not be
        the one that makes the key (flowtui/engine/mountns.py covers it once it exists).
        A damaged key is reported where it is used (approve, reject, cancel), not here.
        Blocking, but once per runner and a few bytes."""
        if self.dialect != "sqlite" or self._key is not None:
            return
        assert self.path is not None
        with contextlib.suppress(ValueError):
            self._key = seal.load_key(self.path, create=True)

    @property
    def private_paths(self) -> tuple[Path, ...]:
        """What steps must not reach: the history's files, its decision key and the run
        workspaces (flowtui/engine/sandbox.py)."""
        paths = [self.db.workspace_root.absolute()]
        if self.dialect == "sqlite":
            assert self.path is not None
            db = self.path.absolute()
            paths += [Path(f"{db}{end}") for end in ("", "-wal", "-shm", "-journal")]
            paths.append(seal.key_path(db))
        return tuple(paths)

    async def command_taken(self, command_id: int) -> bool:
        row = await self.db.fetchone("SELECT taken_at FROM commands WHERE id = ?", (command_id,))
        return row is not None and row["taken_at"] is not None

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
        filters: RunFilter | None = None,
    ) -> tuple[str, list[Any]]:
        """The SQL `list_runs` runs (exposed so tests can check its query plan)."""
        where, params = filters.sql() if filters is not None else ([], [])
        if workflow is not None:
            where.append("workflow = ?")
            params.append(workflow)
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        if statuses is not None:
            values = sorted({str(s) for s in statuses})
            where.append(f"status IN ({', '.join('?' * len(values))})" if values else "1 = 0")
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
        filters: RunFilter | None = None,
    ) -> list[RunRecord]:
        """Newest first; page with `before_id` = the last id of the previous page."""
        sql, params = self.list_runs_query(
            workflow, limit=limit, before_id=before_id, statuses=statuses, filters=filters
        )
        return [_run_record(r) for r in await self.db.fetchall(sql, params)]

    def newest_runs_query(self, workflows: Sequence[str], limit: int) -> tuple[str, list[Any]]:
        """The SQL `newest_runs` runs for up to NEWEST_RUNS_CHUNK workflows: one indexed
        search per workflow (runs_by_workflow), in one statement (exposed for query plans)."""
        one = (
            "SELECT * FROM (SELECT id, workflow, status, started_at, ended_at FROM runs"
            " WHERE workflow = ? ORDER BY id DESC LIMIT ?)"
        )
        sql = " UNION ALL ".join(f"{one} AS w{i}" for i in range(len(workflows)))
        return sql, [value for name in workflows for value in (name, limit)]

    async def newest_runs(
        self, workflows: Collection[str], *, limit: int = 10
    ) -> dict[str, list[RunSummary]]:
        """Each workflow's newest `limit` runs, newest first, read in a few statements instead
        of a query per workflow (the dashboard's list: 200 workflows are 2 round trips, not
        200); a workflow without runs maps to [].  As `list_runs(name, limit=limit)` each."""
        found: dict[str, list[RunSummary]] = {name: [] for name in workflows}
        names = list(found)
        for start in range(0, len(names), NEWEST_RUNS_CHUNK):
            sql, params = self.newest_runs_query(names[start : start + NEWEST_RUNS_CHUNK], limit)
            for row in await self.db.fetchall(sql, params):
                found[row["workflow"]].append(
                    RunSummary(
                        id=row["id"],
                        workflow=row["workflow"],
                        status=RunStatus(row["status"]),
                        started_at=row["started_at"],
                        ended_at=row["ended_at"],
                    )
                )
        for runs in found.values():
            runs.sort(key=lambda run: run.id, reverse=True)
        return found

    async def usual_durations(
        self, workflow: str, *, before_run: int | None = None
    ) -> dict[str, float]:
        """{step: its usual seconds}: the median of its last 20 successes (`store.usual`)."""
        return await usual_durations(self.db, workflow, before_run=before_run)

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
        return [_attempt_record(r) for r in await self.db.fetchall(sql, params)]

    async def get_logs(
        self,
        run_id: int,
        step: str | None = None,
        *,
        after_id: int = 0,
        limit: int = 10_000,
        filters: LogFilter | None = None,
    ) -> list[LogRecord]:
        """Log lines in the order written; tail by passing the last id seen as `after_id`."""
        where, params = self._log_where(run_id, step, filters)
        sql = f"SELECT * FROM logs WHERE {where} AND id > ? ORDER BY id LIMIT ?"
        rows = await self.db.fetchall(sql, [*params, after_id, limit])
        return [_log_record(r) for r in rows]

    async def tail_logs(
        self,
        run_id: int,
        step: str | None = None,
        *,
        limit: int,
        before_id: int | None = None,
        filters: LogFilter | None = None,
    ) -> list[LogRecord]:
        """The last `limit` log lines (of those older than line `before_id`, to page back
        through a long log), in the order written; reads only those rows."""
        where, params = self._log_where(run_id, step, filters, before_id)
        sql = f"SELECT * FROM logs WHERE {where} ORDER BY id DESC LIMIT ?"
        rows = await self.db.fetchall(sql, [*params, limit])
        return [_log_record(r) for r in reversed(rows)]

    async def count_logs(
        self, run_id: int, step: str | None = None, *, before_id: int | None = None
    ) -> int:
        """How many log lines there are (older than line `before_id` when given)."""
        where, params = self._log_where(run_id, step, None, before_id)
        rows = await self.db.fetchall(f"SELECT COUNT(*) AS n FROM logs WHERE {where}", params)
        return int(rows[0]["n"])

    def _log_where(
        self,
        run_id: int,
        step: str | None,
        filters: LogFilter | None,
        before_id: int | None = None,
    ) -> tuple[str, list[Any]]:
        where: list[str] = ["run_id = ?"]
        params: list[Any] = [run_id]
        if step is not None:
            where.append("step = ?")
            params.append(step)
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        if filters is not None:
            if filters.since is not None:
                where.append("at >= ?")
                params.append(filters.since)
            if filters.pattern is not None:
                # SQLite: the `regexp` function the store registers (Python `re`); PostgreSQL: POSIX
                where.append("line ~ ?" if self.dialect == "postgresql" else "line REGEXP ?")
                params.append(filters.pattern)
        return " AND ".join(where), params

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
                inputs=_json_map(r["inputs"]),
            )
            for r in rows
        ]

    async def approvers_by_run(self, run_ids: Collection[int]) -> dict[int, list[str]]:
        """Who approved something in each of `run_ids` (sorted names), in one query."""
        rows = await self.db.fetchall(
            """SELECT DISTINCT run_id, by_user FROM approvals
               WHERE run_id IN (SELECT value FROM json_each(?)) AND approved <> 0
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

    async def get_events(
        self, run_id: int, *, after_id: int = 0, limit: int | None = None
    ) -> list[EventRecord]:
        """The audit trail of a run's status changes, oldest first (those after event
        `after_id`, at most `limit` of them: what an event stream reads on each poll)."""
        if after_id or limit is not None:
            rows = await self.db.fetchall(
                "SELECT * FROM events WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?",
                (run_id, after_id, limit if limit is not None else 1 << 62),
            )
            return _event_records(rows)
        rows = await self.db.fetchall(
            "SELECT * FROM events WHERE run_id = ? ORDER BY id", (run_id,)
        )
        return _event_records(rows)

    async def events_after(self, after_id: int, limit: int = 500) -> list[EventRecord]:
        """Status changes of any run recorded after event `after_id`, oldest first (what a
        dashboard announces of other processes' runs)."""
        rows = await self.db.fetchall(
            "SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
        )
        return _event_records(rows)


async def _upsert_workflow(
    conn: Any, name: str, path: str | None, source_hash: str, now: float
) -> None:
    await conn.execute(
        """INSERT INTO workflows (name, path, source_hash, first_seen, last_seen)
           VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET
             path = COALESCE(excluded.path, workflows.path),
             source_hash = excluded.source_hash,
             last_seen = excluded.last_seen""",
        (name, path, source_hash, now, now),
    )


def _event_records(rows: Sequence[Any]) -> list[EventRecord]:
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


BATCHES_KEPT = 3600.0  # seconds a written batch's id is remembered (retries end sooner)


def _apply_and_announce(
    conn: Any,
    events: Sequence[Event],
    announce: bool,
    batch: str | None = None,
    again: bool = False,
) -> None:
    seen = "SELECT 1 FROM flowtui_batches WHERE id = ?"
    if batch is not None and again and conn.execute(seen, (batch,)).fetchone():
        return  # its COMMIT went through; only the reply was lost
    # PostgreSQL (announce): every status the batch's moves read, in one round trip
    _apply_batch(conn, events, _read_known(conn, events) if announce else None)
    if not announce:
        return
    # PostgreSQL: dashboards anywhere redraw at once, and the runner waiting for an
    # attempt's outcome goes on at once; the batch's id is noted: one statement
    from flowtui.engine.remote import ATTEMPTS_CHANNEL, attempt_key  # not SQLite's (#18)

    notes: list[Any] = ["flowtui_events", ""]
    for event in events:
        if isinstance(event, AttemptEnded):
            key = attempt_key(event.run_id, event.step, event.attempt)
            notes += [ATTEMPTS_CHANNEL, key]
    calls = ", ".join("pg_notify(?, ?)" for _ in range(len(notes) // 2))
    if batch is None:
        conn.execute(f"SELECT {calls}", notes)
        return
    now = time.time()
    conn.execute(
        f"WITH noted AS (INSERT INTO flowtui_batches (id, at) VALUES (?, ?)) SELECT {calls}",
        [batch, now, *notes],
    )
    if random.random() < 0.01:  # now and then, forget old ids
        conn.execute("DELETE FROM flowtui_batches WHERE at < ?", (now - BATCHES_KEPT,))


# a batch's run statuses and step rows, in one statement (PostgreSQL)
_KNOWN_QUERY = """
SELECT 0 AS kind, id AS run_id, '' AS name, status, 0 AS attempt, '' AS message
  FROM runs WHERE id = ANY(CAST(? AS BIGINT[]))
UNION ALL
SELECT 1, s.run_id, s.name, s.status, s.attempt, s.message
  FROM steps s JOIN unnest(CAST(? AS BIGINT[]), CAST(? AS TEXT[])) AS k (run_id, name)
    ON s.run_id = k.run_id AND s.name = k.name
"""


def _read_known(conn: Any, events: Sequence[Event]) -> Known | None:
    """What the status moves of `events` will read, read at once (under the write lock,
    so nobody else changes it before the batch commits); None when they read nothing.
    Each move would otherwise wait for a round trip per read while the lock is held."""
    runs: dict[int, RunStatus | None] = {}
    steps: dict[tuple[int, str], StepRow | None] = {}
    for event in events:
        if isinstance(event, RunStatusChanged):
            runs[event.run_id] = None
        elif isinstance(event, StepStatusChanged):
            runs[event.run_id] = None
            steps[(event.run_id, event.step)] = None
    if not runs:
        return None
    keys = list(steps)
    rows = conn.execute(
        _KNOWN_QUERY, (list(runs), [k[0] for k in keys], [k[1] for k in keys])
    ).fetchall()
    for kind, run_id, name, status, attempt, message in rows:
        if kind == 0:
            runs[int(run_id)] = RunStatus(status)
        else:
            steps[(int(run_id), str(name))] = (str(status), int(attempt), str(message))
    return Known(runs, steps)


def _pipelined(conn: Any) -> contextlib.AbstractContextManager[Any]:
    """PostgreSQL's pipeline mode for reads outside a write (a write's transaction is
    pipelined by `write_pipelined`): statements go out together, without waiting for each
    reply (a read waits for what was sent before it)."""
    pipeline = getattr(conn, "pipeline", None)
    return contextlib.nullcontext() if pipeline is None else pipeline()


def _remote_outcome(
    conn: Any, run_id: int, step: str, attempt: int, after_log_id: int
) -> RemoteOutcome:
    # the three reads sent before any reply is read: one round trip in pipeline mode
    with _pipelined(conn):
        attempts = conn.execute(
            "SELECT * FROM attempts WHERE run_id = ? AND step = ? AND attempt = ?",
            (run_id, step, attempt),
        )
        outputs = conn.execute(
            "SELECT key, value FROM outputs WHERE run_id = ? AND step = ?", (run_id, step)
        )
        logs = conn.execute(
            "SELECT * FROM logs WHERE run_id = ? AND step = ? AND id > ? ORDER BY id",
            (run_id, step, after_log_id),
        )
        row = attempts.fetchone()
        return RemoteOutcome(
            None if row is None else _attempt_record(row),
            {str(r[0]): str(r[1]) for r in outputs.fetchall()},
            [_log_record(r) for r in logs.fetchall()],
        )


def _json_map(text: str | None) -> dict[str, str]:
    """A JSON object column (approval inputs) as text values; NULL or damage: none."""
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
