"""The procrastinate app flowtui uses as its job queue (PostgreSQL's, the history's own).

procrastinate brings what a home-made queue would get wrong: `SELECT … FOR UPDATE SKIP
LOCKED` so one job goes to one worker, LISTEN/NOTIFY so a worker picks a job up at once,
queues, aborting a running job, and workers' heartbeats.  Its tables live in the history's
database beside flowtui's.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable

import procrastinate

log = logging.getLogger("flowtui.worker")

TASK = "flowtui.run_step"
LOST_AFTER_ENV = "FLOWTUI_WORKER_LOST_AFTER"


def lost_after() -> float:
    """Seconds without a heartbeat after which a worker counts as lost (default 30)."""
    try:
        value = float(os.environ.get(LOST_AFTER_ENV, "30"))
    except ValueError:
        value = 30.0
    return max(1.0, value)


SCHEMA_LOCK = 0x666C6F78  # one process installs procrastinate's schema at a time

TaskFn = Callable[..., Awaitable[None]]


def make_app(url: str, run_step: TaskFn | None = None) -> procrastinate.App:
    """An app on the history database; `run_step` is given by a worker, not by a runner."""
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))
    if run_step is not None:
        app.task(name=TASK, pass_context=True)(run_step)
    return app


async def ensure_schema(app: procrastinate.App, url: str) -> None:
    """Install procrastinate's tables once per database (two processes may race here: the
    check and the install happen under an advisory lock held on a connection of its own)."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        try:
            cur = await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
            row = await cur.fetchone()
            if not (row and row[0]):
                await app.schema_manager.apply_schema_async()
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))
