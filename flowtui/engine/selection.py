"""Running part of a workflow: which steps `--only` and `--skip` leave out.

`--only A,B` runs A, B and every step they require (transitively); `--skip C` leaves C out
while the steps that require C still run, as though C had been done. A left-out step is
recorded `skipped`, with the option that left it out, so the history says what was not run.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from flowtui.engine.records import NewStep
from flowtui.engine.states import StepStatus
from flowtui.glyphs import left_out_reason
from flowtui.model.graph import upstream
from flowtui.model.workflow import Step, Workflow


def _names(values: Iterable[str]) -> list[str]:
    """`["a,b", "c"]` (repeated options, comma lists) as `["a", "b", "c"]`."""
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def _check(workflow: Workflow, option: str, names: list[str]) -> None:
    for name in names:
        if name not in workflow.steps:
            near = difflib.get_close_matches(name, list(workflow.steps), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise ValueError(
                f"{option} {name}: {workflow.name} has no step {name!r}{hint} "
                f"(steps: {', '.join(workflow.steps)})"
            )


def left_out_steps(
    workflow: Workflow, only: Iterable[str] = (), skip: Iterable[str] = ()
) -> dict[str, str]:
    """The steps to leave out, each with the option that did: {"lint": "--skip"}.

    Raises ValueError, naming the option, for a step the workflow does not have.
    """
    only_names, skip_names = _names(only), _names(skip)
    _check(workflow, "--only", only_names)
    _check(workflow, "--skip", skip_names)
    both = sorted(set(only_names) & set(skip_names))
    if both:
        raise ValueError(f"{', '.join(both)}: given to both --only and --skip")
    left: dict[str, str] = {}
    if only_names:
        requires = {name: step.requires for name, step in workflow.steps.items()}
        keep = set(only_names) | upstream(requires, only_names)
        left.update((n, "--only") for n in workflow.steps if n not in keep)
    left.update((n, "--skip") for n in skip_names)
    if len(left) == len(workflow.steps):
        raise ValueError("--only/--skip leave no step to run")
    return left


def left_out_step(step: Step, position: int, option: str) -> NewStep:
    """The history's row for a step the run leaves out."""
    return NewStep(
        name=step.name,
        type=step.type,
        requires=list(step.requires),
        position=position,
        status=StepStatus.SKIPPED,
        message=left_out_reason(option),
    )
