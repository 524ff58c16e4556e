"""The async runner: schedules a workflow's steps as their `requires` allow.

The runner is *given* its ports (doit's pattern): a `RunLedger`, a `Liveness` and the bus
(`flowtui.engine.ports`).  It writes run state only by publishing typed events, which a
sink persists in order; it asks the ledger only what needs an answer (a new run id, the
FIFO start of a queued run, commands such as approvals and cancels sent by other flowtui
processes).  `flowtui.runtime` builds it with the store's implementations.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msgspec import Struct, field
from msgspec.structs import replace

from flowtui.engine import sandbox
from flowtui.engine.admission import draft_refusal
from flowtui.engine.bus import EventBus
from flowtui.engine.events import (
    RunStatusChanged,
    StepLog,
)
from flowtui.engine.execution import (
    Decision,
    RunContext,
    RunError,
    RunExecution,
    RunHandle,
    WorkflowResolver,
)
from flowtui.engine.gitinfo import current_branch, head_commit
from flowtui.engine.owner import STALE_AFTER, Owner
from flowtui.engine.ports import Liveness, RunLedger
from flowtui.engine.private import make_private_dir
from flowtui.engine.records import CommandRecord, NewStep, RunRecord
from flowtui.engine.selection import left_out_step
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.model.environments import environment_record, gate_record
from flowtui.model.workflow import Workflow

if TYPE_CHECKING:  # reruns and team mode import them when used (#18: start-up)
    from flowtui.engine.plan import PlannedStep, RerunMode
    from flowtui.engine.remote import StepDispatcher

__all__ = ["RunError", "RunHandle", "Runner", "RunnerOptions", "WorkflowResolver"]


class RunnerOptions(Struct):
    parallel: int = field(default_factory=lambda: os.cpu_count() or 2)
    kill_grace: float = 5.0
    poll_interval: float = 0.25  # how often commands from other processes are read
    heartbeat_interval: float = 2.0
    workspace_root: Path | None = None  # default: the ledger's default_workspace_root
    # the history's files and workspaces: steps cannot reach them (but their run's own)
    private_paths: tuple[Path, ...] = ()
    # every step waits for its run's spawner instead of being forked from this process
    # first (the dashboard: a fork of its big process holds its loop ~10 ms a step)
    spawner_first: bool = False


def resolve_params(workflow: Workflow, given: Mapping[str, str]) -> dict[str, str]:
    """Declared defaults overlaid with `given`; unknown or missing required ones are errors."""
    unknown = sorted(set(given) - set(workflow.params))
    if unknown and workflow.params:
        declared = ", ".join(workflow.params)
        raise RunError(
            f"unknown param(s) {', '.join(unknown)}; {workflow.name} declares: {declared}"
        )
    params = {k: v.default for k, v in workflow.params.items() if v.default is not None}
    params.update({k: str(v) for k, v in given.items()})
    missing = [k for k, v in workflow.params.items() if v.required and k not in params]
    if missing:
        raise RunError(f"missing required param(s): {', '.join(missing)} (use --param NAME=VALUE)")
    return params


async def run_branch(
    workflow: Workflow, params: Mapping[str, str], given: str | None
) -> str | None:
    """The branch a run is for (checked by `branches:` filters): `given`, else the `branch`
    param, else the git branch the workflow file is checked out on, else None."""
    if given is None:
        given = params.get("branch") or None
    if given is None and workflow.path is not None:
        given = await current_branch(workflow.path.parent)
    return given


def _mode(from_failed: bool, from_step: str | None) -> RerunMode:
    from flowtui.engine.plan import RerunMode

    if from_step is not None:
        return RerunMode.FROM_STEP
    return RerunMode.FROM_FAILED if from_failed else RerunMode.FROM_START


def load_recorded_workflow(run: RunRecord) -> Workflow:
    """The workflow as a run recorded it (its source text), even if the file changed since."""
    from flowtui.model.loader import load_workflow_text

    source = str(run.definition.get("source") or "")
    path = Path(run.workflow_path) if run.workflow_path else None
    if not source and path is not None:
        source = path.read_text(encoding="utf-8")
    workflow = load_workflow_text(source, str(path or run.workflow), path=path)
    if run.environment:  # the same variables, secrets, gate and queue as the run had
        from flowtui.model.environments import bind_environment, recorded_environment

        recorded = recorded_environment(run.definition, run.environment)
        if recorded is not None:  # as the run recorded it, not today's environments file
            workflow = replace(
                workflow, environments={**workflow.environments, run.environment: recorded}
            )
        extra = run.definition.get("environment_env")
        workflow = bind_environment(
            workflow, run.environment, extra if isinstance(extra, dict) else None
        )
    return workflow


async def plan_for_rerun(
    ledger: RunLedger, run_id: int, *, from_failed: bool = True, from_step: str | None = None
) -> tuple[RunRecord, Workflow, list[PlannedStep]]:
    """The finished run, its recorded workflow and what a rerun of it would do: the plan
    `Runner.rerun` follows and `--dry-run` and the dashboard show.

    Raises RunError for an unknown or active run, a definition that no longer loads or an
    unknown `from_step`.
    """
    from flowtui.engine.plan import plan_rerun, read_previous
    from flowtui.model.errors import WorkflowError

    parent = await ledger.get_run(run_id)
    if parent is None:
        raise RunError(f"run {run_id} not found")
    if not parent.status.is_final:
        raise RunError(f"run {run_id} is still {parent.status}; cancel it first")
    try:
        workflow = load_recorded_workflow(parent)
    except (WorkflowError, OSError, LookupError) as exc:  # LookupError: its environment
        raise RunError(f"run {run_id}'s workflow no longer loads: {exc}") from None
    previous = await read_previous(ledger, parent.id)
    try:
        plan = plan_rerun(
            workflow, previous, _mode(from_failed, from_step), from_step, parent.branch
        )
    except KeyError as exc:
        raise RunError(str(exc).strip("'\"")) from None
    return parent, workflow, plan


class Runner:
    """Runs workflows in this process; any number of runs at once, `parallel` steps at a time."""

    def __init__(
        self,
        ledger: RunLedger,
        bus: EventBus,
        options: RunnerOptions | None = None,
        *,
        liveness: Liveness | None = None,
        resolve_workflow: WorkflowResolver | None = None,
        dispatcher: StepDispatcher | None = None,
    ) -> None:
        """`liveness` keeps this runner's runs claimed while it lives; without one, other
        processes judge its runs by its pid alone (fine for a single short-lived process)."""
        self.ledger = ledger
        self.bus = bus
        self.options = options or RunnerOptions()
        self.owner = Owner.current()
        self._liveness = liveness
        self._beating = False
        self._runs: dict[int, RunExecution] = {}
        self._sandbox_told = False  # the no-Landlock warning was given
        self._background: list[asyncio.Task[None]] = []
        self._finished = asyncio.Condition()
        ledger.add_full_listener(self._store_full)
        self._declined: set[int] = set()  # queued runs adopt_queued's `load` turned down
        self._context = RunContext(
            bus=bus,
            ledger=ledger,
            slots=asyncio.Semaphore(max(1, self.options.parallel)),
            kill_grace=self.options.kill_grace,
            wait_for_turn=self.wait_for_turn,
            resolve_workflow=resolve_workflow,
            start_child=self._start_child,
            cancel_run=lambda run_id, reason: self.cancel(run_id, reason=reason),
            dispatcher=dispatcher,
            private_paths=self.options.private_paths,
            spawner_first=self.options.spawner_first,
        )

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        if not self._background:
            self._background = [
                asyncio.create_task(self._poll_commands(), name="flowtui-commands"),
            ]
            if self._liveness is not None:
                loop = asyncio.get_running_loop()
                self._liveness.start(
                    self.owner,
                    self.options.heartbeat_interval,
                    lambda: tuple(self._runs),
                    lambda lost: self._from_thread(loop, lost),
                )
                self._beating = True

    async def close(self) -> None:
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._background = []
        if self._liveness is not None and self._beating:
            await asyncio.to_thread(self._liveness.stop)
            self._beating = False

    async def __aenter__(self) -> Runner:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def active_run_ids(self) -> list[int]:
        """Runs of this process not yet over.  A run whose final status is published is
        over for its users, though its execution still winds down (commit status report,
        the run's spawner closed): a dashboard that showed "run succeeded" must not ask
        whether quitting should cancel it."""
        return [run_id for run_id, e in self._runs.items() if not e.status.is_final]

    def workspace_for(self, run_id: int) -> Path:
        root = self.options.workspace_root or self.ledger.default_workspace_root
        # absolute: steps run in their own folders, where a relative `--db t.db` means nothing
        return root.absolute() / str(run_id)

    # -- starting runs ---------------------------------------------------------------
    async def submit(
        self,
        workflow: Workflow,
        *,
        params: Mapping[str, str] | None = None,
        trigger: str = "manual",
        triggered_by: str = "",
        reuse_from: RunRecord | None = None,
        rerun_mode: str | None = None,
        reuse: Collection[str] = (),
        git_commit: str | None = None,
        branch: str | None = None,
        left_out: Mapping[str, str] | None = None,
    ) -> RunHandle:
        """Record a new run (queued) and start executing it in the background.

        `branch` (for `branches:` filters) defaults to the `branch` param, else the git
        branch the workflow file is checked out on, else None.  A draft workflow is refused.
        `left_out` names steps not to run, each with the option that left it out (`--skip`).
        """
        left_out = dict(left_out or {})
        refusal = draft_refusal(workflow)
        if refusal is not None:
            raise RunError(refusal)
        if self._context.dispatcher is None:
            queues = sorted({s.runs_on for s in workflow.steps.values() if s.runs_on})
            if queues:
                from flowtui.engine.remote import no_dispatcher_message

                raise RunError(no_dispatcher_message(*queues))
        resolved = resolve_params(workflow, params or {})
        branch = await run_branch(workflow, resolved, branch)
        reused: dict[str, tuple[StepStatus, dict[str, str], str]] = {}
        if reuse_from is not None and reuse:
            reused = await self._reused_steps(reuse_from, reuse)
        new_steps = []
        for position, step in enumerate(workflow.steps.values()):
            old = reused.get(step.name)
            if step.name in left_out:
                new_steps.append(left_out_step(step, position, left_out[step.name]))
                continue
            new_steps.append(
                NewStep(
                    name=step.name,
                    type=step.type,
                    requires=list(step.requires),
                    position=position,
                    status=StepStatus.REUSED if old else StepStatus.PENDING,
                    reused_from=reuse_from.id if old and reuse_from else None,
                    outputs=old[1] if old else {},
                    message=old[2] if old else "",
                )
            )
        definition: dict[str, Any] = {
            "source": workflow.source,
            "steps": [
                {
                    "name": s.name,
                    "type": s.type,
                    "requires": list(s.requires),
                    # the dashboard and `show` tell an allowed failure from a fatal one
                    **({"continue_on_failure": True} if s.continue_on_failure else {}),
                }
                for s in workflow.steps.values()
            ],
        }
        if (gate := gate_record(workflow)) is not None:  # approvers checked by `approve`
            definition["gate"] = gate
        if (bound := workflow.environments.get(workflow.environment or "")) is not None:
            # the environment as it is now, for a rerun or an adopter (docs/workflow-format.md)
            definition["environment"] = environment_record(bound)
        if workflow.environment is not None:  # a promotion's FLOWTUI_RELEASE, for a rerun
            definition["environment_env"] = {
                k: v for k, v in workflow.env.items() if k.startswith("FLOWTUI_")
            }
        if workflow.release is not None:  # what `flowtui envs` reads back as the release
            definition["release"] = list(workflow.release)
        if git_commit is None and workflow.path is not None:
            git_commit = await head_commit(workflow.path.parent)
        # the workflow seen (name, path, hash) is recorded in the run's own transaction:
        # one write and one fsync fewer per run (#18)
        run_id = await self.ledger.create_run(
            workflow=workflow.name,
            steps=new_steps,
            trigger=trigger,
            triggered_by=triggered_by,
            params=resolved,
            definition=definition,
            workflow_path=str(workflow.path) if workflow.path else None,
            parent_run_id=reuse_from.id if reuse_from else None,
            rerun_mode=rerun_mode,
            git_commit=git_commit,
            owner=self.owner,
            branch=branch,
            concurrency_group=workflow.concurrency_group,
            concurrency_limit=workflow.concurrency,
            left_out=left_out,
            environment=workflow.environment,
            source_hash=workflow.source_hash,
        )
        workspace = self.workspace_for(run_id)
        if reuse_from is not None:
            parent_ws = self.workspace_for(reuse_from.id)
            if parent_ws.is_dir() and reused:
                await asyncio.to_thread(shutil.copytree, parent_ws, workspace, dirs_exist_ok=True)
        make_private_dir(workspace)
        handle = self._start_execution(run_id, workflow, resolved, reused, branch, left_out)
        # a child run belongs to its parent's `workflow` step: it is never left behind queued
        self._runs[run_id].releasable = trigger != "workflow"
        return handle

    def _start_execution(
        self,
        run_id: int,
        workflow: Workflow,
        params: dict[str, str],
        reused: dict[str, tuple[StepStatus, dict[str, str], str]],
        branch: str | None,
        left_out: Collection[str] = (),
    ) -> RunHandle:
        execution = RunExecution(
            left_out=left_out,
            context=self._context,
            run_id=run_id,
            workflow=workflow,
            params=params,
            workspace=self.workspace_for(run_id),
            reused=reused,
            branch=branch,
        )
        self._runs[run_id] = execution
        self.bus.publish(RunStatusChanged(run_id, workflow.name, RunStatus.QUEUED, time.time()))
        if not self._sandbox_told and self.options.private_paths:
            self._sandbox_told = True  # once per runner: the kernel does not change
            if (note := sandbox.warning()) is not None:
                execution.system_log(note)
        task = asyncio.create_task(self._drive(execution), name=f"flowtui-run-{run_id}")
        execution.task = task
        return RunHandle(run_id, task)

    async def adopt_queued(
        self, load: Callable[[RunRecord], Workflow | None] | None = None
    ) -> list[RunHandle]:
        """Take over, and drive in FIFO order, the queued runs of runners that died.

        Registers this runner as an adopter first, so from then on `recover_interrupted`
        (any flowtui command) leaves such queued runs queued instead of interrupting them,
        also while the service is down or restarting (the registration is not undone on
        close); it then interrupts the dead runners' running runs itself.  Call it again
        from time to time to pick up runs orphaned while the service runs.

        `load` rebuilds a run's workflow (default: from the source text the run recorded);
        None skips that run.  Each claim is atomic, so two services never adopt one run.
        """
        await self.ledger.register_adopter(self.owner)
        await self.ledger.recover_interrupted(me=self.owner)
        handles = []
        for run in await self.ledger.orphaned_queued(me=self.owner):
            try:
                workflow = (load or load_recorded_workflow)(run)
            except Exception as exc:  # a definition that no longer loads stays queued
                workflow = None
                reason = f"{type(exc).__name__}: {exc}"
            else:
                reason = "the loader declined it"
            if workflow is None:
                if run.id not in self._declined:  # once, not on every periodic call
                    self._declined.add(run.id)
                    line = f"not adopted by pid {self.owner.pid}: {reason}"
                    await self.ledger.apply([StepLog(run.id, "", 0, "system", line, time.time())])
                continue
            if not await self.ledger.claim_queued(run, self.owner):
                continue  # another service took it first
            reused = await self._recorded_reuse(run.id)
            make_private_dir(self.workspace_for(run.id))
            handles.append(
                self._start_execution(
                    run.id, workflow, dict(run.params), reused, run.branch, run.left_out
                )
            )
        return handles

    async def _start_child(
        self,
        workflow: Workflow,
        *,
        params: Mapping[str, str],
        triggered_by: str,
        branch: str | None,
    ) -> RunHandle:
        return await self.submit(
            workflow, params=params, trigger="workflow", triggered_by=triggered_by, branch=branch
        )

    async def _recorded_reuse(
        self, run_id: int
    ) -> dict[str, tuple[StepStatus, dict[str, str], str]]:
        """Steps a queued rerun already marked reused (their outputs came with them)."""
        outputs = await self.ledger.get_outputs(run_id)
        return {
            s.name: (s.status, dict(outputs.get(s.name, {})), s.message)
            for s in await self.ledger.get_steps(run_id)
            if s.status == StepStatus.REUSED
        }

    async def run(self, workflow: Workflow, **kwargs: Any) -> tuple[int, RunStatus]:
        handle = await self.submit(workflow, **kwargs)
        return handle.run_id, await handle.wait()

    async def rerun(
        self,
        run_id: int,
        *,
        from_failed: bool = True,
        from_step: str | None = None,
        triggered_by: str = "",
    ) -> RunHandle:
        """A new run of `run_id`'s recorded workflow, reusing what `plan_rerun` says:
        from `from_step` (it and its dependants run), from the failed steps, or all."""
        from flowtui.engine.plan import Action

        parent, workflow, plan = await plan_for_rerun(
            self.ledger, run_id, from_failed=from_failed, from_step=from_step
        )
        mode = _mode(from_failed, from_step)
        return await self.submit(
            workflow,
            params=parent.params,
            trigger="rerun",
            triggered_by=triggered_by,
            reuse_from=parent,
            rerun_mode=str(mode) if from_step is None else f"from {from_step}",
            reuse=[p.name for p in plan if p.action == Action.REUSE],
            git_commit=parent.git_commit,
            branch=parent.branch,
            left_out=parent.left_out,  # the same part of the workflow (`run --only/--skip`)
        )

    async def _reused_steps(
        self, parent: RunRecord, names: Collection[str]
    ) -> dict[str, tuple[StepStatus, dict[str, str], str]]:
        """The steps of `parent` a plan reuses, with their statuses and outputs."""
        outputs = await self.ledger.get_outputs(parent.id)
        return {
            record.name: (
                record.status,
                dict(outputs.get(record.name, {})),
                f"reused from run {record.reused_from or parent.id}",
            )
            for record in await self.ledger.get_steps(parent.id)
            if record.name in names
        }

    def step_names(self, run_id: int) -> list[str] | None:
        """The steps a run of this process takes part in — its plan, an environment's gate
        included and steps left out (`--only`/`--skip`) not — or None if it is not here."""
        execution = self._runs.get(run_id)
        if execution is None:
            return None
        return [name for name in execution.workflow.steps if name not in execution.left_out]

    # -- control ---------------------------------------------------------------------
    def cancel(self, run_id: int, by: str = "", reason: str = "") -> bool:
        execution = self._runs.get(run_id)
        if execution is None:
            return False
        execution.request_cancel(by, reason)
        return True

    async def cancel_all(self, by: str = "", reason: str = "", timeout: float = 15.0) -> list[int]:
        """Cancel every run of this process and wait (up to `timeout`) until each is recorded.

        Used when a dashboard or a service stops: a run cancelled but not awaited would be
        left `running` in the file and later marked `interrupted` instead of `cancelled`.
        Returns the ids of the runs still not finished after `timeout`.
        """
        tasks = []
        for execution in list(self._runs.values()):
            execution.request_cancel(by, reason)
            if execution.task is not None:
                tasks.append(execution.task)
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        return list(self._runs)

    async def release_queued(self, reason: str, timeout: float = 15.0) -> list[int]:
        """Let go of this process's queued runs, which stay queued in the history.

        For a service that stops: an adopter (`adopt_queued`, e.g. the next `flowtui serve`
        on the database) runs them once this process is gone.  A run whose turn came while
        it was let go starts as usual (cancel it with `cancel_all`).  Returns the ids of the
        runs left queued.
        """
        released = [e for e in list(self._runs.values()) if e.release(reason)]
        if not released:
            return []
        async with self._finished:
            self._finished.notify_all()  # wake them from wait_for_turn at once
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and any(
            e.status == RunStatus.QUEUED and e.task is not None and not e.task.done()
            for e in released
        ):
            await asyncio.sleep(0.02)
        return [
            e.run_id
            for e in released
            if e.status == RunStatus.QUEUED and e.task is not None and e.task.done()
        ]

    def _store_full(self, error: Exception) -> None:
        """The history cannot be written: fail what runs rather than run on unrecorded."""
        message = f"disk full: could not write log to {self.ledger.location}"
        for execution in list(self._runs.values()):
            execution.abort(message)

    def decide(self, run_id: int, step: str, decision: Decision) -> str | None:
        """Deliver an approval decision; returns why it was refused, or None."""
        execution = self._runs.get(run_id)
        if execution is None:
            return f"run {run_id} is not active in this process"
        return execution.decide(step, decision)

    async def _drive(self, execution: RunExecution) -> RunStatus:
        try:
            return await execution.drive()
        finally:
            self._runs.pop(execution.run_id, None)
            async with self._finished:
                self._finished.notify_all()

    async def wait_for_turn(self) -> None:
        """Wake queued runs when a run of this process ends (others are polled)."""
        async with self._finished:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._finished.wait(), timeout=0.5)

    async def _poll_commands(self) -> None:
        failing: str | None = None  # the error of the polls failing now: said once
        while True:
            # woken at once where the history can tell (PostgreSQL), else a poll
            await self.ledger.wait_for_commands(self.options.poll_interval)
            if not self._runs:
                continue
            try:
                commands = await self.ledger.take_commands(list(self._runs))
            except Exception as exc:  # keep polling: locked, full or unreachable is transient
                if failing is None:
                    for execution in list(self._runs.values()):
                        execution.system_log(f"could not read commands: {exc}")
                failing = str(exc)
                continue
            if failing is not None:
                failing = None
                for execution in list(self._runs.values()):
                    execution.system_log("commands can be read again")
            for command in commands:
                self._apply_command(command)

    def _apply_command(self, command: CommandRecord) -> None:
        execution = self._runs.get(command.run_id)
        if execution is None:
            return
        if not command.authentic:
            execution.system_log(
                f"refused a {command.kind} command in the name of {command.by or '?'}: it "
                "carries no valid seal, so flowtui approve/reject/cancel or the dashboard did "
                "not make it (see docs/reliability.md, threat model)"
            )
            return
        if command.kind == "cancel":
            execution.request_cancel(command.by, command.comment)
        elif command.kind in ("approve", "reject") and command.step:
            refused = execution.decide(
                command.step,
                Decision(
                    command.kind == "approve",
                    command.by,
                    command.comment,
                    command.groups,
                    dict(command.inputs),
                ),
            )
            if refused:
                execution.system_log(f"{command.kind} by {command.by} ignored: {refused}")

    def _from_thread(self, loop: asyncio.AbstractEventLoop, lost: list[int]) -> None:
        loop.call_soon_threadsafe(self._runs_lost, lost)

    def _runs_lost(self, run_ids: list[int]) -> None:
        """Another process declared these runs interrupted while we were slow: stop them.

        The store keeps them interrupted (it refuses changes to a finished run), so what
        the steps do after this point must not run on unnoticed.
        """
        for run_id in run_ids:
            execution = self._runs.get(run_id)
            if execution is None or execution.status.is_final:
                continue
            reason = (
                "another flowtui process marked this run interrupted (its heartbeat was "
                f"older than the stale limit, {STALE_AFTER:g} s by default); stopping its steps"
            )
            execution.system_log(reason)
            execution.request_cancel("flowtui", reason)
