"""The step detail and log viewer: a live, searchable log of one step or a whole run."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.cache import LRUCache
from textual.containers import Vertical
from textual.content import Content
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Input, Static

from flowtui.engine.records import ApprovalRecord, AttemptRecord, StepRecord
from flowtui.timefmt import fmt_clock, fmt_duration
from flowtui.tui.glyphs import STATUS_COLOUR, glyph

# a pathological line (a minified bundle, a progress bar without newlines) is cut here
MAX_LINE_CHARS = 10_000
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_STDOUT, _STDERR, _SYSTEM = 0, 1, 2
_STREAMS = {"stdout": _STDOUT, "stderr": _STDERR, "system": _SYSTEM}


class LogLike(Protocol):
    """What a log line needs: `LogLine` below or the store's `LogRecord` both fit."""

    @property
    def stream(self) -> str: ...
    @property
    def line(self) -> str: ...
    @property
    def step(self) -> str: ...


@dataclass(frozen=True, slots=True)
class LogLine:
    line: str
    stream: str = "stdout"  # "stdout" | "stderr" | "system"
    step: str = ""
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class StepDetail:
    """What the header above a step's log shows."""

    name: str
    status: str
    attempts: int = 0
    exit_code: int | None = None
    duration: float | None = None
    message: str = ""
    outputs: Mapping[str, str] = field(default_factory=dict)
    approval: ApprovalRecord | None = None
    # every decision on it, oldest first: a gate needing several approvals has one a person
    approvals: tuple[ApprovalRecord, ...] = ()

    @classmethod
    def from_records(
        cls,
        step: StepRecord,
        outputs: Mapping[str, str],
        approvals: Sequence[ApprovalRecord],
        attempts: Sequence[AttemptRecord],
    ) -> StepDetail:
        """Build it from what the store returns for one step (the latest approval wins)."""
        return cls(
            name=step.name,
            status=str(step.status),
            attempts=max(step.attempt, len(attempts)),
            exit_code=step.exit_code,
            duration=step.duration,
            message=step.message,
            outputs=dict(outputs),
            approval=max(approvals, key=lambda a: a.at) if approvals else None,
            approvals=tuple(sorted(approvals, key=lambda a: a.at)),
        )


def _clean(line: str) -> str:
    line = line.rstrip("\r\n")
    if len(line) > MAX_LINE_CHARS:
        line = line[:MAX_LINE_CHARS] + "…"
    if "\x1b" in line:
        line = _ANSI.sub("", line)
    return _CONTROL.sub("�", line.expandtabs())


def _width(text: str) -> int:
    return len(text) if text.isascii() else cell_len(text)


def detail_content(detail: StepDetail) -> Content:
    """The header lines for `detail`; user-provided text is never parsed as markup."""
    colour = STATUS_COLOUR.get(detail.status)
    status_style = f"${colour}" if colour else "dim"
    parts: list[str | tuple[str, str]] = [
        (f"{glyph(detail.status)} {detail.status.replace('_', ' ')}", f"{status_style} bold"),
        ("  ", ""),
        (detail.name, "bold"),
    ]
    facts = [f"attempt {detail.attempts}" if detail.attempts else ""]
    if detail.exit_code is not None:
        facts.append(f"exit {detail.exit_code}")
    if detail.duration is not None:
        facts.append(fmt_duration(detail.duration))
    for fact in filter(None, facts):
        parts += [(" · ", "dim"), fact]
    if detail.message:
        parts += ["\n", (detail.message, "$text-error" if colour == "error" else "")]
    if detail.outputs:
        parts += ["\n", ("outputs ", "dim")]
        for i, (key, value) in enumerate(detail.outputs.items()):
            parts += [(", " if i else "", "dim"), (key, "bold"), (" = ", "dim"), str(value)]
    trail = detail.approvals or ((detail.approval,) if detail.approval is not None else ())
    for a in trail:  # the audit trail: who decided, when, with what inputs
        verdict = ("approved", "$success") if a.approved else ("rejected", "$error")
        parts += ["\n", verdict, " by ", (a.by or "?", "bold"), (f" at {fmt_clock(a.at)}", "dim")]
        if a.comment:
            parts += [(" — ", "dim"), (a.comment, "italic")]
        if a.inputs:
            given = ", ".join(f"{k}={v}" for k, v in a.inputs.items())
            parts += [(" · inputs ", "dim"), given]
    return Content.assemble(*parts)


