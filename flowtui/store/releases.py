"""What is deployed where: each (workflow, environment)'s latest run and current release.

A run bound to an environment (`flowtui run --env`) is recorded with it; when it succeeds,
the step output its workflow names (`release: steps.build.outputs.version`, recorded in
the run's definition) becomes that environment's current release.  Nothing is written
for this: the release is read back from the newest successful run, so it can never
disagree with the history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from flowtui.engine.records import RunRecord
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.model.environments import bind_environment, gate_name, unknown_environment
from flowtui.model.errors import WorkflowError
from flowtui.model.loader import discover_workflows, load_workflow
from flowtui.model.workflow import Workflow
from flowtui.store.rows import _run_record
from flowtui.store.runstore import RunStore

MAX_REUSE_HOPS = 50  # reruns followed back to the run whose gate was approved


@dataclass(frozen=True, slots=True)
class EnvironmentState:
    workflow: str
    environment: str
    last_run: RunRecord | None  # the newest run in it (any status); None: never run
    release_run: RunRecord | None  # the newest successful one: what is deployed
    release: str | None  # its release output (None: not declared, or not produced)
    approved_by: tuple[str, ...] = ()  # who passed the release run's protection gate
    # other approvals of the release run: (step, who), its own approval steps' answers
    other_approvals: tuple[tuple[str, str], ...] = ()

    @property
    def deployed_at(self) -> float | None:
        run = self.release_run
        return (run.ended_at or run.created_at) if run is not None else None


def release_of(run: RunRecord, outputs: dict[str, dict[str, str]]) -> str | None:
    """The value of the output `run`'s workflow declared as its release, if it has one."""
    ref = run.definition.get("release")
    if not isinstance(ref, list) or len(ref) != 2:
        return None
    return outputs.get(str(ref[0]), {}).get(str(ref[1]))


async def environment_states(
    store: RunStore, workflow: str | None = None
) -> list[EnvironmentState]:
    """Every (workflow, environment) with a run, sorted by workflow then environment."""
    where, params = "environment IS NOT NULL", []
    if workflow is not None:
        where += " AND workflow = ?"
        params.append(workflow)
    latest = await store.db.fetchall(
        f"""SELECT * FROM runs WHERE id IN (
              SELECT MAX(id) FROM runs WHERE {where} GROUP BY workflow, environment)""",
        params,
    )
    good = await store.db.fetchall(
        f"""SELECT * FROM runs WHERE id IN (
              SELECT MAX(id) FROM runs WHERE {where} AND status = ?
               GROUP BY workflow, environment)""",
        [*params, str(RunStatus.SUCCEEDED)],
    )
    deployed = {(r.workflow, r.environment): r for r in map(_run_record, good)}
    states = []
    for run in sorted(map(_run_record, latest), key=lambda r: (r.workflow, r.environment or "")):
        assert run.environment is not None
        release_run = deployed.get((run.workflow, run.environment))
        release = None
        approved: tuple[str, ...] = ()
        others: tuple[tuple[str, str], ...] = ()
        if release_run is not None:
            release = release_of(release_run, await store.get_outputs(release_run.id))
            approved, others = await _approvals(store, release_run)
        states.append(
            EnvironmentState(
                run.workflow, run.environment, run, release_run, release, approved, others
            )
        )
    return states


async def _approvals(
    store: RunStore, run: RunRecord
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Who approved `run`'s environment gate (followed to the run it was reused from, for
    a rerun that did not ask again), and the run's other approvals as (step, who)."""
    assert run.environment is not None
    gate = gate_name(run.environment)
    approvals = await store.get_approvals(run.id)
    others = tuple(sorted({(a.step, a.by) for a in approvals if a.approved and a.step != gate}))
    source: RunRecord | None = run
    for _ in range(MAX_REUSE_HOPS):
        if source is None:
            break
        if source is not run:
            approvals = await store.get_approvals(source.id)
        gated = sorted({a.by for a in approvals if a.approved and a.step == gate})
        if gated:
            return tuple(gated), others
        step = next((s for s in await store.get_steps(source.id) if s.name == gate), None)
        if step is None or step.status != StepStatus.REUSED or step.reused_from is None:
            break
        source = await store.get_run(step.reused_from)
    return (), others


