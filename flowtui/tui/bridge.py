"""The bridge: engine events and history changes → Textual messages.

Two loops, each run by the App as a worker: `follow_bus` turns this process's engine events
into notices (a step waits for approval, a run ended) and `HistoryChanged`; `poll_history`
notices what other processes wrote to the shared history (`HistoryChanged` with no names,
or `LogsMayHaveGrown`).  Floods are coalesced in the App's queue: a pending `HistoryChanged`
absorbs the one before it (`can_replace`), so a burst costs one redraw.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from textual.message import Message
from textual.message_pump import MessagePump

from flowtui.engine.bus import EventBus
from flowtui.engine.events import Event, RunStatusChanged, StepStatusChanged
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.store.runstore import RunStore

POLL_INTERVAL = 1.0  # how often other processes' changes are looked for


class StepHeld(Message):
    """A step of a run of this process waits for approval."""

    def __init__(self, run_id: int, step: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.step = step


class RunEnded(Message):
    """A run of this process reached a final status."""

    def __init__(self, workflow: str, run_id: int, status: RunStatus) -> None:
        super().__init__()
        self.workflow = workflow
        self.run_id = run_id
        self.status = status


class HistoryChanged(Message):
    """Something to redraw: the list rows of `workflows` (None: find out which changed,
    by comparing the newest runs with what the list shows) and the shown run."""

    def __init__(self, workflows: set[str] | None) -> None:
        super().__init__()
        self.workflows = workflows

    def can_replace(self, message: Message) -> bool:
        if not isinstance(message, HistoryChanged):
            return False
        # this one is dropped for the pending one: hand over what it asked for
        if self.workflows is None or message.workflows is None:
            message.workflows = None
        else:
            message.workflows |= self.workflows
        return True


class LogsMayHaveGrown(Message):
    """No status changed anywhere, but a shown run's steps may have printed."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LogsMayHaveGrown)


class HistoryUnavailable(Message):
    """The history could not be read (locked, vanished); the dashboard keeps going."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error


@dataclass
class Bridge:
    target: MessagePump  # the App
    bus: EventBus
    store: RunStore
    interval: float = POLL_INTERVAL

    async def follow_bus(self) -> None:
        """This process's engine events, a burst at a time, until cancelled."""
        subscription = self.bus.subscribe()
        try:
            while True:
                batch = [await subscription.get()]
                while True:
                    try:
                        batch.append(subscription.get_nowait())
                    except asyncio.QueueEmpty:
                        break
                self._translate(batch)
        finally:
            subscription.close()

    def _translate(self, events: list[Event]) -> None:
        post = self.target.post_message
        changed: set[str] = set()
        for event in events:
            if isinstance(event, StepStatusChanged) and event.status == StepStatus.HELD:
                post(StepHeld(event.run_id, event.step))
            elif isinstance(event, RunStatusChanged):
                changed.add(event.workflow)
                if event.status.is_final:
                    post(RunEnded(event.workflow, event.run_id, event.status))
        post(HistoryChanged(changed))

    async def poll_history(self) -> None:
        """What other processes did, every `interval` seconds, until cancelled."""
        last = -1
        while True:
            await self.store.wait_for_events(self.interval)  # at once on PostgreSQL
            try:
                now = await self.store.last_event_id()
            except Exception as exc:  # a locked or vanished db must not stop the dashboard
                self.target.post_message(HistoryUnavailable(exc))
                continue
            if now != last:
                last = now
                self.target.post_message(HistoryChanged(None))
            else:
                self.target.post_message(LogsMayHaveGrown())
