"""Whether a workflow may start a run now: its `status:` and the paused flag in the database.

- `draft`: nothing runs, whoever asks (the Runner refuses with `draft_refusal`).
- `paused` (in the YAML, or paused with `flowtui pause` / the dashboard's `p`): triggers are
  ignored; a person may still start a run by hand.
- `active`: everything runs.
"""

from __future__ import annotations

from flowtui.engine.ports import PauseFlags
from flowtui.model.workflow import Workflow


def draft_refusal(workflow: Workflow) -> str | None:
    """The message a draft workflow's run is refused with, or None when it may run."""
    if workflow.status == "draft":
        return f"workflow {workflow.name} is a draft; set status: active"
    return None


async def trigger_allowed(flags: PauseFlags, workflow: Workflow) -> tuple[bool, str]:
    """(True, "") when a trigger may start `workflow`; else (False, why not)."""
    if workflow.status != "active":
        return False, f"workflow {workflow.name} has status: {workflow.status}"
    if await flags.workflow_paused(workflow.name):
        return False, f"workflow {workflow.name} is paused (flowtui resume {workflow.name})"
    return True, ""


async def effective_status(flags: PauseFlags, workflow: Workflow) -> str:
    """What `flowtui list` shows: draft, paused (YAML or database) or active."""
    if workflow.status != "active":
        return workflow.status
    return "paused" if await flags.workflow_paused(workflow.name) else "active"
