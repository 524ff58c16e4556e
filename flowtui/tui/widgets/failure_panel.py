"""Under the DAG of a failed run: which step failed, its last error lines, what to do next."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual.content import Content
from textual.widgets import Static

from flowtui.glyphs import GLYPHS, status_label

TAIL_LINES = 5  # stderr lines shown


@dataclass(frozen=True, slots=True)
class Failure:
    """The first failed step of a run, as the panel shows it."""

    run_id: int
    step: str
    status: str  # failed, timed_out, rejected, cancelled
    message: str
    lines: tuple[str, ...]  # its last stderr lines (else its last lines)
    also: tuple[str, ...] = ()  # other steps that failed


class FailurePanel(Static):
    """Hidden until `show` is given a failure; `show(None)` hides it again.

    Its keys are the App's: `f` reruns from the failed step, `l` opens the step's log,
    `e` edits the workflow file.
    """

    DEFAULT_CSS = """
    FailurePanel {
        display: none;
        height: auto;
        max-height: 10;
        padding: 0 1;
        border-top: solid $error;
        background: $surface;
        &.-shown { display: block; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.failure: Failure | None = None

    def show(self, failure: Failure | None) -> None:
        if failure == self.failure:
            return
        self.failure = failure
        self.set_class(failure is not None, "-shown")
        self.update(self._content(failure) if failure is not None else "")

    @staticmethod
    def _content(failure: Failure) -> Content:
        """User text (messages, log lines) is never parsed as markup."""
        glyph = GLYPHS.get(failure.status, "✗")
        label = status_label(failure.status)
        if failure.message.startswith(label):  # "timed out after 5s" says it already
            label = ""
        parts: list[str | tuple[str, str]] = [
            (f"{glyph} {failure.step} {label}".rstrip(), "$error bold")
        ]
        if failure.message:
            parts += [(" — ", "dim"), failure.message]
        if failure.also:
            parts.append((f"  (also: {', '.join(failure.also)})", "dim"))
        for line in failure.lines[-TAIL_LINES:]:
            parts += [("\n│ ", "$error"), line]
        parts.append("\n")
        keys = ("f", "rerun from failed"), ("l", "its log"), ("s", "a shell there")
        for key, does in (*keys, ("e", "edit the file")):
            parts += [(key, "bold"), (f" {does}   ", "dim")]
        return Content.assemble(*parts)


def last_error_lines(lines: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """The last stderr lines of (stream, line) pairs, else its last output lines (flowtui's
    own `system` lines repeat what the panel says already)."""
    errors = [line for stream, line in lines if stream == "stderr"]
    chosen = errors or [line for stream, line in lines if stream != "system"]
    return tuple(chosen[-TAIL_LINES:])
