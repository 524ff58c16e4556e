"""Expected durations: how long each step of a workflow usually takes, and what that means.

A step's usual duration is the median of its last `USUAL_OF_LAST` successful runs (not
reused from another run, not approvals: waiting for a person is not the step's pace).  From
it follow the verdicts `flowtui show` and the dashboard print ("slower than usual (2.5 s,
usually 0.2 s)"), the live flag on a step running long, and a running run's ETA.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from flowtui.engine.records import StepRecord
from flowtui.engine.states import StepStatus

if TYPE_CHECKING:
    from flowtui.store.backends import HistoryDb

USUAL_OF_LAST = 20
SLOWER_FACTOR = 2.0  # more than twice its usual time: slower than usual
SLOWER_MIN_GAP = 1.0  # ... by a second or more (0.03 s → 0.7 s on a busy machine is noise)
FASTER_FACTOR = 0.5  # less than half of it: faster than usual ...
FASTER_MIN_USUAL = 1.0  # ... where it matters: a step that usually takes a second or more

# the newest runs looked at: bounds the work on a long history (runs_by_workflow index); a
# step that succeeded fewer than USUAL_OF_LAST times among them has a median of fewer
RECENT_RUNS = 10 * USUAL_OF_LAST

_USUAL_SQL = """SELECT name, duration FROM (
    SELECT s.name AS name, s.ended_at - s.started_at AS duration,
           ROW_NUMBER() OVER (PARTITION BY s.name ORDER BY s.run_id DESC) AS n
      FROM steps s
     WHERE s.run_id IN (SELECT id FROM runs WHERE workflow = ? {before} ORDER BY id DESC LIMIT ?)
       AND s.status = ? AND s.type <> 'approval' AND s.reused_from IS NULL
       AND s.started_at IS NOT NULL AND s.ended_at IS NOT NULL
) recent WHERE n <= ?"""


async def usual_durations(
    db: HistoryDb, workflow: str, *, before_run: int | None = None, last: int = USUAL_OF_LAST
) -> dict[str, float]:
    """{step: median seconds of its last `last` successes} for `workflow` (runs older than
    `before_run` only, when given; among its newest `RECENT_RUNS`); steps that never
    succeeded are left out."""
    params: list[object] = [workflow]
    before = ""
    if before_run is not None:
        before = "AND id < ?"
        params.append(before_run)
    params += [RECENT_RUNS, str(StepStatus.SUCCEEDED), last]
    rows = await db.fetchall(_USUAL_SQL.format(before=before), params)
    samples: dict[str, list[float]] = {}
    for row in rows:
        samples.setdefault(row["name"], []).append(max(0.0, float(row["duration"])))
    import statistics  # here, not at the top: `flowtui run` starts without it (issue #18)

    return {name: float(statistics.median(values)) for name, values in samples.items()}


def figure(seconds: float) -> str:
    """A duration for a sentence: `0.02 s`, `2.5 s`, `4m32s`."""
    if seconds < 0.095:
        return f"{max(0.0, seconds):.2f} s"
    if seconds < 60:
        return f"{max(0.0, seconds):.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def pace(duration: float | None, usual: float | None) -> str | None:
    """The verdict: `slower`, `faster`, or None (as usual, or nothing to compare with)."""
    if duration is None or usual is None:
        return None
    if duration > SLOWER_FACTOR * usual and duration - usual >= SLOWER_MIN_GAP:
        return "slower"
    if usual >= FASTER_MIN_USUAL and duration < FASTER_FACTOR * usual:
        return "faster"
    return None


def pace_note(duration: float | None, usual: float | None, *, word: str = "usually") -> str:
    """The words for a verdict, `slower than usual (2.5 s, usually 0.2 s)`, or ""."""
    verdict = pace(duration, usual)
    if verdict is None or duration is None or usual is None:
        return ""
    return f"{verdict} than usual ({figure(duration)}, {word} {figure(usual)})"


def running_long(step: StepRecord, usual: float | None, now: float) -> bool:
    """A step still running that has taken more than twice its usual time so far."""
    if step.status != StepStatus.RUNNING or step.started_at is None:
        return False
    return pace(now - step.started_at, usual) == "slower"


def step_pace(step: StepRecord, usual: float | None, now: float) -> str:
    """A step's note: `pace_note` once it ended, `running longer than usual (…)` while it
    runs past twice its usual time, else ""."""
    if step.started_at is None:
        return ""
    if step.ended_at is not None:
        return pace_note(step.ended_at - step.started_at, usual)
    if usual is not None and running_long(step, usual, now):
        return (
            f"running longer than usual ({figure(now - step.started_at)}, usually {figure(usual)})"
        )
    return ""


def projected_end(
    steps: Sequence[StepRecord], usual: Mapping[str, float], now: float
) -> float | None:
    """When a running run should end if every step left takes its usual time, or None when
    nothing left has a usual time (no estimate worth showing).

    Steps are walked in requirement order: a step not started yet starts when the last of
    its requirements ends (or now); a running step ends at its start plus its usual time,
    and not before now.  A step waiting for a person counts as ending now.
    """
    by_name = {s.name: s for s in steps}
    ends: dict[str, float] = {}
    known = False

    def end_of(name: str, seen: frozenset[str]) -> float:
        nonlocal known
        if name in ends:
            return ends[name]
        step = by_name[name]
        if step.ended_at is not None:
            end = step.ended_at
        elif step.status == StepStatus.RUNNING and step.started_at is not None:
            took = usual.get(name)
            known = known or took is not None
            end = max(now, step.started_at + (took or 0.0))
        elif step.status == StepStatus.PENDING:
            ready = max(
                (end_of(r, seen | {name}) for r in step.requires if r in by_name and r not in seen),
                default=now,
            )
            took = usual.get(name)
            known = known or took is not None
            end = max(now, ready) + (took or 0.0)
        else:  # held, or ended without an end time
            end = now
        ends[name] = end
        return end

    last = max((end_of(s.name, frozenset()) for s in steps), default=None)
    return last if known else None
