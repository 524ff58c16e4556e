"""The log view's scrolling body: a window of log lines held in columns and drawn row by
row, each line cut at the edge (scrolling sideways) or wrapped over several rows."""

from __future__ import annotations

import re
import time
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, Protocol

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from flowtui.engine.logcap import OMITTED_RE
from flowtui.overprint import last_overprint
from flowtui.tui.strips import cut_strip

# a pathological line (a minified bundle, a progress bar without newlines) is cut here
MAX_LINE_CHARS = 10_000
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_STDOUT, _STDERR, _SYSTEM = 0, 1, 2
_STREAMS = {"stdout": _STDOUT, "stderr": _STDERR, "system": _SYSTEM}
_TIME_WIDTH = 13  # "12:34:56.789 "
_NO_ID = 2**62  # above any line id: no upper bound


class LogLike(Protocol):
    """What a log line needs: `LogLine` below or the store's `LogRecord` both fit."""

    @property
    def stream(self) -> str: ...
    @property
    def line(self) -> str: ...
    @property
    def step(self) -> str: ...
    @property
    def at(self) -> float: ...
    @property
    def id(self) -> int: ...


@dataclass(frozen=True, slots=True)
class LogLine:
    line: str
    stream: str = "stdout"  # "stdout" | "stderr" | "system"
    step: str = ""
    at: float = 0.0
    id: int = 0  # 0: not from the store (never taken for a line already shown)


def _clean(line: str, system: bool = False) -> str:
    line = line.rstrip("\r\n")
    if not system:  # a step's progress bar: its last text (flowtui's own lines, which may
        line = last_overprint(line)  # end in a step's words, keep every part: shown as �)
    if len(line) > MAX_LINE_CHARS:
        line = line[:MAX_LINE_CHARS] + "…"
    if "\x1b" in line:
        line = _ANSI.sub("", line)
    return _CONTROL.sub("�", line.expandtabs())


def _width(text: str) -> int:
    return len(text) if text.isascii() else cell_len(text)


def dropped_lines(markers: Iterable[str]) -> int:
    """How many lines the log cap left out, from its `… 1,234 lines (5 MB) omitted …` lines."""
    total = 0
    for marker in markers:
        if OMITTED_RE.match(marker):
            total += int(marker.split()[1].replace(",", ""))
    return total


def _clock(at: float) -> str:
    if not at:
        return ""
    return time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(at * 1000) % 1000:03d}"


@dataclass(slots=True)
class _Batch:
    """Lines cleaned for display, in columns (a 50,000-line window is a few lists)."""

    texts: list[str] = field(default_factory=list)
    streams: bytearray = field(default_factory=bytearray)
    steps: list[str] = field(default_factory=list)
    ats: array[float] = field(default_factory=lambda: array("d"))
    ids: array[int] = field(default_factory=lambda: array("q"))
    widths: array[int] = field(default_factory=lambda: array("l"))
    step_width: int = 0
    mixed: bool = False

    @classmethod
    def of(cls, lines: Iterable[LogLike], after: int, before: int) -> _Batch:
        """The lines with ids between `after` and `before`, each after the one before it
        (id 0, a line not from the store, is always taken)."""
        batch = cls()
        texts, streams, steps, ats, ids, widths = (
            batch.texts, batch.streams, batch.steps, batch.ats, batch.ids, batch.widths
        )  # fmt: skip
        last_step: str | None = None
        for item in lines:
            line_id = item.id
            if line_id:
                if not after < line_id < before:
                    continue  # already held (a page and the live stream may overlap)
                after = line_id  # ids only grow: a line never shows twice or out of order
            text = _clean(item.line, item.stream == "system")
            texts.append(text)
            streams.append(_STREAMS.get(item.stream, _STDOUT))
            ats.append(item.at)
            ids.append(line_id)
            widths.append(_width(text))
            step = item.step
            steps.append(step)
            if step != last_step:  # consecutive lines mostly share a step
                if last_step is not None:
                    batch.mixed = True
                last_step = step
                batch.step_width = max(batch.step_width, len(step) + 1)
        return batch

    def join(self, other: _Batch, *, front: bool) -> None:
        """Add `other`'s lines after these (or before them)."""
        for mine, theirs in zip(self._columns(), other._columns(), strict=True):
            if front:
                mine[:0] = theirs
            else:
                mine += theirs

    def drop(self, *, front: int, back: int) -> None:
        end = len(self.texts) - back
        for column in self._columns():
            del column[end:]
            del column[:front]

    def _columns(self) -> tuple[Any, ...]:
        return (self.texts, self.streams, self.steps, self.ats, self.ids, self.widths)


