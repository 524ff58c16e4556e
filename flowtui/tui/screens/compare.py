"""The shown run against the last green run before it (`v`): slower and faster steps,
status changes, changed outputs — the same words as `flowtui show RUN --compare`."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Label, Static

from flowtui.store.compare import Comparison
from flowtui.tui.screens.dialogs import Dialog


class CompareScreen(Dialog[None]):
    """escape, q or v close it; j / k scroll it."""

    BINDINGS = [
        Binding("escape,q,v", "close", "Close"),
        Binding("j", "scroll('down')", "Down", show=False),
        Binding("k", "scroll('up')", "Up", show=False),
    ]
    DEFAULT_CSS = """
    CompareScreen > Vertical { width: 90; }
    CompareScreen VerticalScroll { height: auto; max-height: 1fr; }
    """

    def __init__(self, comparison: Comparison) -> None:
        super().__init__()
        self.comparison = comparison

    def compose(self) -> ComposeResult:
        title, *rest = self.comparison.lines()
        with Vertical():
            yield Label(title, classes="title", markup=False)
            with VerticalScroll():
                yield Static(Text("\n".join(line.strip() for line in rest)), id="compare-lines")

    def action_scroll(self, direction: str) -> None:
        self.query_one(VerticalScroll).scroll_relative(
            y=1 if direction == "down" else -1, animate=False
        )

    def action_close(self) -> None:
        self.dismiss(None)
