"""The one check before an approval decision: which held step, and may this user decide it.

`flowtui approve`/`reject` and the dashboard's `a`/`x` both call `check_decision`, so a
person gets the same answer (and the same words) from either.  It only reads the store;
recording the decision (`RunStore.add_command`) is left to the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flowtui.engine.identity import approvers_of, may_approve
from flowtui.engine.states import StepStatus

if TYPE_CHECKING:
    from flowtui.store.records import RunRecord, StepRecord
    from flowtui.store.runstore import RunStore


class DecisionError(Exception):
    """Why a decision cannot be made; the message is meant for the person deciding."""


class NoSuchRun(DecisionError):
    pass


class RunNotActive(DecisionError):
    pass


class NoHeldStep(DecisionError):
    """The named step does not exist or is not held, or nothing in the run is held."""


class SeveralHeld(DecisionError):
    def __init__(self, message: str, held: list[str]) -> None:
        super().__init__(message)
        self.held = held


class NotAnApprover(DecisionError):
    def __init__(self, message: str, user: str, approvers: list[str]) -> None:
        super().__init__(message)
        self.user = user
        self.approvers = approvers


@dataclass(frozen=True, slots=True)
class HeldStep:
    """A held approval step that `user` may decide."""

    run: RunRecord
    step: StepRecord
    user: str
    approvers: list[str]  # as the run's own definition says; empty: anyone

    @property
    def name(self) -> str:
        return self.step.name


async def check_decision(
    store: RunStore, run_id: int, step: str | None, user: str, *, approve: bool = True
) -> HeldStep:
    """The held step `step` of run `run_id` (or its only held step) if `user` may decide it.

    Raises a DecisionError subclass naming what is wrong: no such run, run not active, no
    such step / not held / nothing held, several held (naming them), or user not allowed
    (naming the approvers).  `approve` only picks the verb of the messages.
    """
    verb = "approve" if approve else "reject"
    run = await store.get_run(run_id)
    if run is None:
        raise NoSuchRun(f"run {run_id} not found in {store.path}")
    if run.status.is_final:
        raise RunNotActive(f"run {run.id} has already ended ({run.status})")
    steps = await store.get_steps(run.id)
    held = [s for s in steps if s.status == StepStatus.HELD]
    held_names = [s.name for s in held]
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
        found = [s for s in steps if s.name == step]
        if not found:
            hint = f"; held: {', '.join(held_names)}" if held else ""
            raise NoHeldStep(f"run {run.id} has no step {step!r}{hint}")
        target = found[0]
        if target.status != StepStatus.HELD:
            hint = f" (held: {', '.join(held_names)})" if held else ""
            raise NoHeldStep(
                f"step {target.name} of run {run.id} is {target.status}, not held{hint}"
            )
    approvers = approvers_of(run, target.name)
    if not may_approve(user, approvers):
        raise NotAnApprover(
            f"{user} may not {verb} {target.name} (approvers: {', '.join(approvers)})",
            user,
            approvers,
        )
    return HeldStep(run, target, user, approvers)
