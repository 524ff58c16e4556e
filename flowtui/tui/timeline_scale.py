"""Pure layout for the run timeline: bars on a shared time axis, ticks, and the critical path.

No Textual here, so the maths can be unit-tested and benchmarked without an app.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from flowtui.timefmt import fmt_duration

HELD = "held"
RUN = "run"
GHOST = "ghost"  # the step's usual duration, drawn behind its bar
BLANK = ""

FULL = {RUN: "█", HELD: "░"}
GHOST_CHAR = "▒"
# index n = the left n/8 of a cell filled
EIGHTHS = " ▏▎▍▌▋▊▉█"

# Steps that never ran in this run: they get their status text instead of a bar.
NO_BAR = frozenset({"pending", "queued", "reused", "skipped", "not_run"})


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """One step as the timeline needs it; times are UNIX seconds."""

    name: str
    status: str
    held_at: float | None = None  # when an approval started waiting
    started_at: float | None = None
    ended_at: float | None = None
    requires: tuple[str, ...] = ()
    usual: float | None = None  # its usual seconds (`store.usual`), None: no history yet

    def ghost(self) -> tuple[float, float] | None:
        """(from, to): where the step would run if it took its usual time."""
        if self.usual is None or self.started_at is None or self.status in NO_BAR:
            return None
        return self.started_at, self.started_at + self.usual


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of a bar in cell units: 0 <= start <= end <= width."""

    kind: str  # HELD or RUN
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class BarSpec:
    """How one row is drawn.

    `runs` are (text, kind) pieces whose lengths add up to exactly the bar width;
    kind is HELD, RUN, GHOST or BLANK.  `duration` is None for a step without a bar.
    """

    name: str
    status: str
    segments: tuple[Segment, ...]
    runs: tuple[tuple[str, str], ...]
    duration: float | None

    @property
    def has_bar(self) -> bool:
        return self.duration is not None

    @property
    def text(self) -> str:
        return "".join(text for text, _ in self.runs)


def _intervals(row: TimelineRow, end_or_now: float) -> list[tuple[str, float, float]]:
    """The (kind, from, to) time intervals of a row, held before running."""
    if row.status in NO_BAR:
        return []
    out: list[tuple[str, float, float]] = []
    finish = row.ended_at if row.ended_at is not None else end_or_now
    if row.held_at is not None:
        held_end = finish
        if row.started_at is not None and row.started_at >= row.held_at:
            held_end = min(finish, row.started_at)
        out.append((HELD, row.held_at, max(row.held_at, held_end)))
    if row.started_at is not None:
        start = row.started_at
        if row.held_at is not None and row.held_at > start:
            # held after it started (unusual): the running part ends where holding began
            out.append((RUN, start, row.held_at))
        else:
            out.append((RUN, start, max(start, finish)))
    return out


def _cells(segments: Sequence[Segment], width: int) -> list[tuple[str, str]]:
    """One (char, kind) per column, using eighth blocks where a running bar ends mid-cell."""
    cells: list[tuple[str, str]] = [(" ", BLANK)] * width
    if not segments or width <= 0:
        return cells
    bar_start = min(s.start for s in segments)
    first = max(0, min(width - 1, math.floor(bar_start)))
    last = max(first, min(width - 1, math.ceil(max(s.end for s in segments)) - 1))
    for col in range(first, last + 1):
        cover = {RUN: 0.0, HELD: 0.0}
        for seg in segments:
            cover[seg.kind] += max(0.0, min(seg.end, col + 1) - max(seg.start, col))
        total = cover[RUN] + cover[HELD]
        if total <= 0:
            continue
        kind = RUN if cover[RUN] >= cover[HELD] else HELD
        eighths = round(total * 8)
        if eighths >= 8:
            cells[col] = (FULL[kind], kind)
        elif bar_start > col and total < 0.5:
            continue  # the bar starts in the right part of this cell: start it in the next
        elif bar_start > col:
            cells[col] = (FULL[kind], kind)
        elif kind == RUN:
            cells[col] = (EIGHTHS[max(1, eighths)], kind)
        elif total >= 0.5:
            cells[col] = (FULL[kind], kind)
    if all(kind == BLANK for _, kind in cells):
        # too short to see at this scale, but it did happen: leave a sliver
        kind = segments[-1].kind
        cells[first] = ("▏" if kind == RUN else FULL[HELD], kind)
    return cells


def _with_ghost(
    cells: list[tuple[str, str]], ghost: tuple[float, float] | None
) -> list[tuple[str, str]]:
    """Blank cells at least half covered by the usual-duration interval become ghost cells:
    behind the bar, so it shows only where the step is (or was) quicker than usual."""
    if ghost is None:
        return cells
    start, end = ghost
    for col in range(max(0, math.floor(start)), min(len(cells), math.ceil(end))):
        cover = min(end, col + 1) - max(start, col)
        if cells[col][1] == BLANK and cover >= 0.5:
            cells[col] = (GHOST_CHAR, GHOST)
    return cells


