"""TriggerStore: what triggers did, their leases and their cursors, in the history database.

It shares the `Database` of a RunStore, so every process on one file sees the same fires,
outcomes and cursors:
- `claim_fire` is the lease that keeps two services from firing one occurrence twice;
- `record` / `list_events` are the audit trail ("trigger ignored: paused");
- `claim_delivery` remembers webhook delivery ids across restarts (replays are ignored);
- `get_state` / `set_state` keep per-trigger cursors (cron's last fire, git's last commit).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flowtui.store.backends import HistoryDb

OUTCOMES = ("fired", "ignored", "rejected", "duplicate")
REJECTED_KEPT = 100  # refused deliveries kept per workflow (the newest)


@dataclass(frozen=True, slots=True)
class TriggerEventRecord:
    id: int
    workflow: str
    kind: str  # cron, webhook, git, workflow, incident
    at: float
    outcome: str  # one of OUTCOMES
    detail: str
    run_id: int | None

    def describe(self) -> str:
        """One line for a person: "webhook fired: run 12 (push to main)"."""
        what = f"trigger {self.outcome}" if self.outcome != "fired" else "fired"
        run = f" run {self.run_id}" if self.run_id is not None else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.workflow}: {self.kind} {what}{run}{detail}"


@dataclass(frozen=True, slots=True)
class FinishedRun:
    id: int
    workflow: str
    status: str
    branch: str | None
    git_commit: str | None


class TriggerStore:
    def __init__(self, db: HistoryDb) -> None:
        self.db = db

    # ----------------------------------------------------------------- leases
    async def claim_fire(self, workflow: str, trigger_key: str, occurrence: str) -> bool:
        """True for exactly one caller per (workflow, trigger, occurrence), in any process."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                """INSERT INTO trigger_fires (workflow, trigger_key, occurrence, claimed_at)
                   VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING""",
                (workflow, trigger_key, occurrence, time.time()),
            )
            return cur.rowcount == 1

    # ----------------------------------------------------------------- deliveries
    async def claim_delivery(self, delivery_id: str, workflow: str) -> bool:
        """True the first time a delivery id is seen; False for a replay."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO webhook_deliveries (delivery_id, workflow, at)"
                " VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (delivery_id, workflow, time.time()),
            )
            return cur.rowcount == 1

    async def release_delivery(self, delivery_id: str) -> None:
        """Forget a delivery that started nothing (so a corrected redelivery is accepted)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "DELETE FROM webhook_deliveries WHERE delivery_id = ?", (delivery_id,)
            )

    # ----------------------------------------------------------------- cursors
    async def get_state(self, key: str) -> str | None:
        row = await self.db.fetchone("SELECT value FROM trigger_state WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    async def set_state(self, key: str, value: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                """INSERT INTO trigger_state (key, value, updated_at) VALUES (?, ?, ?)
                   ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                     updated_at = excluded.updated_at""",
                (key, value, time.time()),
            )

    async def init_state(self, key: str, value: str) -> str:
        """Set `key` only if unset; returns the value that is stored (ours or another's)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO trigger_state (key, value, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (key, value, time.time()),
            )
            async with conn.execute("SELECT value FROM trigger_state WHERE key = ?", (key,)) as cur:
                row = await cur.fetchone()
        assert row is not None
        return str(row["value"])

    async def raise_int_state(self, key: str, value: int) -> None:
        """Store `value` unless a larger one is stored (a cursor shared by services)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                """INSERT INTO trigger_state (key, value, updated_at) VALUES (?, ?, ?)
                   ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                     updated_at = excluded.updated_at
                   WHERE CAST(trigger_state.value AS BIGINT) < CAST(excluded.value AS BIGINT)""",
                (key, str(value), time.time()),
            )

    # ----------------------------------------------------------------- finished runs
    async def finished_runs_after(
        self, cursor: int, limit: int = 500
    ) -> list[tuple[int, FinishedRun]]:
        """Runs that reached a final status in audit events after `cursor`, oldest first.

        Pairs of (event id, run).  Event ids only grow and SQLite writers are serialised,
        so an id seen here means every smaller one is already visible: a safe cursor.
        """
        rows = await self.db.fetchall(
            """SELECT e.id AS event_id, e.status, r.id, r.workflow, r.branch, r.git_commit
               FROM events e JOIN runs r ON r.id = e.run_id
               WHERE e.id > ? AND e.kind = 'run'
                 AND e.status IN ('succeeded', 'failed', 'cancelled', 'interrupted')
               ORDER BY e.id LIMIT ?""",
            (cursor, limit),
        )
        return [
            (
                int(r["event_id"]),
                FinishedRun(r["id"], r["workflow"], r["status"], r["branch"], r["git_commit"]),
            )
            for r in rows
        ]

    # ----------------------------------------------------------------- outcomes
    async def record(
        self,
        workflow: str,
        kind: str,
        outcome: str,
        detail: str = "",
        run_id: int | None = None,
    ) -> TriggerEventRecord:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown trigger outcome {outcome!r}; expected one of {OUTCOMES}")
        at = time.time()
        async with (
            self.db.transaction() as conn,
            conn.execute(
                """INSERT INTO trigger_events (workflow, kind, at, outcome, detail, run_id)
                   VALUES (?, ?, ?, ?, ?, ?) RETURNING id""",
                (workflow, kind, at, outcome, detail, run_id),
            ) as cur,
        ):
            row = await cur.fetchone()
        assert row is not None
        if outcome == "rejected":
            await self._prune_rejected(workflow)
        return TriggerEventRecord(int(row["id"]), workflow, kind, at, outcome, detail, run_id)

    async def _prune_rejected(self, workflow: str) -> None:
        """Keep the newest REJECTED_KEPT refusals of a workflow: anyone who can reach the
        server can send bad deliveries, and each must not add a row for good."""
        async with self.db.transaction() as conn:
            await conn.execute(
                """DELETE FROM trigger_events
                   WHERE workflow = ? AND outcome = 'rejected' AND id <= (
                       SELECT id FROM trigger_events WHERE workflow = ? AND outcome = 'rejected'
                       ORDER BY id DESC LIMIT 1 OFFSET ?)""",
                (workflow, workflow, REJECTED_KEPT),
            )

    async def list_events(
        self,
        workflow: str | None = None,
        *,
        limit: int = 50,
        before_id: int | None = None,
        outcome: str | None = None,
    ) -> list[TriggerEventRecord]:
        """Newest first; page with `before_id` = the last id of the previous page."""
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("workflow", workflow), ("outcome", outcome)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        sql = "SELECT * FROM trigger_events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        return [
            TriggerEventRecord(
                id=r["id"],
                workflow=r["workflow"],
                kind=r["kind"],
                at=r["at"],
                outcome=r["outcome"],
                detail=r["detail"],
                run_id=r["run_id"],
            )
            for r in await self.db.fetchall(sql, params)
        ]

    async def last_event(self, workflow: str) -> TriggerEventRecord | None:
        """The newest trigger outcome of `workflow`: what the dashboard shows beside it."""
        found = await self.list_events(workflow, limit=1)
        return found[0] if found else None
