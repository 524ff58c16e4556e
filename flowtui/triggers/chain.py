"""Workflow chains: `workflow: {name: build, on: success}` starts a run when `build` ends.

Which finished runs a chain trigger answers is decided here; the service polls finished
runs from the store (runs of any process) and claims each (chained workflow, upstream run)
pair once, so two services never both start the follow-up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flowtui.model.workflow import Trigger, Workflow
from flowtui.store.triggerstore import FinishedRun

# `failure` covers runs that did not succeed because something went wrong; a run a person
# cancelled is not a failure, so only `any` follows it
STATUSES_FOR = {
    "success": frozenset({"succeeded"}),
    "failure": frozenset({"failed", "interrupted"}),
    "any": frozenset({"succeeded", "failed", "interrupted", "cancelled"}),
}


@dataclass(frozen=True, slots=True)
class ChainMatch:
    workflow: Workflow
    trigger: Trigger
    key: str  # the trigger's lease key


def trigger_key(trigger: Trigger) -> str:
    return f"workflow:{trigger.options.get('name')}:{trigger.options.get('on', 'success')}"


def matches(trigger: Trigger, run: FinishedRun) -> bool:
    if trigger.kind != "workflow" or trigger.options.get("name") != run.workflow:
        return False
    return run.status in STATUSES_FOR.get(str(trigger.options.get("on", "success")), ())


def chained(workflows: Iterable[Workflow], run: FinishedRun) -> list[ChainMatch]:
    """The (workflow, trigger) pairs a finished run starts."""
    found = []
    for workflow in workflows:
        for trigger in workflow.triggers:
            if matches(trigger, run):
                found.append(ChainMatch(workflow, trigger, trigger_key(trigger)))
    return found


def params_for(run: FinishedRun) -> dict[str, str]:
    params = {
        "upstream_workflow": run.workflow,
        "upstream_run_id": str(run.id),
        "upstream_status": run.status,
    }
    if run.branch:
        params["branch"] = run.branch
    if run.git_commit:
        params["commit"] = run.git_commit
    return params
