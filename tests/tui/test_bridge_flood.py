"""The bridge under a flood of log lines (a real bus, store and App).

A log line only sets a flag: the App is told `LogsMayHaveGrown` at most once per
`LOG_PAUSE`, not once per line, while status changes still come through."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from textual.app import App

from flowtui.engine.bus import EventBus
from flowtui.engine.events import RunStatusChanged, StepLog
from flowtui.engine.states import RunStatus
from flowtui.store.runstore import RunStore
from flowtui.tui import bridge


class Target(App[None]):
    """Notes the bridge's messages as the App handles them."""

    def __init__(self) -> None:
        super().__init__()
        self.logs = 0
        self.logs_told = asyncio.Event()
        self.changed: list[set[str] | None] = []
        self.history_told = asyncio.Event()

    def on_logs_may_have_grown(self, _message: bridge.LogsMayHaveGrown) -> None:
        self.logs += 1
        self.logs_told.set()

    def on_history_changed(self, message: bridge.HistoryChanged) -> None:
        self.changed.append(message.workflows)
        self.history_told.set()


def line(i: int) -> StepLog:
    return StepLog(run_id=1, step="build", attempt=1, stream="stdout", line=f"line {i}", at=0.0)


async def test_a_flood_of_lines_is_told_once_per_pause_and_status_changes_still_come(
    tmp_path: Path,
) -> None:
    store = await RunStore.open(tmp_path / "history.db")
    bus = EventBus()
    app = Target()
    try:
        async with app.run_test() as pilot:
            follow = asyncio.create_task(bridge.Bridge(app, bus, store).follow_bus())
            async with asyncio.timeout(10):  # following the bus once the task has started
                while not bus._listeners and not bus._subscriptions:
                    await asyncio.sleep(0)
            start = time.monotonic()
            for i in range(1_000):  # one line per turn of the loop, as a flood's pipes give them
                bus.publish(line(i))
                await asyncio.sleep(0)
            await app.logs_told.wait()
            await pilot.pause()
            elapsed = time.monotonic() - start
            # once per line before; now at most once per pause (plus the first)
            assert 1 <= app.logs <= 2 + elapsed / bridge.LOG_PAUSE, (app.logs, elapsed)

            bus.publish(RunStatusChanged(1, "build-all", RunStatus.RUNNING, at=0.0))
            await app.history_told.wait()
            assert app.changed[-1] == {"build-all"}

            app.logs_told.clear()
            bus.publish(line(1_000))  # lines after a status change are told too
            await app.logs_told.wait()

            follow.cancel()
            await asyncio.gather(follow, return_exceptions=True)
            assert not bus._listeners and not bus._subscriptions  # nothing left on the bus
    finally:
        await store.close()
