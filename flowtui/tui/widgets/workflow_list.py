"""The list of workflows: status, triggers, last result, last duration, recent history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.cells import cell_len
from rich.text import Text
from textual.message import Message
from textual.theme import Theme
from textual.widget import Widget
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from flowtui.tui.glyphs import glyph, status_style

SPARK_LENGTH = 10
SHORT_SPARK = 5
COLUMNS = ("dot", "name", "last", "recent")
# at wide sizes the list's panel (#left, 46 cells in styles/app.tcss) grows up to this to
# show the longest name whole, beside the last result and the spark of recent runs
PANEL_CAP = 64
DEFAULT_PANEL = 46
NAME_ROOM = 14  # a name column narrower than this (or its longest name) costs other columns
NAME_LEAST = 10  # ... down to this, before the last result is cut to its glyph
NEVER_RUN = "never run"
PENDING = "…"  # a row whose runs are still being read
# the last result's column is at least this wide ("never run", "⟳ running", "✓ 12m 05s"): a
# run starting or ending, or the first frame's rows filling in, then rewrite their cells in
# place instead of rebuilding every row and laying the screen out again (0.1-0.3 s with 200
# workflows, keys waiting behind it)
LAST_ROOM = len(NEVER_RUN)
LABELS = {"dot": "", "name": "Workflow", "last": "Last", "recent": "Recent"}


@dataclass(frozen=True, slots=True)
class ListFit:
    """Content widths of the list's columns for a width; 0 leaves a column out."""

    name: int
    last: int  # 1: the last result's glyph only
    recent: int


