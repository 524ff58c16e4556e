"""`--json`: the shapes the commands print for scripts, as docs/json.md documents them.

One module owns every shape, so `run`'s summary line, `show` and `history` describe a run
the same way (flowtui/cli/jsonread.py prints them for the read commands).  `JsonReporter`
is a bus subscriber like the console reporter: the engine speaks typed events and this
turns them into JSON Lines.  Times are Unix seconds (floats, UTC); statuses are the words
of `flowtui.glyphs` (`not_run`, `allowed_failure`, ...); a key that does not apply is
`null`, never left out.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from flowtui.engine.events import (
    ApprovalDecided,
    Event,
    RemoteLogSeen,
    RunStatusChanged,
    StepLog,
    StepOutputs,
    StepStatusChanged,
)
from flowtui.engine.records import ApprovalRecord, RunRecord, StepRecord
from flowtui.glyphs import shown_status

if TYPE_CHECKING:
    from flowtui.control import InboxItem
    from flowtui.store.runstore import RunStore

VERSION = 1


def dump(value: Any, out: TextIO | None = None) -> None:
    """One JSON document, indented, on stdout."""
    stream = out or sys.stdout
    stream.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
    stream.flush()


# -- shapes ------------------------------------------------------------------------------
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


def inbox_view(item: InboxItem, now: float) -> dict[str, Any]:
    held, gate = item.held, item.gate
    return {
        "run_id": held.run.id,
        "workflow": held.run.workflow,
        "step": held.name,
        "message": gate.message,
        "started_by": gate.starter or None,
        "held_at": gate.held_at,
        "held_for": gate.held_for(now),
        "timeout": gate.timeout,
        "time_left": gate.time_left(now),
        "approvers": list(held.approvers),
        "may_approve": item.may_decide,
        "required_approvals": gate.rules.required_approvals,
        "approved_by": list(gate.approved_by),
        "allow_self_approval": gate.rules.allow_self_approval,
        "inputs": [
            {
                "name": f.name,
                "type": f.type,
                "required": f.required,
                "default": f.default,
                "description": f.description,
                "options": list(f.options) if f.type == "choice" else None,
            }
            for f in gate.inputs
        ],
    }


# -- run: JSON Lines as it happens -------------------------------------------------------
class JsonReporter:
    """Follows the bus and writes one JSON object a line for each event of the run (and
    the runs it starts); `summary` writes the last line."""

    def __init__(self, out: TextIO | None = None, *, show_logs: bool = True) -> None:
        self.out = out or sys.stdout
        self.show_logs = show_logs
        self.allowed_failures: frozenset[str] = frozenset()

    def set_step_names(self, names: Sequence[str]) -> None:
        """As the console reporter's (it sets column widths there; nothing to do here)."""

    def _write(self, value: dict[str, Any]) -> None:
        self.out.write(json.dumps(value, ensure_ascii=False) + "\n")
        self.out.flush()

    def __call__(self, event: Event) -> None:
        line = self.view(event)
        if line is not None:
            self._write(line)

    def view(self, event: Event) -> dict[str, Any] | None:
        if isinstance(event, RunStatusChanged):
            return {
                "event": "run",
                "run_id": event.run_id,
                "workflow": event.workflow,
                "status": str(event.status),
                "at": event.at,
                "message": event.message,
            }
        if isinstance(event, StepStatusChanged):
            status = shown_status(
                str(event.status),
                run_final=False,
                allowed=event.step in self.allowed_failures,
            )
            return {
                "event": "step",
                "run_id": event.run_id,
                "step": event.step,
                "status": status,
                "at": event.at,
                "attempt": event.attempt,
                "exit_code": event.exit_code,
                "message": event.message,
            }
        if isinstance(event, StepLog | RemoteLogSeen):
            if not self.show_logs and event.stream != "system":
                return None
            return {
                "event": "log",
                "run_id": event.run_id,
                "step": event.step or None,
                "attempt": event.attempt,
                "stream": event.stream,
                "line": event.line,
                "at": event.at if isinstance(event, StepLog) else time.time(),
            }
        if isinstance(event, StepOutputs):
            return {
                "event": "outputs",
                "run_id": event.run_id,
                "step": event.step,
                "outputs": dict(event.outputs),
            }
        if isinstance(event, ApprovalDecided):
            return {
                "event": "approval",
                "run_id": event.run_id,
                "step": event.step,
                "approved": event.approved,
                "by": event.by,
                "at": event.at,
                "comment": event.comment,
                "inputs": dict(event.inputs),
            }
        return None

    async def summary(self, store: RunStore, run_id: int) -> None:
        run = await store.get_run(run_id)
        if run is not None:
            self._write({"event": "summary", "run": await show_view(store, run)})
