"""The history's records: what the engine asks a ledger to create and what reads return.

They belong to the engine (its ports speak them); every store backend builds them from
its own rows.
"""

from __future__ import annotations

import time
from typing import Any

from msgspec import Struct, field

from flowtui.engine.states import RunStatus, StepStatus


class NewStep(Struct, frozen=True):
    """A step row of a run being created (`RunLedger.create_run`)."""

    name: str
    type: str
    requires: list[str]
    position: int
    status: StepStatus = StepStatus.PENDING
    reused_from: int | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    started_at: float | None = None
    ended_at: float | None = None
    message: str = ""


_ALLOWED_MEMO: list[tuple[dict[str, Any], frozenset[str]] | None] = [None]


class RunRecord(Struct, frozen=True):
    id: int
    workflow: str
    status: RunStatus
    trigger: str
    triggered_by: str
    params: dict[str, str]
    git_commit: str | None
    parent_run_id: int | None
    rerun_mode: str | None
    created_at: float
    started_at: float | None
    ended_at: float | None
    message: str
    definition: dict[str, Any]
    workflow_path: str | None
    owner_host: str | None
    owner_pid: int | None
    owner_started: float | None
    heartbeat_at: float | None
    branch: str | None = None  # the git branch the run is for (branch filters)
    concurrency_group: str | None = None
    # steps `flowtui run --only/--skip` left out: {step: "--only" | "--skip"}
    left_out: dict[str, str] = field(default_factory=dict)
    environment: str | None = None  # the environment the run deploys to (`run --env`)

    @property
    def duration(self) -> float | None:
        """Seconds from start to end; for a run still going, the time elapsed so far."""
        return _elapsed(self.started_at, self.ended_at)

    @property
    def allowed_failures(self) -> frozenset[str]:
        """Steps whose failure the run's workflow allows (`continue_on_failure`)."""
        # asked once per step when a run's steps are listed: remember the last answer
        # (keyed by the definition object itself, which the memo keeps alive)
        last = _ALLOWED_MEMO[0]
        if last is not None and last[0] is self.definition:
            return last[1]
        steps = self.definition.get("steps") or []
        allowed = frozenset(
            str(step.get("name"))
            for step in steps
            if isinstance(step, dict) and step.get("continue_on_failure")
        )
        _ALLOWED_MEMO[0] = (self.definition, allowed)
        return allowed


class StepRecord(Struct, frozen=True):
    run_id: int
    name: str
    position: int
    type: str
    requires: list[str]
    status: StepStatus
    attempt: int
    started_at: float | None
    ended_at: float | None
    held_at: float | None
    exit_code: int | None
    message: str
    reused_from: int | None
    pid: int | None
    pgid: int | None
    proc_started: float | None

    @property
    def duration(self) -> float | None:
        return _elapsed(self.started_at, self.ended_at)

    def elapsed(self, now: float | None = None) -> float | None:
        """Its time so far or in all: an approval step's from when it was held (waiting
        for a person is its work), others' from their start."""
        start = self.held_at if self.type == "approval" and self.held_at else self.started_at
        if start is None:
            return None
        end = self.ended_at if self.ended_at is not None else (now or time.time())
        return max(0.0, end - start)


class AttemptRecord(Struct, frozen=True):
    run_id: int
    step: str
    attempt: int
    status: StepStatus
    started_at: float | None
    ended_at: float | None
    exit_code: int | None
    message: str


class RemoteOutcome(Struct, frozen=True):
    """What a worker recorded for one attempt of a remote step, read in one go: the attempt
    row (None if it has none), the step's outputs and its log lines after a given id."""

    attempt: AttemptRecord | None
    outputs: dict[str, str]
    logs: list[LogRecord]


class LogRecord(Struct, frozen=True):
    id: int
    run_id: int
    step: str
    attempt: int
    stream: str
    line: str
    at: float


class ApprovalRecord(Struct, frozen=True):
    run_id: int
    step: str
    approved: bool
    by: str
    comment: str
    at: float
    inputs: dict[str, str] = field(default_factory=dict)  # the answers it carried (inputs:)


class CommandRecord(Struct, frozen=True):
    id: int
    run_id: int
    kind: str  # "approve" | "reject" | "cancel"
    step: str | None
    by: str
    comment: str
    created_at: float
    # the roles `by` is a member of, where the history knows them (PostgreSQL); None: ask
    # the OS (the SQLite history, where `by` is an OS user)
    groups: frozenset[str] | None = None
    # False: the row's seal does not match (SQLite; flowtui/store/seal.py): not made by
    # flowtui approve/reject/cancel or the dashboard, so the runner refuses it
    authentic: bool = True
    inputs: dict[str, str] = field(default_factory=dict)  # an approve's `--input` values


class EventRecord(Struct, frozen=True):
    """One row of the audit trail of status changes."""

    id: int
    run_id: int
    step: str | None
    kind: str  # "run" | "step"
    status: str
    attempt: int
    at: float
    message: str = field(default="")


def _elapsed(started_at: float | None, ended_at: float | None) -> float | None:
    if started_at is None:
        return None
    end = ended_at if ended_at is not None else time.time()
    return max(0.0, end - started_at)
