"""The list of workflows: status, triggers, last result, last duration, recent history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.message import Message
from textual.theme import Theme
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from flowtui.tui.glyphs import glyph, status_style

SPARK_LENGTH = 10
COLUMNS = ("dot", "name", "last", "recent")


@dataclass(frozen=True, slots=True)
class WorkflowRow:
    path: Path
    name: str
    status: str  # active | paused | draft | invalid
    triggers: str
    steps: int
    last_status: str | None = None
    last_run_id: int | None = None
    last_duration: str = ""
    recent: tuple[str, ...] = ()  # statuses of the newest runs, newest first
    error: str = ""


class WorkflowList(DataTable[Text]):
    """Workflows of the folder, one per row.

    | Key | Action |
    | :- | :- |
    | up / k, down / j | move |
    | enter | open the workflow's latest run |
    """

    BINDINGS = [
        ("j", "cursor_down", "Down"),
        ("k", "cursor_up", "Up"),
    ]

    DEFAULT_CSS = """
    WorkflowList {
        height: 1fr;
        border: none;
    }
    """

    class Highlighted(Message):
        def __init__(self, path: Path | None) -> None:
            super().__init__()
            self.path = path

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self._rows: list[WorkflowRow] = []
        self._filter = ""
        self._shown: dict[str, WorkflowRow] = {}  # row key → what its cells show, in order
        self._shown_theme = ""

    def on_mount(self) -> None:
        self.add_column("", key="dot", width=1)
        self.add_column("Workflow", key="name")
        self.add_column("Last", key="last")
        self.add_column("Recent", key="recent", width=SPARK_LENGTH)

    @property
    def selected_path(self) -> Path | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        return Path(str(key.value)) if key.value else None

    def set_filter(self, text: str) -> None:
        self._filter = text.strip().lower()
        self._redraw()

    def set_rows(self, rows: Sequence[WorkflowRow]) -> None:
        self._rows = list(rows)
        self._redraw()

    def _visible(self) -> list[WorkflowRow]:
        if not self._filter:
            return self._rows
        return [r for r in self._rows if self._filter in r.name.lower()]

    def _redraw(self) -> None:
        keep = self.selected_path
        theme = self.app.current_theme
        visible = self._visible()
        keys = [str(row.path) for row in visible]
        if keys == list(self._shown) and theme.name == self._shown_theme:
            self._update_changed(visible, theme)
        else:
            self._rebuild(visible, theme)
        if keep is not None:
            for index, row in enumerate(self._visible()):
                if row.path == keep:
                    self.move_cursor(row=index, animate=False)
                    break
        self.post_message(self.Highlighted(self.selected_path))

    def _rebuild(self, visible: list[WorkflowRow], theme: Theme) -> None:
        self.clear()
        for row in visible:
            self.add_row(*self._cells(row, theme), key=str(row.path))
        self._shown = {str(row.path): row for row in visible}
        self._shown_theme = theme.name

    def _update_changed(self, visible: list[WorkflowRow], theme: Theme) -> None:
        """Same rows in the same order: rewrite only the cells that changed.

        A rebuild re-measures and re-renders all rows and lays out the screen; the list is
        refreshed on every run status change and poll, and usually one row differs.
        """
        for row in visible:
            key = str(row.path)
            if self._shown[key] == row:
                continue
            old = self._cells(self._shown[key], theme)
            for column, before, after in zip(COLUMNS, old, self._cells(row, theme), strict=True):
                if before != after:
                    # columns only widen, as they do over clear() + add_row()
                    wider = after.cell_len > self.columns[ColumnKey(column)].content_width
                    self.update_cell(key, column, after, update_width=wider)
            self._shown[key] = row

    def _cells(self, row: WorkflowRow, theme: Theme) -> list[Text]:
        state_colour = {
            "active": status_style("succeeded", theme),
            "paused": status_style("held", theme),
            "draft": status_style("skipped", theme),
            "invalid": status_style("failed", theme),
        }.get(row.status, "")
        dot = Text("●", style=state_colour)
        name = Text(row.name, style="bold" if row.status == "active" else "")
        if row.status != "active":
            name.append(f" {row.status}", style=state_colour)
        if row.last_status:
            last = Text(glyph(row.last_status) + " ", style=status_style(row.last_status, theme))
            last.append(row.last_duration or row.last_status)
        else:
            last = Text("never run", style="dim")
        spark = Text()
        for status in reversed(row.recent[:SPARK_LENGTH]):
            spark.append("▮", style=status_style(status, theme))
        return [dot, name, last, spark]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(self.Highlighted(self.selected_path))
