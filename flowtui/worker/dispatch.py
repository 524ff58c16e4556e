"""The runner's side of team mode: `PgDispatcher`, the engine's `StepDispatcher` port.

It defers one procrastinate job per attempt of a `runs_on` step, on the step's queue, and
waits for it to end.  A cancelled wait (the run is cancelled, the step timed out) aborts the
job: the worker running it stops the step's processes on its machine, and this returns once
the job has ended (or the kill grace has passed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import procrastinate
from procrastinate.jobs import Status

from flowtui.engine.records import AttemptRecord, LogRecord, RemoteOutcome
from flowtui.engine.remote import (
    ATTEMPTS_CHANNEL,
    RemoteError,
    RemoteJob,
    WorkerLost,
    attempt_key,
)
from flowtui.engine.states import StepStatus
from flowtui.store.pg import PgDatabase
from flowtui.worker.queue import TASK, ensure_schema, lost_after, make_app

log = logging.getLogger("flowtui.worker")

POLL = 0.5  # how often a job's status is read while it runs (workers NOTIFY its end)
ENDED = {Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.ABORTED}
LOST_CHECK = 5.0  # at most this long between two looks at a running job's worker
ABORT_SLACK = 5.0  # beyond the step's kill grace, how long an abort may take
UNREACHABLE_LIMIT = 120.0  # a job queue unreachable this long fails the step


# an attempt's outcome, its step's outputs and log lines after an id, as one row of JSON
OUTCOME_QUERY = """
SELECT (SELECT json_build_array(status, started_at, ended_at, exit_code, message)
          FROM attempts
         WHERE run_id = %(run)s AND step = %(step)s AND attempt = %(attempt)s) AS attempt,
       (SELECT json_agg(json_build_array(key, value))
          FROM outputs WHERE run_id = %(run)s AND step = %(step)s) AS outputs,
       (SELECT json_agg(json_build_array(id, attempt, stream, line, at) ORDER BY id)
          FROM logs WHERE run_id = %(run)s AND step = %(step)s AND id > %(after)s) AS logs
"""


# a job deferred with its fields as parameters of procrastinate's own SQL function (the
# query procrastinate's defer sends, with one record): psycopg's text form of procrastinate's
# array of job records escapes each quote of the job's JSON twice, with a regular expression
# per character, and the deferrer builds and copies job objects around it
DEFER_QUERY = """
SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[
         ROW(%(queue)s, %(task)s, 0, NULL, NULL, %(args)s, NULL)
         ::procrastinate_job_to_defer_v1])) AS id
