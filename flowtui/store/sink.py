"""StoreSink: drains the event bus into the store in batches, one transaction per batch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence

from flowtui.engine.bus import EventBus, Subscription
from flowtui.engine.events import Event, StepLog
from flowtui.engine.logcap import LogCap, LogLimits
from flowtui.store.db import StoreFullError, StoreUnavailableError
from flowtui.store.runstore import RunStore

log = logging.getLogger("flowtui.store")

MAX_BATCH = 2000
GATHER_SECONDS = 0.05
RETRY_DELAYS = (0.1, 0.5, 1.5)
MAX_KEPT_ERRORS = 100
FULL_RETRY_SECONDS = 0.5  # while the disk is full, how often state events are tried again
FULL_GIVE_UP_SECONDS = 5.0  # after close() starts, how long to keep trying
# an unreachable history server (restart, network): retried with backoff, never dropped
# while the process runs; after close() starts, given up after this long
UNAVAILABLE_FIRST_RETRY = 0.1
UNAVAILABLE_MAX_RETRY = 2.0
UNAVAILABLE_GIVE_UP_SECONDS = 30.0
# Step output readers wait (wait_for_room) while this many events are not yet written, and
# go on once half of them are: memory stays bounded however fast steps print.
MAX_BACKLOG = 20_000
RESUME_BACKLOG = MAX_BACKLOG // 2


class StoreSink:
    """Persist every event published on `bus`.

    Failures never stop the writer: a batch is retried, then applied event by event so that
    one bad event costs only itself; what still fails is dropped, counted in `dropped` and
    described in `errors` (and logged).
    """

    def __init__(self, store: RunStore, bus: EventBus, log_limits: LogLimits | None = None) -> None:
        self.store = store
        self.bus = bus
        self.log_cap = LogCap(log_limits or LogLimits.from_env())
        self.lost_logs = 0  # log lines not stored because the disk was full
        self._closing_since: float | None = None
        self._full: StoreFullError | None = None  # the disk was full at the last write
        self._lost: dict[int, int] = {}  # per run: log lines dropped, not yet noted in its log
        self.errors: list[str] = []
        self.dropped = 0
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._received = 0  # events taken off the subscription
        self._done = 0  # events committed or dropped
        self._progress = asyncio.Condition()
        self._hurry = asyncio.Event()  # a flush is waiting: stop gathering
        self._notifier: asyncio.Future[None] | None = None
        self._room = asyncio.Event()  # set while the backlog is short enough
        self._room.set()

    @property
    def backlog(self) -> int:
        """Events published but not yet taken by the writer."""
        return self._sub.qsize() if self._sub is not None else 0

    async def wait_for_room(self) -> None:
        """Return once fewer than MAX_BACKLOG events wait (at once if the writer is gone)."""
        while self.backlog >= MAX_BACKLOG and not self._task_ended():
            self._room.clear()
            await self._room.wait()

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("StoreSink already started")
        self._sub = self.bus.subscribe()
        self._task = asyncio.create_task(self._write_loop(self._sub), name="flowtui-store-sink")
        self._task.add_done_callback(self._writer_stopped)
        self.store.set_writer_room(self.wait_for_room)
        self.store.set_writer_flush(self.flush)

    async def flush(self) -> None:
        """Return once every event published before this call is committed (or dropped)."""
        if self._sub is None or self._task is None:
            return
        pending = self._sub.qsize()
        if self._sub.closed:
            pending = max(0, pending - 1)  # the end-of-stream marker stays queued
        target = self._received + pending
        self._hurry.set()
        async with self._progress:
            await self._progress.wait_for(lambda: self._done >= target or self._task_ended())
        if self._done < target:
            raise RuntimeError(
                f"store writer stopped with {target - self._done} events unwritten: "
                + (self.errors[-1] if self.errors else "unknown error")
            )

    async def close(self) -> None:
        """Flush, then stop the writer; safe to call twice."""
        if self._sub is None or self._task is None:
            return
        if self._closing_since is None:
            self._closing_since = time.monotonic()
        try:
            await self.flush()
        finally:
            self._sub.close()
            self._hurry.set()
            await asyncio.wait([self._task])  # its failure, if any, is in `errors`

    def _task_ended(self) -> bool:
        return self._task is None or self._task.done()

    def _writer_stopped(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._record_error(f"store writer crashed: {task.exception()!r}")
        self.store.set_writer_room(None)
        self.store.set_writer_flush(None)
        self._room.set()
        # wake flush() waiters so they never hang on a writer that is gone
        self._notifier = asyncio.ensure_future(self._notify())

    async def _notify(self) -> None:
        async with self._progress:
            self._progress.notify_all()

    async def _write_loop(self, sub: Subscription) -> None:
        while True:
            try:
                first = await sub.get()
            except StopAsyncIteration:
                held = self.log_cap.drain()
                if held:
                    await self._write(held)
                return
            self._received += 1
            batch = [first]
            self._drain(sub, batch)
            if len(batch) < MAX_BATCH and not self._hurry.is_set() and not sub.closed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hurry.wait(), GATHER_SECONDS)
                self._drain(sub, batch)
            self._hurry.clear()
            await self._write(self.log_cap.filter(batch))
            self._done += len(batch)
            if self.backlog <= RESUME_BACKLOG:
                self._room.set()
            async with self._progress:
                self._progress.notify_all()

    def _drain(self, sub: Subscription, batch: list[Event]) -> None:
        while len(batch) < MAX_BATCH:
            try:
                batch.append(sub.get_nowait())
            except asyncio.QueueEmpty:
                return
            self._received += 1

    async def _write(self, batch: Sequence[Event]) -> None:
        if self._full is not None:  # still full a moment ago: no slow retries per batch
            full = self._full
            try:
                await self.store.apply(batch)
                self._full = None
                await self._note_lost_logs(full)
            except StoreFullError as exc:
                await self._write_when_full(batch, exc)
            return
        batch_id = uuid.uuid4().hex  # a retry of a batch that did commit writes nothing
        again = False
        for delay in (*RETRY_DELAYS, None):
            try:
                await self.store.apply(batch, batch=batch_id, again=again)
                return
            except StoreUnavailableError as exc:
                await self._write_when_unavailable(batch, exc, batch_id)
                return
            except StoreFullError as exc:
                if delay is None:
                    self._full = exc
                    await self._write_when_full(batch, exc)
                    return
                self._record_error(f"writing {len(batch)} events failed: {exc}")
                await asyncio.sleep(delay)
                continue
            except Exception as exc:
                self._record_error(f"writing {len(batch)} events failed: {exc!r}")
                if delay is None:
                    break
                await asyncio.sleep(delay)
            finally:
                again = True
        if len(batch) == 1:
            self._drop(batch, "after retries")
            return
        # one bad event must not sink its neighbours
        for event in batch:
            try:
                await self.store.apply([event])
            except Exception as exc:
                self._drop([event], repr(exc))

    async def _write_when_unavailable(
        self, batch: Sequence[Event], error: StoreUnavailableError, batch_id: str
    ) -> None:
        """Keep the whole batch and try it again until the server answers: a restart or a
        network cut loses nothing.  Step output readers wait meanwhile (back-pressure), so
        memory stays bounded.  Once close() has waited UNAVAILABLE_GIVE_UP_SECONDS, what is
        still unwritten is dropped, reported."""
        self._record_error(f"history unreachable, keeping {len(batch)} events: {error}")
        delay = UNAVAILABLE_FIRST_RETRY
        while True:
            closing = self._closing_since
            if closing is not None and time.monotonic() - closing > UNAVAILABLE_GIVE_UP_SECONDS:
                self._drop(batch, f"{error}: the history stayed unreachable")
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, UNAVAILABLE_MAX_RETRY)
            try:
                await self.store.apply(batch, batch=batch_id, again=True)
            except StoreUnavailableError as exc:
                error = exc
                continue
            except Exception:  # it answers again, but not to this: the usual path decides
                await self._write(batch)
                return
            log.warning("flowtui store: history reachable again; %d events written", len(batch))
            return

    async def _write_when_full(self, batch: Sequence[Event], error: StoreFullError) -> None:
        """Drop the log lines, keep trying the state changes until space is back.

        The runner fails its steps meanwhile (it listens for the same error), so few events
        arrive; once close() has waited FULL_GIVE_UP_SECONDS the rest is dropped, reported.
        """
        if not self.errors or self.errors[-1] != str(error):
            self._record_error(str(error))
        for event in batch:
            if isinstance(event, StepLog):
                self._lost[event.run_id] = self._lost.get(event.run_id, 0) + 1
                self.lost_logs += 1
        rest = [e for e in batch if not isinstance(e, StepLog)]
        while rest:
            try:
                await self.store.apply(rest)
                self._full = None
                await self._note_lost_logs(error)
                break
            except StoreFullError:
                closing = self._closing_since
                if closing is not None and time.monotonic() - closing > FULL_GIVE_UP_SECONDS:
                    self._drop(rest, f"{error}: the run's final state is not recorded")
                    return
                await asyncio.sleep(FULL_RETRY_SECONDS)
            except Exception as exc:
                self._drop(rest, repr(exc))
                return

    async def _note_lost_logs(self, error: StoreFullError) -> None:
        """Tell each run's log how many lines it lost, now that something could be written."""
        notes = [
            StepLog(run_id, "", 0, "system", f"{n:,} log lines not stored: {error}", time.time())
            for run_id, n in self._lost.items()
        ]
        try:
            await self.store.apply(notes)
        except Exception:  # best effort: space may be short again; try after the next write
            return
        self._lost.clear()

    def _drop(self, events: Sequence[Event], why: str) -> None:
        self.dropped += len(events)
        self._record_error(f"dropped {len(events)} event(s) ({why}): {events[0]!r}")

    def _record_error(self, message: str) -> None:
        log.error("flowtui store: %s", message)
        self.errors.append(message)
        del self.errors[:-MAX_KEPT_ERRORS]
