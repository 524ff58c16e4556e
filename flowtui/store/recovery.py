"""Runs whose runner died: liveness, interrupting them, and adopting their queued runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection

from flowtui.engine.owner import STALE_AFTER, Owner, kill_orphan_group, owner_alive_locally
from flowtui.engine.records import RunRecord
from flowtui.engine.states import RunStatus
from flowtui.store.backends import HistoryDb
from flowtui.store.rows import _ACTIVE_SQL, RowLike, _all, _ids_json, _run_record
from flowtui.store.transitions import interrupt_run, move_run

ORPHAN_KILL_GRACE = 3.0


def _owner_dead(run: RowLike, now: float, stale_after: float, me: Owner) -> bool:
    host, pid, started = run["owner_host"], run["owner_pid"], run["owner_started"]
    if pid is None:
        return False
    if host == me.host and pid == me.pid and started == me.started:
        return False
    if owner_alive_locally(host, pid, started) is False:
        return True
    last_sign = run["heartbeat_at"] if run["heartbeat_at"] is not None else run["created_at"]
    return now - last_sign > stale_after


class RecoveryMixin:
    """RunStore's heartbeat, recovery and adoption methods."""

    db: HistoryDb

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
        # every start reads this: the active runs are few however long the history, but
        # after an ANALYZE SQLite reckons a status matches a fair share of all runs and
        # would scan them all (0.1 s at 1,000,000 runs); the index is named for it
        runs = "runs INDEXED BY runs_by_status" if self.db.dialect == "sqlite" else "runs"
        rows: list[RowLike] = list(
            await self.db.fetchall(
                f"""SELECT id, owner_host, owner_pid, owner_started, heartbeat_at, created_at
                    FROM {runs} WHERE status IN ({statuses})"""
            )
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
                await self.db.run_in_connection(interrupt_run, run["id"], run["owner_pid"], now)
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
                """INSERT INTO adopters (host, pid, started, registered_at)
                   VALUES (?, ?, ?, ?)
                   ON CONFLICT (host, pid, started)
                   DO UPDATE SET registered_at = excluded.registered_at""",
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
                   WHERE id = ? AND status = 'queued' AND owner_host IS NOT DISTINCT FROM ?
                     AND owner_pid IS NOT DISTINCT FROM ?
                     AND owner_started IS NOT DISTINCT FROM ?""",
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
            # re-read under the write lock: adopted or started meanwhile, it is not orphaned
            current = await _all(
                conn,
                "SELECT status, owner_pid, owner_started FROM runs WHERE id = ?",
                (run_id,),
            )
            now_row = current[0] if current else None
            if now_row is None or (
                now_row["status"],
                now_row["owner_pid"],
                now_row["owner_started"],
            ) != ("queued", row["owner_pid"], row["owner_started"]):
                return False
            message = f"cancelled by {by} while queued" if by else "cancelled while queued"
            return await self.db.run_in_connection(
                move_run, run_id, RunStatus.CANCELLED, time.time(), message
            )