"""


def defers_directly() -> bool:
    """Whether the installed procrastinate defers through the function DEFER_QUERY calls
    (its schema then has it); else its deferrer is used."""
    from procrastinate import sql

    return "procrastinate_defer_jobs_v1(" in sql.queries.get("defer_jobs", "")


def outcome_of(job: RemoteJob, row: dict[str, Any]) -> RemoteOutcome:
    attempt = None
    if row["attempt"] is not None:
        status, started, ended, code, message = row["attempt"]
        attempt = AttemptRecord(
            job.run_id, job.step, job.attempt, StepStatus(status), started, ended, code, message
        )
    return RemoteOutcome(
        attempt,
        {str(k): str(v) for k, v in row["outputs"] or ()},
        [
            LogRecord(int(i), job.run_id, job.step, int(a), str(s), str(line), float(at))
            for i, a, s, line, at in row["logs"] or ()
        ],
    )


class PgDispatcher:
    """Queues remote steps in the history's PostgreSQL database (procrastinate).

    A job's end is noticed at once through the history's LISTEN connection (the commit of
    an attempt's outcome NOTIFYs it) and, as a fallback, by reading its status every POLL
    seconds (aborts, lost workers, a missed notification).
    """

    def __init__(self, db: PgDatabase) -> None:
        self.db = db
        self.url = db.url
        self.app: procrastinate.App | None = None
        self._ready = asyncio.Lock()
        self._waiters: dict[str, asyncio.Future[None]] = {}
        self._direct = defers_directly()

    async def _app(self) -> procrastinate.App:
        async with self._ready:
            if self.app is None:
                app = make_app(self.url)
                await app.open_async()
                try:
                    await ensure_schema(app, self.url)
                except BaseException:
                    await app.close_async()
                    raise
                self.app = app
                self.db.listener.subscribe(ATTEMPTS_CHANNEL, self._announced)
            return self.app

    async def close(self) -> None:
        if self.app is not None:
            await self.app.close_async()
            self.app = None

    def _announced(self, payload: str) -> None:
        """A worker's outcome for an attempt is in the history (NOTIFY of its key): only a
        wake-up; the outcome is read from the history, never taken from the payload."""
        waiter = self._waiters.get(payload)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def run(
        self, job: RemoteJob, after_log_id: Callable[[], int] = lambda: 0
    ) -> RemoteOutcome | None:
        app = await self._app()
        key = attempt_key(job.run_id, job.step, job.attempt)
        announced = asyncio.get_running_loop().create_future()
        self._waiters[key] = announced
        try:
            # a cancel that lands while the job is being queued must not leave it queued:
            # the defer finishes, then the job is aborted like any other
            deferring = asyncio.ensure_future(self._defer(app, job))
            try:
                job_id = await asyncio.shield(deferring)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    job_id = await asyncio.wait_for(deferring, UNREACHABLE_LIMIT)
                    await self._abort(app, job_id, job.kill_grace + ABORT_SLACK)
                raise
            try:
                status = await self._wait(app, job_id, announced)
            except asyncio.CancelledError:
                await self._abort(app, job_id, job.kill_grace + ABORT_SLACK)
                raise
        finally:
            self._waiters.pop(key, None)
        if status != Status.SUCCEEDED:
            raise RemoteError(f"job {job_id} on queue {job.queue} ended {status.value}")
        try:
            return await self._outcome(app, job, after_log_id())
        except Exception:  # the caller reads it from the history
            return None

    async def _defer(self, app: procrastinate.App, job: RemoteJob) -> int:
        """Queue `job` on its queue; its id."""
        if not self._direct:
            deferrer = app.configure_task(TASK, queue=job.queue)
            return await deferrer.defer_async(**job.to_payload())
        row = await app.connector.execute_query_one_async(
            DEFER_QUERY, queue=job.queue, task=TASK, args=job.to_payload()
        )
        return int(row["id"])

    async def _outcome(
        self, app: procrastinate.App, job: RemoteJob, after_log_id: int
    ) -> RemoteOutcome:
        """What the worker recorded for `job`, in one query on the queue's own connection
        (on this loop, beside the history's writes: no wait behind a batch of them, no
        thread hop)."""
        row = await app.connector.execute_query_one_async(
            OUTCOME_QUERY,
            run=job.run_id,
            step=job.step,
            attempt=job.attempt,
            after=after_log_id,
        )
        return outcome_of(job, row)

    async def _wait(
        self,
        app: procrastinate.App,
        job_id: int,
        announced: asyncio.Future[None] | None = None,
    ) -> Status:
        loop = asyncio.get_running_loop()
        limit = lost_after()  # until the job's worker is known: then the one it announced
        checked = loop.time()
        unreachable_since: float | None = None
        if announced is not None:  # the usual end: the worker's NOTIFY, before any read
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(announced), POLL)
        while True:
            if announced is not None and announced.done():
                # its outcome is in the history: no need to read the job's status (it ends
                # a moment later, when the worker's task returns)
                return Status.SUCCEEDED
            try:
                status = await app.job_manager.get_job_status_async(job_id)
            except Exception as exc:  # the database restarts or the network hiccups
                now = loop.time()
                unreachable_since = unreachable_since or now
                if now - unreachable_since > UNREACHABLE_LIMIT:
                    raise RemoteError(f"the job queue stayed unreachable: {exc}") from None
                await asyncio.sleep(1.0)
                continue
            unreachable_since = None
            if status in ENDED:
                return status
            if status == Status.DOING and loop.time() - checked > min(limit / 5, LOST_CHECK):
                checked = loop.time()
                try:
                    silent, limit = await self._silence(app, job_id, limit)
                except Exception:  # unreachable for a moment: the status read says more
                    silent = None
                if silent is not None and silent > limit:
                    # failed for good: the worker, if it comes back, stops the step and
                    # records nothing of it (it writes only while the job is `doing`)
                    await app.job_manager.finish_job_by_id_async(
                        job_id, Status.FAILED, delete_job=False
                    )
                    raise WorkerLost(f"no heartbeat for {limit:g} s")
            if announced is None:
                await asyncio.sleep(POLL)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(announced), POLL)

    async def _silence(
        self, app: procrastinate.App, job_id: int, default: float
    ) -> tuple[float | None, float]:
        """How long the worker running `job_id` has been silent (None: the job is not
        running), and after how long it counts as lost: the limit it announced itself, or
        `default` for a worker that announced none.  A worker whose row is gone (pruned
        long after its last beat) has been silent for ever."""
        rows = await app.connector.execute_query_all_async(
            """SELECT job.worker_id,
                      EXTRACT(EPOCH FROM NOW() - worker.last_heartbeat) AS silent,
                      announced.lost_after
                 FROM procrastinate_jobs job
                 LEFT JOIN procrastinate_workers worker ON worker.id = job.worker_id
                 LEFT JOIN flowtui_workers announced ON announced.worker_id = job.worker_id
                WHERE job.id = %(job_id)s AND job.status = 'doing'""",
            job_id=job_id,
        )
        if not rows:
            return None, default
        row = rows[0]
        limit = float(row["lost_after"]) if row["lost_after"] is not None else default
        if row["worker_id"] is None or row["silent"] is None:
            return float("inf"), limit
        return float(row["silent"]), limit

    async def _abort(self, app: procrastinate.App, job_id: int, patience: float) -> None:
        """Abort the job (a queued one is just cancelled) and wait for its worker to stop."""
        with contextlib.suppress(Exception):
            await asyncio.shield(app.job_manager.cancel_job_by_id_async(job_id, abort=True))
            await asyncio.shield(asyncio.wait_for(self._wait(app, job_id), patience))