def fit_columns(width: int, name_wants: int, last_wants: int, padding: int = 1) -> ListFit:
    """The widest readable columns within `width` cells (padding on both sides of each).

    The name comes first, then the last result, then the spark of recent runs (ten, then
    five runs, then none), then the name gets shorter (down to NAME_LEAST: a name cut with
    … still tells rows apart, a last result cut to its first letter tells nothing), and only
    then the last result shrinks to its glyph.
    """
    pad = 2 * padding
    rest = width - (1 + pad)  # the status dot is always there
    wanted = min(name_wants, NAME_ROOM)
    choices = [
        (last_wants, SPARK_LENGTH, wanted),
        (last_wants, SHORT_SPARK, wanted),
        (last_wants, 0, wanted),
        (last_wants, 0, min(name_wants, NAME_LEAST)),
        (1, 0, 1),
    ]
    for last, recent, least in choices:
        room = rest - (last + pad) - (recent + pad if recent else 0) - pad
        if room >= least or least == 1:
            return ListFit(max(min(name_wants, room), 1), last, recent)
    raise AssertionError("unreachable")


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
    # its runs are not read yet (the first frame shows the names before the history's
    # rows): the last result shows as PENDING, not as "never run"
    runs_unknown: bool = False


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
        self._fit: ListFit | None = None
        self._panel_width: int | None = None  # set on the panel, None: its CSS width

    def on_mount(self) -> None:
        self._set_columns(self._fit_for([]))

    def on_resize(self) -> None:
        self._fit_panel()
        if self._fit is not None and self._fit_for(self._visible()) != self._fit:
            self._redraw()

    def _fit_panel(self) -> None:
        """At wide sizes, widen the panel (up to PANEL_CAP, half the screen) until every
        name fits whole: `production-deploy` and its copy `production-deploy-2`, or a name
        with its added word (`approval-hold invalid`), never look alike.  Its CSS width
        again when the names are short or the screen narrow."""
        panel = self.parent
        if not isinstance(panel, Widget) or panel.id != "left":
            return
        want: int | None = None
        if self.screen.has_class("-wide") and self._rows:
            pad = 2 * self.cell_padding
            names = max(_name_len(row) for row in self._rows)
            last = max(LAST_ROOM, *(_last_len(row) for row in self._rows))
            scrollbar = self.styles.scrollbar_size_vertical
            # the dot, the name, the last result and the spark, each padded; the border
            needed = (1 + pad) + (names + pad) + (last + pad) + (SPARK_LENGTH + pad) + 1
            needed += scrollbar
            if needed > DEFAULT_PANEL:
                want = min(needed, PANEL_CAP, self.app.size.width // 2)
        if want != self._panel_width:
            self._panel_width = want
            panel.styles.width = want

    def _fit_for(self, rows: Sequence[WorkflowRow]) -> ListFit:
        """Column widths that fit the list's width with `rows`, so it never scrolls sideways
        (which would hide the status dots)."""
        # measured from the strings: the list is redrawn on every status change
        name_wants = max((_name_len(row) for row in rows), default=len(LABELS["name"]))
        last_wants = max((_last_len(row) for row in rows), default=len(LABELS["last"]))
        width = self.size.width or 46
        if len(rows) + 1 > self.size.height:  # rows and the header: a vertical scrollbar
            width -= self.styles.scrollbar_size_vertical
        last_wants = max(last_wants, LAST_ROOM)
        return fit_columns(width, max(name_wants, 4), last_wants, self.cell_padding)

    def _set_columns(self, fit: ListFit) -> None:
        self.clear(columns=True)
        widths = {"dot": 1, "name": fit.name, "last": fit.last, "recent": fit.recent}
        for column in COLUMNS:
            if widths[column]:
                self.add_column(LABELS[column], key=column, width=widths[column])
        self._fit = fit

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
        self._fit_panel()
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
        fit = self._fit_for(visible)
        if keys == list(self._shown) and theme.name == self._shown_theme and fit == self._fit:
            self._update_changed(visible, theme)
        else:
            if fit != self._fit:
                self._set_columns(fit)
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
            self.add_row(*self._fitted(row, theme), key=str(row.path))
        self._shown = {str(row.path): row for row in visible}
        self._shown_theme = theme.name

    def _update_changed(self, visible: list[WorkflowRow], theme: Theme) -> None:
        """Same rows in the same order: rewrite only the cells that changed.

        A rebuild re-measures and re-renders all rows and lays out the screen; the list is
        refreshed on every run status change and poll, and usually one row differs.
        """
        for index, row in enumerate(visible):
            key = str(row.path)
            if self._shown[key] == row:
                continue
            old = self._fitted(self._shown[key], theme)
            for column, before, after in zip(
                self._columns(), old, self._fitted(row, theme), strict=True
            ):
                if before != after:
                    self._rewrite_cell(key, column, after)
            self._shown[key] = row
            self.refresh_row(index)

    def _rewrite_cell(self, key: str, column: str, value: Text) -> None:
        """`update_cell` without repainting every row: the columns have fixed widths, so
        only this row's lines change.  `update_cell` bumps the table's update count, which
        every rendered row and cell is cached under, and repaints the whole widget: all
        visible rows (~50) go through Rich again, 20-60 ms in which no key is answered.
        Here the table's own render caches are dropped (a row is rendered again when it is
        repainted) and the caller marks only this row for repainting (`refresh_row`); the
        other rows' painted lines stay in the widget's line cache (`_clear_caches` would
        drop those too).  Private Textual API, guarded in tests/test_private_apis.py."""
        self._data[RowKey(key)][ColumnKey(column)] = value
        for cache in (
            self._row_render_cache,
            self._cell_render_cache,
            self._row_renderable_cache,
            self._line_cache,
        ):
            cache.clear()

    def _columns(self) -> list[str]:
        return [str(key.value) for key in self.columns]

    def _fitted(self, row: WorkflowRow, theme: Theme) -> list[Text]:
        """The row's cells for the shown columns, cut with … to their widths."""
        fit = self._fit
        assert fit is not None
        dot, name, last, recent = self.row_cells(row, theme)
        name.truncate(fit.name, overflow="ellipsis")
        if fit.last < last.cell_len:
            last = last[:1] if fit.last == 1 else last
            last.truncate(fit.last, overflow="ellipsis")
        cells = [dot, name, last]
        if fit.recent:
            cells.append(recent[max(len(recent) - fit.recent, 0) :])
        return cells

    @staticmethod
    def row_cells(row: WorkflowRow, theme: Theme | None) -> list[Text]:
        """The dot, name, last result and spark of `row`, uncut."""
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
        if row.runs_unknown:
            last = Text(PENDING, style="dim")
        elif row.last_status:
            last = Text(glyph(row.last_status) + " ", style=status_style(row.last_status, theme))
            last.append(row.last_duration or row.last_status)
        else:
            last = Text(NEVER_RUN, style="dim")
        spark = Text()
        for status in reversed(row.recent[:SPARK_LENGTH]):
            spark.append("▮", style=status_style(status, theme))
        return [dot, name, last, spark]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(self.Highlighted(self.selected_path))


def _name_len(row: WorkflowRow) -> int:
    """Cells of the name cell of `row` (see `WorkflowList.row_cells`)."""
    return cell_len(row.name) + (0 if row.status == "active" else 1 + len(row.status))


def _last_len(row: WorkflowRow) -> int:
    if row.runs_unknown:
        return len(PENDING)
    if not row.last_status:
        return len(NEVER_RUN)
    return cell_len(glyph(row.last_status)) + 1 + cell_len(row.last_duration or row.last_status)