async def release_run(store: RunStore, workflow: str, environment: str) -> RunRecord | None:
    """The newest successful run of `workflow` in `environment` (what promotion copies)."""
    for state in await environment_states(store, workflow):
        if state.environment == environment:
            return state.release_run
    return None


@dataclass(frozen=True, slots=True)
class Promotion:
    """What `flowtui promote` (and the dashboard's promote key) will start."""

    workflow: Workflow  # bound to the target environment, the release in its env
    source_env: str
    target_env: str
    source_run: RunRecord
    release: str | None
    params: dict[str, str]

    def describe(self) -> str:
        release = self.release or "(no release output)"
        lines = [
            f"promote {self.workflow.name}: {self.source_env} → {self.target_env}",
            f"release {release} from run #{self.source_run.id}",
        ]
        if self.params:
            lines.append("params: " + ", ".join(f"{k}={v}" for k, v in self.params.items()))
        lines.append("steps: " + ", ".join(self.workflow.steps))
        return "\n".join(lines)


class PromotionError(LookupError):
    """Nothing to promote, or an environment the workflow does not know."""


async def plan_promotion(
    store: RunStore, workflow: Workflow, target: str, source: str | None = None
) -> Promotion:
    """The run promoting `source`'s current release of `workflow` to `target`: its params
    are the release run's, its steps see FLOWTUI_RELEASE and FLOWTUI_PROMOTED_FROM.
    `source` defaults to the target's `promote_from`."""
    env = workflow.environments.get(target)
    if env is None:
        raise PromotionError(unknown_environment(workflow, target))
    source = source or env.promote_from
    if source is None:
        raise PromotionError(
            f"environment `{target}` has no `promote_from`: say where from (--from ENV)"
        )
    if source not in workflow.environments:
        raise PromotionError(unknown_environment(workflow, source))
    run = await release_run(store, workflow.name, source)
    if run is None:
        raise PromotionError(f"{source} has no successful run of {workflow.name} to promote")
    release = release_of(run, await store.get_outputs(run.id))
    params = {k: v for k, v in run.params.items() if k in workflow.params}
    extra = {"FLOWTUI_PROMOTED_FROM": source, "FLOWTUI_PROMOTED_RUN": str(run.id)}
    if release is not None:
        extra["FLOWTUI_RELEASE"] = release
    bound = bind_environment(workflow, target, extra)
    return Promotion(bound, source, target, run, release, params)


def declared_environments(folders: Sequence[Path]) -> dict[str, Workflow]:
    """Workflows with environments in `folders`, by name (the first folder's wins)."""
    found: dict[str, Workflow] = {}
    for folder in folders:
        for path in discover_workflows(folder):
            try:
                workflow = load_workflow(path)
            except (WorkflowError, OSError):
                continue  # `flowtui validate` says why
            if workflow.environments and workflow.name not in found:
                found[workflow.name] = workflow
    return found


async def environment_overview(store: RunStore, folders: Sequence[Path]) -> list[EnvironmentState]:
    """Every environment the workflows in `folders` declare (in file order) with its
    state, then environments runs were recorded in that no file declares any more."""
    return await overview_of(store, declared_environments(folders))


async def overview_of(store: RunStore, declared: Mapping[str, Workflow]) -> list[EnvironmentState]:
    """`environment_overview` of workflows already loaded (the dashboard's catalog), by name."""
    states = {(s.workflow, s.environment): s for s in await environment_states(store)}
    rows: list[EnvironmentState] = []
    for name, workflow in sorted(declared.items()):
        for env in workflow.environments:
            state = states.pop((name, env), None)
            rows.append(state or EnvironmentState(name, env, None, None, None))
    return rows + list(states.values())
