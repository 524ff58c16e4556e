"""One run in progress: scheduling its steps and carrying out each kind of step.

The `Runner` creates a `RunExecution` per run; this module owns what happens inside it —
which step may start, skip propagation, approvals, conditions, child workflows and the
retry/timeout loop around executors.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msgspec import Struct, field

from flowtui.engine.bus import EventBus
from flowtui.engine.events import (
    ApprovalDecided,
    RunStatusChanged,
    StepLog,
    StepOutputs,
    StepProcess,
    StepStatusChanged,
)
from flowtui.engine.executors.base import StepContext, StepExecutor, StepResult
from flowtui.engine.executors.registry import get_executor
from flowtui.engine.identity import may_approve
from flowtui.engine.ports import RunLedger
from flowtui.engine.private import make_private_dir
from flowtui.engine.process import OUTPUT_THROTTLE
from flowtui.engine.report import CommitStatusReporter
from flowtui.engine.sandbox import STEP_SANDBOX, StepSandbox
from flowtui.engine.secrets import LogMasking, Masker, SecretError, resolve_secrets
from flowtui.engine.states import STEP_FAILED, STEP_FINAL, STEP_OK, RunStatus, StepStatus
from flowtui.engine.stepenv import step_variables
from flowtui.engine.workspace import HandOff, WorkspaceTooLarge, attempt_dir
from flowtui.model.approval import ApprovalRefused, Vote, gate_rules, judge_approval
from flowtui.model.branches import branch_matches, describe_mismatch
from flowtui.model.workflow import RUNNER_ONLY_TYPES, Step, Workflow
from flowtui.timefmt import fmt_limit

if TYPE_CHECKING:  # team mode imports it when used (#18: start-up)
    from flowtui.engine.remote import StepDispatcher


class RunError(Exception):
    """A run cannot be created as asked (bad params, unknown run, ...)."""


class Decision(Struct):
    approved: bool
    by: str
    comment: str
    groups: frozenset[str] | None = None  # the roles of `by`, when the history knows them
    inputs: dict[str, str] = field(default_factory=dict)  # `--input NAME=VALUE` of an approve


WorkflowResolver = Callable[[str, Workflow], Workflow]


class RunHandle:
    def __init__(self, run_id: int, task: asyncio.Task[RunStatus]) -> None:
        self.run_id = run_id
        self.task = task

    async def wait(self) -> RunStatus:
        return await asyncio.shield(self.task)


class RunContext(Struct, frozen=True):
    """What a run needs from the runner that drives it (and nothing else of it)."""

    bus: EventBus
    ledger: RunLedger
    slots: asyncio.Semaphore  # steps running at once, across the runner's runs
    kill_grace: float
    wait_for_turn: Callable[[], Awaitable[None]]
    resolve_workflow: WorkflowResolver | None
    start_child: Callable[..., Awaitable[RunHandle]]
    cancel_run: Callable[[int, str], bool]  # (run id, reason) of a child run
    dispatcher: StepDispatcher | None = None  # runs `runs_on` steps on workers (team mode)
    private_paths: tuple[Path, ...] = ()  # what step processes must not reach (sandbox)
    spawner_first: bool = False  # steps wait for the run's spawner (RunnerOptions)


class RunExecution:
    """One run in progress: its step states, tasks, approvals and the scheduling loop."""

    def __init__(
        self,
        *,
        context: RunContext,
        run_id: int,
        workflow: Workflow,
        params: dict[str, str],
        workspace: Path,
        reused: dict[str, tuple[StepStatus, dict[str, str], str]],
        branch: str | None = None,
        left_out: Collection[str] = (),
    ) -> None:
        self.context = context
        self.branch = branch
        self.bus = context.bus
        self.run_id = run_id
        self.workflow = workflow
        self.params = params
        self.workspace = workspace
        self.status = RunStatus.QUEUED
        self.statuses: dict[str, StepStatus] = {n: StepStatus.PENDING for n in workflow.steps}
        self.messages: dict[str, str] = {}
        self.outputs: dict[str, dict[str, str]] = {}
        self.skip_reasons: dict[str, str] = {}
        # a step filtered out by `branches:` is skipped like a `when:` that is false
        for step in workflow.steps.values():
            if not branch_matches(step.branches, branch):
                self.skip_reasons[step.name] = describe_mismatch(step.branches, branch)
        for name, (status, outs, note) in reused.items():
            self.statuses[name] = status
            self.outputs[name] = outs
            self.messages[name] = note
        # `run --only/--skip`: recorded skipped; unlike a skip, the steps after them still run
        self.left_out = frozenset(left_out)
        for name in self.left_out:
            self.statuses[name] = StepStatus.SKIPPED
        self.tasks: dict[str, asyncio.Task[None]] = {}
        # team mode with steps elsewhere: the workspace travels through the history, and
        # `_hand` is this machine's side of it
        self._hands_off_workspace = context.dispatcher is not None and any(
            s.runs_on for s in workflow.steps.values()
        )
        self._hand = HandOff(workspace)
        self._hand_lock = asyncio.Lock()
        self.approvals: dict[str, asyncio.Future[Decision]] = {}
        self.votes: dict[str, list[Vote]] = {}  # approvals so far of each held gate
        self.started_by = ""  # who started the run (`allow_self_approval: false`)
        self.cancel_requested: tuple[str, str] | None = None
        self.fail_fast_cause: str | None = None
        self.task: asyncio.Task[RunStatus] | None = None
        self._wake = asyncio.Event()
        # secret values: only here and in step environments; masked in all that is published
        self.secrets: dict[str, str] = {}
        self._masking = LogMasking(self._publish_log)
        self.abort_reason: str | None = None  # set when the history store cannot write
        # set by `release`: a queued run stops waiting and stays queued, for an adopter
        self.release_reason: str | None = None
        self.releasable = True  # False for a child run: it ends with its parent's step
        # Incremental scheduling: a pass looks only at steps whose requires changed
        # (`_dirty`; None = look at every step), so a run costs O(edges), not O(steps²).
        self._order = {name: i for i, name in enumerate(workflow.steps)}
        self._dependents: dict[str, list[str]] = {name: [] for name in workflow.steps}
        for step in workflow.steps.values():
            for dep in step.requires:
                self._dependents[dep].append(step.name)
        self._handlers = [s.name for s in workflow.steps.values() if s.always or s.on_failure]
        self._dirty: set[str] | None = None
        self._resolved_base: Path | None = None  # see _base_dir
        # per step, how many of its requires are not over yet (kept by set_step_status):
        # a step waits while it is above 0, known without looking at its requires (#18)
        self._unfinished = {
            s.name: sum(not self.statuses[d].is_final for d in s.requires)
            for s in workflow.steps.values()
        }
        # kept in step with `statuses` by set_step_status, so "any held/running?" is O(1)
        self._held = {n for n, s in self.statuses.items() if s == StepStatus.HELD}
        self._active = {n for n, s in self.statuses.items() if s == StepStatus.RUNNING}
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
        message = self._masking.masker.mask(message)
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
        self._masking.flush(name)  # its held log lines go before its new status
        message = self._masking.masker.mask(message)
        final = status in STEP_FINAL
        was_final = self.statuses[name] in STEP_FINAL
        self.statuses[name] = status
        self.messages[name] = message
        (self._held.add if status == StepStatus.HELD else self._held.discard)(name)
        (self._active.add if status == StepStatus.RUNNING else self._active.discard)(name)
        if final != was_final:
            unfinished = self._unfinished
            for dependent in self._dependents.get(name, ()):
                unfinished[dependent] += -1 if final else 1
                # a require that is not over yet leaves its dependents waiting: only
                # those whose last one just ended need a look
                if self._dirty is not None and not unfinished[dependent]:
                    self._dirty.add(dependent)
        self.bus.publish(
            StepStatusChanged(self.run_id, name, status, time.time(), attempt, exit_code, message)
        )
        self._wake.set()

    def log(self, step: str, attempt: int, stream: str, line: str) -> None:
        self._masking.log(step, attempt, stream, line, time.time())

    def _publish_log(self, step: str, attempt: int, stream: str, line: str, at: float) -> None:
        self.bus.publish(StepLog(self.run_id, step, attempt, stream, line, at))

    def publish_outputs(self, step: str, outputs: dict[str, str]) -> None:
        self.bus.publish(StepOutputs(self.run_id, step, self._masking.masker.mask_map(outputs)))

    def abort(self, message: str) -> None:
        """Fail the running steps with `message` and start no other (the store cannot write)."""
        if self.status.is_final or self.abort_reason is not None:
            return
        self.abort_reason = message
        self.system_log(message)
        for task in self.tasks.values():
            task.cancel()
        self._wake.set()

    def system_log(self, line: str, step: str = "") -> None:
        self.log(step, 0, "system", line)

    # -- control ---------------------------------------------------------------------
    def request_cancel(self, by: str, reason: str = "") -> None:
        """Stop the run's steps; `always`/`on_failure` handlers only on a second request."""
        if self.status.is_final:
            return
        again = self.cancel_requested is not None
        if not again:
            self.cancel_requested = (by, reason)
        who = f" by {by}" if by else ""
        self.system_log(
            ("cancel requested again" if again else "cancel requested")
            + who
            + (f": {reason}" if reason else "")
        )
        for name, task in self.tasks.items():
            step = self.workflow.steps[name]
            if again or not (step.always or step.on_failure):
                task.cancel()
        if self.task is not None and self.status == RunStatus.QUEUED:
            self.task.cancel()
        self._wake.set()

    def release(self, reason: str) -> bool:
        """Stop waiting for a turn and leave the run queued; False if it cannot be let go.

        The run is not started here any more; it stays queued in the history, where an
        adopter (`Runner.adopt_queued`, e.g. the next `flowtui serve`) takes it over.
        """
        if self.status != RunStatus.QUEUED or not self.releasable or self.cancel_requested:
            return False
        self.release_reason = reason
        return True

    def decide(self, step: str, decision: Decision) -> str | None:
        future = self.approvals.get(step)
        if future is None or future.done():
            return f"step {step} is not waiting for approval"
        spec = self.workflow.steps[step].spec
        approvers = list(spec.get("approvers") or [])
        if not may_approve(decision.by, approvers, decision.groups):
            return f"{decision.by} is not an approver of {step} ({', '.join(approvers)})"
        if decision.approved:
            try:
                decision.inputs = judge_approval(
                    gate_rules(spec),
                    step,
                    user=decision.by,
                    started_by=self.started_by,
                    votes=self.votes.get(step, []),
                    given=decision.inputs,
                )
            except ApprovalRefused as exc:
                return str(exc)
        future.set_result(decision)
        return None

    # -- the run ---------------------------------------------------------------------
    async def drive(self) -> RunStatus:
        # this run's task context: every step's output reader waits for the store writer
        OUTPUT_THROTTLE.set(self.context.ledger.wait_for_writer)
        # and every step process is kept away from the history (but this run's workspace)
        sandbox = StepSandbox(
            self.context.private_paths, self.workspace, spawner_first=self.context.spawner_first
        )
        STEP_SANDBOX.set(sandbox)
        try:
            return await self._drive()
        finally:
            await sandbox.aclose()  # the run's spawner, once its steps are over

    async def _drive(self) -> RunStatus:
        try:
            if not await self._wait_for_start():
                self.system_log(f"left queued: {self.release_reason}")
                return self.status
        except asyncio.CancelledError:
            by, reason = self.cancel_requested or ("", "")
            self.set_run_status(RunStatus.CANCELLED, reason or f"cancelled while queued {by}")
            return self.status
        self.set_run_status(RunStatus.RUNNING)
        try:
            self.secrets = resolve_secrets(self.workflow)
        except SecretError as exc:
            if self._runs_steps_here():
                self.system_log(str(exc))
                self.set_run_status(RunStatus.FAILED, str(exc))
                return self.status
            # every step runs on a worker, which resolves the secrets from its own
            # environment: this machine need not have them
            self.secrets = {}
        reporter, sha = await self._reporter()
        self._masking.masker = Masker([*self.secrets.values(), *reporter.tokens])
        await reporter.send(sha, None)
        for name, status in self.statuses.items():
            if status == StepStatus.REUSED:
                self.set_step_status(name, status, message=self.messages.get(name, ""))
                if self.outputs.get(name):
                    self.publish_outputs(name, dict(self.outputs[name]))
        try:
            await self._schedule()
        finally:
            for task in self.tasks.values():
                task.cancel()
            if self.tasks:
                await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        self._masking.flush()
        final, message = self._final_status()
        self.set_run_status(final, message)
        await reporter.send(sha, final)
        return final

    async def _reporter(self) -> tuple[CommitStatusReporter, str | None]:
        """The run's commit status reports (`report:`) and the commit they are about."""
        reporter = CommitStatusReporter(
            self.workflow.report,
            workflow=self.workflow.name,
            environment=self.workflow.environment,
            run_id=self.run_id,
            log=self.system_log,
        )
        if not reporter.targets:
            return reporter, None
        sha = self.params.get("head_commit") or self.params.get("commit")
        if not sha:
            run = await self.context.ledger.get_run(self.run_id)
            sha = run.git_commit if run is not None else None
        return reporter, sha

    async def _take_workspace(self) -> None:
        """Unpack what steps on other machines changed (one hand-off at a time)."""
        async with self._hand_lock:
            deltas = await self.context.ledger.workspace_deltas(self.run_id, self._hand.seen)
            await asyncio.to_thread(self._hand.take, deltas)

    async def _give_workspace(self, step: str, attempt: int, result: StepResult) -> StepResult:
        """Store what changed here, for the steps that run on other machines."""
        async with self._hand_lock:
            try:
                data = await asyncio.to_thread(self._hand.give)
            except WorkspaceTooLarge as exc:
                return StepResult(StepStatus.FAILED, exit_code=result.exit_code, message=str(exc))
            if data is not None:
                delta = await self.context.ledger.add_workspace_delta(
                    self.run_id, step, attempt, data
                )
                self._hand.seen.add(delta)
        return result

    def _base_dir(self) -> Path:
        """The workflow file's folder, resolved once per run (it was a realpath per step)."""
        if self._resolved_base is None:
            path = self.workflow.path
            self._resolved_base = path.parent.resolve() if path else self.workspace
        return self._resolved_base

    def _runs_steps_here(self) -> bool:
        """Whether a step of this run executes in this process (not on a worker)."""
        return any(
            s.runs_on is None and s.type not in RUNNER_ONLY_TYPES
            for s in self.workflow.steps.values()
        )

    async def _wait_for_start(self) -> bool:
        """Wait for the run's turn; False when it was released meanwhile (not started)."""
        concurrency = self.workflow.concurrency
        group = self.workflow.concurrency_group
        announced = unreachable = False
        while True:
            if self.release_reason is not None:
                return False
            try:
                if await self.context.ledger.try_start_run(self.run_id, concurrency):
                    return True
            except Exception as exc:  # the history is unreachable for a moment: wait, retry
                if not unreachable:
                    self.system_log(f"could not start yet: {exc}")
                unreachable = True
                await self.context.wait_for_turn()
                continue
            unreachable = False
            if not announced:
                self.system_log(
                    f"queued: concurrency group {group} allows {concurrency or 1} run(s) at a time"
                    " (the smallest limit among its workflows wins)"
                    if group
                    else f"queued: {self.workflow.name} allows {concurrency} run(s) at a time"
                )
                announced = True
            await self.context.wait_for_turn()

    async def _schedule(self) -> None:
        steps = self.workflow.steps
        settled = False  # True: nothing else can start, so handlers stop waiting
        live: list[asyncio.Task[None]] = []  # started step tasks not yet done
        while True:
            self._wake.clear()
            skipped_any = False
            stopping = self.cancel_requested is not None or self.fail_fast_cause is not None
            stopping = stopping or self.abort_reason is not None
            for name in self._candidates():
                step = steps[name]
                if self.statuses[name] != StepStatus.PENDING or name in self.tasks:
                    continue
                handler = step.always or step.on_failure
                if stopping and not handler:
                    continue
                verdict = (
                    self._handler_readiness(step, settled) if handler else self._readiness(step)
                )
                if verdict == "wait" or verdict == "blocked":
                    continue
                if verdict == "skip":
                    self.set_step_status(
                        name, StepStatus.SKIPPED, message=self.skip_reasons.get(name, "")
                    )
                    skipped_any = True
                    continue
                task = self.tasks[name] = asyncio.create_task(
                    self._run_step(step), name=f"flowtui-{self.run_id}-{name}"
                )
                task.add_done_callback(self._step_task_done)
                live.append(task)
            running = live = [t for t in live if not t.done()]
            self._update_held()
            if not running:
                if not skipped_any:
                    if settled:
                        return  # nothing runs and nothing changed: no step can start any more
                    settled = True  # one more pass: handlers whose requires never ran
                    self._dirty = None
                continue  # a skip may have decided steps earlier in file order
            settled = False
            await self._wake.wait()  # a status changed, a step task ended, or a cancel

    def _step_task_done(self, _task: asyncio.Task[None]) -> None:
        self._wake.set()

    def _candidates(self) -> list[str]:
        """Steps this pass must look at, in file order: every step on a full pass, else
        those whose requires changed, plus handlers and steps given a skip reason."""
        dirty, self._dirty = self._dirty, set()
        if dirty is None:
            return list(self.workflow.steps)
        dirty.update(self._handlers)
        dirty.update(n for n in self.skip_reasons if self.statuses[n] == StepStatus.PENDING)
        return sorted(dirty, key=self._order.__getitem__)

    def _dep_ok(self, dep: str) -> bool:
        status = self.statuses[dep]
        if status in STEP_OK:
            return True
        return status in STEP_FAILED and self.workflow.steps[dep].continue_on_failure

    def _handler_readiness(self, step: Step, settled: bool) -> str:
        """An `always`/`on_failure` step starts once its requires are over, whatever happened.

        A require that can never start any more (`settled`) counts as over.
        """
        if step.name in self.skip_reasons:
            return "skip"
        for dep in step.requires:
            status = self.statuses[dep]
            if status.is_final:
                continue
            dep_step = self.workflow.steps[dep]
            never = status == StepStatus.PENDING and not (dep_step.always or dep_step.on_failure)
            if not (settled and never and dep not in self.tasks):
                return "wait"
        if step.on_failure and not self._any_failed():
            self.skip_reasons[step.name] = "on_failure: no step failed"
            return "skip"
        return "start"

    def _any_failed(self) -> bool:
        """A step failed in a way that fails the run (continue_on_failure ones do not)."""
        return any(
            s in STEP_FAILED and not self.workflow.steps[n].continue_on_failure
            for n, s in self.statuses.items()
        )

    def _readiness(self, step: Step) -> str:
        """start | skip | wait | blocked, from the states of the steps it requires."""
        if step.name in self.skip_reasons:
            return "skip"
        if self._unfinished[step.name]:
            # a dependency that is itself blocked never finishes: waiting or blocked, the
            # step does not start (the scheduler treats both alike)
            return "wait"
        deps = step.requires
        if any(self.statuses[d] in STEP_FAILED and not self._dep_ok(d) for d in deps):
            return "blocked"
        if deps and all(
            self.statuses[d] == StepStatus.SKIPPED and d not in self.left_out for d in deps
        ):
            self.skip_reasons[step.name] = "every step it requires was skipped"
            return "skip"
        return "start"

    def _update_held(self) -> None:
        if self.status.is_final:
            return
        held = bool(self._held)
        running = bool(self._active)
        if held and not running:
            self.set_run_status(RunStatus.HELD)
        elif self.status == RunStatus.HELD and running:
            self.set_run_status(RunStatus.RUNNING)

    def _final_status(self) -> tuple[RunStatus, str]:
        if self.cancel_requested is not None:
            by, reason = self.cancel_requested
            return RunStatus.CANCELLED, reason or (f"cancelled by {by}" if by else "cancelled")
        if self.abort_reason is not None:
            return RunStatus.FAILED, self.abort_reason
        failed = [
            n
            for n, s in self.statuses.items()
            if s in STEP_FAILED and not self.workflow.steps[n].continue_on_failure
        ]
        if failed:
            # each with its own outcome: "slow timed out, test failed"
            return RunStatus.FAILED, ", ".join(
                f"{n} {str(self.statuses[n]).replace('_', ' ')}" for n in failed
            )
        not_reached = [n for n, s in self.statuses.items() if not s.is_final]
        if not_reached:
            return RunStatus.FAILED, f"not reached: {', '.join(not_reached)}"
        return RunStatus.SUCCEEDED, ""

    # -- steps -----------------------------------------------------------------------
    def _expression_context(self, step: Step, expression: str = "") -> dict[str, Any]:
        # only the steps `expression` names when it can tell: copying (and simpleeval then
        # walking) every step's state made a long chain of conditions O(steps²)
        from flowtui.engine.expressions import referenced_keys

        names = referenced_keys(expression, "steps") if expression else None
        wanted = self.statuses if names is None else [n for n in names if n in self.statuses]
        return {
            "params": dict(self.params),
            "env": {**self.workflow.env, **step.env},
            "matrix": dict(step.matrix),
            "workflow": self.workflow.name,
            "run_id": self.run_id,
            "steps": {
                name: {
                    "status": str(self.statuses[name]),
                    "outputs": dict(self.outputs.get(name, {})),
                }
                for name in wanted
            },
        }

    def _step_env(self, step: Step) -> dict[str, str]:
        env = step_variables(
            self.workflow,
            step,
            run_id=self.run_id,
            params=self.params,
            secrets=self.secrets,
            workspace=self.workspace,
            branch=self.branch,
            outputs=self.outputs,
        )
        # a `report:` token is flowtui's, not the steps': it overrides the inherited value
        env.update({str(c.get("token")): "" for c in self.workflow.report.values()})
        return env

    async def _run_step(self, step: Step) -> None:
        name = step.name
        try:
            if step.when:
                from flowtui.engine.expressions import ExpressionError, evaluate_bool

                try:
                    go = evaluate_bool(step.when, self._expression_context(step, step.when))
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
            if not self.statuses[name].is_final and self.abort_reason is not None:
                self.set_step_status(name, StepStatus.FAILED, message=self.abort_reason)
            elif not self.statuses[name].is_final:
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
                    peer = self.workflow.steps[other]
                    if other != name and not (peer.always or peer.on_failure):
                        task.cancel()

    def _cancel_message(self) -> str:
        if self.cancel_requested is not None:
            by = self.cancel_requested[0]
            return f"cancelled by {by}" if by else "cancelled"
        if self.fail_fast_cause:
            return f"cancelled: fail_fast after {self.fail_fast_cause} failed"
        return "cancelled"

    async def _run_approval(self, step: Step) -> None:
        rules = gate_rules(step.spec)
        if not rules.allow_self_approval:
            run = await self.context.ledger.get_run(self.run_id)
            self.started_by = run.triggered_by if run is not None else ""
        approvers = list(step.spec.get("approvers") or [])
        who = ", ".join(approvers) if approvers else "anyone"
        message = str(step.spec.get("message") or "")
        self.set_step_status(
            step.name, StepStatus.HELD, message=message or f"waiting for approval by {who}"
        )
        self._update_held()
        loop = asyncio.get_running_loop()
        deadline = None if step.timeout is None else loop.time() + step.timeout
        votes = self.votes.setdefault(step.name, [])
        while True:
            future: asyncio.Future[Decision] = loop.create_future()
            self.approvals[step.name] = future
            left = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                decision = await asyncio.wait_for(future, timeout=left)
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
                    dict(decision.inputs) if decision.approved else {},
                )
            )
            comment = f": {decision.comment}" if decision.comment else ""
            if not decision.approved:
                self.set_step_status(
                    step.name, StepStatus.REJECTED, message=f"rejected by {decision.by}{comment}"
                )
                return
            votes.append(Vote(decision.by, dict(decision.inputs)))
            if len(votes) >= rules.required_approvals:
                break
            # one of several: the gate stays held, saying who approved and what is missing
            self.set_step_status(
                step.name,
                StepStatus.HELD,
                message=f"approved by {', '.join(v.by for v in votes)} "
                f"({len(votes)} of {rules.required_approvals}); waiting for approval by {who}",
            )
        by = ", ".join(v.by for v in votes)
        self.outputs[step.name] = {
            "approved_by": by,
            "comment": decision.comment,
            **votes[0].inputs,
        }
        self.publish_outputs(step.name, dict(self.outputs[step.name]))
        self.set_step_status(step.name, StepStatus.SUCCEEDED, message=f"approved by {by}{comment}")

    def _apply_condition(self, step: Step, result: bool) -> None:
        not_taken = step.spec.get("else" if result else "then") or []
        for name in not_taken:
            self.skip_reasons.setdefault(name, f"condition {step.name} was {str(result).lower()}")

    def _run_condition(self, step: Step) -> None:
        from flowtui.engine.expressions import ExpressionError, evaluate_bool

        expression = str(step.spec["if"])
        try:
            result = evaluate_bool(expression, self._expression_context(step, expression))
        except ExpressionError as exc:
            self.set_step_status(step.name, StepStatus.FAILED, message=f"if: {exc}")
            return
        self._apply_condition(step, result)
        self.outputs[step.name] = {"result": "true" if result else "false"}
        self.publish_outputs(step.name, dict(self.outputs[step.name]))
        branch = step.spec.get("then" if result else "else") or []
        taken = f" → {', '.join(branch)}" if branch else ""
        self.log(step.name, 1, "system", f"{expression} is {str(result).lower()}{taken}")
        self.set_step_status(
            step.name, StepStatus.SUCCEEDED, message=f"{str(result).lower()}{taken}"
        )

    async def _run_child_workflow(self, step: Step) -> None:
        context = self.context
        ref = str(step.spec["workflow"])
        if context.resolve_workflow is None:
            self.set_step_status(
                step.name, StepStatus.FAILED, message="workflow steps need a workflow resolver"
            )
            return
        try:
            child_wf = context.resolve_workflow(ref, self.workflow)
        except Exception as exc:
            self.set_step_status(step.name, StepStatus.FAILED, message=f"workflow {ref}: {exc}")
            return
        self.set_step_status(step.name, StepStatus.RUNNING, attempt=1)
        params = {k: str(v) for k, v in (step.spec.get("params") or {}).items()}
        try:
            handle = await context.start_child(
                child_wf,
                params=params,
                triggered_by=f"{self.workflow.name} run {self.run_id}",
                branch=self.branch,  # a child run is for the same branch as its parent
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
            context.cancel_run(handle.run_id, f"parent run {self.run_id} stopped")
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
        self.publish_outputs(step.name, dict(self.outputs[step.name]))
        final = StepStatus.SUCCEEDED if status == RunStatus.SUCCEEDED else StepStatus.FAILED
        self.set_step_status(
            step.name, final, attempt=1, message=f"{child_wf.name} run {handle.run_id} {status}"
        )

    async def _timed_out(self, step: Step) -> str:
        """Why the attempt ran out of time: a `runs_on` step no worker took says so."""
        limit = fmt_limit(step.timeout or 0)
        if step.runs_on is not None:
            taken = True  # unknown (the history unreadable): the plain words
            with contextlib.suppress(Exception):
                records = await self.context.ledger.get_steps(self.run_id)
                # a worker that takes it says so first: the step is "on worker NAME"
                taken = any(
                    r.name == step.name and r.message.startswith("on worker ") for r in records
                )
            if not taken:
                return f"no worker on queue {step.runs_on} took it within {limit}"
        return f"timed out after {limit}"

    async def _run_executor(self, step: Step) -> None:
        executor: StepExecutor
        if step.runs_on is None:
            executor = get_executor(step.type)
        elif self.context.dispatcher is None:
            from flowtui.engine.remote import no_dispatcher_message  # team mode (#18)

            message = no_dispatcher_message(step.runs_on)
            self.set_step_status(step.name, StepStatus.FAILED, message=message)
            return
        else:
            from flowtui.engine.remote import RemoteExecutor

            executor = RemoteExecutor(
                self.context.dispatcher, self.context.ledger, self.bus, self.workflow.source
            )
        if step.runs_on is None and step.sandbox is False and self.context.private_paths:
            # this task's context only: the run's other steps stay sandboxed
            STEP_SANDBOX.set(None)
            self.system_log("not sandboxed: sandbox: false", step.name)
        attempts = step.retries + 1
        env = self._step_env(step)
        result = StepResult(StepStatus.FAILED, message="not run")
        for attempt in range(1, attempts + 1):
            # a step on a worker takes none of this machine's slots
            slot = self.context.slots if step.runs_on is None else contextlib.nullcontext()
            async with slot:
                previous = result
                step_dir = attempt_dir(self.workspace, step.name, attempt)
                if not getattr(executor, "makes_step_dir", False):
                    # a folder per step costs more than a short step: executors that can
                    # do without say so (`makes_step_dir`) and make it only when needed
                    make_private_dir(step_dir)
                notes = [f"retry after {previous.message}"] if attempt > 1 else []
                if step.runs_on is not None:
                    notes.append(f"waiting for a worker on queue {step.runs_on}")
                self.set_step_status(
                    step.name, StepStatus.RUNNING, attempt=attempt, message="; ".join(notes)
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
                    kill_grace=(
                        step.kill_grace if step.kill_grace is not None else self.context.kill_grace
                    ),
                    base_dir=self._base_dir(),
                )
                handing = self._hands_off_workspace and step.runs_on is None
                if handing:
                    await self._take_workspace()
                try:
                    result = await asyncio.wait_for(executor.execute(ctx), timeout=step.timeout)
                except TimeoutError:
                    result = StepResult(StepStatus.TIMED_OUT, message=await self._timed_out(step))
                    self.log(step.name, attempt, "system", result.message)
                if handing:
                    result = await self._give_workspace(step.name, attempt, result)
            if result.status == StepStatus.SUCCEEDED:
                break
            if attempt < attempts and not step.retries_exit(result.exit_code):
                codes = ", ".join(map(str, step.retry_on_exit_codes))
                got = f"exit {result.exit_code}" if result.exit_code is not None else "no exit code"
                self.log(
                    step.name,
                    attempt,
                    "system",
                    f"attempt {attempt} failed with {got}: not retried (on_exit_codes: {codes})",
                )
                attempts = attempt
                break
            if attempt < attempts:
                delay = step.retry_delay_after(attempt)
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
            self.publish_outputs(step.name, dict(result.outputs))
        self.set_step_status(
            step.name,
            result.status,
            attempt=attempts if result.status != StepStatus.SUCCEEDED else attempt,
            exit_code=result.exit_code,
            message=result.message,
        )


class _StepLogger:
    __slots__ = ("_attempt", "_execution", "_step")

    def __init__(self, execution: RunExecution, step: str, attempt: int) -> None:
        self._execution = execution
        self._step = step
        self._attempt = attempt

    def __call__(self, stream: str, line: str) -> None:
        self._execution.log(self._step, self._attempt, stream, line)


class _ProcessRecorder:
    __slots__ = ("_attempt", "_execution", "_step")

    def __init__(self, execution: RunExecution, step: str, attempt: int) -> None:
        self._execution = execution
        self._step = step
        self._attempt = attempt

    def __call__(self, pid: int, pgid: int, started: float) -> None:
        ex = self._execution
        ex.bus.publish(StepProcess(ex.run_id, self._step, self._attempt, pid, pgid, started))
