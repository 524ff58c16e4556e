"""What the step executors share: the step's environment and working folder, finding a
program, running a command as a step process, and describing how it ended."""

from __future__ import annotations

import os
import shutil
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from flowtui.engine.executors.base import StepContext, StepResult
from flowtui.engine.process import LineFn, run_streaming
from flowtui.engine.states import StepStatus
from flowtui.engine.stepenv import inherited_environment
from flowtui.overprint import last_overprint

MESSAGE_LIMIT = 200


def step_environment(ctx: StepContext, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The inherited environment (`stepenv`), the step's env and the FLOWTUI_* variables,
    as a script step sees them."""
    env: dict[str, str] = {**inherited_environment(), **ctx.env}
    env.update(
        FLOWTUI_WORKSPACE=str(ctx.workspace),
        FLOWTUI_RUN_ID=str(ctx.run_id),
        FLOWTUI_STEP=ctx.step.name,
        FLOWTUI_ATTEMPT=str(ctx.attempt),
    )
    env.setdefault("PYTHONUNBUFFERED", "1")
    if extra:
        env.update(extra)
    return env


def workflow_dir(ctx: StepContext) -> Path:
    """The workflow file's folder: relative paths in a step are relative to it."""
    if ctx.base_dir is not None:
        return ctx.base_dir
    return ctx.workflow.path.parent.resolve() if ctx.workflow.path else ctx.workspace


def under_workflow(ctx: StepContext, relative: str | None) -> Path:
    base = workflow_dir(ctx)
    return (base / relative).resolve() if relative else base


def find_program(name: str, env: Mapping[str, str]) -> str | None:
    """`name` on the step's PATH, else beside the running interpreter (an unactivated venv)."""
    found = shutil.which(name, path=env.get("PATH", os.defpath))
    if found is None and "/" not in name:
        found = shutil.which(name, path=str(Path(sys.executable).parent))
    return found


class LastLine:
    """A step's line sink: passes every line to the step log and keeps the last non-blank
    stdout line, the default one-line result of a step, and the last non-blank stderr
    line, which says why a failed step failed (`exit code 1: missing /etc/app.conf`)."""

    def __init__(self, ctx: StepContext) -> None:
        self._log = ctx.log
        self.stdout = ""
        self.stderr = ""

    def __call__(self, stream: str, line: str) -> None:
        if line.strip():
            if stream == "stdout":
                self.stdout = line
            elif stream == "stderr":
                self.stderr = line
        self._log(stream, line)

    def failure(self, code: int) -> str:
        """`exit code 1: <its last stderr line>` (its last text if a progress bar)."""
        why = last_overprint(self.stderr).strip()
        return f"{exit_message(code)}: {why}" if why else exit_message(code)


def exit_message(code: int) -> str:
    if code >= 0:
        return f"exit code {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


async def run_tool(
    ctx: StepContext,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    on_line: LineFn | None = None,
) -> int:
    """Run one command of the step in its own process group; lines go to the step log
    unless `on_line` takes them.  Raises OSError when it cannot start."""
    return await run_streaming(
        list(argv),
        env=env,
        cwd=cwd,
        on_line=on_line or ctx.log,
        on_start=ctx.on_process,
        kill_grace=ctx.kill_grace,
    )


def failed(message: str, exit_code: int | None = None, **outputs: str) -> StepResult:
    return StepResult(
        StepStatus.FAILED,
        exit_code=exit_code,
        outputs=dict(outputs),
        message=message[:MESSAGE_LIMIT],
    )


def succeeded(message: str, outputs: dict[str, str], exit_code: int | None = 0) -> StepResult:
    return StepResult(
        StepStatus.SUCCEEDED, exit_code=exit_code, outputs=outputs, message=message[:MESSAGE_LIMIT]
    )
