"""The one control surface: cancel, approve/reject, rerun, pause/resume.

`flowtui cancel/approve/reject/rerun/pause/resume` and the dashboard's `c`, `a`/`x`,
`f`/`F` and `p` all call these, so a person gets the same behaviour and the same words from
either.  Decisions and cancels of runs owned by other processes travel as commands through
the history, which the owning runner polls; what needs no runner (a queued run whose runner
died) is done here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from flowtui.engine.identity import approvers_of, may_approve, resolve_identity
from flowtui.engine.plan import PlannedStep
from flowtui.engine.ports import RunLedger
from flowtui.engine.records import ApprovalRecord, RunRecord, StepRecord
from flowtui.engine.states import STEP_RERUNNABLE, RunStatus, StepStatus
from flowtui.model.approval import (
    ApprovalInput,
    ApprovalRefused,
    GateRules,
    Vote,
    gate_rules,
    judge_approval,
)
from flowtui.model.graph import upstream
from flowtui.model.workflow import Step
from flowtui.store.runstore import RunStore
from flowtui.timefmt import fmt_duration

if TYPE_CHECKING:
    from flowtui.engine.runner import RunHandle, Runner

POLL = 0.05  # how often the history is read while waiting for a runner to act


class ControlError(Exception):
    """Why an action cannot be done; the message is meant for the person acting."""


class DecisionError(ControlError):
    """Why a decision cannot be made."""


class NoSuchRun(DecisionError):
    pass


class RunNotActive(DecisionError):
    pass


class NothingToRerun(ControlError):
    """A rerun from the failed steps of a run where no step failed or was left unrun.

    `reason` says so in neutral words; `phrased(how)` adds how the caller's user reruns
    from the start instead: its str() names the dashboard's key, where it is shown as it
    is; the CLI names its command with the run's id (and `--db`), the API its request."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(self.phrased("F"))

    def phrased(self, how: str) -> str:
        return f"{self.reason}; rerun it from the start instead ({how})"


class NoHeldStep(DecisionError):
    """The named step does not exist or is not held, or nothing in the run is held."""


class NoSuchStep(NoHeldStep):
    """The named step is not a step of the run (the API's 404 `unknown_step`)."""


class SeveralHeld(DecisionError):
    def __init__(self, message: str, held: list[str]) -> None:
        super().__init__(message)
        self.held = held


class NotAnApprover(DecisionError):
    def __init__(self, message: str, user: str, approvers: list[str]) -> None:
        super().__init__(message)
        self.user = user
        self.approvers = approvers


class ApprovalNotTaken(DecisionError):
    """An approval the gate cannot count: an input missing or ill-typed, the run's starter
    where self-approval is off, or someone approving twice.  The step stays held."""


@dataclass(frozen=True, slots=True)
class HeldStep:
    """A held approval step that `user` may decide."""

    run: RunRecord
    step: StepRecord
    user: str
    approvers: list[str]  # as the run's own definition says; empty: anyone
    inputs: dict[str, str] = field(default_factory=dict)  # what `user` gives (approve)

    @property
    def name(self) -> str:
        return self.step.name


def recorded_step(run: RunRecord, name: str) -> Step | None:
    """Step `name` as the run's own definition says (not today's file)."""
    from flowtui.model.environments import recorded_gate
    from flowtui.model.errors import WorkflowError
    from flowtui.model.loader import load_workflow_text

    if (gate := recorded_gate(run.definition, name)) is not None:  # an environment's
        return gate
    source = str(run.definition.get("source") or "")
    if not source:
        return None
    try:
        workflow = load_workflow_text(source, run.workflow_path or run.workflow)
    except WorkflowError:
        return None
    return workflow.steps.get(name)


def votes_of(step: StepRecord, approvals: list[ApprovalRecord]) -> list[Vote]:
    """The approvals `step` got while it is held now (one of `required_approvals`)."""
    since = step.held_at or 0.0
    return [
        Vote(a.by, a.inputs)
        for a in approvals
        if a.step == step.name and a.approved and a.at >= since
    ]


