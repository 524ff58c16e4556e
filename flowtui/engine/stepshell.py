"""A shell where a step ran: its working folder and its environment, for a person.

`flowtui shell RUN STEP` and the dashboard's shell key open one, so the user can reproduce a
failure by hand.  The environment is the step's own, rebuilt from what the run recorded
(its workflow text, params, branch, workspace and the outputs of the steps it depends on);
secrets only when asked for, and then only in the shell's environment (never written to
the history or printed).  The shell is the user's own action, not a step: it runs with the
user's rights, outside any step sandbox.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from flowtui.engine.ports import RunLedger
from flowtui.engine.records import RunRecord
from flowtui.engine.secrets import SecretError, resolve_secrets
from flowtui.engine.stepenv import inherited_environment, step_variables
from flowtui.engine.workspace import SCRATCH, file_safe
from flowtui.model.errors import WorkflowError
from flowtui.model.workflow import Step, Workflow


class ShellError(Exception):
    """Why no shell can be opened for that step; meant for the person asking."""


@dataclass(frozen=True, slots=True)
class StepShell:
    run: RunRecord
    step: Step
    cwd: Path
    env: dict[str, str]
    secrets: tuple[str, ...]  # the names given (values only in `env`)

    def argv(self, command: str | None = None) -> list[str]:
        """`$SHELL` (else /bin/sh), interactive, or running `command` once."""
        shell = os.environ.get("SHELL") or "/bin/sh"
        return [shell] if command is None else [shell, "-c", command]

    def banner(self) -> str:
        secrets = f"; secrets: {', '.join(self.secrets)}" if self.secrets else ""
        return (
            f"flowtui shell: run {self.run.id} ({self.run.workflow}), step {self.step.name}, "
            f"in {self.cwd}{secrets}; exit to return"
        )


async def prepare_shell(
    ledger: RunLedger, run_id: int, step_name: str, *, with_secrets: bool = False
) -> StepShell:
    """The folder and environment of `step_name` in run `run_id`; ShellError says why not."""
    from flowtui.engine.runner import load_recorded_workflow

    run = await ledger.get_run(run_id)
    if run is None:
        raise ShellError(f"run {run_id} not found in {ledger.location}")
    try:
        workflow = load_recorded_workflow(run)
    except (WorkflowError, OSError) as exc:
        raise ShellError(f"run {run.id}'s workflow no longer loads: {exc}") from None
    step = workflow.steps.get(step_name)
    if step is None:
        copies = [n for n, s in workflow.steps.items() if s.base == step_name]
        hint = (
            f"pick a copy: {', '.join(copies)}" if copies else f"steps: {', '.join(workflow.steps)}"
        )
        raise ShellError(f"run {run.id} has no step {step_name!r}; {hint}")
    secrets: dict[str, str] = {}
    if with_secrets:
        try:
            secrets = resolve_secrets(workflow)
        except SecretError as exc:
            raise ShellError(str(exc)) from None
    workspace = ledger.default_workspace_root.absolute() / str(run.id)
    attempt = {s.name: s.attempt for s in await ledger.get_steps(run.id)}.get(step.name, 0)
    env = {
        **inherited_environment(),
        **step_variables(
            workflow,
            step,
            run_id=run.id,
            params=run.params,
            secrets=secrets,
            workspace=workspace,
            branch=run.branch,
            outputs=await ledger.get_outputs(run.id),  # STEPS_*: what the step could see
        ),
        "FLOWTUI_ATTEMPT": str(max(attempt, 1)),
        # what the shell writes here is the user's experiment, not the step's outputs
        "FLOWTUI_OUTPUT": str(workspace / SCRATCH / f"{file_safe(step.name)}.shell.outputs.env"),
    }
    (workspace / SCRATCH).mkdir(parents=True, exist_ok=True)
    cwd = _working_folder(workflow, step, workspace)
    if not cwd.is_dir():
        raise ShellError(f"the working folder of {step.name} is gone: {cwd}")
    return StepShell(run, step, cwd, env, tuple(secrets))


def _working_folder(workflow: Workflow, step: Step, workspace: Path) -> Path:
    """Where the step's commands ran: the workflow file's folder (plus a script's `cwd:`),
    or the run's workspace for a workflow with no file."""
    base = workflow.path.parent.resolve() if workflow.path else workspace
    cwd = step.spec.get("cwd") if step.type == "script" else None
    return base / str(cwd) if cwd else base
