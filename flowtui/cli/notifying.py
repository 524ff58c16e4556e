"""`flowtui run --notify`: the terminal's desktop notification (OSC 9 / OSC 777 / bell, chosen
as the dashboard does: flowtui/notify.py) when a step of the run is held and when the
run ends. Only on a terminal; written to the real stdout, past the live footer's stand-in
(the sequences take no room on the screen)."""

from __future__ import annotations

import sys

from flowtui.cli.hints import command
from flowtui.engine.events import Event, StepStatusChanged
from flowtui.engine.states import StepStatus
from flowtui.notify import Notifier


class RunNotifier:
    def __init__(self) -> None:
        self.notifier = Notifier.chosen(bell=False, notify=True)
        self.run_id: int | None = None  # the run followed (not the runs it starts)

    def __call__(self, event: Event) -> None:
        if (
            isinstance(event, StepStatusChanged)
            and event.status == StepStatus.HELD
            and event.run_id == self.run_id
        ):
            self.send(
                "flowtui: approval needed",
                f"{event.step} of run {event.run_id} waits: "
                + command(f"approve {event.run_id} {event.step}"),
            )

    def ended(self, workflow: str, run_id: int, status: str, message: str | None) -> None:
        detail = f": {message}" if message and status != "succeeded" else ""
        self.send(f"flowtui: run {status}", f"{workflow} run {run_id} {status}{detail}")

    def send(self, title: str, body: str) -> None:
        out = sys.__stdout__
        if out is None or not out.isatty():
            return
        out.write(self.notifier.sequence(title, body))
        out.flush()


__all__ = ["RunNotifier"]