class _LogLines(ScrollView, can_focus=True):
    """The scrolling body: one `render_line` per visible row, strips cached by line number."""

    COMPONENT_CLASSES = {
        "log-view--stderr",
        "log-view--system",
        "log-view--step",
        "log-view--match",
        "log-view--current-match",
    }

    DEFAULT_CSS = """
    _LogLines {
        background: $surface;
        overflow: auto auto;
        & > .log-view--stderr { color: $error; }
        & > .log-view--system { color: $text-muted; text-style: italic; }
        & > .log-view--step { color: $text-primary; }
        & > .log-view--match { background: $warning 35%; }
        & > .log-view--current-match { background: $warning; color: $surface; text-style: bold; }
    }
    """

    def __init__(self, on_scrolled_up: Callable[[], None], on_end: Callable[[], None]) -> None:
        super().__init__()
        self._on_scrolled_up = on_scrolled_up
        self._on_end = on_end
        self.texts: list[str] = []
        self.streams = bytearray()
        self.steps: list[str] = []
        self.with_step: bool | None = None
        self.mixed = False  # lines from more than one step
        self.prefix_width = 0
        self.max_width = 0
        self.needle = ""
        self.current_line = -1
        self._cache: LRUCache[int, Strip] = LRUCache(1024)

    # -- content --------------------------------------------------------------------------

    @property
    def shows_step(self) -> bool:
        return self.mixed if self.with_step is None else self.with_step

    def reset(self, with_step: bool | None) -> None:
        self.texts = []
        self.streams = bytearray()
        self.steps = []
        self.with_step = with_step
        self.mixed = False
        self.prefix_width = 0
        self.max_width = 0
        self.current_line = -1
        self._cache.clear()
        self.virtual_size = Size(0, 0)
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def extend(self, lines: Iterable[LogLike]) -> int:
        """Add lines and return how many; renders nothing but what is on screen."""
        start = len(self.texts)
        was_shown = self.shows_step
        widest = self.max_width
        prefix = self.prefix_width
        texts, streams, steps = self.texts, self.streams, self.steps
        last_step = steps[-1] if steps else None
        for item in lines:
            text = _clean(item.line)
            texts.append(text)
            streams.append(_STREAMS.get(item.stream, _STDOUT))
            widest = max(widest, _width(text))
            step = item.step
            steps.append(step)
            if step != last_step:  # consecutive lines mostly share a step
                if last_step is not None:
                    self.mixed = True
                last_step = step
                prefix = max(prefix, len(step) + 1)
        added = len(texts) - start
        if prefix != self.prefix_width or was_shown != self.shows_step:
            self.prefix_width = prefix
            self._cache.clear()  # every prefix is padded to the new width
            self.refresh()
        self.max_width = widest
        shown_prefix = prefix if self.shows_step else 0
        self._grow(Size(widest + shown_prefix, len(texts)))
        if start - round(self.scroll_y) < self.scrollable_content_region.height:
            self.refresh_lines(start, added)  # the new lines start on screen
        return added

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
        if new_value < old_value and round(new_value) < self.max_scroll_y:
            self._on_scrolled_up()

    def action_scroll_end(self) -> None:
        self._on_end()

    def show_line(self, line: int) -> None:
        """Scroll so `line` is in the upper third of the view."""
        height = max(1, self.scrollable_content_region.height)
        top = round(self.scroll_y)
        if not top <= line < top + height:
            self.scroll_to(y=max(0, line - height // 3), animate=False, immediate=True)

    # -- rendering ------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if index >= len(self.texts):
            return Strip.blank(width, base)
        strip = self._cache.get(index)
        if strip is None:
            strip = self._build_strip(index, base)
            self._cache[index] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def _build_strip(self, index: int, base: Style) -> Strip:
        text = self.texts[index]
        kind = self.streams[index]
        style = base
        if kind == _STDERR:
            style = base + self.get_component_rich_style("log-view--stderr")
        elif kind == _SYSTEM:
            style = base + self.get_component_rich_style("log-view--system")
        line = Text(text, no_wrap=True, end="")
        line.stylize(style)  # a span: Text.render ignores a Text's own base style
        if self.needle:
            self._highlight(line, text, index)
        if self.shows_step:
            prefix = f"{self.steps[index]:<{self.prefix_width}}"
            step_style = base + self.get_component_rich_style("log-view--step")
            line = Text.assemble((prefix, step_style), line, no_wrap=True, end="")
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


class LogView(Vertical):
    """The log of one step (or of a whole run, each line prefixed by its step), with the
    step's detail above it.

    Follows new lines while `follow` is on; scrolling up pauses it.

    | Key | Action |
    | :- | :- |
    | / | search (plain text, any case); enter keeps the matches, escape clears them |
    | n / N | next / previous match |
    | end / G | jump to the end and follow |
    | escape | close the search |
    """

    BINDINGS = [
        Binding("slash", "search", "Search", show=True),
        Binding("n", "next_match", "Next match", show=True),
        Binding("N", "previous_match", "Previous match", show=True),
        Binding("G,end", "follow_end", "End", show=True),
        Binding("escape", "close_search", "Close search", show=False),
    ]

    DEFAULT_CSS = """
    LogView {
        height: 1fr;
        background: $surface;
        & > #log-title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
        & > #log-detail {
            height: auto; padding: 0 1; background: $panel; display: none;
            &.-shown { display: block; }
        }
        & > #log-search {
            height: 1; border: none; padding: 0 1; display: none;
            &.-shown { display: block; }
        }
        & > #log-status { height: 1; padding: 0 1; color: $text-muted; background: $panel; }
        &.-paused > #log-status { color: $warning; }
    }
    """

    follow: reactive[bool] = reactive(True)
    """Keep the newest line in view as lines arrive."""

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._lines = _LogLines(on_scrolled_up=self._scrolled_up, on_end=self.action_follow_end)
        self._matches: list[int] = []
        self._match = -1
        self._detail: StepDetail | None = None
        self._detail_lines: int | None = None  # None: nothing set yet
        self._status = ""

    def compose(self) -> ComposeResult:
        yield Static(id="log-title", markup=False)
        yield Static(id="log-detail")
        yield self._lines
        yield Input(placeholder="search…", id="log-search")
        yield Static(id="log-status", markup=False)

    def on_mount(self) -> None:
        self._update_status()

    # -- public API -----------------------------------------------------------------------

    def show(self, title: str, lines: Iterable[LogLike], *, with_step: bool | None = None) -> None:
        """Replace the content.

        Each line is prefixed with its step when `with_step` is true, or, by default, once
        the lines come from more than one step (the log of a whole run).
        """
        # the title and status lines are one row high: a repaint, never a layout
        self.query_one("#log-title", Static).update(title, layout=False)
        self._lines.reset(with_step)
        self._matches, self._match = [], -1
        self.append(lines)
        self.follow = True

    def append(self, lines: Iterable[LogLike]) -> None:
        """Add lines as they arrive."""
        start = self.line_count
        if not self._lines.extend(lines):
            return
        if self._lines.needle:
            q = self._lines.needle
            texts = self._lines.texts
            self._matches += [i for i in range(start, len(texts)) if q in texts[i].lower()]
        if self.follow:
            self._lines.scroll_end(animate=False, immediate=True)
        self._update_status()

    def set_detail(self, detail: StepDetail | None) -> None:
        header = self.query_one("#log-detail", Static)
        header.set_class(detail is not None, "-shown")
        if self._detail_lines is not None and detail == self._detail:
            return  # the store is polled: most calls change nothing
        content = detail_content(detail) if detail is not None else Content("")
        lines = content.plain.count("\n")
        # its height follows its line count: lay out only when that changes
        header.update(content, layout=lines != self._detail_lines)
        self._detail, self._detail_lines = detail, lines

    @property
    def line_count(self) -> int:
        return len(self._lines.texts)

    @property
    def lines(self) -> list[str]:
        """The displayed text of each line (read only)."""
        return self._lines.texts

    @property
    def body(self) -> ScrollView:
        """The scrolling part, e.g. to focus it."""
        return self._lines

    @property
    def matches(self) -> list[int]:
        """Line numbers that contain the current search."""
        return self._matches

    @property
    def current_match(self) -> int | None:
        """The line number of the match the view jumped to."""
        return self._matches[self._match] if 0 <= self._match < len(self._matches) else None

    @property
    def visible_range(self) -> range:
        top = round(self._lines.scroll_y)
        return range(top, min(self.line_count, top + self._lines.scrollable_content_region.height))

    # -- follow ---------------------------------------------------------------------------

    def watch_follow(self, follow: bool) -> None:
        self.set_class(not follow, "-paused")
        if follow:
            self._lines.scroll_end(animate=False, immediate=True)
        self._update_status()

    def _scrolled_up(self) -> None:
        self.follow = False

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow

    def action_follow_end(self) -> None:
        self.follow = True
        self._lines.scroll_end(animate=False, immediate=True)

    def on_resize(self) -> None:
        if self.follow:
            self._lines.call_after_refresh(self._lines.scroll_end, animate=False, immediate=True)

    # -- search ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("next_match", "previous_match"):
            return bool(self._lines.needle) or None
        if action == "close_search":
            return bool(self._lines.needle) or self._search_input.has_class("-shown")
        return True

    @property
    def _search_input(self) -> Input:
        return self.query_one("#log-search", Input)

    def action_search(self) -> None:
        search = self._search_input
        search.add_class("-shown")
        search.focus()

    def action_close_search(self) -> None:
        search = self._search_input
        search.remove_class("-shown")
        search.value = ""
        self._set_query("")
        self._lines.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._set_query(event.value)
        if self._matches:
            self._jump(self._next_index(round(self._lines.scroll_y), forward=True))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._search_input.remove_class("-shown")
        self._lines.focus()

    def _set_query(self, query: str) -> None:
        self._lines.set_query(query)
        q = self._lines.needle
        texts = self._lines.texts
        self._matches = [i for i, text in enumerate(texts) if q in text.lower()] if q else []
        self._match = -1
        self._lines.set_current(-1)
        self.refresh_bindings()
        self._update_status()

    def _next_index(self, line: int, *, forward: bool) -> int:
        """The match index after (or before) `line`, wrapping around."""
        if forward:
            i = bisect_left(self._matches, line)
            return i if i < len(self._matches) else 0
        i = bisect_right(self._matches, line) - 1
        return i if i >= 0 else len(self._matches) - 1

    def _jump(self, index: int) -> None:
        self._match = index
        line = self._matches[index]
        self.follow = False
        self._lines.set_current(line)
        self._lines.show_line(line)
        self._update_status()

    def action_next_match(self) -> None:
        if self._matches:
            current = self.current_match
            start = current + 1 if current is not None else round(self._lines.scroll_y)
            self._jump(self._next_index(start, forward=True))

    def action_previous_match(self) -> None:
        if self._matches:
            current = self.current_match
            start = current - 1 if current is not None else round(self._lines.scroll_y)
            self._jump(self._next_index(start, forward=False))

    # -- status ---------------------------------------------------------------------------

    def _update_status(self) -> None:
        if not self.is_mounted:
            return
        parts = ["● following" if self.follow else "⏸ paused — G to follow"]
        count = self.line_count
        parts.append(f"{count:,} line{'s' if count != 1 else ''}")
        if self._lines.needle:
            if self._matches:
                position = f"{self._match + 1}/" if self._match >= 0 else ""
                parts.append(f"/{self._lines.needle}  {position}{len(self._matches)} matches")
            else:
                parts.append(f"/{self._lines.needle}  no matches")
        status = " · ".join(parts)
        if status != self._status:
            self._status = status
            self.query_one("#log-status", Static).update(status, layout=False)
