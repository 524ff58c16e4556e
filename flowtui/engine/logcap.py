"""A per-step cap on stored log lines: the head and the tail are kept, the middle is counted.

A step that prints gigabytes must not fill the history database.  Of each step attempt's
log the first half of the allowance is written as it arrives; after that the newest lines
wait in a bounded ring buffer, and when the step ends one marker line
`… 123,456 lines (45.0 MB) omitted …` is written, followed by the ring's lines.  Memory per
step is bounded by half the byte allowance.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial

from flowtui.engine.events import (
    AttemptEnded,
    Event,
    RunStatusChanged,
    StepLog,
    StepStatusChanged,
)
from flowtui.engine.states import StepStatus

DEFAULT_MAX_LINES = 100_000
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
LINES_ENV = "FLOWTUI_MAX_LOG_LINES"
BYTES_ENV = "FLOWTUI_MAX_LOG_BYTES"
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


@dataclass(frozen=True, slots=True)
class LogLimits:
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


@dataclass(slots=True)
class _StepLogState:
    head_lines: int = 0
    head_bytes: int = 0
    head_full: bool = False
    tail: deque[tuple[StepLog, int]] = field(default_factory=deque)
    tail_bytes: int = 0
    omitted_lines: int = 0
    omitted_bytes: int = 0


class LogCap:
    """Filters a stream of engine events, holding back what exceeds each step's allowance."""

    def __init__(self, limits: LogLimits) -> None:
        self.limits = limits
        half_lines = limits.max_lines // 2 if limits.max_lines > 0 else 0
        half_bytes = limits.max_bytes // 2 if limits.max_bytes > 0 else 0
        self._half_lines = max(1, half_lines) if limits.max_lines > 0 else None
        self._half_bytes = max(1, half_bytes) if limits.max_bytes > 0 else None
        self._steps: dict[_Key, _StepLogState] = {}

    def filter(self, events: Iterable[Event]) -> list[Event]:
        """The events to write now, in order; capped log lines wait for their step's end."""
        if self.limits.unlimited:
            return list(events)
        out: list[Event] = []
        for event in events:
            if isinstance(event, StepLog):
                self._add(event, out)
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
        return out

    def drain(self) -> list[Event]:
        """Everything still held back (the writer is stopping)."""
        out: list[Event] = []
        self._flush(out, lambda _k: True)
        return out

    def _add(self, event: StepLog, out: list[Event]) -> None:
        key = (event.run_id, event.step, event.attempt)
        state = self._steps.get(key)
        if state is None:
            state = self._steps[key] = _StepLogState()
        size = len(event.line.encode("utf-8", "replace")) + 1
        if not state.head_full:
            lines_ok = self._half_lines is None or state.head_lines < self._half_lines
            bytes_ok = self._half_bytes is None or state.head_bytes + size <= self._half_bytes
            if lines_ok and bytes_ok:
                state.head_lines += 1
                state.head_bytes += size
                out.append(event)
                return
            state.head_full = True
        state.tail.append((event, size))
        state.tail_bytes += size
        while state.tail and (
            (self._half_lines is not None and len(state.tail) > self._half_lines)
            or (self._half_bytes is not None and state.tail_bytes > self._half_bytes)
        ):
            _, dropped = state.tail.popleft()
            state.tail_bytes -= dropped
            state.omitted_lines += 1
            state.omitted_bytes += dropped

    def _flush(self, out: list[Event], which: Callable[[_Key], bool]) -> None:
        keys = [k for k in self._steps if which(k)]
        for key in keys:
            state = self._steps.pop(key)
            if state.omitted_lines:
                first = state.tail[0][0] if state.tail else None
                run_id, step, attempt = key
                out.append(
                    StepLog(
                        run_id,
                        step,
                        attempt,
                        "system",
                        omitted_line(state.omitted_lines, state.omitted_bytes),
                        first.at if first is not None else 0.0,
                    )
                )
            out.extend(event for event, _ in state.tail)
