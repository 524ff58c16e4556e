"""Printing runs for a terminal or a log file: live progress and the final summary.

Plain text with ANSI colour only when stdout is a terminal (and NO_COLOR is unset), so the
output reads the same in a pipe, over SSH and in CI logs.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from flowtui.cli.hints import command
from flowtui.cli.links import hyperlink, links_enabled, run_url
from flowtui.cli.visible import step_text
from flowtui.engine.events import (
    Event,
    RemoteLogSeen,
    RunStatusChanged,
    StepLog,
    StepStatusChanged,
)
from flowtui.engine.records import ApprovalRecord, RunRecord, StepRecord
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.glyphs import GLYPHS, attempts_note, shown_status, status_label
from flowtui.model.approval import gate_rules
from flowtui.timefmt import fmt_duration

COLOURS: dict[str, str] = {
    "succeeded": "32",
    "reused": "36",
    "running": "34",
    "held": "33",
    "queued": "2",
    "pending": "2",
    "skipped": "2",
    "not_run": "2",
    "left_out": "2",
    "failed": "31",
    "allowed_failure": "33",
    "timed_out": "31",
    "rejected": "31",
    "cancelled": "35",
    "interrupted": "35",
}


def use_colour(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


class Painter:
    """Colours (when `enabled`) and run/step links (when `links`; default: stdout is a
    terminal, flowtui/cli/links.py)."""

    def __init__(self, enabled: bool, links: bool | None = None) -> None:
        self.enabled = enabled
        self.links = links_enabled(sys.stdout) if links is None else links

    def link(self, text: str, run_id: int | str, step: str | None = None) -> str:
        """`text` linking to the run (or its step) where the terminal shows links."""
        return hyperlink(text, run_url(run_id, step)) if self.links and text else text

    def __call__(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled and code else text

    def status(self, status: str, label: str | None = None) -> str:
        text = f"{GLYPHS.get(status, ' ')} {label or status_label(status)}"
        return self(text, COLOURS.get(status, ""))


def shown(step: StepRecord, run: RunRecord) -> str:
    """The step's status as shown (`flowtui.glyphs.shown_status`): not_run, allowed_failure…"""
    return shown_status(
        str(step.status),
        run_final=run.status.is_final,
        allowed=step.name in run.allowed_failures,
        left_out=step.name in run.left_out,
    )


def step_label(step: StepRecord, approvals: dict[str, ApprovalRecord], run: RunRecord) -> str:
    """What a person calls the outcome: an approval step 'approved', not 'succeeded'; a step
    a finished run never reached 'not run'; a retried success with its attempts."""
    if step.type == "approval" and step.status == StepStatus.SUCCEEDED and step.name in approvals:
        return "approved"
    status = shown(step, run)
    note = attempts_note(status, step.attempt)
    return f"{status_label(status)} ({note})" if note else status_label(status)


def step_duration(step: StepRecord, now: float | None = None) -> float | None:
    return step.elapsed(now)