async def check_decision(
    store: RunStore,
    run_id: int,
    step: str | None,
    user: str,
    *,
    approve: bool = True,
    inputs: Mapping[str, str] | None = None,
) -> HeldStep:
    """The held step `step` of run `run_id` (or its only held step) if `user` may decide it.

    Raises a DecisionError subclass naming what is wrong: no such run, run not active, no
    such step / not held / nothing held, several held (naming them), user not allowed
    (naming the approvers), or an approval the gate cannot count (ApprovalNotTaken: its
    `inputs` refused, self-approval, a second approval by one person).  `approve` picks
    the verb of the messages; `inputs` are checked only for an approval, and not at all
    when None (a dialog that asks for them next).
    """
    verb = "approve" if approve else "reject"
    run = await store.get_run(run_id)
    if run is None:
        raise NoSuchRun(f"run {run_id} not found in {store.location}")
    steps = await store.get_steps(run.id)
    held = [s for s in steps if s.status == StepStatus.HELD]
    held_names = [s.name for s in held]
    if step is not None and not any(s.name == step for s in steps):
        hint = f"; held: {', '.join(held_names)}" if held else ""
        raise NoSuchStep(f"run {run.id} has no step {step!r}{hint}")
    if run.status.is_final:
        done = await _decided(store, run.id, step) if step is not None else None
        first = f"step {step} of run {run.id} was already {done}, and " if done else ""
        raise RunNotActive(f"{first}run {run.id} has already ended ({run.status})")
    if step is None:
        if not held:
            raise NoHeldStep(f"nothing in run {run.id} ({run.workflow}) waits for approval")
        if len(held) > 1:
            raise SeveralHeld(
                f"run {run.id} has several steps waiting for approval: "
                f"{', '.join(held_names)}; pick the one to {verb}",
                held_names,
            )
        target = held[0]
    else:
        target = next(s for s in steps if s.name == step)
        if target.status != StepStatus.HELD:
            hint = f" (held: {', '.join(held_names)})" if held else ""
            if done := await _decided(store, run.id, target.name):
                raise NoHeldStep(f"step {target.name} of run {run.id} was already {done}{hint}")
            raise NoHeldStep(
                f"step {target.name} of run {run.id} is {target.status}, not held{hint}"
            )
    approvers = approvers_of(run, target.name)
    if not may_approve(user, approvers, await store.roles_of(user)):
        raise NotAnApprover(
            f"{user} may not {verb} {target.name} (approvers: {', '.join(approvers)})",
            user,
            approvers,
        )
    given = None if inputs is None else dict(inputs)
    if approve:
        spec = recorded_step(run, target.name)
        try:
            judge_approval(
                gate_rules(spec.spec if spec else {}),
                target.name,
                user=user,
                started_by=run.triggered_by,
                votes=votes_of(target, await store.get_approvals(run.id)),
                given=given,
            )
        except ApprovalRefused as exc:
            raise ApprovalNotTaken(str(exc)) from None
    return HeldStep(run, target, user, approvers, given or {})


async def _decided(store: RunStore, run_id: int, step: str) -> str | None:
    """`approved by alice at 23:50:11`: the step's last decision (from the history), or None."""
    decisions = [a for a in await store.get_approvals(run_id) if a.step == step]
    if not decisions:
        return None
    last = decisions[-1]
    same_day = time.localtime(last.at)[:3] == time.localtime()[:3]
    when = time.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S", time.localtime(last.at))
    return f"{'approved' if last.approved else 'rejected'} by {last.by} at {when}"


@dataclass(frozen=True, slots=True)
class Gate:
    """What a person deciding a held step gets to see: what it asks, who started the run
    and when, how long it has waited and may wait, and the results of the steps it gates."""

    message: str  # the step's `message:`
    started_by: str  # "manual (ann)", "cron", "rerun (bob)"
    started_at: float | None
    held_at: float | None
    timeout: float | None  # seconds it may wait in all; None: forever
    upstream: list[StepRecord]  # the steps it depends on (also indirectly), in file order
    rules: GateRules = field(default_factory=GateRules)  # inputs, approvals it needs
    approved_by: list[str] = field(default_factory=list)  # approvals so far (of several)
    given: dict[str, str] = field(default_factory=dict)  # inputs the first approver gave
    starter: str = ""  # who started the run (may not approve when self-approval is off)

    @property
    def inputs(self) -> tuple[ApprovalInput, ...]:
        return self.rules.inputs

    def held_for(self, now: float) -> float | None:
        return None if self.held_at is None else max(0.0, now - self.held_at)

    def time_left(self, now: float) -> float | None:
        if self.timeout is None or self.held_at is None:
            return None
        return max(0.0, self.held_at + self.timeout - now)


