"""What a run or a rerun would do, step by step, before anything starts.

One computation for `flowtui run/rerun --dry-run`, the dashboard's preview and the runner
itself: the runner reuses exactly the steps a plan marks `reuse`, so what the preview shows
is what happens.  Pure: the caller reads the previous run's records; nothing here touches
the history.  A plan says what is known before the run starts; what only a running step can
decide (`when:`, a condition's branch) is named as such, not guessed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum

from flowtui.engine.ports import RunLedger
from flowtui.engine.states import STEP_OK, StepStatus
from flowtui.model.branches import branch_matches, describe_mismatch
from flowtui.model.graph import downstream
from flowtui.model.workflow import Step, Workflow


class Action(StrEnum):
    RUN = "run"
    REUSE = "reuse"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class PlannedStep:
    name: str
    action: Action
    reason: str  # why, for a person: "depends on build", "when: … (decided when it runs)"


@dataclass(frozen=True, slots=True)
class Previous:
    """What a plan needs of the run being rerun: each step's status and where a reused
    one came from, and which approval gates a person approved (per origin run)."""

    run_id: int
    statuses: Mapping[str, StepStatus]
    reused_from: Mapping[str, int | None]
    approved: Mapping[int, Collection[str]]  # origin run id → approved gate names
    outputs: Mapping[str, Mapping[str, str]]


async def read_previous(ledger: RunLedger, run_id: int) -> Previous:
    """What `plan_rerun` needs of run `run_id`, read from the history."""
    steps = await ledger.get_steps(run_id)
    reused_from = {s.name: s.reused_from for s in steps}
    approved: dict[int, set[str]] = {}
    for origin in {o or run_id for o in reused_from.values()}:
        approved[origin] = {a.step for a in await ledger.get_approvals(origin) if a.approved}
    return Previous(
        run_id=run_id,
        statuses={s.name: s.status for s in steps},
        reused_from=reused_from,
        approved=approved,
        outputs=await ledger.get_outputs(run_id),
    )


class RerunMode(StrEnum):
    FROM_FAILED = "from-failed"
    FROM_START = "from-start"
    FROM_STEP = "from-step"


def plan_run(workflow: Workflow, branch: str | None) -> list[PlannedStep]:
    """A new run of `workflow` for `branch`: every step runs unless a filter skips it."""
    return _plan(workflow, branch, {}, {})


def rerun_targets(workflow: Workflow, step: str) -> set[str]:
    """`step` (or all copies of a matrix step's base name) and everything depending on it.

    Raises KeyError naming the steps when there is no such step.
    """
    starts = (
        {step}
        if step in workflow.steps
        else {n for n, s in workflow.steps.items() if s.base == step}
    )
    if not starts:
        raise KeyError(
            f"no step {step!r} in {workflow.name}; steps: {', '.join(_base_names(workflow))}"
        )
    return starts | downstream(workflow.steps, step)


def plan_rerun(
    workflow: Workflow,
    previous: Previous,
    mode: RerunMode,
    from_step: str | None = None,
    branch: str | None = None,
) -> list[PlannedStep]:
    """A rerun of `previous` (with the workflow it recorded).

    from-start runs every step; from-failed reuses what succeeded; from-step runs
    `from_step` and what depends on it and reuses the rest that succeeded.  A step that did
    not succeed (failed, skipped, never reached) always runs again: nothing to reuse.
    Raises KeyError for an unknown `from_step`.
    """
    forced: dict[str, str] = {}
    if mode == RerunMode.FROM_STEP:
        if from_step is None:
            raise ValueError("a rerun from a step needs the step")
        for name in rerun_targets(workflow, from_step):
            step = workflow.steps[name]
            if name == from_step or step.base == from_step:
                forced[name] = "rerun from here"
            else:
                forced[name] = f"depends on {from_step}"
    reused: dict[str, str] = {}
    if mode != RerunMode.FROM_START:
        for name in workflow.steps:
            if name not in forced:
                why = _reusable(workflow.steps[name], previous)
                if why:
                    reused[name] = why
    conditions = {
        name: previous.outputs.get(name, {}).get("result")
        for name in reused
        if workflow.steps[name].type == "condition"
    }
    plan = _plan(workflow, branch, reused, conditions)
    if mode == RerunMode.FROM_START:
        return plan
    out = []
    for planned in plan:
        if planned.action == Action.RUN:
            first = forced.get(planned.name) or _why_again(previous, planned.name)
            reason = "; ".join(r for r in (first, planned.reason) if r)
            planned = PlannedStep(planned.name, Action.RUN, reason)
        out.append(planned)
    return out


def _reusable(step: Step, previous: Previous) -> str:
    """Why `step` may be reused from `previous` ("succeeded in run 3"), or ""."""
    status = previous.statuses.get(step.name)
    if status is None or status not in STEP_OK:
        return ""
    origin = previous.reused_from.get(step.name) or previous.run_id
    # a gate is reused only with its approval on record (a step status alone could have
    # been written by something other than a decision)
    if step.type == "approval" and step.name not in previous.approved.get(origin, ()):
        return ""
    return f"reused from run {origin}"


def _why_again(previous: Previous, name: str) -> str:
    status = previous.statuses.get(name)
    if status is None:
        return f"new since run {previous.run_id}"
    if status in (StepStatus.PENDING, StepStatus.RUNNING, StepStatus.HELD):
        return f"not finished in run {previous.run_id}"
    if status in STEP_OK:
        return f"approval not on record in run {previous.run_id}"
    return f"{status} in run {previous.run_id}"


def _plan(
    workflow: Workflow,
    branch: str | None,
    reused: Mapping[str, str],
    conditions: Mapping[str, str | None],
) -> list[PlannedStep]:
    """The plan in file order; `reused` steps are taken as they were, the rest run unless
    a branch filter, a decided condition or skipped requirements rule them out."""
    decided_by: dict[str, tuple[str, bool]] = {}  # step → (its condition, branch it is on)
    for step in workflow.steps.values():
        if step.type == "condition":
            for name in step.spec.get("then") or ():
                decided_by[name] = (step.name, True)
            for name in step.spec.get("else") or ():
                decided_by[name] = (step.name, False)
    actions: dict[str, Action] = {}
    plan: list[PlannedStep] = []
    # `requires` may point forward in the file: walk requirements first, then put the
    # plan back in file order
    for name in _topological(workflow):
        step = workflow.steps[name]
        if name in reused:
            actions[name] = Action.REUSE
            plan.append(PlannedStep(name, Action.REUSE, reused[name]))
            continue
        skip = (
            describe_mismatch(step.branches, branch)
            if not branch_matches(step.branches, branch)
            else ""
        )
        notes: list[str] = []
        if not skip and name in decided_by:
            condition, on_then = decided_by[name]
            result = conditions.get(condition)
            wanted = "true" if on_then else "false"
            if result is not None and result != wanted:
                skip = f"condition {condition} was {result}"
            elif result is None:
                notes.append(f"only if condition {condition} is {wanted} (not yet known)")
        if not skip and step.requires and all(actions.get(d) == Action.SKIP for d in step.requires):
            skip = "every step it requires would be skipped"
        if skip:
            actions[name] = Action.SKIP
            plan.append(PlannedStep(name, Action.SKIP, skip))
            continue
        actions[name] = Action.RUN
        if step.base:
            axes = ", ".join(f"{k}={v}" for k, v in step.matrix.items())
            notes.append(f"matrix copy of {step.base} ({axes})")
        if step.when:
            notes.append(f"when: {step.when} (decided when it runs)")
        if step.on_failure:
            notes.append("only if a step fails")
        elif step.always:
            notes.append("always, whatever the others do")
        if step.type == "approval":
            notes.append("waits for approval")
        plan.append(PlannedStep(name, Action.RUN, "; ".join(notes)))
    order = {name: i for i, name in enumerate(workflow.steps)}
    return sorted(plan, key=lambda p: order[p.name])


def _topological(workflow: Workflow) -> list[str]:
    from flowtui.model.graph import layers

    return [name for layer in layers(workflow.steps) for name in layer]


def _base_names(workflow: Workflow) -> list[str]:
    return list(dict.fromkeys(s.base_name for s in workflow.steps.values()))
