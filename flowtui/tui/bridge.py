"""The bridge: engine events and history changes → Textual messages.

Two loops, each run by the App as a worker: `follow_bus` turns this process's engine events
into notices (a step waits for approval, a run ended) and `HistoryChanged`; `poll_history`
notices what other processes wrote to the shared history (`HistoryChanged` with no names,
or `LogsMayHaveGrown`) and announces their held steps and ended runs the same way, read
from the history's status changes (runs seen on this process's bus are announced once,
from there).  Floods are coalesced in the App's queue: a pending `HistoryChanged`
absorbs the one before it (`can_replace`), so a burst costs one redraw; a burst of log lines
alone is a `LogsMayHaveGrown` (the log pane reads them, nothing else is redrawn).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from textual.message import Message
from textual.message_pump import MessagePump

from flowtui.engine.bus import EventBus
from flowtui.engine.events import (
    Event,
    LogTrimmed,
    RemoteLogSeen,
    RunStatusChanged,
    StepLog,
    StepStatusChanged,
)
from flowtui.engine.owner import Owner
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.store.runstore import RunStore

POLL_INTERVAL = 1.0  # how often other processes' changes are looked for
# a flood of log lines is told to the App at most this often (the log pane reads them
# REFRESH_DELAY after being told, so a shown log still moves ~10 times a second)
LOG_PAUSE = 0.05
# events that change nothing drawn but a log: a flood of them redraws the log pane only
LOG_EVENTS = (StepLog, RemoteLogSeen, LogTrimmed)


class StepHeld(Message):
    """A step of a run waits for approval; `workflow` is given for another process's run
    (this dashboard's own runs are always told)."""

    def __init__(self, run_id: int, step: str, workflow: str | None = None) -> None:
        super().__init__()
        self.run_id = run_id
        self.step = step
        self.workflow = workflow


class RunEnded(Message):
    """A run reached a final status; `message` says why it did not succeed (which step)."""

    def __init__(
        self, workflow: str, run_id: int, status: RunStatus, message: str = "", mine: bool = True
    ) -> None:
        super().__init__()
        self.workflow = workflow
        self.run_id = run_id
        self.status = status
        self.message = message
        self.mine = mine  # started by this dashboard's process


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


class HistoryBack(Message):
    """The history answers again after `HistoryUnavailable`."""


@dataclass
class Bridge:
    target: MessagePump  # the App
    bus: EventBus
    store: RunStore
    interval: float = POLL_INTERVAL
    # runs this process's bus told about: announced from there, not again from the history
    own_runs: set[int] = field(default_factory=set)

    async def follow_bus(self) -> None:
        """This process's engine events, a burst at a time, until cancelled.

        The bus calls `listen` for every event; a log line only sets a flag, so a flood
        (thousands of lines a second) wakes this loop at most once per `LOG_PAUSE`, not once
        per line, and the App gets one `LogsMayHaveGrown` per pause: the loop, the App's
        queue and the keys typed meanwhile are not kept busy by lines nobody reads here.  A
        status change wakes it at once, also during a pause."""
        pending: list[Event] = []
        logs = False
        wake = asyncio.Event()  # anything arrived
        urgent = asyncio.Event()  # something other than a log line arrived

        def listen(event: Event) -> None:
            nonlocal logs
            if isinstance(event, LOG_EVENTS):
                logs = True
            else:
                pending.append(event)
                urgent.set()
            wake.set()

        self.bus.add_listener(listen)
        try:
            while True:
                await wake.wait()
                wake.clear()
                urgent.clear()
                batch, pending[:] = pending[:], []
                if batch:
                    logs = False  # the redraw a status change asks for reads the log too
                    self._translate(batch)
                elif logs:
                    logs = False
                    self.target.post_message(LogsMayHaveGrown())
                    with contextlib.suppress(TimeoutError):  # lines gather meanwhile
                        await asyncio.wait_for(urgent.wait(), LOG_PAUSE)
        finally:
            self.bus.remove_listener(listen)

    def _translate(self, events: list[Event]) -> None:
        post = self.target.post_message
        changed: set[str] = set()
        for event in events:
            if isinstance(event, StepStatusChanged | RunStatusChanged):
                self.own_runs.add(event.run_id)
            if isinstance(event, StepStatusChanged) and event.status == StepStatus.HELD:
                post(StepHeld(event.run_id, event.step))
            elif isinstance(event, RunStatusChanged):
                changed.add(event.workflow)
                if event.status.is_final:
                    post(RunEnded(event.workflow, event.run_id, event.status, event.message))
        post(HistoryChanged(changed))

    async def poll_history(self) -> None:
        """What other processes did, every `interval` seconds, until cancelled."""
        try:  # what was there before the dashboard opened is not announced
            last = await self.store.last_event_id()
        except Exception:
            last = -1  # the first poll that reads it only redraws
        down = False  # the last read failed (HistoryUnavailable was posted)
        while True:
            await self.store.wait_for_events(self.interval)  # at once on PostgreSQL
            try:
                now = await self.store.last_event_id()
            except Exception as exc:  # a locked or vanished db must not stop the dashboard
                self.target.post_message(HistoryUnavailable(exc))
                down = True
                continue
            if down:
                down = False
                self.target.post_message(HistoryBack())
            if now != last:
                if last >= 0:  # not what was there before the dashboard opened
                    await self._announce_others(last)
                last = now
                self.target.post_message(HistoryChanged(None))
            else:
                self.target.post_message(LogsMayHaveGrown())

    async def _announce_others(self, after: int) -> None:
        """Held steps and ended runs of other processes, recorded after event `after`."""
        try:
            events = await self.store.events_after(after)
        except Exception as exc:
            self.target.post_message(HistoryUnavailable(exc))
            return
        me = Owner.current()
        for event in events:
            held = event.kind == "step" and event.status == StepStatus.HELD and event.step
            ended = event.kind == "run" and RunStatus(event.status).is_final
            if not (held or ended) or event.run_id in self.own_runs:
                continue
            run = await self.store.get_run(event.run_id)
            if run is None or (run.owner_host, run.owner_pid) == (me.host, me.pid):
                continue  # gone, or this process's: its bus announces it
            if held and event.step:
                self.target.post_message(StepHeld(event.run_id, event.step, run.workflow))
            elif ended:
                status = RunStatus(event.status)
                self.target.post_message(
                    RunEnded(run.workflow, event.run_id, status, event.message, mine=False)
                )
