"""The step detail and log viewer: a live, searchable log of one step or a whole run.

The view holds a window of at most `MAX_LINES` lines of the stored log.  Line ids are its
cursors: lines older than the window are paged in (`LogPages`) when the view nears its top
or jumps to the first line, newer ones when it nears the bottom of a window that does not
reach the newest line, and a live stream only ever adds ids after the last one held.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, Self

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from flowtui.engine.records import ApprovalRecord, AttemptRecord, StepRecord
from flowtui.timefmt import fmt_clock, fmt_duration
from flowtui.tui.glyphs import STATUS_COLOUR, glyph
from flowtui.tui.widgets.log_lines import LogLike, LogLines

PAGE_LINES = 5_000  # lines read from the store at a time
MAX_LINES = 50_000  # lines held at once: memory stays bounded however long the log
PAGE_MARGIN = 1_000  # rows from an edge of the window at which the next page is read
_READING = {
    "older": "reading older lines…",
    "newer": "reading newer lines…",
    "first": "reading the first lines…",
    "last": "reading the newest lines…",
    "search": "searching the whole log…",
}


class LogPages(Protocol):
    """Where the lines around the window come from (the store, for the run or step shown)."""

    async def before(self, before_id: int | None, limit: int) -> Sequence[LogLike]:
        """The last `limit` lines older than line `before_id` (None: the newest lines)."""
        ...

    async def after(self, after_id: int, limit: int) -> Sequence[LogLike]:
        """The first `limit` lines newer than line `after_id` (0: from the first line)."""
        ...

    async def count_before(self, before_id: int) -> int:
        """How many lines are older than line `before_id`."""
        ...

    async def find(
        self, needle: str, *, before_id: int | None = None, after_id: int | None = None
    ) -> LogLike | None:
        """The line nearest the window holding `needle` (any case): the newest older than
        `before_id`, else the oldest newer than `after_id`; None: no such line."""
        ...


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
    pace: str = ""  # "slower than usual (2.5 s, usually 0.2 s)" (`store.usual`), or ""

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
    if detail.pace:  # a line of its own: a narrow pane does not break its figures apart
        quick = detail.pace.startswith("faster")
        parts += ["\n", (detail.pace, "$text-success" if quick else "$text-warning bold")]
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


class LogView(Vertical):
    """The log of one step (or of a whole run, each line prefixed by its step), with the
    step's detail above it.

    Follows new lines while `follow` is on; scrolling up pauses it.  Holds a window of the
    stored log: older lines are read as the view nears its top, and `home` jumps to the
    first stored line.

    | Key | Action |
    | :- | :- |
    | / | search (plain text, any case); enter keeps the matches, escape clears them |
    | n / N | next / previous match |
    | end / G | jump to the end and follow |
    | home | jump to the first line of the stored log |
    | t | show or hide each line's time |
    | w | wrap long lines, or scroll sideways with ← / → |
    | escape | close the search |
    """

    BINDINGS = [
        Binding("slash", "search", "Search", id="log.search", tooltip="Search this log"),
        Binding("n", "next_match", "Next match", id="log.next_match", tooltip="Next match"),
        Binding(
            "N", "previous_match", "Previous match", id="log.previous_match",
            tooltip="Previous match",
        ),
        Binding(
            "G,end", "follow_end", "End", id="log.end",
            tooltip="Jump to the newest line and follow new ones",
        ),
        Binding(
            "home", "first_line", "First line", show=False, id="log.first_line",
            tooltip="Jump to the first line of the stored log",
        ),
        Binding(
            "t", "toggle_timestamps", "Times", id="log.timestamps",
            tooltip="Show or hide the time of each line",
        ),
        Binding(
            "w", "toggle_wrap", "Wrap", id="log.wrap",
            tooltip="Wrap long lines, or cut them and scroll sideways with ← / →",
        ),
        Binding("escape", "close_search", "Close search", show=False, id="log.close_search"),
    ]  # fmt: skip

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
    wrap: reactive[bool] = reactive(False)
    """Wrap long lines (else they are cut at the edge and scroll sideways)."""
    timestamps: reactive[bool] = reactive(False)
    """Show the time each line was written."""

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._lines = LogLines(
            on_scrolled_up=self._scrolled_up,
            on_end=self.action_follow_end,
            on_home=self.action_first_line,
            on_moved=self._moved,
        )
        self._matches: list[int] = []
        self._match = -1
        self._detail: StepDetail | None = None
        self._detail_lines: int | None = None  # None: nothing set yet
        self._status = ""
        self._pages: LogPages | None = None
        self._older = 0  # stored lines before the window
        self._newer = False  # the window does not reach the newest stored line
        self._dropped = 0  # lines the log cap left out of the store
        self._loading = ""  # "older" / "newer" / "first" / "last" while a page is read
        self._problem = ""
        self._searched_all: str | None = None  # a search the whole stored log did not have
        self._generation = 0  # a page read for an older `show` is dropped

    def compose(self) -> ComposeResult:
        yield Static(id="log-title", markup=False)
        yield Static(id="log-detail")
        yield self._lines
        yield Input(placeholder="search…", id="log-search")
        yield Static(id="log-status", markup=False)

    def on_mount(self) -> None:
        self._update_status()

    def focus(self, scroll_visible: bool = True) -> Self:
        """The keys go to the lines (the container cannot hold the focus): this view's keys
        (`t`, `w`, ← / →) then come before the dashboard's."""
        self._lines.focus(scroll_visible)
        return self

    # -- public API -----------------------------------------------------------------------

    def show(
        self,
        title: str,
        lines: Iterable[LogLike],
        *,
        with_step: bool | None = None,
        pages: LogPages | None = None,
        older: int = 0,
        dropped: int = 0,
    ) -> None:
        """Replace the content with `lines`, the newest lines of a log.

        Each line is prefixed with its step when `with_step` is true, or, by default, once
        the lines come from more than one step (the log of a whole run).  `older` stored
        lines come before them, read from `pages` when wanted; `dropped` lines were left
        out of the store by its cap.
        """
        # the title and status lines are one row high: a repaint, never a layout
        self.query_one("#log-title", Static).update(title, layout=False)
        self._generation += 1
        self._pages = pages
        self._older = older if pages is not None else 0
        self._newer = False
        self._loading = self._problem = ""
        self._searched_all = None
        self._lines.reset(with_step)
        self._matches, self._match = [], -1
        self.append(lines)
        self._dropped = dropped  # the markers among `lines` too
        self.follow = True

    def append(self, lines: Iterable[LogLike]) -> None:
        """Add lines as they arrive: those after the last line held, in order.

        Ignored while the window does not reach the newest line (`at_newest` is false):
        paging down reads them then.
        """
        if self._newer:
            return
        start = self.line_count
        if not self._lines.extend(lines):
            return
        self._add_matches(start)
        # a cap's marker written after the log was opened (the count given to `show` has
        # the ones before; a line id is appended once)
        self._dropped += self._lines.dropped_from(start)
        self._keep_bounded(front=True)
        if self.follow:
            self._lines.scroll_end(animate=False, immediate=True)
        self._update_status()

    @property
    def last_id(self) -> int:
        """The id of the newest line held: a live stream reads the lines after it."""
        return self._lines.last_id

    @property
    def at_newest(self) -> bool:
        """Whether the window reaches the newest stored line (so live lines belong after it)."""
        return not self._newer

    @property
    def older_count(self) -> int:
        """Stored lines before the first line held."""
        return self._older

    def set_dropped(self, lines: int) -> None:
        """How many lines the log cap has left out of the store so far (its marker is
        rewritten in place as the tail rolls, so a count read earlier goes stale)."""
        if lines != self._dropped:
            self._dropped = lines
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
    def line_ids(self) -> Sequence[int]:
        """The store id of each line held (0 for lines not from the store; read only)."""
        return self._lines.data.ids

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
        """The line numbers (partly) on screen."""
        body = self._lines
        top = round(body.scroll_y)
        if top >= body.row_total:
            return range(self.line_count, self.line_count)
        bottom = min(body.row_total, top + body.scrollable_content_region.height) - 1
        return range(body.line_at(top), min(self.line_count, body.line_at(bottom) + 1))

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
        if self._newer and self._pages is not None:
            self._read("last")  # the newest lines are not held: read them, then follow
            return
        self.follow = True
        self._lines.scroll_end(animate=False, immediate=True)

    def action_first_line(self) -> None:
        """Jump to the first line of the stored log (read from the store if not held)."""
        self.follow = False
        if self._older and self._pages is not None:
            self._read("first")
        else:
            self._lines.scroll_home(animate=False, immediate=True)

    def on_resize(self) -> None:
        if self.wrap:  # as many rows per line as the new width takes
            self._lines.call_after_refresh(self._relayout)
        elif self.follow:
            self._lines.call_after_refresh(self._lines.scroll_end, animate=False, immediate=True)

    # -- wrap and times -------------------------------------------------------------------

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap

    def action_toggle_timestamps(self) -> None:
        self.timestamps = not self.timestamps

    def watch_wrap(self, wrap: bool) -> None:
        body = self._lines
        body.set_class(wrap, "-wrap")
        body.wrap = wrap
        # after the class's styles apply: the wrap width leaves room for the scrollbar
        body.call_after_refresh(self._relayout)

    def watch_timestamps(self, timestamps: bool) -> None:
        self._lines.show_times = timestamps
        self._relayout()

    def _relayout(self) -> None:
        self._lines.relayout_keeping()
        if self.follow:
            self._lines.scroll_end(animate=False, immediate=True)
        self._update_status()

    # -- paging ---------------------------------------------------------------------------

    def _moved(self) -> None:
        """Read the next page before the view reaches an edge of the window."""
        if self._pages is None or self._loading or not self.line_count:
            return
        body = self._lines
        top = round(body.scroll_y)
        if self._older and top < PAGE_MARGIN:
            self._read("older")
        elif self._newer and body.row_total - top - body.size.height < PAGE_MARGIN:
            self._read("newer")

    def _read(self, what: str) -> None:
        self._loading, self._problem = what, ""
        self._update_status()
        self.run_worker(
            self._read_page(what, self._generation),
            group="log-pages",
            exclusive=True,
            exit_on_error=False,
        )

    async def _read_page(self, what: str, generation: int) -> None:
        pages = self._pages
        assert pages is not None
        body = self._lines
        older: int | None = None
        if what == "older":
            page = await pages.before(body.first_id, PAGE_LINES)
        elif what == "newer":
            page = await pages.after(body.last_id, PAGE_LINES)
        elif what == "first":
            page = await pages.after(0, PAGE_LINES)
        else:
            page = await pages.before(None, PAGE_LINES)
            older = await pages.count_before(page[0].id) if page else 0
        if generation != self._generation:
            return  # another log is shown now
        self._loading = ""
        if what == "older":
            self._add_older(page)
        elif what == "newer":
            self._add_newer(page)
        else:
            self._replace(page, first=what == "first", older=older or 0)
        self._update_status()
        self._moved()  # still near an edge (a short page, a tall screen): read on

    def _add_older(self, page: Sequence[LogLike]) -> None:
        added = self._lines.extend(page, front=True)
        self._older = max(0, self._older - added) if len(page) == PAGE_LINES else 0
        self._reset_matches()
        if self._keep_bounded(front=False):
            self.follow = False

    def _add_newer(self, page: Sequence[LogLike]) -> None:
        start = self.line_count
        self._lines.extend(page)
        self._newer = len(page) == PAGE_LINES  # a short page reached the newest line
        self._add_matches(start)
        self._keep_bounded(front=True)

    def _replace(self, page: Sequence[LogLike], *, first: bool, older: int) -> None:
        """A window at the start (`first`) or at the end of the stored log."""
        body = self._lines
        mixed, prefix_width = body.mixed, body.prefix_width
        body.reset(body.with_step)
        # still the same log: its step prefixes stay as they were
        body.mixed, body.prefix_width = mixed, prefix_width
        body.extend(page)
        self._older = 0 if first else older
        self._newer = first and len(page) == PAGE_LINES
        self._reset_matches()
        if first:
            self.follow = False
            self._lines.scroll_home(animate=False, immediate=True)
        else:
            self.follow = True

    def _keep_bounded(self, *, front: bool) -> bool:
        """Forget lines over `MAX_LINES`, at the `front` or at the end; True if any."""
        over = self.line_count - MAX_LINES
        if over <= 0:
            return False
        # a little more than needed: a flood at the limit trims (and lays out) now and then,
        # not on every batch
        over = min(self.line_count, over + MAX_LINES // 50)
        if front:
            self._lines.trim(front=over)
            self._older += over
        else:
            self._lines.trim(back=over)
            self._newer = True
        self._reset_matches()
        return True

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "log-pages" or event.state != WorkerState.ERROR:
            return
        event.stop()
        self._loading = ""
        self._problem = f"could not read the log: {event.worker.error}"
        self._update_status()

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
        """Open the search box (the app's `/` calls this while the log is shown)."""
        search = self._search_input
        search.add_class("-shown")
        self.app.set_focus(search)  # at once: the keys typed right behind `/` are its own

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
            self._jump(self._next_index(self.visible_range.start, forward=True))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._search_input.remove_class("-shown")
        self._lines.focus()
        if self._lines.needle and not self._matches and self._unloaded:
            self._loading, self._problem = "search", ""  # the stored lines, then
            self._update_status()
            self.run_worker(
                self._search_stored(self._lines.needle, self._generation),
                group="log-pages",
                exclusive=True,
                exit_on_error=False,
            )

    @property
    def _unloaded(self) -> bool:
        """Stored lines of this log are not in the window."""
        return self._pages is not None and bool(self._older or self._newer)

    async def _search_stored(self, needle: str, generation: int) -> None:
        """enter on a search the loaded lines do not have: the nearest stored line that
        has it (older first), and a window from it, the match current."""
        pages = self._pages
        assert pages is not None
        body = self._lines
        found = await pages.find(
            needle,
            before_id=body.first_id if self._older else None,
            after_id=body.last_id if self._newer else None,
        )
        page: Sequence[LogLike] = []
        older = 0
        if found is not None:
            page = await pages.after(found.id - 1, PAGE_LINES)
            older = await pages.count_before(found.id)
        if generation != self._generation or needle != self._lines.needle:
            return  # another log, or another search, by now
        self._loading = ""
        if found is None:
            self._searched_all = needle
            self._update_status()
            return
        self._replace(page, first=True, older=0)
        self._older = older
        self._newer = True  # lines after the page, or not: a read finds out
        self._reset_matches()
        if self._matches:
            self._jump(0)
        self._moved()

    def _set_query(self, query: str) -> None:
        self._lines.set_query(query)
        self._matches = self._find(0)
        self._match = -1
        self._lines.set_current(-1)
        self.refresh_bindings()
        self._update_status()

    def _find(self, start: int) -> list[int]:
        q = self._lines.needle
        texts = self._lines.texts
        return [i for i in range(start, len(texts)) if q in texts[i].lower()] if q else []

    def _add_matches(self, start: int) -> None:
        if self._lines.needle:
            self._matches += self._find(start)

    def _reset_matches(self) -> None:
        """Find the matches again after lines were added in front or forgotten."""
        if not self._lines.needle:
            return
        self._matches = self._find(0)
        current = self._lines.current_line
        self._match = self._matches.index(current) if current in self._matches else -1

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
            start = current + 1 if current is not None else self.visible_range.start
            self._jump(self._next_index(start, forward=True))

    def action_previous_match(self) -> None:
        if self._matches:
            current = self.current_match
            start = current - 1 if current is not None else self.visible_range.start
            self._jump(self._next_index(start, forward=False))

    # -- status ---------------------------------------------------------------------------

    def _update_status(self) -> None:
        if not self.is_mounted:
            return
        # most telling first: the line is cut at the pane's edge (a 120-column terminal
        # lost "no matches" and the cap's notice behind the follow state and position)
        parts: list[str] = []
        if self._lines.needle:
            # the search looks at the loaded lines only: said so when there are others
            where = " in the loaded lines" if self._older or self._newer else ""
            if self._matches:
                position = f"{self._match + 1}/" if self._match >= 0 else ""
                found = f"{position}{len(self._matches)} matches{where}"
            elif self._searched_all == self._lines.needle:
                found = "no matches in the whole log"
            else:
                found = f"no matches{where}"
                if self._unloaded and self._loading != "search":
                    found += " — enter searches all"
            parts.append(f"/{self._lines.needle}  {found}")
        if self._dropped:
            parts.append(f"log cap dropped {self._dropped:,}")
        if self._problem:
            parts.append(self._problem)
        parts.append("● following" if self.follow else "⏸ paused — G to follow")
        count = self.line_count
        if self._older or self._newer:
            # a window of a longer log: where it is, most telling part first (it is cut
            # at the pane's edge on a small terminal)
            first, last = self._older + 1, self._older + count
            parts.append(f"lines {first:,}–{last:,} of {last:,}{'+' if self._newer else ''}")
        else:
            parts.append(f"{count:,} line{'s' if count != 1 else ''}")
        if self._loading:
            parts.append(_READING[self._loading])
        else:
            if self._older:
                parts.append("older lines not loaded: ↑ or home")
            if self._newer:
                parts.append("newer lines not loaded: ↓ or G")
        status = " · ".join(parts)
        if status != self._status:
            self._status = status
            self.query_one("#log-status", Static).update(status, layout=False)
