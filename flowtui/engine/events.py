"""Typed events the runner publishes on the bus.

The store, the console reporter and the dashboard subscribe to these; the runner never
prints and never touches the UI.  Times are UNIX timestamps (float seconds, UTC).
"""

from __future__ import annotations

from msgspec import Struct, field

from flowtui.engine.states import RunStatus, StepStatus


class RunStatusChanged(Struct, frozen=True):
    run_id: int
    workflow: str
    status: RunStatus
    at: float
    message: str = ""


class StepStatusChanged(Struct, frozen=True):
    run_id: int
    step: str
    status: StepStatus
    at: float
    attempt: int = 0
    exit_code: int | None = None
    message: str = ""  # why it failed / was skipped, the summary of a success


class StepLog(Struct, frozen=True):
    run_id: int
    step: str
    attempt: int
    stream: str  # "stdout" | "stderr" | "system"
    line: str
    at: float


class StepOutputs(Struct, frozen=True):
    run_id: int
    step: str
    outputs: dict[str, str] = field(default_factory=dict)
    replace: bool = False  # True: the step's earlier outputs go (a new attempt's are all)


class ApprovalDecided(Struct, frozen=True):
    run_id: int
    step: str
    approved: bool
    by: str
    at: float
    comment: str = ""
    inputs: dict[str, str] = field(default_factory=dict)  # an approval's answers (inputs:)


class StepProcess(Struct, frozen=True):
    """A step's subprocess started; lets a later start find and kill orphans."""

    run_id: int
    step: str
    attempt: int
    pid: int
    pgid: int
    started_at: float  # process create time (psutil), to tell a reused pid apart


class AttemptEnded(Struct, frozen=True):
    """One attempt of a step ran to its end on a worker (team mode): its outcome, for the
    runner that owns the step to read and decide the step's status (retry, fail, succeed)."""

    run_id: int
    step: str
    attempt: int
    status: StepStatus  # SUCCEEDED or FAILED
    at: float
    exit_code: int | None = None
    message: str = ""


class RemoteLogSeen(Struct, frozen=True):
    """A line a worker wrote into the history, passed on for display (the console of the
    runner that waits for the step); stores ignore it: the line is stored already."""

    run_id: int
    step: str
    attempt: int
    stream: str
    line: str


class LogTrimmed(Struct, frozen=True):
    """For the store only (made by the log cap, never on the bus): the row after the first
    `head` log rows of a step attempt is the `… N lines omitted …` marker (the oldest kept
    tail row becomes it), and the `drop` oldest rows after it go."""

    run_id: int
    step: str
    attempt: int
    head: int
    drop: int
    omitted_lines: int
    omitted_bytes: int


Event = (
    RunStatusChanged
    | StepStatusChanged
    | StepLog
    | StepOutputs
    | ApprovalDecided
    | StepProcess
    | AttemptEnded
    | RemoteLogSeen
    | LogTrimmed
)

__all__ = [
    "ApprovalDecided",
    "Event",
    "LogTrimmed",
    "RunStatusChanged",
    "StepLog",
    "StepOutputs",
    "StepProcess",
    "StepStatusChanged",
]
