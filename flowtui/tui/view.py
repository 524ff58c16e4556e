"""Turning store records into what the widgets draw (no widgets here)."""

from __future__ import annotations

from collections.abc import Sequence

from flowtui.engine.records import StepRecord
from flowtui.model.workflow import Workflow
from flowtui.store.runstore import RunStore
from flowtui.tui.timeline_scale import TimelineRow
from flowtui.tui.widgets.log_view import StepDetail


def dag_nodes(workflow: Workflow) -> list[tuple[str, tuple[str, ...]]]:
    return [(step.name, tuple(step.requires)) for step in workflow.steps.values()]


def build_timeline_rows(steps: Sequence[StepRecord]) -> list[TimelineRow]:
    return [
        TimelineRow(
            name=s.name,
            status=str(s.status),
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
    return StepDetail.from_records(record, outputs, approvals, attempts)
