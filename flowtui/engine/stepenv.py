"""The environment a step inherits from the process that runs it.

A step sees its runner's (or worker's) environment, minus flowtui's own settings: where the
history is and how to log in to it (`FLOWTUI_DB`, libpq's `PG*` variables), whether `--as`
is trusted, the webhook secret.  With them a step could write events for any run or decide
its own approval gate; without them it can only do its job.  A step that needs a database
gets it from its workflow's `env:` or `secrets:`.  The list is model/privateenv.py's, shared
with the child that evaluates a Python workflow file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from flowtui.model.graph import upstream
from flowtui.model.privateenv import FLOWTUI_PRIVATE, LIBPQ, NOT_INHERITED, without_private
from flowtui.model.workflow import Step, Workflow

_inherited: list[tuple[dict[bytes, bytes], dict[str, str]]] = []


def inherited_environment() -> dict[str, str]:
    """os.environ without what a step must not have (see the module docstring).

    Asked once per step: the answer is kept while the process environment is unchanged,
    compared through os.environ's own store of encoded names and values (one comparison
    in C instead of decoding every variable again)."""
    raw: dict[bytes, bytes] | None = getattr(os.environ, "_data", None)
    if raw is not None and _inherited and _inherited[0][0] == raw:
        return dict(_inherited[0][1])
    env = without_private(os.environ)
    if raw is not None:
        _inherited[:] = [(dict(raw), env)]
    return dict(env)


def env_name(name: str) -> str:
    """`region` → `REGION`, `build-id` → `BUILD_ID`: a param or matrix key as a variable."""
    return "".join(c if c.isalnum() else "_" for c in name).upper()


def upstream_steps(workflow: Workflow, step: Step) -> list[str]:
    """The steps `step` depends on, directly or not, in file order."""
    requires = {name: s.requires for name, s in workflow.steps.items()}
    needed = upstream(requires, [step.name])
    return [name for name in workflow.steps if name in needed]


def output_variables(
    workflow: Workflow, step: Step, outputs: Mapping[str, Mapping[str, str]]
) -> dict[str, str]:
    """STEPS_<STEP>_<KEY> for each output of the steps `step` depends on (directly or
    not).  Values travel in the environment, never into script text, so an output such as
    `$(rm -rf ~)` stays text."""
    env: dict[str, str] = {}
    if not any(outputs.values()):
        return env  # no step has outputs yet: no walk over the graph (it is per step)
    for name in upstream_steps(workflow, step):
        for key, value in (outputs.get(name) or {}).items():
            env[f"STEPS_{env_name(name)}_{env_name(key)}"] = value
    return env


def step_variables(
    workflow: Workflow,
    step: Step,
    *,
    run_id: int,
    params: Mapping[str, str],
    secrets: Mapping[str, str],
    workspace: Path,
    branch: str | None,
    outputs: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, str]:
    """What a step gets on top of the inherited environment, wherever it runs: the
    outputs of the steps it depends on (STEPS_*), workflow and step `env:`, PARAM_*,
    MATRIX_*, its secrets and the FLOWTUI_* variables."""
    env = output_variables(workflow, step, outputs or {})
    env.update({**workflow.env, **step.env})
    for key, value in params.items():
        env[f"PARAM_{env_name(key)}"] = value
    for key, value in step.matrix.items():
        env[f"MATRIX_{env_name(key)}"] = value
    env.update(secrets)
    env["FLOWTUI_WORKFLOW"] = workflow.name
    env["FLOWTUI_RUN_ID"] = str(run_id)
    env["FLOWTUI_STEP"] = step.name
    env["FLOWTUI_WORKSPACE"] = str(workspace)
    if branch:
        env["FLOWTUI_BRANCH"] = branch
    return env


__all__ = [
    "FLOWTUI_PRIVATE",
    "LIBPQ",
    "NOT_INHERITED",
    "env_name",
    "inherited_environment",
    "output_variables",
    "step_variables",
    "upstream_steps",
]