async def describe_gate(store: RunStore, held: HeldStep) -> Gate:
    """The context of `held` (read from the run's own definition, not today's file)."""
    run, step = held.run, held.step
    message, timeout, rules = "", None, GateRules()
    spec = recorded_step(run, step.name)
    if spec is not None:
        message = str(spec.spec.get("message") or "")
        timeout = spec.timeout
        rules = gate_rules(spec.spec)
    votes = votes_of(step, await store.get_approvals(run.id))
    steps = await store.get_steps(run.id)
    needed = upstream({s.name: s.requires for s in steps}, [step.name])
    by = run.trigger + (f" ({run.triggered_by})" if run.triggered_by else "")
    return Gate(
        message=message or step.message,
        started_by=by,
        started_at=run.started_at or run.created_at,
        held_at=step.held_at,
        timeout=timeout,
        upstream=[s for s in steps if s.name in needed],
        rules=rules,
        approved_by=[v.by for v in votes],
        given=dict(votes[0].inputs) if votes else {},
        starter=run.triggered_by,
    )


@dataclass(frozen=True, slots=True)
class InboxItem:
    """One held step waiting for a person, as `flowtui inbox` and the dashboard list it."""

    held: HeldStep  # its `user` is who asked
    gate: Gate
    may_decide: bool  # whether `held.user` may approve it now (approver, not barred)

    def who_may_approve(self) -> str:
        """`ann, team:ops` or `anyone`, with what the gate still needs and who may not."""
        gate = self.gate
        text = ", ".join(self.held.approvers) if self.held.approvers else "anyone"
        need = gate.rules.required_approvals
        if need > 1:
            text += f"; {len(gate.approved_by)} of {need} approvals"
            if gate.approved_by:
                text += f" (by {', '.join(gate.approved_by)})"
        if not gate.rules.allow_self_approval and gate.starter:
            text += f"; not {gate.starter} (started it)"
        return text

    def _who_with_user(self) -> str:
        """`who_may_approve`, naming the asking user when they may not (and it does not)."""
        text = self.who_may_approve()
        user = self.held.user
        return text if self.may_decide or user in text else f"{text} (not {user})"

    def row(self, now: float) -> tuple[str, ...]:
        """Its line in the inbox (INBOX_COLUMNS), the same in the CLI and the dashboard."""
        gate, held = self.gate, self.held
        held_for = gate.held_for(now)
        left = gate.time_left(now)
        return (
            f"#{held.run.id}",
            held.run.workflow,
            held.name,
            gate.message,
            fmt_duration(held_for) if held_for is not None else "-",
            fmt_duration(left) if left is not None else "no timeout",
            self._who_with_user(),
        )


INBOX_COLUMNS = ("run", "workflow", "step", "message", "held for", "time left", "who may approve")


async def inbox(store: RunStore, user: str, *, limit: int = 500) -> list[InboxItem]:
    """Every held step of the active runs (of every workflow), oldest run first."""
    runs = await store.list_runs(statuses={RunStatus.RUNNING, RunStatus.HELD}, limit=limit)
    roles = await store.roles_of(user)
    items: list[InboxItem] = []
    for run in reversed(runs):
        for step in await store.get_steps(run.id):
            if step.status != StepStatus.HELD:
                continue
            approvers = approvers_of(run, step.name)
            held = HeldStep(run, step, user, approvers)
            gate = await describe_gate(store, held)
            barred = user in gate.approved_by or (
                not gate.rules.allow_self_approval and user == gate.starter
            )
            may = may_approve(user, approvers, roles) and not barred
            items.append(InboxItem(held, gate, may))
    return items


async def acting_user(store: RunStore, as_user: str | None = None) -> str:
    """Who is acting: on a PostgreSQL history the database role of this connection (the
    server's word: it also stamps every command with it); on SQLite the OS user, or
    `as_user` when FLOWTUI_TRUST_AS allows it.  Raises PermissionError for a refused
    `as_user`."""
    role = await store.session_user()
    if role is None:
        return resolve_identity(as_user)
    if as_user and as_user != role:
        raise PermissionError(
            f"--as {as_user}: on a PostgreSQL history you act as your database role ({role}); "
            "connect as the person instead (their own role in the URL or ~/.pgpass)"
        )
    return role


async def decide(store: RunStore, held: HeldStep, *, approve: bool, comment: str = "") -> int:
    """Send the decision on `held` to the runner that owns its run; the command's id.

    The runner checks the approver list again when it takes the command (a decision
    written straight into the history by someone else is refused there too).
    """
    verb = "approve" if approve else "reject"
    return await store.add_command(
        held.run.id,
        verb,
        step=held.name,
        by=held.user,
        comment=comment,
        inputs=held.inputs if approve else None,
    )


