"""The "script" step: run the user's script text with bash, sh, python or node."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
from pathlib import Path
from typing import ClassVar

from flowtui.engine.executors.base import StepContext, StepResult
from flowtui.engine.process import run_streaming
from flowtui.engine.states import StepStatus

# shell -> (command prefix, script file suffix)
SHELLS: dict[str, tuple[tuple[str, ...], str]] = {
    "bash": (("bash", "-eo", "pipefail"), ".sh"),
    "sh": (("sh", "-e"), ".sh"),
    "python": ((sys.executable or "python3",), ".py"),
    "node": (("node",), ".js"),
}
OUTPUT_FILE = "outputs.env"
MESSAGE_LIMIT = 200
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def parse_outputs(text: str) -> tuple[dict[str, str], list[str]]:
    """Parse a $FLOWTUI_OUTPUT file: `key=value` lines and `key<<DELIM` ... `DELIM` blocks.

    Returns (outputs, problems); a problem is a human-readable note about a skipped line.
    """
    outputs: dict[str, str] = {}
    problems: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        lineno, line = i + 1, lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if heredoc != -1 and (eq == -1 or heredoc < eq):
            key, delim = line[:heredoc].strip(), line[heredoc + 2 :].strip()
            if not delim:
                problems.append(f"line {lineno}: empty delimiter after '<<'")
                continue
            body: list[str] = []
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                problems.append(f"line {lineno}: no closing {delim!r} for {key!r}")
                break
            i += 1  # the delimiter line
            value = "\n".join(body)
        elif eq != -1:
            key, value = line[:eq].strip(), line[eq + 1 :]
        else:
            problems.append(f"line {lineno}: expected key=value or key<<DELIMITER")
            continue
        if not _KEY.fullmatch(key):
            problems.append(f"line {lineno}: invalid output name {key!r}")
            continue
        outputs[key] = value
    return outputs, problems


def _exit_message(code: int) -> str:
    if code >= 0:
        return f"exit code {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


def _workdir(ctx: StepContext) -> Path:
    base = ctx.workflow.path.parent.resolve() if ctx.workflow.path else ctx.workspace
    cwd = ctx.step.spec.get("cwd")
    return base / cwd if cwd else base


class ScriptExecutor:
    """Writes `spec["run"]` to a file in the step folder and runs it.

    bash runs as `bash -eo pipefail FILE` (CircleCI's default: stop at the first failing
    command, including inside a pipeline); sh as `sh -e FILE`; python with the running
    interpreter; node as `node FILE`.  The script text is the user's own and nothing is
    spliced into it: params and matrix values reach it only as environment variables.
    Outputs are `key=value` lines the script appends to `$FLOWTUI_OUTPUT`.
    """

    type_name: ClassVar[str] = "script"

    async def execute(self, ctx: StepContext) -> StepResult:
        spec = ctx.step.spec
        shell = str(spec.get("shell") or "bash")
        if shell not in SHELLS:
            return _failed(f"unknown shell {shell!r} (expected one of {', '.join(SHELLS)})")
        prefix, suffix = SHELLS[shell]

        ctx.step_dir.mkdir(parents=True, exist_ok=True)
        script = ctx.step_dir / f"script{suffix}"
        script.write_text(str(spec.get("run") or ""), encoding="utf-8")
        output_file = ctx.step_dir / OUTPUT_FILE
        output_file.write_bytes(b"")

        env = self._environment(ctx, output_file, shell)
        if shutil.which(prefix[0], path=env.get("PATH", os.defpath)) is None:
            return _failed(f"{shell}: {prefix[0]!r} is not installed (not found on PATH)")
        cwd = _workdir(ctx)
        if not cwd.is_dir():
            return _failed(f"working directory not found: {cwd}")

        last_stdout = ""

        def on_line(stream: str, line: str) -> None:
            nonlocal last_stdout
            if stream == "stdout" and line.strip():
                last_stdout = line
            ctx.log(stream, line)

        try:
            code = await run_streaming(
                [*prefix, str(script)],
                env=env,
                cwd=cwd,
                on_line=on_line,
                on_start=ctx.on_process,
                kill_grace=ctx.kill_grace,
            )
        except (FileNotFoundError, PermissionError) as exc:
            return _failed(f"cannot start {shell}: {exc.strerror or exc}")

        outputs = self._read_outputs(ctx, output_file)
        if code != 0:
            return StepResult(
                StepStatus.FAILED, exit_code=code, outputs=outputs, message=_exit_message(code)
            )
        message = outputs.get("summary") or last_stdout.strip()
        return StepResult(
            StepStatus.SUCCEEDED, exit_code=0, outputs=outputs, message=message[:MESSAGE_LIMIT]
        )

    @staticmethod
    def _environment(ctx: StepContext, output_file: Path, shell: str) -> dict[str, str]:
        env: dict[str, str] = {**os.environ, **ctx.env}
        if shell == "python":
            env.setdefault("PYTHONUNBUFFERED", "1")  # so lines show up as they are printed
        env.update(
            FLOWTUI_OUTPUT=str(output_file),
            FLOWTUI_WORKSPACE=str(ctx.workspace),
            FLOWTUI_RUN_ID=str(ctx.run_id),
            FLOWTUI_STEP=ctx.step.name,
            FLOWTUI_ATTEMPT=str(ctx.attempt),
        )
        return env

    @staticmethod
    def _read_outputs(ctx: StepContext, output_file: Path) -> dict[str, str]:
        try:
            text = output_file.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            return {}  # the script removed it: no outputs
        outputs, problems = parse_outputs(text)
        for problem in problems:
            ctx.log("system", f"FLOWTUI_OUTPUT {problem} (ignored)")
        return outputs


def _failed(message: str) -> StepResult:
    return StepResult(StepStatus.FAILED, message=message)


__all__ = ["SHELLS", "ScriptExecutor", "parse_outputs"]
