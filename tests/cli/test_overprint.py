"""A step's carriage returns on the console: its stdout/stderr line shows its last text
(a progress bar) also under the inline approval's stream; flowtui's own system lines, which
may end in a step's words, are never cut (found in review)."""

from __future__ import annotations

import io
import os

from flowtui.cli.console import ConsoleReporter
from flowtui.cli.lineedit import AbovePrompt, PromptLine
from flowtui.cli.visible import VisibleWriter, step_text
from flowtui.engine.events import StepLog


def test_a_system_line_keeps_every_part_a_step_line_its_last_text() -> None:
    shown = io.StringIO()
    console = ConsoleReporter(VisibleWriter(shown), colour=False)  # type: ignore[arg-type]
    console(StepLog(1, "deploy", 1, "system", "FAILED web1: migrate\rok: all 3 hosts", 0.0))
    console(StepLog(1, "deploy", 1, "stdout", "progress 10%\rprogress 100%", 0.0))
    text = shown.getvalue()
    assert "│ FAILED web1: migrate␍ok: all 3 hosts\n" in text
    assert "│ progress 100%\n" in text and "10%" not in text


def test_under_the_inline_approval_a_progress_bar_is_cut_too() -> None:
    read, write = os.pipe()
    try:
        terminal = io.StringIO()
        above = AbovePrompt(VisibleWriter(io.StringIO()), PromptLine(terminal, read))  # type: ignore[arg-type]
        assert step_text("progress 10%\rprogress 100%", above) == "progress 100%"  # type: ignore[arg-type]
        # --raw (no `visible` under it): every byte
        raw = AbovePrompt(io.StringIO(), PromptLine(terminal, read))
        assert step_text("a\rb", raw) == "a\rb"  # type: ignore[arg-type]
    finally:
        os.close(read)
        os.close(write)
