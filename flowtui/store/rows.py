"""Row helpers shared by the store modules: JSON columns, queries on a connection, records."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any, Protocol

from flowtui.engine.records import AttemptRecord, LogRecord, RunRecord
from flowtui.engine.states import RUN_ACTIVE, RunStatus, StepStatus


class RowLike(Protocol):
    """A result row readable by column name or position: `RowLike`, `pg.Row`."""

    def __getitem__(self, key: Any, /) -> Any: ...


_ACTIVE = tuple(sorted(str(s) for s in RUN_ACTIVE))
_ACTIVE_SQL = ", ".join(f"'{s}'" for s in _ACTIVE)


def _json(value: Any) -> str:
    # definitions may carry tuples or Paths; their text form is what a reader wants
    return json.dumps(value, default=str, separators=(",", ":"))


def _ids_json(ids: Collection[int]) -> str:
    return json.dumps([int(i) for i in ids])


def _attempt_record(r: RowLike) -> AttemptRecord:
    return AttemptRecord(
        run_id=r["run_id"],
        step=r["step"],
        attempt=r["attempt"],
        status=StepStatus(r["status"]),
        started_at=r["started_at"],
        ended_at=r["ended_at"],
        exit_code=r["exit_code"],
        message=r["message"],
    )


def _log_record(r: RowLike) -> LogRecord:
    return LogRecord(
        id=r["id"],
        run_id=r["run_id"],
        step=r["step"],
        attempt=r["attempt"],
        stream=r["stream"],
        line=r["line"],
        at=r["at"],
    )


async def _all(conn: Any, sql: str, params: Sequence[Any] = ()) -> list[RowLike]:
    async with conn.execute(sql, tuple(params)) as cur:
        return list(await cur.fetchall())


async def _one(conn: Any, sql: str, params: Sequence[Any] = ()) -> RowLike | None:
    async with conn.execute(sql, tuple(params)) as cur:
        return await cur.fetchone()


def _run_record(r: RowLike) -> RunRecord:
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
        left_out=json.loads(r["left_out"]),
        environment=r["environment"],
    )
