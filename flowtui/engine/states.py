"""Run and step statuses, and which transitions between them are allowed.

The tables are the rule `flowtui.store.transitions` enforces on every status write.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    HELD = "held"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    @property
    def is_final(self) -> bool:
        return self in RUN_FINAL


RUN_FINAL = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.INTERRUPTED}
)
RUN_ACTIVE = frozenset({RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.HELD})


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    HELD = "held"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    REJECTED = "rejected"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    REUSED = "reused"

    @property
    def is_final(self) -> bool:
        return self in STEP_FINAL

    @property
    def is_success(self) -> bool:
        """Dependants may start after this status."""
        return self in STEP_OK

    @property
    def is_failure(self) -> bool:
        return self in STEP_FAILED


STEP_FINAL = frozenset(
    {
        StepStatus.SUCCEEDED,
        StepStatus.FAILED,
        StepStatus.TIMED_OUT,
        StepStatus.REJECTED,
        StepStatus.SKIPPED,
        StepStatus.CANCELLED,
        StepStatus.REUSED,
    }
)
STEP_OK = frozenset({StepStatus.SUCCEEDED, StepStatus.REUSED})
STEP_FAILED = frozenset(
    {StepStatus.FAILED, StepStatus.TIMED_OUT, StepStatus.REJECTED, StepStatus.CANCELLED}
)
# What "rerun --from-failed" runs again (plus every step never reached).
STEP_RERUNNABLE = STEP_FAILED | {StepStatus.PENDING, StepStatus.RUNNING, StepStatus.HELD}

_STEP_TRANSITIONS: dict[StepStatus, frozenset[StepStatus]] = {
    StepStatus.PENDING: frozenset(
        {
            StepStatus.RUNNING,
            StepStatus.HELD,
            StepStatus.SKIPPED,
            StepStatus.CANCELLED,
            StepStatus.REUSED,
            # a condition/approval step may resolve without running anything
            StepStatus.SUCCEEDED,
            StepStatus.FAILED,
        }
    ),
    StepStatus.RUNNING: frozenset(
        {
            StepStatus.RUNNING,  # next attempt of a retried step
            StepStatus.SUCCEEDED,
            StepStatus.FAILED,
            StepStatus.TIMED_OUT,
            StepStatus.CANCELLED,
        }
    ),
    StepStatus.HELD: frozenset(
        {
            StepStatus.HELD,  # still held: one of its `required_approvals` came in
            StepStatus.SUCCEEDED,
            StepStatus.REJECTED,
            StepStatus.CANCELLED,
            StepStatus.TIMED_OUT,
        }
    ),
    # a rerun's reused steps are written reused, then announced again when it starts
    StepStatus.REUSED: frozenset({StepStatus.REUSED}),
}

_RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED, RunStatus.INTERRUPTED}),
    RunStatus.RUNNING: frozenset(
        {
            RunStatus.HELD,
            RunStatus.SUCCEEDED,
            RunStatus.FAILED,
            RunStatus.CANCELLED,
            RunStatus.INTERRUPTED,
        }
    ),
    RunStatus.HELD: frozenset(
        {
            RunStatus.RUNNING,
            RunStatus.SUCCEEDED,
            RunStatus.FAILED,
            RunStatus.CANCELLED,
            RunStatus.INTERRUPTED,
        }
    ),
}


def can_step_move(old: StepStatus, new: StepStatus) -> bool:
    return new in _STEP_TRANSITIONS.get(old, frozenset())


def can_run_move(old: RunStatus, new: RunStatus) -> bool:
    return new in _RUN_TRANSITIONS.get(old, frozenset())
