"""The approval inbox: every held step of every active run, as `flowtui inbox` lists them.

A row per held step: run, workflow, step, what it asks, how long it has waited, how long
it may still wait, and who may approve it.  `a` approves and `x` rejects the highlighted
one (through the approval dialog, which asks its inputs), escape closes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Label, Static

from flowtui.control import INBOX_COLUMNS, InboxItem
from flowtui.tui.markup import cells
from flowtui.tui.screens.dialogs import Dialog
from flowtui.tui.widgets.row_table import RowTable


class InboxScreen(Dialog[tuple[bool, int, str] | None]):
    """Dismisses with (approve?, run id, step) for the highlighted row, or None.

    | Key | Does |
    |---|---|
    | a | approve the highlighted step |
    | x | reject it |
    | escape | close |
    """

    BINDINGS = [
        Binding("a", "decide(True)", "Approve", id="inbox_approve", tooltip="Approve it"),
        Binding("x", "decide(False)", "Reject", id="inbox_reject", tooltip="Reject it"),
        Binding("escape", "cancel", "Close", id="inbox_close", tooltip="Close the inbox"),
    ]

    DEFAULT_CSS = """
    InboxScreen > Vertical { width: 118; }
    InboxScreen DataTable { height: auto; max-height: 60vh; }
    InboxScreen .muted { color: $text-muted; }
    """

    def __init__(
        self, items: Sequence[InboxItem], *, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__()
        self.items = list(items)
        self._clock = clock

    def compose(self) -> ComposeResult:
        with Vertical():
            count = len(self.items)
            yield Label(
                f"Inbox: {count} step{'s' if count != 1 else ''} waiting for approval",
                classes="title",
            )
            yield RowTable(id="inbox-table", cursor_type="row", zebra_stripes=True)
            yield Static("a approve · x reject · escape close", classes="muted")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*(c.capitalize() for c in INBOX_COLUMNS))
        now = self._clock()
        for item in self.items:
            table.add_row(*cells(item.row(now)), key=f"{item.held.run.id}:{item.held.name}")
        table.focus()

    def action_decide(self, approve: bool) -> None:
        table = self.query_one(DataTable)
        if not self.items:
            self.notify("nothing waits for approval", severity="warning")
            return
        item = self.items[table.cursor_row]
        self.dismiss((approve, item.held.run.id, item.held.name))

    def action_cancel(self) -> None:
        self.dismiss(None)
