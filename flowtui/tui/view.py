"""Turning store records into what the widgets draw (no widgets here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from flowtui.engine.records import RunRecord, StepRecord
from flowtui.engine.states import StepStatus
from flowtui.glyphs import shown_status
from flowtui.model.workflow import Workflow
from flowtui.store.runstore import RunStore
from flowtui.timefmt import fmt_duration
from flowtui.tui.timeline_scale import TimelineRow
from flowtui.tui.widgets.log_view import StepDetail


def dag_nodes(workflow: Workflow) -> list[tuple[str, tuple[str, ...]]]:
    return [(step.name, tuple(step.requires)) for step in workflow.steps.values()]


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
    steps: Sequence[StepRecord], states: dict[str, str] | None = None
) -> list[TimelineRow]:
    """`states`: the statuses to show (`shown_states`), by default the recorded ones."""
    states = states or {}
    return [
        TimelineRow(
            name=s.name,
            status=states.get(s.name, str(s.status)),
            held_at=s.held_at,
            started_at=s.started_at,
            ended_at=s.ended_at,
            requires=tuple(s.requires),
        )
        for s in steps
    ]


async def build_detail(store: RunStore, run_id: int, step: str) -> StepDetail | None:
    steps = {s.name: s for s in await store.get_steps(run_id)}
    record = steps.get(step)
    if record is None:
        return None
    outputs = (await store.get_outputs(run_id)).get(step, {})
    approvals = [a for a in await store.get_approvals(run_id) if a.step == step]
    attempts = await store.get_attempts(run_id, step)
    detail = StepDetail.from_records(record, outputs, approvals, attempts)
    run = await store.get_run(run_id)
    if run is not None:
        status = shown_states(run, [record])[step]
        detail = replace(detail, status=status, duration=record.elapsed())
    if record.type == "approval" and approvals:
        # the decision is said once, by its record: not again as the step's message
        # ("approved by ann: ok") and its outputs (approved_by, comment)
        rest = {k: v for k, v in outputs.items() if k not in ("approved_by", "comment")}
        detail = replace(detail, message="", outputs=rest)
    return detail
