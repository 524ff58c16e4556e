"""Comparing a run with another (by default the last green run of its workflow before it):
which steps got slower or faster, which changed status, which outputs changed.

Shared by `flowtui show RUN --compare` (text and JSON) and the dashboard's compare key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flowtui.engine.records import RunRecord, StepRecord
from flowtui.engine.states import RunStatus
from flowtui.glyphs import shown_status, status_label
from flowtui.store.usual import figure, pace

if TYPE_CHECKING:
    from flowtui.store.runstore import RunStore


@dataclass(frozen=True, slots=True)
class StepDelta:
    """One step in both runs (either side None when the step is in only one of them)."""

    name: str
    status: str | None  # as `show` shows it (`flowtui.glyphs.shown_status`): not_run, …
    other_status: str | None
    duration: float | None
    other_duration: float | None

    @property
    def pace(self) -> str | None:
        """Slower or faster than in the other run: the rule of "than usual" (`store.usual.pace`)."""
        return pace(self.duration, self.other_duration)


@dataclass(frozen=True, slots=True)
class OutputChange:
    step: str
    key: str
    before: str | None  # in the other run; None: it had no such output
    after: str | None  # in this run


@dataclass(frozen=True, slots=True)
class Comparison:
    run: RunRecord
    other: RunRecord
    steps: tuple[StepDelta, ...]
    outputs: tuple[OutputChange, ...]

    @property
    def slower(self) -> list[StepDelta]:
        return [s for s in self.steps if s.pace == "slower"]

    @property
    def faster(self) -> list[StepDelta]:
        return [s for s in self.steps if s.pace == "faster"]

    @property
    def status_changed(self) -> list[StepDelta]:
        return [s for s in self.steps if s.status != s.other_status]

    def lines(self) -> list[str]:
        """The comparison as a person reads it."""
        run, other = self.run, self.other
        out = [
            f"Run #{run.id} ({run.status}) compared with run #{other.id} ({other.status}):"
            f" {figure(run.duration or 0.0)} against {figure(other.duration or 0.0)}"
        ]
        for title, deltas in (("Slower", self.slower), ("Faster", self.faster)):
            for d in deltas:
                assert d.duration is not None and d.other_duration is not None
                out.append(
                    f"  {title}: {d.name}  {figure(d.duration)}, was {figure(d.other_duration)}"
                )
        for d in self.status_changed:
            now = status_label(d.status) if d.status else "(not in this run)"
            was = status_label(d.other_status) if d.other_status else "(not in that run)"
            out.append(f"  Status: {d.name}  {now}, was {was}")
        for change in self.outputs:
            before = change.before or "(none)"  # absent or empty: never a blank
            after = change.after or "(none)"
            out.append(f"  Output: {change.step}.{change.key}  {before} → {after}")
        if len(out) == 1:
            out.append("  no step got slower or faster, and no output changed")
        return out

    def as_json(self) -> dict[str, Any]:
        """The shape docs/json.md describes (`show --compare --json`)."""
        return {
            "run_id": self.run.id,
            "other_run_id": self.other.id,
            "duration": self.run.duration,
            "other_duration": self.other.duration,
            "steps": [
                {
                    "name": d.name,
                    "status": d.status,
                    "other_status": d.other_status,
                    "duration": d.duration,
                    "other_duration": d.other_duration,
                    "pace": d.pace,
                }
                for d in self.steps
            ],
            "outputs": [
                {"step": c.step, "key": c.key, "before": c.before, "after": c.after}
                for c in self.outputs
            ],
        }


def _shown(step: StepRecord | None, run: RunRecord) -> str | None:
    """The step's status in the words `show` and the graph use for it (a step a finished
    run never reached is `not_run`, not `pending`); None: not in that run."""
    if step is None:
        return None
    return shown_status(
        str(step.status),
        run_final=run.status.is_final,
        allowed=step.name in run.allowed_failures,
        left_out=step.name in run.left_out,
    )


def compare(
    run: RunRecord,
    steps: Sequence[StepRecord],
    outputs: Mapping[str, Mapping[str, str]],
    other: RunRecord,
    other_steps: Sequence[StepRecord],
    other_outputs: Mapping[str, Mapping[str, str]],
) -> Comparison:
    """`run` against `other`: steps in this run's order, then those only the other had."""
    mine = {s.name: s for s in steps}
    theirs = {s.name: s for s in other_steps}
    names = [s.name for s in steps] + [s.name for s in other_steps if s.name not in mine]
    deltas = []
    for name in names:
        a, b = mine.get(name), theirs.get(name)
        deltas.append(
            StepDelta(
                name,
                _shown(a, run),
                _shown(b, other),
                a.duration if a and a.reused_from is None else None,
                b.duration if b and b.reused_from is None else None,
            )
        )
    changes = []
    for name in names:
        now, was = outputs.get(name, {}), other_outputs.get(name, {})
        for key in [*now, *(k for k in was if k not in now)]:
            if now.get(key) != was.get(key):
                changes.append(OutputChange(name, key, was.get(key), now.get(key)))
    return Comparison(run, other, tuple(deltas), tuple(changes))


async def last_green_before(store: RunStore, run: RunRecord) -> RunRecord | None:
    """The last successful run of `run`'s workflow before it."""
    runs = await store.list_runs(
        run.workflow, limit=1, before_id=run.id, statuses={RunStatus.SUCCEEDED}
    )
    return runs[0] if runs else None


async def compare_runs(store: RunStore, run: RunRecord, other: RunRecord) -> Comparison:
    return compare(
        run,
        await store.get_steps(run.id),
        await store.get_outputs(run.id),
        other,
        await store.get_steps(other.id),
        await store.get_outputs(other.id),
    )
