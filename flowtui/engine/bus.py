"""An in-process publish/subscribe channel for engine events.

`publish` is synchronous and never blocks the runner: each subscriber owns an unbounded
queue.  The store must see every event, so nothing is dropped here; a slow UI subscriber
coalesces on its own side.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from flowtui.engine.events import Event

_CLOSED = object()
log = logging.getLogger(__name__)


class Subscription:
    """An async iterator over the events published after it was created."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._closed = False

    def _put(self, event: Event) -> None:
        if not self._closed:
            self._queue.put_nowait(event)

    async def get(self) -> Event:
        item = await self._queue.get()
        if item is _CLOSED:
            self._queue.put_nowait(_CLOSED)  # keep later getters from blocking forever
            raise StopAsyncIteration
        return item  # type: ignore[return-value]

    def get_nowait(self) -> Event:
        item = self._queue.get_nowait()
        if item is _CLOSED:
            self._queue.put_nowait(_CLOSED)
            raise asyncio.QueueEmpty
        return item  # type: ignore[return-value]

    def qsize(self) -> int:
        return self._queue.qsize()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop receiving; iteration ends once what is already queued has been read."""
        if not self._closed:
            self._closed = True
            self._bus._remove(self)
            self._queue.put_nowait(_CLOSED)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        return await self.get()


class EventBus:
    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self._listeners: list[Callable[[Event], None]] = []

    def publish(self, event: Event) -> None:
        for sub in self._subscriptions:
            sub._put(event)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                # a listener (a console whose reader left, a notifier) is not the run: its
                # failure is logged and the step that published goes on as recorded
                log.exception("event listener %r failed on %s", listener, type(event).__name__)

    def subscribe(self) -> Subscription:
        sub = Subscription(self)
        self._subscriptions.append(sub)
        return sub

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        """Call `listener` synchronously for each event (it must be quick and not raise)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[Event], None]) -> None:
        self._listeners.remove(listener)

    def _remove(self, sub: Subscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)
