"""StoreSink: drains the event bus into the store in batches, one transaction per batch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from flowtui.engine.bus import EventBus, Subscription
from flowtui.engine.events import Event
from flowtui.store.runstore import RunStore

log = logging.getLogger("flowtui.store")

MAX_BATCH = 2000
GATHER_SECONDS = 0.05
RETRY_DELAYS = (0.1, 0.5, 1.5)
MAX_KEPT_ERRORS = 100


class StoreSink:
    """Persist every event published on `bus`.

    Failures never stop the writer: a batch is retried, then applied event by event so that
    one bad event costs only itself; what still fails is dropped, counted in `dropped` and
    described in `errors` (and logged).
    """

    def __init__(self, store: RunStore, bus: EventBus) -> None:
        self.store = store
        self.bus = bus
        self.errors: list[str] = []
        self.dropped = 0
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._received = 0  # events taken off the subscription
        self._done = 0  # events committed or dropped
        self._progress = asyncio.Condition()
        self._hurry = asyncio.Event()  # a flush is waiting: stop gathering
        self._notifier: asyncio.Future[None] | None = None

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("StoreSink already started")
        self._sub = self.bus.subscribe()
        self._task = asyncio.create_task(self._write_loop(self._sub), name="flowtui-store-sink")
        self._task.add_done_callback(self._writer_stopped)

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
                return
            self._received += 1
            batch = [first]
            self._drain(sub, batch)
            if len(batch) < MAX_BATCH and not self._hurry.is_set() and not sub.closed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hurry.wait(), GATHER_SECONDS)
                self._drain(sub, batch)
            self._hurry.clear()
            await self._write(batch)
            self._done += len(batch)
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
        for delay in (*RETRY_DELAYS, None):
            try:
                await self.store.apply(batch)
                return
            except Exception as exc:
                self._record_error(f"writing {len(batch)} events failed: {exc!r}")
                if delay is None:
                    break
                await asyncio.sleep(delay)
        if len(batch) == 1:
            self._drop(batch, "after retries")
            return
        # one bad event must not sink its neighbours
        for event in batch:
            try:
                await self.store.apply([event])
            except Exception as exc:
                self._drop([event], repr(exc))

    def _drop(self, events: Sequence[Event], why: str) -> None:
        self.dropped += len(events)
        self._record_error(f"dropped {len(events)} event(s) ({why}): {events[0]!r}")

    def _record_error(self, message: str) -> None:
        log.error("flowtui store: %s", message)
        self.errors.append(message)
        del self.errors[:-MAX_KEPT_ERRORS]