async def wait_taken(store: RunStore, command_id: int, timeout: float) -> bool:
    """True once the owning runner took the command, False after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await store.command_taken(command_id):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL)
    return True


async def wait_decided(store: RunStore, held: HeldStep, timeout: float) -> StepStatus:
    """The held step's status once it is no longer held, or once `held.user`'s approval
    counted as one of several (`held`, with `approvals_so_far` saying so); still `held`
    after `timeout` when the runner refused it (its log says why)."""
    deadline = time.monotonic() + timeout
    while True:
        status = {s.name: s.status for s in await store.get_steps(held.run.id)}.get(
            held.name, StepStatus.HELD
        )
        if status != StepStatus.HELD or time.monotonic() >= deadline:
            return status
        if held.user in await approvals_so_far(store, held):
            return status
        await asyncio.sleep(POLL)


async def approvals_so_far(store: RunStore, held: HeldStep) -> list[str]:
    """Who has approved `held` while it is held now (one of several)."""
    return [v.by for v in votes_of(held.step, await store.get_approvals(held.run.id))]


class CancelOutcome(StrEnum):
    HERE = "cancelling"  # a run of this process: its steps are being stopped
    ORPHAN = "cancelled"  # queued, its runner had died: cancelled in the history at once
    ASKED = "asked"  # a command went to the owning runner, which polls for it


async def cancel(
    store: RunStore, run_id: int, by: str, *, runner: Runner | None = None
) -> CancelOutcome:
    """Cancel a queued or running run, whoever owns it.

    Raises NoSuchRun or RunNotActive.  A queued run whose runner died has nobody to take a
    command: it is cancelled in the history directly.
    """
    run = await store.get_run(run_id)
    if run is None:
        raise NoSuchRun(f"run {run_id} not found in {store.location}")
    if run.status.is_final:
        raise RunNotActive(f"run {run.id} has already ended ({run.status})")
    if runner is not None and runner.cancel(run.id, by=by):
        return CancelOutcome.HERE
    if await store.cancel_orphaned_queued(run.id, by):
        return CancelOutcome.ORPHAN
    await store.add_command(run.id, "cancel", by=by)
    return CancelOutcome.ASKED


async def wait_final(store: RunStore, run_id: int, timeout: float) -> RunRecord | None:
    """The run once it has ended, or None if it has not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        run = await store.get_run(run_id)
        if run is not None and run.status.is_final:
            return run
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(POLL)


async def rerun(
    runner: Runner, run_id: int, *, from_failed: bool, by: str, from_step: str | None = None
) -> RunHandle:
    """A new run linked to `run_id`: from `from_step` (it and what depends on it run, the
    rest is reused), from its failed steps (reusing the rest) or from the start.  Raises
    RunError (unknown, still active, definition gone, no such step) or NothingToRerun."""
    if from_failed and from_step is None:
        await _check_something_failed(runner.ledger, run_id)
    return await runner.rerun(run_id, from_failed=from_failed, from_step=from_step, triggered_by=by)


async def preview_rerun(
    store: RunStore, run_id: int, *, from_failed: bool, from_step: str | None = None
) -> tuple[RunRecord, list[PlannedStep]]:
    """What `rerun` would do, step by step, starting nothing (the plan it follows)."""
    from flowtui.engine.runner import plan_for_rerun

    if from_failed and from_step is None:
        await _check_something_failed(store, run_id)
    run, _workflow, plan = await plan_for_rerun(
        store, run_id, from_failed=from_failed, from_step=from_step
    )
    return run, plan


async def _check_something_failed(ledger: RunLedger, run_id: int) -> None:
    """Refuse a rerun from failed that would only reuse every step (a run of nothing)."""
    run = await ledger.get_run(run_id)
    if run is None or not run.status.is_final:
        return  # the runner says what is wrong with it
    steps = await ledger.get_steps(run_id)
    if steps and not any(s.status in STEP_RERUNNABLE for s in steps):
        raise NothingToRerun(
            f"nothing to rerun: no step of run {run.id} ({run.workflow}, {run.status}) "
            "failed or was left unrun"
        )


async def set_paused(store: RunStore, workflow: str, paused: bool) -> bool:
    """Pause or resume `workflow`'s triggers; returns whether it was paused before."""
    was = await store.workflow_paused(workflow)
    await store.set_paused(workflow, paused)
    return was
