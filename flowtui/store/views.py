"""The JSON documents of a run, its steps and approvals: what `--json` prints (docs/json.md)
and what the REST API answers (docs/api.md), built in one place so both say the same.

Times are Unix seconds (floats, UTC); statuses are the words of `flowtui.glyphs`
(`not_run`, `allowed_failure`, ...); a key that does not apply is `null`, never left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flowtui.engine.records import ApprovalRecord, LogRecord, RunRecord, StepRecord
from flowtui.glyphs import shown_status
from flowtui.model.workflow import Workflow
from flowtui.store.runstore import RunStore

VERSION = 1


def approval_view(a: ApprovalRecord) -> dict[str, Any]:
    return {
        "approved": a.approved,
        "by": a.by,
        "at": a.at,
        "comment": a.comment,
        "inputs": dict(a.inputs),
    }


def run_view(run: RunRecord, approvals: Sequence[ApprovalRecord] = ()) -> dict[str, Any]:
    """A run as `history` lists it (and `show` starts it)."""
    return {
        "id": run.id,
        "workflow": run.workflow,
        "status": str(run.status),
        "trigger": run.trigger,
        "triggered_by": run.triggered_by or None,
        "parent_run_id": run.parent_run_id,
        "rerun_mode": run.rerun_mode,
        "branch": run.branch,
        "environment": run.environment,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "duration": run.duration if run.started_at else None,
        "message": run.message,
        "approved_by": sorted({a.by for a in approvals if a.approved}),
    }


def step_view(
    step: StepRecord,
    run: RunRecord,
    outputs: dict[str, str],
    approvals: Sequence[ApprovalRecord],
) -> dict[str, Any]:
    return {
        "name": step.name,
        "type": step.type,
        "status": shown_status(
            str(step.status),
            run_final=run.status.is_final,
            allowed=step.name in run.allowed_failures,
        ),
        "attempt": step.attempt,
        "started_at": step.started_at,
        "held_at": step.held_at,
        "ended_at": step.ended_at,
        "duration": step.duration,
        "exit_code": step.exit_code,
        "message": step.message,
        "requires": list(step.requires),
        "outputs": dict(outputs),
        "approvals": [approval_view(a) for a in approvals if a.step == step.name],
    }


async def show_view(store: RunStore, run: RunRecord) -> dict[str, Any]:
    """A run with its params and steps: `show --json`, and the last line of `run --json`."""
    steps = await store.get_steps(run.id)
    approvals = await store.get_approvals(run.id)
    outputs = await store.get_outputs(run.id)
    view = {"version": VERSION, **run_view(run, approvals)}
    view["params"] = dict(run.params)
    view["steps"] = [step_view(s, run, outputs.get(s.name, {}), approvals) for s in steps]
    return view


def log_view(line: LogRecord) -> dict[str, Any]:
    """One log line; `id` orders the lines of a run (page with `after`)."""
    return {
        "id": line.id,
        "step": line.step or None,
        "attempt": line.attempt,
        "stream": line.stream,
        "line": line.line,
        "at": line.at,
    }


async def workflow_view(
    store: RunStore, path: Path, workflow: Workflow | None, error: str | None
) -> dict[str, Any]:
    """A workflow file as `list --json` shows it: its status, triggers and last run."""
    from flowtui.engine.admission import effective_status

    entry: dict[str, Any] = {
        "name": path.stem,
        "path": str(path),
        "status": None,
        "triggers": [],
        "steps": None,
        "last_run": None,
        "error": error,
    }
    if workflow is None:
        return entry
    runs = await store.list_runs(workflow.name, limit=1)
    entry.update(
        name=workflow.name,
        status=await effective_status(store, workflow),
        triggers=[t.kind for t in workflow.triggers],
        steps=len(workflow.steps),
        last_run=run_view(runs[0]) if runs else None,
    )
    return entry
