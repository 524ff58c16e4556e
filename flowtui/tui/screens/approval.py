"""The approve/reject dialog: the decision in context, with its inputs and a comment.

It shows what the gate asks (its `message:`), who started the run and when, how long the
step has been held and how long it may still wait (both live), how many approvals it needs
and who gave them, and the one-line results of the steps it depends on — the plan it
gates.  An approval asks the gate's `inputs:` (a field per input: text, a number, a choice,
a checkbox); answers that do not fit are said in the dialog, which stays open.  Enter sends,
escape cancels.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from flowtui.control import Gate
from flowtui.glyphs import GLYPHS, status_label
from flowtui.model.approval import ApprovalInput, InputsRefused, check_answers
from flowtui.timefmt import fmt_clock, fmt_duration
from flowtui.tui.screens.dialogs import Dialog

MAX_UPSTREAM = 12  # result lines shown; the rest are counted


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the dialog was given: the comment, and the inputs' answers (an approval)."""

    comment: str
    inputs: dict[str, str] = field(default_factory=dict)


class ApprovalScreen(Dialog[Verdict | None]):
    """Approve or reject one held step; dismisses with the Verdict, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    # the question, the gate's message and its clock stay at the top and the buttons at the
    # bottom; what lies between (the results, the inputs, the comment) scrolls, so an 80x24
    # terminal opens on the question with the buttons in sight (the focused field is
    # scrolled into view inside the middle only). The buttons sit on the left, where a
    # toast (bottom right) never covers them.
    DEFAULT_CSS = """
    ApprovalScreen > Vertical { width: 90; overflow-y: hidden; }
    ApprovalScreen #gate-body { height: auto; }  /* its max-height: _fit_body */
    ApprovalScreen #gate-message { text-style: bold; }
    ApprovalScreen #gate-clock { color: $warning; }
    ApprovalScreen #gate-clock.-decided { color: $text-error; text-style: bold; }
    ApprovalScreen #gate-upstream { height: auto; max-height: 25vh; margin-top: 1; }
    ApprovalScreen .muted { color: $text-muted; }
    ApprovalScreen #gate-inputs { height: auto; margin-top: 1; }
    ApprovalScreen #gate-inputs Input, ApprovalScreen #gate-inputs Select { margin-bottom: 0; }
    ApprovalScreen #gate-error { color: $text-error; }
    ApprovalScreen #gate-error.-empty { display: none; }
    ApprovalScreen .buttons { align-horizontal: left; }
    ApprovalScreen .buttons Button { margin-left: 0; margin-right: 2; }
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
        decided: Callable[[], Awaitable[str | None]] | None = None,
    ) -> None:
        """`decided`: asked every second; once the step is no longer held (decided from a
        CLI, another dashboard, its timeout) it says how, and the dialog stops offering
        the decision."""
        super().__init__()
        self._decided = decided
        self.decided_text: str | None = None  # how it was decided elsewhere, once it was
        self._asking = False
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
                markup=False,
            )
            if gate.message:
                yield Static(Content(gate.message), id="gate-message")
            yield Static(
                Content(f"started by {gate.started_by} at {fmt_clock(gate.started_at)}"),
                id="gate-started",
            )
            yield Static(self._clock_text(), id="gate-clock")
            who = ", ".join(self.approvers) if self.approvers else "anyone"
            yield Static(Content(f"approvers: {who}{self._rules_text()}"), classes="muted")
            with VerticalScroll(id="gate-body"):
                with VerticalScroll(id="gate-upstream"):
                    yield Static(self._upstream_content(), id="gate-results")
                if self.asks_inputs:
                    with Vertical(id="gate-inputs"):
                        for spec in gate.inputs:
                            yield Label(Content(self._field_label(spec)))
                            yield self._field(spec)
                elif self.verb == "approve" and gate.given:
                    given = ", ".join(f"{k}={v}" for k, v in gate.given.items())
                    first = gate.approved_by[0] if gate.approved_by else "?"
                    yield Static(Content(f"inputs given by {first}: {given}"), id="gate-given")
                yield Static("", id="gate-error", classes="-empty")
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

    @property
    def asks_inputs(self) -> bool:
        """Whether this decision gives the inputs: the first approval of a gate with some."""
        return self.verb == "approve" and bool(self.gate.inputs) and not self.gate.approved_by

    def _rules_text(self) -> str:
        rules, gate = self.gate.rules, self.gate
        text = ""
        if rules.required_approvals > 1:
            so_far = f": {', '.join(gate.approved_by)}" if gate.approved_by else ""
            text += f" · {len(gate.approved_by)} of {rules.required_approvals} approvals{so_far}"
        if not rules.allow_self_approval:
            text += f" · not {gate.starter or 'who started it'} (self-approval off)"
        return text

    @staticmethod
    def _field_label(spec: ApprovalInput) -> str:
        about = f" — {spec.description}" if spec.description else ""
        return f"{spec.describe()}{about}"

    @staticmethod
    def _field(spec: ApprovalInput) -> Input | Select[str] | Checkbox:
        wid = f"input-{spec.name}"
        if spec.type == "boolean":
            return Checkbox(spec.name, value=spec.default == "true", id=wid, compact=True)
        if spec.type == "choice":
            options = [(o, o) for o in spec.options]
            if spec.default is not None:
                return Select(options, value=spec.default, allow_blank=False, id=wid, compact=True)
            return Select(options, id=wid, compact=True)
        if spec.type == "number":
            return Input(spec.default or "", type="number", id=wid, compact=True, placeholder="0")
        hint = "required" if spec.required and spec.default is None else "optional"
        return Input(spec.default or "", id=wid, compact=True, placeholder=hint)

    def answers(self) -> dict[str, str]:
        """What the fields say, by input name (an empty text or no choice: not given)."""
        given: dict[str, str] = {}
        for spec in self.gate.inputs:
            widget = self.query_one(f"#input-{spec.name}")
            if isinstance(widget, Checkbox):
                given[spec.name] = "true" if widget.value else "false"
            elif isinstance(widget, Select):
                if isinstance(widget.value, str):
                    given[spec.name] = widget.value
            elif isinstance(widget, Input) and widget.value != "":
                given[spec.name] = widget.value
        return given

    def _send(self) -> None:
        if self.decided_text is not None:  # nothing left to decide: enter closes
            self.dismiss(None)
            return
        given = self.answers() if self.asks_inputs else {}
        if self.asks_inputs:
            try:
                check_answers(self.gate.inputs, given)
            except InputsRefused as exc:
                error = self.query_one("#gate-error", Static)
                error.update(Content(f"not yet: {exc}"))
                error.set_class(False, "-empty")
                return  # the dialog stays open, the step held
        self.dismiss(Verdict(self.query_one("#prompt", Input).value, given))

    def on_mount(self) -> None:
        first = self.query("#gate-inputs Input, #gate-inputs Select, #gate-inputs Checkbox")
        (first.first() if first else self.query_one("#prompt", Input)).focus()
        self.set_interval(1.0, self._tick)
        self.call_after_refresh(self._fit_body)

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit_body)

    def _fit_body(self) -> None:
        """Let the middle grow to what the screen leaves beside the top and the buttons
        (the box is at most 90% of the screen high): then it, not the box, scrolls."""
        box = self.query_one("Vertical")
        body = self.query_one("#gate-body", VerticalScroll)
        fixed = sum(
            c.outer_size.height + c.styles.margin.height
            for c in box.children
            if c is not body and c.display
        )
        room = int(self.size.height * 0.9) - box.styles.gutter.height - fixed
        body.styles.max_height = max(room, 3)

    def _tick(self) -> None:
        if self.decided_text is not None:
            return
        self.query_one("#gate-clock", Static).update(self._clock_text())
        if self._decided is not None and not self._asking:
            self._asking = True
            self.run_worker(self._ask_decided(), group="decided", exit_on_error=False)

    async def _ask_decided(self) -> None:
        try:
            assert self._decided is not None
            text = await self._decided()
        finally:
            self._asking = False
        if text is not None and self.is_attached:
            self.show_decided(text)

    def show_decided(self, text: str) -> None:
        """The step was decided elsewhere: said where the clock was; the fields and the
        decision's button are disabled, the other button closes."""
        self.decided_text = text
        clock = self.query_one("#gate-clock", Static)
        clock.update(Content(f"{text} — nothing left to decide here"))
        clock.add_class("-decided")
        for widget in self.query("Input, Select, Checkbox"):
            widget.disabled = True
        self.query_one("#ok", Button).disabled = True
        close = self.query_one("#cancel", Button)
        close.label = "Close"
        close.focus()

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
        event.stop()
        self._send()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._send()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
