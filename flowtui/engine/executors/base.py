"""The small interface every step executor implements.

The runner owns scheduling, timeouts, retries and cancellation: it calls
`execute(ctx)` once per attempt, wraps it in a timeout, and cancels the task to stop it.
An executor therefore must be cancellation-safe: on `asyncio.CancelledError` it stops
whatever it started (for a subprocess: its whole process group, SIGTERM then SIGKILL
after `ctx.kill_grace` seconds) *before* re-raising.

The runner creates `ctx.step_dir` before `execute` unless the executor class sets
`makes_step_dir = True` (it then creates the folder itself when it needs one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import ClassVar, Protocol

from msgspec import Struct, field

from flowtui.engine.states import StepStatus
from flowtui.model.workflow import Step, Workflow

LogFn = Callable[[str, str], None]  # (stream, line) -> None; stream: stdout|stderr|system
ProcessFn = Callable[[int, int, float], None]  # (pid, pgid, process create time)


class StepContext(Struct):
    run_id: int
    workflow: Workflow
    step: Step
    attempt: int  # 1-based
    params: Mapping[str, str]
    # Environment for the step *on top of* os.environ: workflow env, step env, matrix
    # values (MATRIX_<KEY>), params (PARAM_<NAME>) and FLOWTUI_* variables.
    env: Mapping[str, str]
    workspace: Path  # shared by every step of the run ($FLOWTUI_WORKSPACE)
    step_dir: Path  # private scratch folder of this step attempt
    log: LogFn
    on_process: ProcessFn = lambda _pid, _pgid, _t: None
    outputs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # earlier steps
    kill_grace: float = 5.0
    # the workflow file's folder, resolved once per run by the runner (None: resolve it)
    base_dir: Path | None = None


class StepResult(Struct):
    status: StepStatus  # SUCCEEDED or FAILED (the runner decides TIMED_OUT/CANCELLED)
    exit_code: int | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    message: str = ""  # a one-line summary of success, or the reason for failure


class StepExecutor(Protocol):
    type_name: ClassVar[str]

    async def execute(self, ctx: StepContext) -> StepResult: ...
