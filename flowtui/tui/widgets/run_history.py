"""Runs of a workflow, newest first, loaded a page at a time (keyset paging by run id)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from flowtui.engine.records import RunRecord
from flowtui.timefmt import fmt_clock, fmt_duration
from flowtui.tui.glyphs import glyph, status_style

PAGE_SIZE = 100
# (key, label), left to right
COLUMNS = (
    ("id", "Run"),
    ("status", "Status"),
    ("started", "Started"),
    ("duration", "Duration"),
    ("trigger", "Trigger"),
    ("approved", "Approved by"),
    ("branch", "Branch"),
    ("environment", "Env"),
)
# what a narrow pane keeps first; the rest is left out rather than scrolled to
# (the branch first, then who approved, then the environment: short, and where a deploy went)
PRIORITY = ("id", "status", "duration", "started", "trigger", "environment", "approved", "branch")


def fit_history_columns(width: int, wants: dict[str, int], padding: int = 1) -> list[str]:
    """The columns (by priority) whose content widths in `wants` fit in `width` cells, in
    display order; the run number and status always, a column wanting 0 cells never.

    Columns are left out strictly from the end of PRIORITY (the branch, then who
    approved, then the environment, ...): a narrow column after a wide one that does not fit is
    left out too, so what a narrower pane drops is always the same, as the README says."""
    keep: set[str] = set()
    used = 0
    for key in PRIORITY:
        if not wants.get(key) and key not in ("id", "status"):
            continue
        need = wants.get(key, 0) + 2 * padding
        if key not in ("id", "status") and used + need > width:
            break
        keep.add(key)
        used += need
    return [key for key, _ in COLUMNS if key in keep]


class RunHistory(DataTable[Text]):
    """Past runs. enter opens a run into the DAG, timeline and log views.

    Columns that do not fit the pane's width are left out (the branch first,
    then who approved, the environment, the trigger, ...), so the
    table never needs scrolling sideways.

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
        self._cells: list[dict[str, Text]] = []  # per run shown: every column's cell
        self._shown_columns: list[str] = []
        self._short_start = False  # "11-24 08:45" instead of "2026-11-24 08:45:55"
        self._live: dict[int, float] = {}  # runs that go on: their start, for `tick`
        self.exhausted = False

    def on_mount(self) -> None:
        self._set_columns(*self._fitting())

    def on_resize(self) -> None:
        if self._fitting() != (self._shown_columns, self._short_start):
            self._set_columns(*self._fitting())

    def reset(self) -> None:
        self.clear()
        self._ids = []
        self._cells = []
        self._live = {}
        self.exhausted = False

    def add_runs(self, runs: Sequence[RunRecord], approved_by: dict[int, str]) -> None:
        added: list[dict[str, Text]] = []
        for run in runs:
            if run.id in self._ids:
                continue
            self._ids.append(run.id)
            added.append(self._cells_of(run, approved_by))
        self._cells.extend(added)
        fitting = self._fitting()
        if fitting != (self._shown_columns, self._short_start):
            self._set_columns(*fitting)
        else:
            self._add_rows(added)
        if len(runs) < PAGE_SIZE:
            self.exhausted = True

    def merge_newest(self, runs: Sequence[RunRecord], approved_by: dict[int, str]) -> bool:
        """The newest page read again (the tab is live): runs newer than the table's go on
        top, rows whose run changed (ended, cancelled, approved) are redrawn; the cursor
        stays on its run.  True when anything changed."""
        newest = self._ids[0] if self._ids else 0
        index = {run_id: i for i, run_id in enumerate(self._ids)}
        on_top: list[tuple[int, dict[str, Text]]] = []
        changed = False
        for run in runs:
            cells = self._cells_of(run, approved_by)
            at = index.get(run.id)
            if at is not None:
                if self._cells[at] != cells:
                    self._cells[at] = cells
                    changed = True
            elif run.id > newest:
                on_top.append((run.id, cells))
        if on_top:
            on_top.sort(key=lambda item: -item[0])
            self._ids[:0] = [run_id for run_id, _ in on_top]
            self._cells[:0] = [cells for _, cells in on_top]
            changed = True
        if changed:  # one rebuild for the lot (the cursor's run kept)
            self._set_columns(*self._fitting())
        return changed

    def tick(self, now: float) -> None:
        """Move the times of the shown runs that still go on (the clock, every second)."""
        if "duration" not in self._shown_columns:
            return
        for run_id, started in self._live.items():
            if run_id in self._ids:
                cells = self._cells[self._ids.index(run_id)]
                cells["duration"] = Text(fmt_duration(max(now - started, 0.0)))
                self.update_cell(str(run_id), "duration", cells["duration"])

    def _cells_of(self, run: RunRecord, approved_by: dict[int, str]) -> dict[str, Text]:
        if run.status.is_final or run.started_at is None:
            self._live.pop(run.id, None)
        else:
            self._live[run.id] = run.started_at
        style = status_style(run.status, self.app.current_theme)
        trigger = run.trigger + (f" ({run.triggered_by})" if run.triggered_by else "")
        if run.parent_run_id:
            trigger += f" ← #{run.parent_run_id}"
        return {
            "id": Text(f"#{run.id}"),
            "status": Text(f"{glyph(run.status)} {run.status}", style=style),
            "started": Text(fmt_clock(run.started_at or run.created_at)),
            "started_short": Text(
                time.strftime("%m-%d %H:%M", time.localtime(run.started_at or run.created_at))
            ),
            "duration": Text(fmt_duration(run.duration) if run.duration is not None else "-"),
            "trigger": Text(trigger),
            "approved": Text(approved_by.get(run.id, "")),
            "branch": Text(run.branch or ""),
            "environment": Text(run.environment or ""),
        }

    def _fitting(self) -> tuple[list[str], bool]:
        """The columns that fit, and whether the start times are shortened for them."""
        wants = {key: 0 for key, _ in COLUMNS} | {"started_short": 0}
        for cells in self._cells:
            for key, text in cells.items():
                wants[key] = max(wants[key], text.cell_len)
        labels = dict(COLUMNS)
        for key in wants:  # an empty column (no approvals, no branches) is left out
            if wants[key] or not self._cells or key in ("id", "status", "started"):
                wants[key] = max(wants[key], len(labels.get(key, "")))
        width = self.size.width or 80
        if len(self._cells) + 1 > self.size.height:  # rows and the header: a scrollbar
            width -= self.styles.scrollbar_size_vertical
        keys = fit_history_columns(width, wants, self.cell_padding)
        wanted = [key for key, _ in COLUMNS if wants[key]]
        if keys != wanted:
            wants["started"] = max(wants["started_short"], len(labels["started"]))
            shorter = fit_history_columns(width, wants, self.cell_padding)
            if len(shorter) > len(keys):
                return shorter, True
        return keys, False

    def _set_columns(self, keys: list[str], short_start: bool) -> None:
        """Rebuild with these columns, keeping the cursor's run."""
        keep = self.selected_run
        self.clear(columns=True)
        labels = dict(COLUMNS)
        for key in keys:
            self.add_column(labels[key], key=key)
        self._shown_columns = keys
        self._short_start = short_start
        self._add_rows(self._cells)
        if keep is not None and keep in self._ids:
            self.move_cursor(row=self._ids.index(keep), animate=False)

    def _add_rows(self, rows: Sequence[dict[str, Text]]) -> None:
        for cells in rows:
            run_id = cells["id"].plain.lstrip("#")
            keys = self._shown_columns
            if self._short_start:
                keys = ["started_short" if key == "started" else key for key in keys]
            self.add_row(*(cells[key] for key in keys), key=run_id)

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
