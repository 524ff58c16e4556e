"""The procrastinate app flowtui uses as its job queue (PostgreSQL's, the history's own).

procrastinate brings what a home-made queue would get wrong: `SELECT … FOR UPDATE SKIP
LOCKED` so one job goes to one worker, LISTEN/NOTIFY so a worker picks a job up at once,
queues, aborting a running job, and workers' heartbeats.  Its tables live in the history's
database beside flowtui's.
"""

from __future__ import annotations

import logging
import os
import select
import time
from collections.abc import Awaitable, Callable
from typing import Any

import procrastinate

log = logging.getLogger("flowtui.worker")

TASK = "flowtui.run_step"
LOST_AFTER_ENV = "FLOWTUI_WORKER_LOST_AFTER"


MAX_LOST_AFTER = 3600.0
SKIP_WITHIN = 1.0  # seconds: see keep_wakeups


def lost_after() -> float:
    """Seconds without a heartbeat after which this worker counts as lost (default 30).

    A worker announces it (`flowtui_workers`) and beats at a third of it; runners use the
    announced value of the worker running each job, so it needs setting on workers only
    (a runner's own value serves for a worker that announced none)."""
    try:
        value = float(os.environ.get(LOST_AFTER_ENV, "30"))
    except ValueError:
        value = 30.0
    return min(MAX_LOST_AFTER, max(1.0, value))


SCHEMA_LOCK = 0x666C6F78  # one process installs procrastinate's schema at a time

TaskFn = Callable[..., Awaitable[None]]


async def _autocommit(conn: Any) -> None:
    # the pool's `configure` (procrastinate passes it its LISTEN connection too, which must
    # not get `autocommit` twice: it sets that one itself)
    await conn.set_autocommit(True)


async def _check(conn: Any) -> None:
    """The pool's check of a connection it hands out, without a round trip when it can.

    procrastinate's own check pings the server (an empty query) before *every* query: a
    second round trip for each defer, fetch and finish.  A connection the server closed
    (a restart, an idle timeout, a killed backend) has something to read — the server's
    last message or the end of the stream — so an idle connection whose socket has
    nothing to read is taken as it is, and only one that does is pinged (and replaced by
    the pool when the ping fails), as before."""
    if conn.closed or conn.broken:
        raise _closed()
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError):
        raise _closed() from None
    if readable:
        from psycopg_pool import AsyncConnectionPool

        await AsyncConnectionPool.check_connection(conn)


def _closed() -> Exception:
    import psycopg

    return psycopg.OperationalError("the connection is closed")


def _pool(**kwargs: Any) -> Any:
    """procrastinate's pool, with `_check` instead of its ping before every query."""
    from psycopg_pool import AsyncConnectionPool

    return AsyncConnectionPool(**{**kwargs, "check": _check})


# psycopg_pool's arguments (the factory is procrastinate's)
POOL: dict[str, Any] = {"configure": _autocommit, "pool_factory": _pool}


def make_app(url: str, run_step: TaskFn | None = None) -> procrastinate.App:
    """An app on the history database; `run_step` is given by a worker, not by a runner.

    Its connections are in autocommit: each of procrastinate's queries is one statement (a
    call of one of its SQL functions, atomic on its own), which psycopg's pool would
    otherwise wrap in BEGIN … COMMIT — three round trips for each defer, fetch and finish
    instead of one."""
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url, **POOL))
    if run_step is not None:
        app.task(name=TASK, pass_context=True)(run_step)
        keep_wakeups(app)
        quiet_job_logs(app)
    return app


def quiet_job_logs(app: procrastinate.App) -> None:
    """Spare a worker of `app` the log records nobody reads.

    procrastinate's worker builds each job log message's `extra` (a deep copy of the job,
    its arguments — the whole workflow text — included) four times per job, even when its
    logger drops the message: flowtui's worker shows only warnings and errors, without
    their `extra`.  So the copy is made only when the logger takes INFO messages."""
    make = getattr(app, "_worker", None)
    if make is None:  # another procrastinate: left as it is
        return

    def worker(**kwargs: Any) -> Any:
        made = make(**kwargs)
        full = getattr(made, "_log_extra", None)
        if full is None:
            return made

        def log_extra(action: str, context: Any, job_result: Any, **more: Any) -> Any:
            if made.logger.isEnabledFor(logging.INFO):
                return full(action, context, job_result, **more)
            return {"action": action, **more}

        made._log_extra = log_extra
        return made

    app._worker = worker  # type: ignore[method-assign]


def keep_wakeups(app: procrastinate.App) -> None:
    """Make a worker of `app` never sleep on a job it was told about, and not look for
    one when it knows there is none.

    procrastinate 3.10's worker clears its "new job" flag after every fetch: a job whose
    NOTIFY is handled while a fetch that did not see it is under way (a runner deferring
    the next step just as the worker finishes the last one) waits for the next poll, 5 s
    later.  Wrapped here, through the job manager's public methods: a fetch that found
    nothing is done again if a job was announced meanwhile.

    It also fetches again after every job, which finds nothing in a chain of steps (the
    next step's job comes once this one's outcome is read): a query on the job's path.
    That fetch is skipped (None, as an empty fetch) when every job announced (NOTIFY, with
    its id) was taken by a fetch, nothing taken was unannounced (jobs queued before the
    worker listened, or while its listener reconnected), and the last fetch that did go
    to the database began less than SKIP_WITHIN ago: anything a notification cannot tell
    is found by the next fetch that does, at worst the next poll, as before.
    """
    manager = app.job_manager
    fetch, listen = manager.fetch_job, manager.listen_for_jobs
    announced = 0
    pending: set[int] = set()  # announced, not seen taken by a fetch of this worker
    unknown = True  # jobs may be queued that were not announced (none fetched yet)
    fetched_at = -SKIP_WITHIN  # when the last fetch that went to the database began

    async def listen_for_jobs(*, on_notification: Any, **kwargs: Any) -> None:
        async def counted(**note: Any) -> None:
            nonlocal announced
            notification = note.get("notification", {})
            if notification.get("type") == "job_inserted":
                announced += 1
                job_id = notification.get("job_id")
                if isinstance(job_id, int):
                    pending.add(job_id)
            await on_notification(**note)

        await listen(on_notification=counted, **kwargs)

    async def fetch_job(*args: Any, **kwargs: Any) -> Any:
        nonlocal unknown, fetched_at
        now = time.monotonic()
        if not pending and not unknown and now - fetched_at < SKIP_WITHIN:
            return None
        while True:
            before, known = announced, set(pending)
            fetched_at = time.monotonic()
            job = await fetch(*args, **kwargs)
            if job is None:  # the jobs announced before it are taken (by other workers)
                pending.difference_update(known)
                unknown = False
            elif job.id in pending:
                pending.discard(job.id)
            else:  # unannounced (or its notification is still on its way): look again
                unknown = True
            if job is not None or announced == before:
                return job

    manager.listen_for_jobs = listen_for_jobs  # type: ignore[method-assign]
    manager.fetch_job = fetch_job  # type: ignore[method-assign]


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