class LogLines(ScrollView, can_focus=True):
    """The scrolling body: one `render_line` per visible row, strips cached by line number.

    Without wrapping a row is a line; with it, `_starts[i]` is the first row of line `i`.
    """

    COMPONENT_CLASSES = {
        "log-view--stderr",
        "log-view--system",
        "log-view--step",
        "log-view--time",
        "log-view--match",
        "log-view--current-match",
    }

    DEFAULT_CSS = """
    LogLines {
        background: $surface;
        overflow: auto auto;
        &.-wrap { overflow-x: hidden; scrollbar-gutter: stable; }
        & > .log-view--stderr { color: $error; }
        & > .log-view--system { color: $text-muted; text-style: italic; }
        & > .log-view--step { color: $text-primary; }
        & > .log-view--time { color: $text-muted; }
        & > .log-view--match { background: $warning 35%; }
        & > .log-view--current-match { background: $warning; color: $surface; text-style: bold; }
    }
    """

    def __init__(
        self,
        on_scrolled_up: Callable[[], None],
        on_end: Callable[[], None],
        on_home: Callable[[], None],
        on_moved: Callable[[], None],
    ) -> None:
        super().__init__()
        self._on_scrolled_up = on_scrolled_up
        self._on_end = on_end
        self._on_home = on_home
        self._on_moved = on_moved
        self.data = _Batch()
        self.with_step: bool | None = None
        self.mixed = False  # lines from more than one step
        self.prefix_width = 0
        self.max_width = 0
        self.needle = ""
        self.current_line = -1
        self.show_times = False
        self.wrap = False
        self._starts: list[int] = [0]  # with wrap: the first row of each line, then the end
        self._moving = False  # the window itself moves the view: not the user scrolling
        self._cache: LRUCache[int, Strip] = LRUCache(1024)

    # -- content --------------------------------------------------------------------------

    @property
    def texts(self) -> list[str]:
        return self.data.texts

    def dropped_from(self, start: int) -> int:
        """Lines the log cap dropped, by its markers among the lines from `start` on."""
        data = self.data
        markers = (
            data.texts[i] for i in range(start, len(data.texts)) if data.streams[i] == _SYSTEM
        )
        return dropped_lines(markers)

    @property
    def shows_step(self) -> bool:
        return self.mixed if self.with_step is None else self.with_step

    @property
    def lead(self) -> int:
        """Cells before a line's text: its time and its step."""
        return (_TIME_WIDTH if self.show_times else 0) + (
            self.prefix_width if self.shows_step else 0
        )

    @property
    def first_id(self) -> int:
        return self.data.ids[0] if self.data.ids else 0

    @property
    def last_id(self) -> int:
        return self.data.ids[-1] if self.data.ids else 0

    def reset(self, with_step: bool | None) -> None:
        self.data = _Batch()
        self.with_step = with_step
        self.mixed = False
        self.prefix_width = 0
        self.max_width = 0
        self.current_line = -1
        self._cache.clear()
        self._starts = [0]
        self.virtual_size = Size(0, 0)
        self.keep_in_view(0, x=0)
        self.refresh()

    def extend(self, lines: Iterable[LogLike], *, front: bool = False) -> int:
        """Add lines after the last one (or before the first) and return how many.

        Lines whose id is already held are left out.  Renders nothing but what is on screen;
        lines added in front keep the same lines in view.
        """
        data = self.data
        if front:
            batch = _Batch.of(lines, 0, self.first_id or _NO_ID)
        else:
            batch = _Batch.of(lines, self.last_id, _NO_ID)
        added = len(batch.texts)
        if not added:
            return 0
        was_shown, old_lead = self.shows_step, self.lead
        if data.steps:
            neighbour, edge = (
                (data.steps[0], batch.steps[-1]) if front else (data.steps[-1], batch.steps[0])
            )
            self.mixed |= neighbour != edge
        self.mixed |= batch.mixed
        self.prefix_width = max(self.prefix_width, batch.step_width)
        self.max_width = max(self.max_width, max(batch.widths))
        top_row = round(self.scroll_y)
        start = len(data.texts)
        data.join(batch, front=front)
        if front:
            if self.current_line >= 0:
                self.current_line += added
            self._cache.clear()  # cached by line number
        if self.lead != old_lead or was_shown != self.shows_step:
            self._cache.clear()  # every prefix is padded to the new width
            self.refresh()
        if front or self.lead != old_lead or not self.wrap:
            self._relayout()
        else:
            self._add_rows(start)
        if front:
            # the same lines stay in view: the rows above them grew by the new lines' rows
            self.keep_in_view(top_row + self.row_of(added))
        elif self.row_of(start) - top_row < self.scrollable_content_region.height:
            self.refresh()  # the new lines start on screen
        return added

    def trim(self, *, front: int = 0, back: int = 0) -> None:
        """Forget `front` lines at the start and `back` lines at the end of the window."""
        data = self.data
        top_row = round(self.scroll_y)
        removed_rows = self.row_of(front) if front else 0
        data.drop(front=front, back=back)
        if self.current_line >= 0:
            self.current_line -= front
            if not 0 <= self.current_line < len(data.texts):
                self.current_line = -1
        self._cache.clear()
        self._relayout()
        if front:
            self.keep_in_view(max(0, top_row - removed_rows))
        self.refresh()

    # -- rows -----------------------------------------------------------------------------

    @property
    def row_total(self) -> int:
        return self._starts[-1] if self.wrap else len(self.data.texts)

    def row_of(self, line: int) -> int:
        if not self.wrap:
            return line
        return self._starts[min(line, len(self._starts) - 1)]

    def line_at(self, row: int) -> int:
        if not self.wrap:
            return row
        return max(0, bisect_right(self._starts, row) - 1)

    def _body_width(self) -> int:
        return max(1, self.scrollable_content_region.width - self.lead)

    def _rows(self, widths: Sequence[int]) -> Iterable[int]:
        body = self._body_width()
        return (max(1, -(-w // body)) for w in widths)

    def _add_rows(self, start: int) -> None:
        """With wrapping: rows for the lines from `start` on, the rest unchanged."""
        rows = accumulate(self._rows(self.data.widths[start:]), initial=self._starts[-1])
        self._starts += list(rows)[1:]  # `initial` repeats the old end
        self._grow(Size(self.scrollable_content_region.width, self._starts[-1]))

    def _relayout(self) -> None:
        if self.wrap:
            self._starts = list(accumulate(self._rows(self.data.widths), initial=0))
            size = Size(self.scrollable_content_region.width, self._starts[-1])
        else:
            self._starts = [0]
            size = Size(self.max_width + self.lead, len(self.data.texts))
        self._grow(size)

    def relayout_keeping(self, line: int | None = None) -> None:
        """Lay the rows out again (wrap, times or width changed) with `line` still on top."""
        top = self.line_at(round(self.scroll_y)) if line is None else line
        self._cache.clear()
        self._relayout()
        self.keep_in_view(self.row_of(top), x=0)
        self.refresh()

    def _grow(self, size: Size) -> None:
        """Take a new virtual size without a layout of the whole screen.

        Setting `virtual_size` asks the screen for a full layout (tens of ms with a big
        dashboard) on every appended batch; the widget's own region does not change, so only
        its scrollbars need updating. Showing or hiding a scrollbar still lays out.
        `_scroll_update` is Textual-private (no public call does this without a layout):
        textual is pinned below 9 and tests/test_private_apis.py guards it.
        """
        if size == self.virtual_size:
            return
        if not self.is_mounted or not self.container_size:
            self.virtual_size = size
            return
        self.set_reactive(Widget.virtual_size, size)
        self._scroll_update(size)
        self.refresh()

    def set_query(self, query: str) -> None:
        self.needle = query.lower()
        self._cache.clear()
        self.refresh()

    def set_current(self, line: int) -> None:
        for y in (self.current_line, line):
            self._cache.discard(y)
        self.current_line = line
        self.refresh()

    # -- scrolling ------------------------------------------------------------------------

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # clamping after the content shrinks lands exactly on the end: only a move that
        # leaves the end is the user scrolling away
        if self._moving:
            return
        if new_value < old_value and round(new_value) < self.max_scroll_y:
            self._on_scrolled_up()
        self._on_moved()

    def keep_in_view(self, y: int, x: int | None = None) -> None:
        """Scroll to row `y` because the lines above changed: not a move of the user's."""
        self._moving = True
        try:
            self.scroll_to(x=x, y=y, animate=False, immediate=True)
        finally:
            self._moving = False

    def action_scroll_end(self) -> None:
        self._on_end()

    def action_scroll_home(self) -> None:
        self._on_home()

    def show_line(self, line: int) -> None:
        """Scroll so `line` is in the upper third of the view."""
        height = max(1, self.scrollable_content_region.height)
        top = round(self.scroll_y)
        row = self.row_of(line)
        if not top <= row < top + height:
            self.scroll_to(y=max(0, row - height // 3), animate=False, immediate=True)

    # -- rendering ------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if row >= self.row_total:
            return Strip.blank(width, base)
        index = self.line_at(row)
        strip = self._cache.get(index)
        if strip is None:
            strip = self._build_strip(index, base)
            self._cache[index] = strip
        if not self.wrap:
            marker = base + self.get_component_rich_style("log-view--time")
            return cut_strip(strip, scroll_x, width, base, marker)
        part = row - self._starts[index]
        lead, body = self.lead, self._body_width()
        start = lead + part * body
        head = strip.crop_extend(0, lead, base) if part == 0 else Strip.blank(lead, base)
        return Strip.join([head, strip.crop_extend(start, start + body, base)]).crop_extend(
            0, width, base
        )

    def _build_strip(self, index: int, base: Style) -> Strip:
        data = self.data
        text = data.texts[index]
        kind = data.streams[index]
        style = base
        if kind == _STDERR:
            style = base + self.get_component_rich_style("log-view--stderr")
        elif kind == _SYSTEM:
            style = base + self.get_component_rich_style("log-view--system")
        line = Text(text, no_wrap=True, end="")
        line.stylize(style)  # a span: Text.render ignores a Text's own base style
        if self.needle:
            self._highlight(line, text, index)
        parts: list[Text | tuple[str, Style]] = []
        if self.show_times:
            time_style = base + self.get_component_rich_style("log-view--time")
            parts.append((f"{_clock(data.ats[index]):<{_TIME_WIDTH}}", time_style))
        if self.shows_step:
            prefix = f"{data.steps[index]:<{self.prefix_width}}"
            parts.append((prefix, base + self.get_component_rich_style("log-view--step")))
        if parts:
            line = Text.assemble(*parts, line, no_wrap=True, end="")
        return Strip(line.render(self.app.console), line.cell_len)

    def _highlight(self, line: Text, text: str, index: int) -> None:
        if index == self.current_line:
            style = self.get_component_rich_style("log-view--current-match")
        else:
            # only the (blended) background, so stderr stays red under a match
            style = Style(bgcolor=self.get_component_rich_style("log-view--match").bgcolor)
        lowered = text.lower()
        size = len(self.needle)
        at = lowered.find(self.needle)
        while at != -1:
            line.stylize(style, at, at + size)
            at = lowered.find(self.needle, at + size)