class ConsoleReporter:
    """Follows one run (and the runs it starts) on the bus and prints what happens."""

    def __init__(
        self,
        out: TextIO | None = None,
        *,
        show_logs: bool = True,
        colour: bool | None = None,
    ) -> None:
        self.out = out or sys.stdout
        colours = use_colour(self.out) if colour is None else colour
        self.paint = Painter(colours, links_enabled(self.out))
        self.show_logs = show_logs
        self._width = 12
        self.allowed_failures: frozenset[str] = frozenset()  # continue_on_failure steps
        self._at: float | None = None
        self._stamped: tuple[int, str] | None = None  # the last second shown, as shown

    def set_step_names(self, names: Sequence[str]) -> None:
        if names:
            self._width = min(max(len(n) for n in names), 28)

    def _stamp(self) -> str:
        """The event's time of day, painted: worked out once per second, not per line."""
        second = int(time.time() if self._at is None else self._at)
        if self._stamped is None or self._stamped[0] != second:
            stamp = self.paint(time.strftime("%H:%M:%S", time.localtime(second)), "2")
            self._stamped = (second, stamp)
        return self._stamped[1]

    def _line(self, step: str, text: str, run_id: int | None = None) -> None:
        name = step.ljust(self._width) if step else " " * self._width
        if step and run_id is not None:
            name = self.paint.link(step, run_id, step) + name[len(step) :]
        self.out.write(f"{self._stamp()} {name} {text}\n")
        self.out.flush()

    def __call__(self, event: Event) -> None:
        self._at = getattr(event, "at", None)  # `attach` replays events recorded earlier
        if isinstance(event, StepLog | RemoteLogSeen):
            if self.show_logs or event.stream == "system":
                bar = self.paint("│", "31" if event.stream == "stderr" else "2")
                system = event.stream == "system"
                line = self.paint(event.line, "2") if system else step_text(event.line, self.out)
                self._line(event.step, f"{bar} {line}", event.run_id)
        elif isinstance(event, StepStatusChanged):
            if event.status == StepStatus.PENDING:
                return
            extra = f" (attempt {event.attempt})" if event.attempt > 1 else ""
            msg = f" — {event.message}" if event.message else ""
            status = shown_status(
                event.status, run_final=False, allowed=event.step in self.allowed_failures
            )
            self._line(event.step, self.paint.status(status) + extra + msg, event.run_id)
            if event.status == StepStatus.HELD:
                hint = (
                    f"  approve: {command(f'approve {event.run_id} {event.step}')}"
                    f"   reject: {command(f'reject {event.run_id} {event.step}')}"
                )
                self._line(event.step, self.paint(hint, "33"))
        elif isinstance(event, RunStatusChanged) and event.status in (
            RunStatus.RUNNING,
            RunStatus.HELD,
        ):
            run = self.paint.link(f"run {event.run_id}", event.run_id)
            self._line("", self.paint(f"{run} of {event.workflow}: {event.status}", "1"))


def render_summary(
    run: RunRecord,
    steps: Sequence[StepRecord],
    approvals: Sequence[ApprovalRecord],
    paint: Painter,
    *,
    now: float | None = None,
) -> str:
    """The result block `flowtui run` ends with and `flowtui show` starts with."""
    decided = {a.step: a for a in approvals}
    width = max([len(s.name) for s in steps] + [4])
    labels = [step_label(s, decided, run) for s in steps]
    label_width = max([len(x) for x in labels] + [9]) + 2
    status = paint(str(run.status), COLOURS.get(run.status, ""))
    head = f"Workflow: {run.workflow}    Run: {paint.link(str(run.id), run.id)}    Status: {status}"
    lines = [head]
    if run.parent_run_id:
        if run.trigger == "promote":  # the run whose release it deploys
            lines.append(f"Promotes the release of run {run.parent_run_id}")
        else:
            lines.append(f"Rerun ({run.rerun_mode}) of run {run.parent_run_id}")
    number_width = len(str(len(steps)))
    for index, (step, label) in enumerate(zip(steps, labels, strict=True), start=1):
        status_text = paint.status(shown(step, run), label)
        pad = " " * (label_width - len(label))
        duration = step_duration(step, now)
        dur = fmt_duration(duration) if duration is not None else "-"
        summary = step.message
        if step.status == StepStatus.SKIPPED and not summary:
            summary = "skipped"
        tail = f"   → {summary}" if summary else ""
        lines.append(
            f"{index:>{number_width + 1}}. {paint.link(step.name, run.id, step.name)}"
            f"{' ' * (width - len(step.name))}  {status_text}{pad}"
            f"{dur:>7}{tail}"
        )
    end = run.ended_at or now or time.time()
    total = fmt_duration(end - run.started_at) if run.started_at else "-"
    who = f" ({run.triggered_by})" if run.triggered_by else ""
    lines.append(f"Total: {total}   Triggered by: {run.trigger}{who}")
    if run.message and run.status != RunStatus.SUCCEEDED:
        lines.append(f"Reason: {run.message}")
    return "\n".join(lines)


def gate_rules_lines(run: RunRecord, step: str) -> list[str]:
    """`   needs 2 approvals; self-approval not allowed` for `show`, when the gate has
    rules beyond one approval by anyone (as the run's own definition says)."""
    from flowtui.control import recorded_step  # it loads the recorded workflow

    spec = recorded_step(run, step)
    rules = gate_rules(spec.spec if spec else {})
    parts = []
    if rules.required_approvals > 1:
        parts.append(f"needs {rules.required_approvals} approvals")
    if not rules.allow_self_approval:
        who = f" ({run.triggered_by} started it)" if run.triggered_by else ""
        parts.append(f"self-approval not allowed{who}")
    return [f"   {'; '.join(parts)}\n"] if parts else []


def plural(count: int, noun: str) -> str:
    """`1 step`, `2 steps`."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
