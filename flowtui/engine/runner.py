"""The async runner: schedules a workflow's steps as their `requires` allow.

The runner is *given* its store and its bus (doit's pattern).  It writes run state only by
publishing typed events, which the store's sink persists in order; it talks to the store
directly only for what needs an answer (a new run id, the FIFO start of a queued run,
commands such as approvals and cancels sent by other flowtui processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowtui.engine.bus import EventBus
from flowtui.engine.events import (
    ApprovalDecided,
    RunStatusChanged,
    StepLog,
    StepOutputs,
    StepProcess,
    StepStatusChanged,
)
from flowtui.engine.executors.base import StepContext, StepResult
from flowtui.engine.executors.registry import get_executor
from flowtui.engine.expressions import ExpressionError, evaluate_bool
from flowtui.engine.gitinfo import head_commit
from flowtui.engine.identity import may_approve
from flowtui.engine.states import STEP_FAILED, STEP_OK, RunStatus, StepStatus
from flowtui.model.workflow import Step, Workflow
from flowtui.store.owner import Owner
from flowtui.store.records import CommandRecord, RunRecord
from flowtui.store.runstore import NewStep, RunStore
from flowtui.timefmt import fmt_limit

WorkflowResolver = Callable[[str, Workflow], Workflow]
MAX_RETRY_DELAY = 300.0


class RunError(Exception):
    """A run cannot be created as asked (bad params, unknown run, ...)."""


@dataclass(slots=True)
class RunnerOptions:
    parallel: int = field(default_factory=lambda: os.cpu_count() or 2)
    kill_grace: float = 5.0
    poll_interval: float = 0.25  # how often commands from other processes are read
    heartbeat_interval: float = 2.0
    workspace_root: Path | None = None  # default: <db folder>/workspaces


@dataclass(slots=True)
class Decision:
    approved: bool
    by: str
    comment: str


def _env_name(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).upper()


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


class RunHandle:
    def __init__(self, run_id: int, task: asyncio.Task[RunStatus]) -> None:
        self.run_id = run_id
        self.task = task

    async def wait(self) -> RunStatus:
        return await asyncio.shield(self.task)


class Runner:
    """Runs workflows in this process; any number of runs at once, `parallel` steps at a time."""

    def __init__(
        self,
        store: RunStore,
        bus: EventBus,
        options: RunnerOptions | None = None,
        *,
        resolve_workflow: WorkflowResolver | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.options = options or RunnerOptions()
        self.owner = Owner.current()
        self._resolve_workflow = resolve_workflow
        self._slots = asyncio.Semaphore(max(1, self.options.parallel))
        self._runs: dict[int, _RunExecution] = {}
        self._background: list[asyncio.Task[None]] = []
        self._finished = asyncio.Condition()

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        if not self._background:
            self._background = [
                asyncio.create_task(self._poll_commands(), name="flowtui-commands"),
                asyncio.create_task(self._heartbeat(), name="flowtui-heartbeat"),
            ]

    async def close(self) -> None:
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._background = []

    async def __aenter__(self) -> Runner:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def active_run_ids(self) -> list[int]:
        return list(self._runs)

    def workspace_for(self, run_id: int) -> Path:
        root = self.options.workspace_root or (self.store.path.parent / "workspaces")
        return root / str(run_id)

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
        git_commit: str | None = None,
    ) -> RunHandle:
        """Record a new run (queued) and start executing it in the background."""
        resolved = resolve_params(workflow, params or {})
        reused: dict[str, tuple[StepStatus, dict[str, str], str]] = {}
        if reuse_from is not None and rerun_mode == "from-failed":
            reused = await self._reusable_steps(reuse_from, workflow)
        new_steps = []
        for position, step in enumerate(workflow.steps.values()):
            old = reused.get(step.name)
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
        source = ""
        if workflow.path is not None:
            with contextlib.suppress(OSError):
                source = workflow.path.read_text(encoding="utf-8")
        if reuse_from is not None and reuse_from.definition.get("source"):
            source = str(reuse_from.definition["source"])
        definition: dict[str, Any] = {
            "source": source,
            "steps": [
                {"name": s.name, "type": s.type, "requires": list(s.requires)}
                for s in workflow.steps.values()
            ],
        }
        if git_commit is None and workflow.path is not None:
            git_commit = await head_commit(workflow.path.parent)
        await self.store.upsert_workflow(
            workflow.name, str(workflow.path) if workflow.path else None, workflow.source_hash
        )
        run_id = await self.store.create_run(
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
        )
        workspace = self.workspace_for(run_id)
        if reuse_from is not None:
            parent_ws = self.workspace_for(reuse_from.id)
            if parent_ws.is_dir() and rerun_mode == "from-failed":
                await asyncio.to_thread(shutil.copytree, parent_ws, workspace, dirs_exist_ok=True)
        workspace.mkdir(parents=True, exist_ok=True)
        execution = _RunExecution(
            runner=self,
            run_id=run_id,
            workflow=workflow,
            params=resolved,
            workspace=workspace,
            reused=reused,
        )
        self._runs[run_id] = execution
        self.bus.publish(RunStatusChanged(run_id, workflow.name, RunStatus.QUEUED, time.time()))
        task = asyncio.create_task(self._drive(execution), name=f"flowtui-run-{run_id}")
        execution.task = task
        return RunHandle(run_id, task)

    async def run(self, workflow: Workflow, **kwargs: Any) -> tuple[int, RunStatus]:
        handle = await self.submit(workflow, **kwargs)
        return handle.run_id, await handle.wait()

    async def rerun(
        self, run_id: int, *, from_failed: bool = True, triggered_by: str = ""
    ) -> RunHandle:
        from flowtui.model.loader import load_workflow_text

        parent = await self.store.get_run(run_id)
        if parent is None:
            raise RunError(f"run {run_id} not found")
        if not parent.status.is_final:
            raise RunError(f"run {run_id} is still {parent.status}; cancel it first")
        source = str(parent.definition.get("source") or "")
        path = Path(parent.workflow_path) if parent.workflow_path else None
        if not source and path is not None:
            source = path.read_text(encoding="utf-8")
        workflow = load_workflow_text(source, str(path or parent.workflow), path=path)
        mode = "from-failed" if from_failed else "from-start"
        return await self.submit(
            workflow,
            params=parent.params,
            trigger="rerun",
            triggered_by=triggered_by,
            reuse_from=parent,
            rerun_mode=mode,
            git_commit=parent.git_commit,
        )

    async def _reusable_steps(
        self, parent: RunRecord, workflow: Workflow
    ) -> dict[str, tuple[StepStatus, dict[str, str], str]]:
        outputs = await self.store.get_outputs(parent.id)
        reusable = {}
        for record in await self.store.get_steps(parent.id):
            if record.name in workflow.steps and record.status in STEP_OK:
                origin = record.reused_from or parent.id
                reusable[record.name] = (
                    record.status,
                    dict(outputs.get(record.name, {})),
                    f"reused from run {origin}",
                )
        return reusable

    # -- control ---------------------------------------------------------------------
    def cancel(self, run_id: int, by: str = "", reason: str = "") -> bool:
        execution = self._runs.get(run_id)
        if execution is None:
            return False
        execution.request_cancel(by, reason)
        return True

    def decide(self, run_id: int, step: str, decision: Decision) -> str | None:
        """Deliver an approval decision; returns why it was refused, or None."""
        execution = self._runs.get(run_id)
        if execution is None:
            return f"run {run_id} is not active in this process"
        return execution.decide(step, decision)

    async def _drive(self, execution: _RunExecution) -> RunStatus:
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
        while True:
            await asyncio.sleep(self.options.poll_interval)
            if not self._runs:
                continue
            try:
                commands = await self.store.take_commands(list(self._runs))
            except Exception as exc:  # keep polling: a locked/full db is transient
                for execution in list(self._runs.values()):
                    execution.system_log(f"could not read commands: {exc}")
                continue
            for command in commands:
                self._apply_command(command)

    def _apply_command(self, command: CommandRecord) -> None:
        execution = self._runs.get(command.run_id)
        if execution is None:
            return
        if command.kind == "cancel":
            execution.request_cancel(command.by, command.comment)
        elif command.kind in ("approve", "reject") and command.step:
            refused = execution.decide(
                command.step, Decision(command.kind == "approve", command.by, command.comment)
            )
            if refused:
                execution.system_log(f"{command.kind} by {command.by} ignored: {refused}")

    async def _heartbeat(self) -> None:
        while True:
            if self._runs:
                with contextlib.suppress(Exception):
                    await self.store.heartbeat(list(self._runs), self.owner)
            await asyncio.sleep(self.options.heartbeat_interval)


class _RunExecution:
    def __init__(
        self,
        *,
        runner: Runner,
        run_id: int,
        workflow: Workflow,
        params: dict[str, str],
        workspace: Path,
        reused: dict[str, tuple[StepStatus, dict[str, str], str]],
    ) -> None:
        self.runner = runner
        self.bus = runner.bus
        self.run_id = run_id
        self.workflow = workflow
        self.params = params
        self.workspace = workspace
        self.status = RunStatus.QUEUED
        self.statuses: dict[str, StepStatus] = {n: StepStatus.PENDING for n in workflow.steps}
        self.messages: dict[str, str] = {}
        self.outputs: dict[str, dict[str, str]] = {}
        self.skip_reasons: dict[str, str] = {}
        for name, (status, outs, note) in reused.items():
            self.statuses[name] = status
            self.outputs[name] = outs
            self.messages[name] = note
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.approvals: dict[str, asyncio.Future[Decision]] = {}
        self.cancel_requested: tuple[str, str] | None = None
        self.fail_fast_cause: str | None = None
        self.task: asyncio.Task[RunStatus] | None = None
        self._wake = asyncio.Event()
        # a reused condition step still decides which branch is skipped
        for name, (_, outs, _note) in reused.items():
            step = workflow.steps[name]
            if step.type == "condition" and "result" in outs:
                self._apply_condition(step, outs["result"] == "true")

    # -- events ----------------------------------------------------------------------
    def set_run_status(self, status: RunStatus, message: str = "") -> None:
        if status == self.status and not message:
            return
        self.status = status
        self.bus.publish(
            RunStatusChanged(self.run_id, self.workflow.name, status, time.time(), message)
        )

    def set_step_status(
        self,
        name: str,
        status: StepStatus,
        *,
        attempt: int = 0,
        exit_code: int | None = None,
        message: str = "",
    ) -> None:
        self.statuses[name] = status
        self.messages[name] = message
        self.bus.publish(
            StepStatusChanged(self.run_id, name, status, time.time(), attempt, exit_code, message)
        )
        self._wake.set()

    def log(self, step: str, attempt: int, stream: str, line: str) -> None:
        self.bus.publish(StepLog(self.run_id, step, attempt, stream, line, time.time()))

    def system_log(self, line: str, step: str = "") -> None:
        self.log(step, 0, "system", line)

    # -- control ---------------------------------------------------------------------
    def request_cancel(self, by: str, reason: str = "") -> None:
        if self.cancel_requested is not None or self.status.is_final:
            return
        self.cancel_requested = (by, reason)
        who = f" by {by}" if by else ""
        self.system_log(f"cancel requested{who}" + (f": {reason}" if reason else ""))
        for task in self.tasks.values():
            task.cancel()
        if self.task is not None and self.status == RunStatus.QUEUED:
            self.task.cancel()
        self._wake.set()

    def decide(self, step: str, decision: Decision) -> str | None:
        future = self.approvals.get(step)
        if future is None or future.done():
            return f"step {step} is not waiting for approval"
        approvers = list(self.workflow.steps[step].spec.get("approvers") or [])
        if not may_approve(decision.by, approvers):
            return f"{decision.by} is not an approver of {step} ({', '.join(approvers)})"
        future.set_result(decision)
        return None

    # -- the run ---------------------------------------------------------------------
    async def drive(self) -> RunStatus:
        try:
            await self._wait_for_start()
        except asyncio.CancelledError:
            by, reason = self.cancel_requested or ("", "")
            self.set_run_status(RunStatus.CANCELLED, reason or f"cancelled while queued {by}")
            return self.status
        self.set_run_status(RunStatus.RUNNING)
        for name, status in self.statuses.items():
            if status == StepStatus.REUSED:
                self.set_step_status(name, status, message=self.messages.get(name, ""))
                if self.outputs.get(name):
                    self.bus.publish(StepOutputs(self.run_id, name, dict(self.outputs[name])))
        try:
            await self._schedule()
        finally:
            for task in self.tasks.values():
                task.cancel()
            if self.tasks:
                await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        status, message = self._final_status()
        self.set_run_status(status, message)
        return status

    async def _wait_for_start(self) -> None:
        concurrency = self.workflow.concurrency
        announced = False
        while not await self.runner.store.try_start_run(self.run_id, concurrency):
            if not announced:
                self.system_log(
                    f"queued: {self.workflow.name} allows {concurrency} run(s) at a time"
                )
                announced = True
            await self.runner.wait_for_turn()

    async def _schedule(self) -> None:
        steps = self.workflow.steps
        while True:
            self._wake.clear()
            if self.cancel_requested is None and self.fail_fast_cause is None:
                for name, step in steps.items():
                    if self.statuses[name] != StepStatus.PENDING or name in self.tasks:
                        continue
                    verdict = self._readiness(step)
                    if verdict == "wait" or verdict == "blocked":
                        continue
                    if verdict == "skip":
                        self.set_step_status(
                            name, StepStatus.SKIPPED, message=self.skip_reasons.get(name, "")
                        )
                        continue
                    self.tasks[name] = asyncio.create_task(
                        self._run_step(step), name=f"flowtui-{self.run_id}-{name}"
                    )
            running = [t for t in self.tasks.values() if not t.done()]
            self._update_held()
            if not running:
                if self._nothing_startable():
                    return
                continue
            waiter = asyncio.create_task(self._wake.wait())
            await asyncio.wait([*running, waiter], return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()

    def _nothing_startable(self) -> bool:
        if self.cancel_requested is not None or self.fail_fast_cause is not None:
            return True
        for name, step in self.workflow.steps.items():
            pending = self.statuses[name] == StepStatus.PENDING and name not in self.tasks
            if pending and self._readiness(step) in ("start", "skip"):
                return False
        return True

    def _dep_ok(self, dep: str) -> bool:
        status = self.statuses[dep]
        if status in STEP_OK:
            return True
        return status in STEP_FAILED and self.workflow.steps[dep].continue_on_failure

    def _readiness(self, step: Step) -> str:
        """start | skip | wait | blocked, from the states of the steps it requires."""
        if step.name in self.skip_reasons:
            return "skip"
        deps = step.requires
        if any(self.statuses[d] in STEP_FAILED and not self._dep_ok(d) for d in deps):
            return "blocked"
        if any(not self.statuses[d].is_final for d in deps):
            # a dependency that is itself blocked never finishes
            return "wait"
        if deps and all(self.statuses[d] == StepStatus.SKIPPED for d in deps):
            self.skip_reasons[step.name] = "every step it requires was skipped"
            return "skip"
        return "start"

    def _update_held(self) -> None:
        if self.status.is_final:
            return
        held = any(s == StepStatus.HELD for s in self.statuses.values())
        running = any(s == StepStatus.RUNNING for s in self.statuses.values())
        if held and not running:
            self.set_run_status(RunStatus.HELD)
        elif self.status == RunStatus.HELD and running:
            self.set_run_status(RunStatus.RUNNING)

    def _final_status(self) -> tuple[RunStatus, str]:
        if self.cancel_requested is not None:
            by, reason = self.cancel_requested
            return RunStatus.CANCELLED, reason or (f"cancelled by {by}" if by else "cancelled")
        failed = [
            n
            for n, s in self.statuses.items()
            if s in STEP_FAILED and not self.workflow.steps[n].continue_on_failure
        ]
        if failed:
            return RunStatus.FAILED, f"{', '.join(failed)} {self.statuses[failed[0]]}"
        not_reached = [n for n, s in self.statuses.items() if not s.is_final]
        if not_reached:
            return RunStatus.FAILED, f"not reached: {', '.join(not_reached)}"
        return RunStatus.SUCCEEDED, ""

    # -- steps -----------------------------------------------------------------------
    def _expression_context(self, step: Step) -> dict[str, Any]:
        return {
            "params": dict(self.params),
            "env": {**self.workflow.env, **step.env},
            "matrix": dict(step.matrix),
            "workflow": self.workflow.name,
            "run_id": self.run_id,
            "steps": {
                name: {"status": str(status), "outputs": dict(self.outputs.get(name, {}))}
                for name, status in self.statuses.items()
            },
        }

    def _step_env(self, step: Step) -> dict[str, str]:
        env = {**self.workflow.env, **step.env}
        for key, value in self.params.items():
            env[f"PARAM_{_env_name(key)}"] = value
        for key, value in step.matrix.items():
            env[f"MATRIX_{_env_name(key)}"] = value
        env["FLOWTUI_WORKFLOW"] = self.workflow.name
        env["FLOWTUI_RUN_ID"] = str(self.run_id)
        env["FLOWTUI_STEP"] = step.name
        env["FLOWTUI_WORKSPACE"] = str(self.workspace)
        return env

    async def _run_step(self, step: Step) -> None:
        name = step.name
        try:
            if step.when:
                try:
                    go = evaluate_bool(step.when, self._expression_context(step))
                except ExpressionError as exc:
                    self.set_step_status(name, StepStatus.FAILED, message=f"when: {exc}")
                    return
                if not go:
                    self.set_step_status(
                        name, StepStatus.SKIPPED, message=f"when: {step.when} is false"
                    )
                    return
            if step.type == "approval":
                await self._run_approval(step)
            elif step.type == "condition":
                self._run_condition(step)
            elif step.type == "workflow":
                await self._run_child_workflow(step)
            else:
                await self._run_executor(step)
        except asyncio.CancelledError:
            if not self.statuses[name].is_final:
                self.set_step_status(name, StepStatus.CANCELLED, message=self._cancel_message())
            # swallow: the scheduler decides what happens next
        except Exception as exc:  # an executor bug must not take the run down unrecorded
            self.system_log(f"internal error: {type(exc).__name__}: {exc}", name)
            if not self.statuses[name].is_final:
                self.set_step_status(name, StepStatus.FAILED, message=f"internal error: {exc}")
        finally:
            failed = self.statuses[name].is_failure and not step.continue_on_failure
            if failed and self.workflow.fail_fast and self.fail_fast_cause is None:
                self.fail_fast_cause = name
                for other, task in self.tasks.items():
                    if other != name:
                        task.cancel()

    def _cancel_message(self) -> str:
        if self.cancel_requested is not None:
            by = self.cancel_requested[0]
            return f"cancelled by {by}" if by else "cancelled"
        if self.fail_fast_cause:
            return f"cancelled: fail_fast after {self.fail_fast_cause} failed"
        return "cancelled"

    async def _run_approval(self, step: Step) -> None:
        future: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self.approvals[step.name] = future
        approvers = list(step.spec.get("approvers") or [])
        who = ", ".join(approvers) if approvers else "anyone"
        message = str(step.spec.get("message") or "")
        self.set_step_status(
            step.name, StepStatus.HELD, message=message or f"waiting for approval by {who}"
        )
        self._update_held()
        try:
            decision = await asyncio.wait_for(future, timeout=step.timeout)
        except TimeoutError:
            self.set_step_status(
                step.name,
                StepStatus.REJECTED,
                message=f"no decision within {fmt_limit(step.timeout or 0)}: rejected",
            )
            return
        finally:
            self.approvals.pop(step.name, None)
        self.bus.publish(
            ApprovalDecided(
                self.run_id,
                step.name,
                decision.approved,
                decision.by,
                time.time(),
                decision.comment,
            )
        )
        comment = f": {decision.comment}" if decision.comment else ""
        if decision.approved:
            self.outputs[step.name] = {"approved_by": decision.by, "comment": decision.comment}
            self.bus.publish(StepOutputs(self.run_id, step.name, dict(self.outputs[step.name])))
            self.set_step_status(
                step.name, StepStatus.SUCCEEDED, message=f"approved by {decision.by}{comment}"
            )
        else:
            self.set_step_status(
                step.name, StepStatus.REJECTED, message=f"rejected by {decision.by}{comment}"
            )

    def _apply_condition(self, step: Step, result: bool) -> None:
        not_taken = step.spec.get("else" if result else "then") or []
        for name in not_taken:
            self.skip_reasons.setdefault(name, f"condition {step.name} was {str(result).lower()}")

    def _run_condition(self, step: Step) -> None:
        expression = str(step.spec["if"])
        try:
            result = evaluate_bool(expression, self._expression_context(step))
        except ExpressionError as exc:
            self.set_step_status(step.name, StepStatus.FAILED, message=f"if: {exc}")
            return
        self._apply_condition(step, result)
        self.outputs[step.name] = {"result": "true" if result else "false"}
        self.bus.publish(StepOutputs(self.run_id, step.name, dict(self.outputs[step.name])))
        branch = step.spec.get("then" if result else "else") or []
        taken = f" → {', '.join(branch)}" if branch else ""
        self.log(step.name, 1, "system", f"{expression} is {str(result).lower()}{taken}")
        self.set_step_status(
            step.name, StepStatus.SUCCEEDED, message=f"{str(result).lower()}{taken}"
        )

    async def _run_child_workflow(self, step: Step) -> None:
        runner = self.runner
        ref = str(step.spec["workflow"])
        if runner._resolve_workflow is None:
            self.set_step_status(
                step.name, StepStatus.FAILED, message="workflow steps need a workflow resolver"
            )
            return
        try:
            child_wf = runner._resolve_workflow(ref, self.workflow)
        except Exception as exc:
            self.set_step_status(step.name, StepStatus.FAILED, message=f"workflow {ref}: {exc}")
            return
        self.set_step_status(step.name, StepStatus.RUNNING, attempt=1)
        params = {k: str(v) for k, v in (step.spec.get("params") or {}).items()}
        try:
            handle = await runner.submit(
                child_wf,
                params=params,
                trigger="workflow",
                triggered_by=f"{self.workflow.name} run {self.run_id}",
            )
        except RunError as exc:
            self.set_step_status(step.name, StepStatus.FAILED, attempt=1, message=str(exc))
            return
        self.log(step.name, 1, "system", f"started {child_wf.name} as run {handle.run_id}")
        try:
            if step.timeout:
                status = await asyncio.wait_for(handle.wait(), step.timeout)
            else:
                status = await handle.wait()
        except (asyncio.CancelledError, TimeoutError) as exc:
            runner.cancel(handle.run_id, reason=f"parent run {self.run_id} stopped")
            with contextlib.suppress(asyncio.CancelledError):
                await handle.task
            if isinstance(exc, TimeoutError):
                self.set_step_status(
                    step.name,
                    StepStatus.TIMED_OUT,
                    attempt=1,
                    message=f"run {handle.run_id} timed out after {fmt_limit(step.timeout)}",
                )
                return
            raise
        self.outputs[step.name] = {"run_id": str(handle.run_id), "status": str(status)}
        self.bus.publish(StepOutputs(self.run_id, step.name, dict(self.outputs[step.name])))
        final = StepStatus.SUCCEEDED if status == RunStatus.SUCCEEDED else StepStatus.FAILED
        self.set_step_status(
            step.name, final, attempt=1, message=f"{child_wf.name} run {handle.run_id} {status}"
        )

    async def _run_executor(self, step: Step) -> None:
        executor = get_executor(step.type)
        attempts = step.retries + 1
        env = self._step_env(step)
        result = StepResult(StepStatus.FAILED, message="not run")
        for attempt in range(1, attempts + 1):
            async with self.runner._slots:
                previous = result
                step_dir = self.workspace / ".flowtui" / f"{_safe(step.name)}.{attempt}"
                step_dir.mkdir(parents=True, exist_ok=True)
                retry_note = f"retry after {previous.message}" if attempt > 1 else ""
                self.set_step_status(
                    step.name, StepStatus.RUNNING, attempt=attempt, message=retry_note
                )
                self._update_held()
                ctx = StepContext(
                    run_id=self.run_id,
                    workflow=self.workflow,
                    step=step,
                    attempt=attempt,
                    params=self.params,
                    env={**env, "FLOWTUI_ATTEMPT": str(attempt)},
                    workspace=self.workspace,
                    step_dir=step_dir,
                    log=_StepLogger(self, step.name, attempt),
                    on_process=_ProcessRecorder(self, step.name, attempt),
                    outputs=self.outputs,
                    kill_grace=self.runner.options.kill_grace,
                )
                try:
                    result = await asyncio.wait_for(executor.execute(ctx), timeout=step.timeout)
                except TimeoutError:
                    result = StepResult(
                        StepStatus.TIMED_OUT,
                        message=f"timed out after {fmt_limit(step.timeout or 0)}",
                    )
                    self.log(step.name, attempt, "system", result.message)
            if result.status == StepStatus.SUCCEEDED:
                break
            if attempt < attempts:
                delay = min(step.retry_delay * (2 ** (attempt - 1)), MAX_RETRY_DELAY)
                self.log(
                    step.name,
                    attempt,
                    "system",
                    f"attempt {attempt} of {attempts} failed ({result.message}); "
                    f"retrying in {fmt_limit(delay)}",
                )
                await asyncio.sleep(delay)
        if result.outputs:
            self.outputs[step.name] = dict(result.outputs)
            self.bus.publish(StepOutputs(self.run_id, step.name, dict(result.outputs)))
        self.set_step_status(
            step.name,
            result.status,
            attempt=attempts if result.status != StepStatus.SUCCEEDED else attempt,
            exit_code=result.exit_code,
            message=result.message,
        )


class _StepLogger:
    __slots__ = ("_attempt", "_execution", "_step")

    def __init__(self, execution: _RunExecution, step: str, attempt: int) -> None:
        self._execution = execution
        self._step = step
        self._attempt = attempt

    def __call__(self, stream: str, line: str) -> None:
        self._execution.log(self._step, self._attempt, stream, line)


class _ProcessRecorder:
    __slots__ = ("_attempt", "_execution", "_step")

    def __init__(self, execution: _RunExecution, step: str, attempt: int) -> None:
        self._execution = execution
        self._step = step
        self._attempt = attempt

    def __call__(self, pid: int, pgid: int, started: float) -> None:
        ex = self._execution
        ex.bus.publish(StepProcess(ex.run_id, self._step, self._attempt, pid, pgid, started))


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
