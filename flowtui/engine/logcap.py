"""A per-step cap on stored log lines: the head and the tail are kept, the middle is counted.

A step that prints gigabytes must not fill the history database.  Of each step attempt's
log the first half of the allowance is written as it arrives; so is every later line (a
crash must not lose the tail), while a ring of their sizes tracks which of them are still
the newest half.  Lines that fall out of the ring are deleted from the history a batch at
a time (`LogTrimmed`): the oldest of them becomes one marker line
`… 123,456 lines (45.0 MB) omitted …` between head and tail, the rest go.  Memory per step
is the ring of sizes; the database holds the head, the marker and the tail, plus at most
`TRIM_SLACK` of the tail's allowance not yet trimmed.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Callable, Iterable
from functools import partial

from msgspec import Struct, field

from flowtui.engine.events import (
    AttemptEnded,
    Event,
    LogTrimmed,
    RunStatusChanged,
    StepLog,
    StepStatusChanged,
)
from flowtui.engine.states import StepStatus

DEFAULT_MAX_LINES = 100_000
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
LINES_ENV = "FLOWTUI_MAX_LOG_LINES"
BYTES_ENV = "FLOWTUI_MAX_LOG_BYTES"
# lines fallen out of the tail are deleted once they are this share of the tail's allowance:
# a delete per batch would cost more than it saves
TRIM_SLACK = 0.05
OMITTED_RE = re.compile(r"^… [\d,]+ lines \([^)]*\) omitted …$")
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(text: str) -> int:
    """`1000`, `64k`, `32M`, `1G` (binary units; a trailing `b`/`B` is allowed) → bytes."""
    match = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)[bB]?\s*", text)
    if match is None:
        raise ValueError(f"not a size: {text!r} (examples: 500000, 64k, 32M, 1G)")
    return int(match[1]) * _UNITS[match[2].lower()]


def fmt_bytes(size: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("kB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def omitted_line(lines: int, size: int) -> str:
    return f"… {lines:,} lines ({fmt_bytes(size)}) omitted …"


class LogLimits(Struct, frozen=True):
    """How much of one step attempt's log is stored; 0 means no limit."""

    max_lines: int = DEFAULT_MAX_LINES
    max_bytes: int = DEFAULT_MAX_BYTES

    @classmethod
    def from_env(cls) -> LogLimits:
        lines = os.environ.get(LINES_ENV)
        size = os.environ.get(BYTES_ENV)
        try:
            return cls(
                int(lines) if lines else DEFAULT_MAX_LINES,
                parse_size(size) if size else DEFAULT_MAX_BYTES,
            )
        except ValueError:
            return cls()

    @property
    def unlimited(self) -> bool:
        return self.max_lines <= 0 and self.max_bytes <= 0


_Key = tuple[int, str, int]  # run id, step, attempt


def _of_step(step: tuple[int, str], before: int | None, key: _Key) -> bool:
    """`key` is an attempt of `step` (one before attempt `before`, when given)."""
    return key[:2] == step and (before is None or key[2] < before)


def _of_run(run_id: int, key: _Key) -> bool:
    return key[0] == run_id


class _StepLogState(Struct):
    head_lines: int = 0
    head_bytes: int = 0
    head_full: bool = False
    tail: deque[int] = field(default_factory=deque)  # sizes of the stored tail lines
    tail_bytes: int = 0
    omitted_lines: int = 0
    omitted_bytes: int = 0
    untrimmed: int = 0  # lines out of the ring, still in the database
    untrimmed_bytes: int = 0


class LogCap:
    """Filters a stream of engine events, trimming what exceeds each step's allowance."""

    def __init__(self, limits: LogLimits) -> None:
        self.limits = limits
        half_lines = limits.max_lines // 2 if limits.max_lines > 0 else 0
        half_bytes = limits.max_bytes // 2 if limits.max_bytes > 0 else 0
        self._half_lines = max(1, half_lines) if limits.max_lines > 0 else None
        self._half_bytes = max(1, half_bytes) if limits.max_bytes > 0 else None
        self._slack_lines = max(1, int(half_lines * TRIM_SLACK))
        self._slack_bytes = max(1, int(half_bytes * TRIM_SLACK))
        self._steps: dict[_Key, _StepLogState] = {}

    def filter(self, events: Iterable[Event]) -> list[Event]:
        """The events to write now, in order, with the trims of the tails that grew."""
        if self.limits.unlimited:
            return list(events)
        out: list[Event] = []
        touched: set[_Key] = set()
        for event in events:
            if isinstance(event, StepLog):
                self._add(event, out, touched)
                continue
            if isinstance(event, StepStatusChanged):
                step = (event.run_id, event.step)
                if event.status.is_final:
                    self._flush(out, partial(_of_step, step, None))
                elif event.status == StepStatus.RUNNING:  # a new attempt: the last one is over
                    self._flush(out, partial(_of_step, step, event.attempt))
            elif isinstance(event, AttemptEnded):  # on a worker: the runner ends the step
                step = (event.run_id, event.step)
                self._flush(out, partial(_of_step, step, event.attempt + 1))
            elif isinstance(event, RunStatusChanged) and event.status.is_final:
                self._flush(out, partial(_of_run, event.run_id))
            out.append(event)
        for key in touched:
            state = self._steps.get(key)
            if state is not None and (
                state.untrimmed >= self._slack_lines or state.untrimmed_bytes >= self._slack_bytes
            ):
                out.append(self._trim(key, state))
        return out

    def drain(self) -> list[Event]:
        """The trims still due (the writer is stopping)."""
        out: list[Event] = []
        self._flush(out, lambda _k: True)
        return out

    def _add(self, event: StepLog, out: list[Event], touched: set[_Key]) -> None:
        key = (event.run_id, event.step, event.attempt)
        state = self._steps.get(key)
        if state is None:
            state = self._steps[key] = _StepLogState()
        size = len(event.line.encode("utf-8", "replace")) + 1
        out.append(event)
        if not state.head_full:
            lines_ok = self._half_lines is None or state.head_lines < self._half_lines
            bytes_ok = self._half_bytes is None or state.head_bytes + size <= self._half_bytes
            if lines_ok and bytes_ok:
                state.head_lines += 1
                state.head_bytes += size
                return
            state.head_full = True
        state.tail.append(size)
        state.tail_bytes += size
        while state.tail and (
            (self._half_lines is not None and len(state.tail) > self._half_lines)
            or (self._half_bytes is not None and state.tail_bytes > self._half_bytes)
        ):
            dropped = state.tail.popleft()
            state.tail_bytes -= dropped
            state.omitted_lines += 1
            state.omitted_bytes += dropped
            state.untrimmed += 1
            state.untrimmed_bytes += dropped
            touched.add(key)

    @staticmethod
    def _trim(key: _Key, state: _StepLogState) -> LogTrimmed:
        run_id, step, attempt = key
        drop, state.untrimmed, state.untrimmed_bytes = state.untrimmed, 0, 0
        return LogTrimmed(
            run_id,
            step,
            attempt,
            state.head_lines,
            drop,
            state.omitted_lines,
            state.omitted_bytes,
        )

    def _flush(self, out: list[Event], which: Callable[[_Key], bool]) -> None:
        for key in [k for k in self._steps if which(k)]:
            state = self._steps.pop(key)
            if state.untrimmed:
                out.append(self._trim(key, state))