def _runs(cells: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for char, kind in cells:
        if out and out[-1][1] == kind:
            out[-1] = (out[-1][0] + char, kind)
        else:
            out.append((char, kind))
    return tuple(out)


def axis_end(rows: Sequence[TimelineRow], run_end_or_now: float, *, live: bool) -> float:
    """Where the axis ends: the run's end, or while it runs the later of now and the usual
    end of each running step (its ghost fits on the axis, and the bar grows into it)."""
    if not live:
        return run_end_or_now
    ends = [g[1] for r in rows if r.ended_at is None and (g := r.ghost()) is not None]
    return max([run_end_or_now, *ends])


def scale(
    rows: Sequence[TimelineRow],
    run_started: float | None,
    run_end_or_now: float,
    width: int,
    *,
    span_end: float | None = None,
) -> list[BarSpec]:
    """Lay every row's bar out on `width` cells spanning run start → `span_end` (default:
    the run's end, or now); bars of steps still going end at `run_end_or_now`."""
    width = max(0, width)
    origin = run_started
    if origin is None:
        known = [t for r in rows for t in (r.held_at, r.started_at) if t is not None]
        origin = min(known) if known else run_end_or_now
    span = max(run_end_or_now, span_end or run_end_or_now) - origin
    per_second = width / span if span > 0 else 0.0

    def col(t: float) -> float:
        if per_second == 0.0:
            return 0.0
        return min(float(width), max(0.0, (t - origin) * per_second))

    specs: list[BarSpec] = []
    for row in rows:
        intervals = _intervals(row, max(run_end_or_now, origin))
        segments = tuple(Segment(kind, col(a), col(b)) for kind, a, b in intervals)
        duration = None
        if intervals:
            duration = max(0.0, max(b for _, _, b in intervals) - min(a for _, a, _ in intervals))
        ghost = row.ghost()
        ghost_cols = (col(ghost[0]), col(ghost[1])) if ghost is not None else None
        cells = _cells(segments, width) if segments else [(" ", BLANK)] * width
        runs = _runs(_with_ghost(cells, ghost_cols))
        specs.append(BarSpec(row.name, row.status, segments, runs, duration))
    return specs


def _finish(row: TimelineRow) -> float | None:
    if row.status in NO_BAR:
        return None
    if row.ended_at is not None:
        return row.ended_at
    if row.started_at is not None or row.held_at is not None:
        return math.inf  # still going: it is what the run is waiting on
    return None


def critical_path(rows: Sequence[TimelineRow]) -> list[str]:
    """The chain of steps that decided the run's end, first step first.

    Start at the step that finished last and walk back through `requires`, each time to
    the requirement that finished last.  Steps that did not run in this run are ignored.
    """
    by_name = {r.name: r for r in rows}
    finished = [(f, i, r) for i, r in enumerate(rows) if (f := _finish(r)) is not None]
    if not finished:
        return []
    # ties go to the later row, which is usually the downstream one
    _, _, current = max(finished, key=lambda x: (x[0], x[1]))
    path = [current.name]
    seen = {current.name}
    while True:
        candidates = []
        for i, name in enumerate(current.requires):
            dep = by_name.get(name)
            if dep is None or name in seen:
                continue
            f = _finish(dep)
            if f is not None:
                candidates.append((f, i, dep))
        if not candidates:
            break
        _, _, current = max(candidates, key=lambda x: (x[0], x[1]))
        path.append(current.name)
        seen.add(current.name)
    path.reverse()
    return path


_NICE_STEPS = (
    0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800,
    3600, 7200, 10800, 21600, 43200, 86400,
)  # fmt: skip


def tick_label(seconds: float) -> str:
    """A short label for a round tick value: 0s, 0.5s, 30s, 2m, 1m30s, 1h, 1h30m."""
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s" if secs else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"


def axis_ticks(total: float, width: int, *, min_gap: int = 10) -> list[tuple[int, str]]:
    """(column, label) pairs along the axis: 0s, round values, and the total at the right end.

    Labels start at their column, except the total, which ends at the last column; none
    overlap and none run past `width`.
    """
    if width <= 0:
        return []
    end_label = fmt_duration(max(0.0, total))
    end_col = width - len(end_label)
    if end_col < 0:
        return []  # not even the total fits
    if total <= 0 or width < min_gap * 2:
        return [(0, "0s"), (end_col, end_label)] if end_col > 2 else [(end_col, end_label)]
    max_ticks = max(1, width // min_gap)
    step = next((s for s in _NICE_STEPS if total / s <= max_ticks), None)
    if step is None:
        step = math.ceil(total / max_ticks / 86400) * 86400
    ticks: list[tuple[int, str]] = []
    next_free = 0
    n = 0
    while True:
        value = n * step
        n += 1
        if value >= total:
            break
        column = round(value / total * width)
        label = tick_label(value)
        if column < next_free or column + len(label) + 1 > end_col:
            continue
        ticks.append((column, label))
        next_free = column + len(label) + 1
    ticks.append((end_col, end_label))
    return ticks


def axis_lines(total: float, width: int) -> tuple[str, str]:
    """The label line and the ruler line, each exactly `width` cells."""
    if width <= 0:
        return "", ""
    ticks = axis_ticks(total, width)
    labels = [" "] * width
    ruler = ["─"] * width
    for column, label in ticks:
        for i, char in enumerate(label):
            if column + i < width:
                labels[column + i] = char
    for column, _ in ticks[:-1]:
        ruler[column] = "┴"
    # the total is right-aligned: its tick is the last column
    ruler[0] = "├"
    ruler[width - 1] = "┤"
    return "".join(labels), "".join(ruler)
