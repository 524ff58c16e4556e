"""`flowtui show RUN --timeline`: a run as an "Execution Timeline" in plain text.

    Execution Timeline: production-deploy run #12
    00:00 plan started
    00:02 plan succeeded (2.0s)
    00:02 ─┬─ (parallel)
          ├─ Apply US started
          └─ Apply EU started
    00:15 Apply US succeeded (13.0s)
    Total: 15.2s (succeeded)

Starts in a row (no step ends between them) less than `PARALLEL_WINDOW` seconds after
the first are one bracketed group: the steps one end (or the run's start) let go.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flowtui.engine.records import RunRecord, StepRecord
from flowtui.glyphs import status_label
from flowtui.timefmt import fmt_duration

PARALLEL_WINDOW = 0.5


@dataclass(frozen=True, slots=True)
class _Event:
    at: float
    start: bool
    text: str


def offset(seconds: float) -> str:
    """`00:15`, `12:03`, `1:02:03` from the run's start."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _events(steps: Sequence[StepRecord], shown: dict[str, str]) -> list[_Event]:
    events: list[_Event] = []
    for step in steps:
        begin = step.held_at if step.type == "approval" and step.held_at else step.started_at
        if begin is None:
            continue
        verb = "waits for approval" if step.type == "approval" else "started"
        events.append(_Event(begin, True, f"{step.name} {verb}"))
        if step.ended_at is not None:
            status = status_label(shown.get(step.name, str(step.status)))
            took = fmt_duration(max(0.0, step.ended_at - begin))
            code = f", exit {step.exit_code}" if step.exit_code not in (None, 0) else ""
            events.append(_Event(step.ended_at, False, f"{step.name} {status} ({took}{code})"))
    # ends first at the same instant: a step ends before the ones it lets start
    events.sort(key=lambda e: (e.at, e.start))
    return events


def timeline_lines(
    run: RunRecord, steps: Sequence[StepRecord], shown: dict[str, str], now: float
) -> list[str]:
    """The lines of the timeline (no trailing newline)."""
    out = [f"Execution Timeline: {run.workflow} run #{run.id}"]
    events = _events(steps, shown)
    origin = run.started_at
    if origin is None:
        origin = events[0].at if events else None
    if origin is None:
        out.append("(nothing has started yet)")
        return out
    pad = " " * (len(offset(0)) + 1)
    i = 0
    while i < len(events):
        event = events[i]
        group = [event]
        if event.start:
            # the starts right after it, up to the next end
            j = i + 1
            while j < len(events) and events[j].start and events[j].at - event.at < PARALLEL_WINDOW:
                group.append(events[j])
                j += 1
        stamp = offset(event.at - origin)
        if len(group) == 1:
            out.append(f"{stamp} {event.text}")
        else:
            out.append(f"{stamp} ─┬─ (parallel)")
            for k, member in enumerate(group):
                branch = "└─" if k == len(group) - 1 else "├─"
                out.append(f"{pad}{branch} {member.text}")
        i += len(group)
    # steps with no start, by the word `show` uses for them (failed on its `when:`, skipped,
    # not run; `pending` while the run goes on)
    never: dict[str, list[str]] = {}
    for s in steps:
        if s.started_at is None and s.held_at is None:
            never.setdefault(status_label(shown.get(s.name, str(s.status))), []).append(s.name)
    for word, names in never.items():
        out.append(f"{pad}{word}: {', '.join(names)}")
    end = run.ended_at if run.ended_at is not None else now
    state = status_label(str(run.status))
    total = f"Total: {fmt_duration(max(0.0, end - origin))} ({state}"
    out.append(total + (")" if run.ended_at is not None else ", so far)"))
    return out
