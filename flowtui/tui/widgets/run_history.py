"""Runs of a workflow, newest first, loaded a page at a time (keyset paging by run id)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from flowtui.engine.records import RunRecord
from flowtui.timefmt import fmt_clock, fmt_duration
from flowtui.tui.glyphs import glyph, status_style

PAGE_SIZE = 100


class RunHistory(DataTable[Text]):
    """Past runs. enter opens a run into the DAG, timeline and log views.

    | Key | Action |
    | :- | :- |
    | up / k, down / j | move |
    | enter | open the run |

    Reaching the last loaded row asks for the next page (`NeedMore`).
    """

    BINDINGS = [
        ("j", "cursor_down", "Down"),
        ("k", "cursor_up", "Up"),
    ]

    class RunChosen(Message):
        def __init__(self, run_id: int) -> None:
            super().__init__()
            self.run_id = run_id

    class NeedMore(Message):
        def __init__(self, before_id: int) -> None:
            super().__init__()
            self.before_id = before_id

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row")
        self._ids: list[int] = []
        self.exhausted = False

    def on_mount(self) -> None:
        self.add_column("Run", key="id")
        self.add_column("Status", key="status")
        self.add_column("Started", key="started")
        self.add_column("Duration", key="duration")
        self.add_column("Trigger", key="trigger")
        self.add_column("Approved by", key="approved")
        self.add_column("Branch", key="branch")

    def reset(self) -> None:
        self.clear()
        self._ids = []
        self.exhausted = False

    def add_runs(self, runs: Sequence[RunRecord], approved_by: dict[int, str]) -> None:
        theme = self.app.current_theme
        for run in runs:
            if run.id in self._ids:
                continue
            self._ids.append(run.id)
            style = status_style(run.status, theme)
            status = Text(f"{glyph(run.status)} {run.status}", style=style)
            trigger = run.trigger + (f" ({run.triggered_by})" if run.triggered_by else "")
            if run.parent_run_id:
                trigger += f" ← #{run.parent_run_id}"
            self.add_row(
                Text(f"#{run.id}"),
                status,
                Text(fmt_clock(run.started_at or run.created_at)),
                Text(fmt_duration(run.duration) if run.duration is not None else "-"),
                Text(trigger),
                Text(approved_by.get(run.id, "")),
                Text(run.branch or ""),
                key=str(run.id),
            )
        if len(runs) < PAGE_SIZE:
            self.exhausted = True

    @property
    def selected_run(self) -> int | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        return int(str(key.value)) if key.value else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if not self.exhausted and self._ids and event.cursor_row >= len(self._ids) - 5:
            self.post_message(self.NeedMore(self._ids[-1]))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        run_id = self.selected_run
        if run_id is not None:
            self.post_message(self.RunChosen(run_id))
