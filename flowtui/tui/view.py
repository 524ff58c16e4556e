"""Turning store records into what the widgets draw (no widgets here)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace

from flowtui.engine.records import RunRecord, StepRecord
from flowtui.engine.states import StepStatus
from flowtui.glyphs import shown_status
from flowtui.model.workflow import Workflow
from flowtui.store.runstore import RunStore
from flowtui.store.usual import pace, projected_end, running_long, step_pace
from flowtui.timefmt import fmt_duration
from flowtui.tui.markup import escape
from flowtui.tui.timeline_scale import TimelineRow
from flowtui.tui.widgets.log_view import StepDetail


def dag_nodes(workflow: Workflow) -> list[tuple[str, tuple[str, ...]]]:
    return [(step.name, tuple(step.requires)) for step in workflow.steps.values()]


def ran_earlier_version(run: RunRecord, workflow: Workflow | None) -> bool:
    """Whether `run` ran a different text of its workflow's file than the one loaded now
    (its definition records the text it ran)."""
    if workflow is None:
        return False
    recorded = run.definition.get("source")
    return isinstance(recorded, str) and bool(workflow.source) and recorded != workflow.source


def shown_states(run: RunRecord, steps: Sequence[StepRecord]) -> dict[str, str]:
    """Each step's status as shown (`not_run`, `allowed_failure`, see flowtui.glyphs)."""
    final, allowed, left = run.status.is_final, run.allowed_failures, run.left_out
    return {
        s.name: shown_status(
            str(s.status), run_final=final, allowed=s.name in allowed, left_out=s.name in left
        )
        for s in steps
    }


def step_durations(steps: Sequence[StepRecord], now: float) -> dict[str, str]:
    """What a DAG box shows under its name: its time so far or in all (an approval's
    from when it was held), and `×N` for a success that took N attempts."""
    shown: dict[str, str] = {}
    for s in steps:
        elapsed = s.elapsed(now)
        if elapsed is None:
            continue
        text = fmt_duration(elapsed)
        if s.status == StepStatus.SUCCEEDED and s.attempt > 1:
            text += f" ×{s.attempt}"
        shown[s.name] = text
    return shown


def build_timeline_rows(
    steps: Sequence[StepRecord],
    states: dict[str, str] | None = None,
    usual: Mapping[str, float] | None = None,
) -> list[TimelineRow]:
    """`states`: the statuses to show (`shown_states`), by default the recorded ones;
    `usual`: each step's usual seconds (`RunStore.usual_durations`), for its ghost bar."""
    states = states or {}
    usual = usual or {}
    return [
        TimelineRow(
            name=s.name,
            status=states.get(s.name, str(s.status)),
            held_at=s.held_at,
            started_at=s.started_at,
            ended_at=s.ended_at,
            requires=tuple(s.requires),
            usual=usual.get(s.name) if s.reused_from is None else None,
        )
        for s in steps
    ]


def usual_notes(
    run: RunRecord, steps: Sequence[StepRecord], usual: Mapping[str, float], warning: str
) -> list[str]:
    """The run header's words from usual durations (markup; `warning` is a style): a live
    run's ETA and steps running longer than usual, a finished run's slower steps."""
    now = time.time()
    notes: list[str] = []
    if not run.status.is_final:
        end = projected_end(steps, usual, now)
        if end is not None:
            left = end - now
            if any(s.status == StepStatus.HELD for s in steps):
                # a person may take any time: what is left once they approve, not a time
                notes.append(
                    f"ETA after approval ~{fmt_duration(left)}"
                    if left >= 1
                    else "ends soon after approval"
                )
            else:
                notes.append(f"ETA ~{fmt_duration(left)}" if left >= 1 else "ETA any moment")
        long = [s.name for s in steps if running_long(s, usual.get(s.name), now)]
        if long:
            notes.append(f"[{warning}]slow: {escape(', '.join(long))}[/]")
        return notes
    slower = [
        s.name
        for s in steps
        if s.type != "approval"
        and s.reused_from is None
        and pace(s.duration, usual.get(s.name)) == "slower"
    ]
    if slower:
        notes.append(f"[{warning}]slower than usual: {escape(', '.join(slower))}[/]")
    return notes


async def build_detail(
    store: RunStore, run: RunRecord, step: str, usual: Mapping[str, float] | None = None
) -> StepDetail | None:
    """`usual`: the run's usual step durations when the caller keeps them (else read)."""
    run_id = run.id
    steps = {s.name: s for s in await store.get_steps(run_id)}
    record = steps.get(step)
    if record is None:
        return None
    outputs = (await store.get_outputs(run_id)).get(step, {})
    approvals = [a for a in await store.get_approvals(run_id) if a.step == step]
    attempts = await store.get_attempts(run_id, step)
    detail = StepDetail.from_records(record, outputs, approvals, attempts)
    status = shown_states(run, [record])[step]
    detail = replace(detail, status=status, duration=record.elapsed())
    if record.type != "approval" and record.reused_from is None:
        if usual is None:
            usual = await store.usual_durations(run.workflow, before_run=run_id)
        detail = replace(detail, pace=step_pace(record, usual.get(step), time.time()))
    if record.type == "approval" and approvals:
        # the decision is said once, by its record: not again as the step's message
        # ("approved by ann: ok") and its outputs (approved_by, comment)
        rest = {k: v for k, v in outputs.items() if k not in ("approved_by", "comment")}
        detail = replace(detail, message="", outputs=rest)
    return detail
