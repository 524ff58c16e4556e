"""The approve/reject dialog: the decision in context, with an optional comment.

It shows what the gate asks (its `message:`), who started the run and when, how long the
step has been held and how long it may still wait (both live), and the one-line results of
the steps it depends on — the plan it gates.  Enter sends the comment, escape cancels.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Button, Input, Label, Static

from flowtui.control import Gate
from flowtui.glyphs import GLYPHS, status_label
from flowtui.timefmt import fmt_clock, fmt_duration
from flowtui.tui.screens.dialogs import Dialog

MAX_UPSTREAM = 12  # result lines shown; the rest are counted


class ApprovalScreen(Dialog[str | None]):
    """Approve or reject one held step; dismisses with the comment, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    # compact inputs and buttons, and the results in a scroll of at most a quarter of the
    # screen: the whole dialog fits an 80x24 terminal
    DEFAULT_CSS = """
    ApprovalScreen > Vertical { width: 90; }
    ApprovalScreen #gate-message { text-style: bold; }
    ApprovalScreen #gate-clock { color: $warning; }
    ApprovalScreen #gate-upstream { height: auto; max-height: 25vh; margin-top: 1; }
    ApprovalScreen .muted { color: $text-muted; }
    """

    def __init__(
        self,
        *,
        verb: str,
        step: str,
        run_id: int,
        workflow: str,
        gate: Gate,
        approvers: list[str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.verb = verb
        self.step = step
        self.run_id = run_id
        self.workflow = workflow
        self.gate = gate
        self.approvers = approvers
        self._clock = clock

    def compose(self) -> ComposeResult:
        gate = self.gate
        with Vertical():
            yield Label(
                f"{self.verb.capitalize()} {self.step} of {self.workflow} run #{self.run_id}?",
                classes="title",
            )
            if gate.message:
                yield Static(Content(gate.message), id="gate-message")
            yield Static(
                Content(f"started by {gate.started_by} at {fmt_clock(gate.started_at)}"),
                id="gate-started",
            )
            yield Static(self._clock_text(), id="gate-clock")
            who = ", ".join(self.approvers) if self.approvers else "anyone"
            yield Static(Content(f"approvers: {who}"), classes="muted")
            with VerticalScroll(id="gate-upstream"):
                yield Static(self._upstream_content(), id="gate-results")
            yield Label("Comment (optional):")
            yield Input(id="prompt", compact=True)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button(
                    self.verb.capitalize(),
                    id="ok",
                    variant="primary" if self.verb == "approve" else "error",
                    compact=True,
                )

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        self.query_one("#gate-clock", Static).update(self._clock_text())

    def _clock_text(self) -> str:
        now = self._clock()
        held = self.gate.held_for(now)
        parts = [f"held for {fmt_duration(held)}" if held is not None else "held"]
        left = self.gate.time_left(now)
        if left is not None:
            parts.append(f"rejected by itself in {fmt_duration(left)} (timeout)")
        else:
            parts.append("no timeout")
        return " · ".join(parts)

    def _upstream_content(self) -> Content:
        steps = self.gate.upstream
        if not steps:
            return Content.styled("it depends on no step", "$text-muted")
        parts: list[str | tuple[str, str]] = [("what it gates:", "$text-muted")]
        width = min(max(len(s.name) for s in steps), 28)
        for step in steps[:MAX_UPSTREAM]:
            status = str(step.status)
            summary = step.message or status_label(status)
            parts += ["\n", f"{GLYPHS.get(status, '?')} ", (step.name.ljust(width), "bold")]
            parts += ["  ", summary]
        if len(steps) > MAX_UPSTREAM:
            parts += ["\n", (f"… and {len(steps) - MAX_UPSTREAM} more steps", "$text-muted")]
        return Content.assemble(*parts)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self.dismiss(self.query_one(Input).value)
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
