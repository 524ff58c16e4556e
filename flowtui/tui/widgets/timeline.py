"""The run timeline: one Gantt bar per step on a shared time axis."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer

from flowtui.store.usual import pace
from flowtui.timefmt import fmt_duration
from flowtui.tui.cells import fit_cells
from flowtui.tui.glyphs import glyph, status_style
from flowtui.tui.timeline_scale import (
    GHOST,
    HELD,
    RUN,
    BarSpec,
    TimelineRow,
    axis_end,
    axis_lines,
    critical_path,
    scale,
)

HEADER_LINES = 2
REFRESH_SECONDS = 0.5
MARKER = "◆"
_NAME_MIN, _NAME_MAX = 6, 28
_DURATION_WIDTH = 8
_BAR_MIN = 10


class TimelineView(ScrollView, can_focus=True):
    """Steps of one run as bars from the run's start to its end (or now).

    Held (waiting for approval) time is drawn `░` in the warning colour, running time `█`
    in the step's status colour, and behind it a faded `▒` "ghost" as long as the step
    usually takes (`store.usual`): where the bar stops short of it the step was quick,
    where the bar runs past it the step is slow.  A step more than twice its usual time
    (still running, or ended) has its time marked `!` in the warning colour.  While the
    run is live the axis reaches the usual end of every running step.  The critical path
    is marked `◆` with a bold name.
    While the run is live the view redraws itself every 0.5 s, asking `clock` for now.

    | Key | Action |
    | :- | :- |
    | up / k | select the previous step |
    | down / j | select the next step |
    | enter | open the selected step (`StepSelected`) |
    """

    BINDINGS = [
        Binding("up,k", "cursor_up", "Previous step", show=False),
        Binding("down,j", "cursor_down", "Next step", show=False),
        Binding("enter", "select", "Open step", show=True),
    ]

    COMPONENT_CLASSES = {
        "timeline--axis",
        "timeline--cursor",
        "timeline--critical",
        "timeline--ghost",
        "timeline--muted",
        "timeline--slow",
    }

    DEFAULT_CSS = """
    TimelineView {
        background: $surface;
        overflow-x: hidden;
        overflow-y: auto;
        & > .timeline--axis { color: $text-muted; }
        & > .timeline--muted { color: $text-muted; }
        & > .timeline--critical { color: $accent; text-style: bold; }
        & > .timeline--ghost { color: $text-muted; }
        & > .timeline--slow { color: $text-warning; text-style: bold; }
        & > .timeline--cursor { background: $block-cursor-blurred-background; }
        &:focus > .timeline--cursor { background: $block-cursor-background 40%; }
    }
    """

    cursor: reactive[int] = reactive(0)
    """Index of the selected row."""

    class StepSelected(Message):
        """Enter (or a click) on a step."""

        def __init__(self, timeline: TimelineView, name: str) -> None:
            super().__init__()
            self.timeline = timeline
            self.name = name

        @property
        def control(self) -> TimelineView:
            return self.timeline

    def __init__(
        self,
        *,
        clock: Callable[[], float] | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._clock = clock or time.time
        self._rows: tuple[TimelineRow, ...] = ()
        self._run_started: float | None = None
        self._run_ended: float | None = None
        self._now = 0.0
        self._critical: frozenset[str] = frozenset()
        self._bars: list[BarSpec] | None = None
        self._bars_width = -1
        self._timer: Timer | None = None

    # -- data -----------------------------------------------------------------------------

    def set_run(
        self,
        rows: Sequence[TimelineRow],
        *,
        run_started: float | None,
        run_ended: float | None,
        now: float,
    ) -> None:
        """Show these steps; keeps the selection on the same step name when it still exists."""
        selected = self.selected_step
        self._rows = tuple(rows)
        self._run_started = run_started
        self._run_ended = run_ended
        self._now = now
        self._critical = frozenset(critical_path(self._rows))
        self._bars = None
        names = [r.name for r in self._rows]
        self.set_reactive(TimelineView.cursor, names.index(selected) if selected in names else 0)
        self.virtual_size = Size(self.size.width, len(self._rows) + HEADER_LINES)
        self._set_live()
        self.refresh()

    @property
    def rows(self) -> tuple[TimelineRow, ...]:
        return self._rows

    @property
    def is_live(self) -> bool:
        return self._run_started is not None and self._run_ended is None

    @property
    def critical(self) -> frozenset[str]:
        return self._critical

    @property
    def selected_step(self) -> str | None:
        if 0 <= self.cursor < len(self._rows):
            return self._rows[self.cursor].name
        return None

    @property
    def total(self) -> float:
        """Seconds the axis spans: run start to run end, or to now while it runs."""
        if self._run_started is None:
            return 0.0
        return max(0.0, self._end_or_now - self._run_started)

    @property
    def axis_total(self) -> float:
        """Seconds the axis spans: `total`, or more while steps run toward their usual end."""
        if self._run_started is None:
            return 0.0
        end = axis_end(self._rows, self._end_or_now, live=self.is_live)
        return max(0.0, end - self._run_started)

    def is_slow(self, row: TimelineRow) -> bool:
        """More than twice its usual time: still running, or in all."""
        start = row.started_at
        if start is None or row.usual is None:
            return False
        if row.ended_at is not None:
            return pace(row.ended_at - start, row.usual) == "slower"
        return row.status == "running" and pace(self._end_or_now - start, row.usual) == "slower"

    @property
    def _end_or_now(self) -> float:
        return self._run_ended if self._run_ended is not None else self._now

    # -- live refresh ---------------------------------------------------------------------

    def on_mount(self) -> None:
        self._timer = self.set_interval(REFRESH_SECONDS, self._tick, pause=True)
        self._set_live()

    def _set_live(self) -> None:
        if self._timer is None:
            return
        if self.is_live:
            self._timer.resume()
        else:
            self._timer.pause()

    def _tick(self) -> None:
        self._now = self._clock()
        self._bars = None
        self.refresh()

    # -- keys -----------------------------------------------------------------------------

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self._rows) - 1))

    def watch_cursor(self) -> None:
        self._scroll_cursor_visible()
        self.refresh()

    def _scroll_cursor_visible(self) -> None:
        visible = max(1, self.scrollable_content_region.height - HEADER_LINES)
        top = round(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, immediate=True)

    def action_cursor_up(self) -> None:
        self.cursor -= 1

    def action_cursor_down(self) -> None:
        self.cursor += 1

    def action_select(self) -> None:
        name = self.selected_step
        if name is not None:
            self.post_message(self.StepSelected(self, name))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < HEADER_LINES:
            return
        index = offset.y - HEADER_LINES + round(self.scroll_y)
        if 0 <= index < len(self._rows):
            self.cursor = index
            self.action_select()

    # -- layout ---------------------------------------------------------------------------

    def _columns(self, width: int) -> tuple[int, int]:
        """(name width, bar width) for a line `width` cells wide."""
        longest = max((cell_len(r.name) for r in self._rows), default=_NAME_MIN)
        name_w = max(_NAME_MIN, min(_NAME_MAX, longest))
        bar_w = max(_BAR_MIN, width - (4 + name_w + 2 + _DURATION_WIDTH))
        return name_w, bar_w

    def _layout(self, bar_w: int) -> list[BarSpec]:
        if self._bars is None or self._bars_width != bar_w:
            span_end = axis_end(self._rows, self._end_or_now, live=self.is_live)
            self._bars = scale(
                self._rows, self._run_started, self._end_or_now, bar_w, span_end=span_end
            )
            self._bars_width = bar_w
        return self._bars

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self._rows) + HEADER_LINES)
        self._scroll_cursor_visible()

    # -- rendering ------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        name_w, bar_w = self._columns(width)
        if y < HEADER_LINES:
            text = self._header_line(y, name_w, bar_w)
        else:
            index = y - HEADER_LINES + round(self.scroll_y)
            if index >= len(self._rows):
                return Strip.blank(width, base)
            text = self._row_line(index, name_w, bar_w)
        text.stylize_before(base)
        strip = Strip(text.render(self.app.console), text.cell_len)
        return strip.crop_extend(0, width, base)

    def _header_line(self, y: int, name_w: int, bar_w: int) -> Text:
        axis = self.get_component_rich_style("timeline--axis")
        if not self._rows and self._run_started is None:  # never run: no axis to measure
            muted = self.get_component_rich_style("timeline--muted")
            return Text("    no runs yet", muted) if y == 0 else Text("")
        labels, ruler = axis_lines(self.axis_total, bar_w)
        left = " " * (4 + name_w + 1)
        if y == 0:
            return Text.assemble(
                (f"{'':4}{'step':<{name_w}} ", axis),
                (labels, axis),
                (f" {'total':>{_DURATION_WIDTH}}", axis),
            )
        total = fmt_duration(self.total) if self._run_started is not None else "-"
        return Text.assemble(
            (left, axis),
            (ruler, axis),
            (f" {total:>{_DURATION_WIDTH}}", Style(bold=True)),
        )

    def _row_line(self, index: int, name_w: int, bar_w: int) -> Text:
        row = self._rows[index]
        bar = self._layout(bar_w)[index]
        theme = self.app.current_theme
        colour = Style.parse(status_style(row.status, theme) or "none")
        held = Style.parse(status_style("held", theme) or "none")
        muted = self.get_component_rich_style("timeline--muted")
        critical = row.name in self._critical
        name = fit_cells(row.name, name_w)  # by cells: wide names keep the bars aligned
        text = Text.assemble(
            (
                f"{MARKER if critical else ' '} ",
                self.get_component_rich_style("timeline--critical"),
            ),
            (f"{glyph(row.status)} ", colour),
            (f"{name} ", Style(bold=True) if critical else Style()),
        )
        ghost = self.get_component_rich_style("timeline--ghost")
        if bar.has_bar:
            styles = {RUN: colour, HELD: held, GHOST: ghost}
            for piece, kind in bar.runs:
                text.append(piece, styles.get(kind, Style()))
            took = fmt_duration(bar.duration)
            if self.is_slow(row):
                slow = self.get_component_rich_style("timeline--slow")
                text.append(f" {'!' + took:>{_DURATION_WIDTH}}", slow)
            else:
                text.append(f" {took:>{_DURATION_WIDTH}}")
        else:
            words = row.status.replace("_", " ")
            if row.usual is not None and row.status in ("pending", "queued"):
                words += f" · usually {fmt_duration(row.usual)}"
            text.append(fit_cells(words, bar_w), muted)
            text.append(" " * (_DURATION_WIDTH + 1))
        if index == self.cursor:
            # only the background: the bars keep their colours on the selected row
            cursor = self.get_component_rich_style("timeline--cursor")
            text.stylize(Style(bgcolor=cursor.bgcolor))
        return text
