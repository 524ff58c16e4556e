"""The runner's heartbeat: a thread that keeps its active runs claimed."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Collection
from typing import Any, Protocol

from flowtui.engine.owner import Owner
from flowtui.store.rows import _ACTIVE_SQL, _ids_json

log = logging.getLogger("flowtui.store")


class SyncConnection(Protocol):
    """A connection of its own thread (`Database.connect_sync`, `PgDatabase.connect_sync`)."""

    def execute(self, sql: str, params: Any = ...) -> Any: ...
    def begin_write(self) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


class HeartbeatThread:
    """Beats for a runner's active runs from its own thread and connection (the store's
    `Liveness` port, SQLite or PostgreSQL: a runner is given one and starts it).

    A thread, not an asyncio task: a runner whose event loop is stuck in a long synchronous
    call is slow, not dead, and must not have its runs (and step processes) taken away.
    `on_lost` is called (from this thread) with the ids of runs that are no longer active
    although the runner still has them: another process declared them interrupted.
    """

    def __init__(self, connect: Callable[[], SyncConnection]) -> None:
        self._connect = connect
        self._owner: Owner | None = None
        self._interval = 2.0
        self._run_ids: Callable[[], Collection[int]] = tuple
        self._on_lost: Callable[[list[int]], None] = lambda lost: None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="flowtui-heartbeat", daemon=True)

    def start(
        self,
        owner: Owner,
        interval: float,
        run_ids: Callable[[], Collection[int]],
        on_lost: Callable[[list[int]], None],
    ) -> None:
        self._owner, self._interval = owner, interval
        self._run_ids, self._on_lost = run_ids, on_lost
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=15)

    def _loop(self) -> None:
        conn: SyncConnection | None = None
        try:
            while not self._stop.is_set():
                lost: list[int] = []
                try:
                    ids = list(self._run_ids())
                    if ids:
                        conn = conn or self._connect()
                        lost = self._beat(conn, ids)
                except Exception as exc:  # locked, full or unreachable: beat again next time
                    log.warning("flowtui heartbeat: %s", exc)
                    if conn is not None:  # a server restart breaks it: connect anew
                        with contextlib.suppress(Exception):
                            conn.close()
                        conn = None
                if lost:
                    self._on_lost(lost)
                self._stop.wait(self._interval)
        finally:
            if conn is not None:
                conn.close()

    def _beat(self, conn: SyncConnection, run_ids: list[int]) -> list[int]:
        owner, ids = self._owner, _ids_json(run_ids)
        assert owner is not None
        conn.begin_write()
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
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        return [int(r[0]) for r in rows]
