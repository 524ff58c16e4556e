"""The "script" step: run the user's script text with bash, sh, python or node."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import ClassVar

from flowtui.engine.directexec import direct_command
from flowtui.engine.executors.base import StepContext, StepResult
from flowtui.engine.executors.toolrun import MESSAGE_LIMIT, LastLine, workflow_dir
from flowtui.engine.private import make_private_dir, write_private
from flowtui.engine.process import run_streaming
from flowtui.engine.sandbox import STEP_SANDBOX
from flowtui.engine.states import StepStatus
from flowtui.engine.stepenv import inherited_environment

# shell -> (command prefix, script file suffix)
SHELLS: dict[str, tuple[tuple[str, ...], str]] = {
    "bash": (("bash", "-eo", "pipefail"), ".sh"),
    "sh": (("sh", "-e"), ".sh"),
    "python": ((sys.executable or "python3",), ".py"),
    "node": (("node",), ".js"),
}
OUTPUT_FILE = "outputs.env"
MAX_ARGV_SCRIPT = 64 * 1024  # bytes of bash/sh text passed with -c; longer goes to a file
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


def _workdir(ctx: StepContext) -> Path:
    base = workflow_dir(ctx)
    cwd = ctx.step.spec.get("cwd")
    return base / cwd if cwd else base


class ScriptExecutor:
    """Runs `spec["run"]` with its shell.

    bash runs as `bash -eo pipefail -c TEXT STEP` (CircleCI's default: stop at the first
    failing command, including inside a pipeline; `$0` is the step name); sh as
    `sh -e -c TEXT STEP`.  A text too long for one argument, or one argv cannot carry, is
    written to `script.sh` in the step folder and run from there, as python (the running
    interpreter) and node scripts always are.  The script text is the user's own and
    nothing is spliced into it: params and matrix values reach it only as environment
    variables.  Outputs are `key=value` lines the script appends to `$FLOWTUI_OUTPUT`, a
    file that exists once the script writes to it.
    """

    # runs a small script without the step folder: no mkdir, no file written per step
    makes_step_dir: ClassVar[bool] = True

    type_name: ClassVar[str] = "script"

    async def execute(self, ctx: StepContext) -> StepResult:
        spec = ctx.step.spec
        shell = str(spec.get("shell") or "bash")
        if shell not in SHELLS:
            return _failed(f"unknown shell {shell!r} (expected one of {', '.join(SHELLS)})")
        prefix, suffix = SHELLS[shell]
        text = str(spec.get("run") or "")
        output_file = _output_path(ctx.step_dir)

        env = self._environment(ctx, output_file, shell)
        program = _find_program(prefix[0], env.get("PATH", os.defpath))
        if program is None:
            return _failed(f"{shell}: {prefix[0]!r} is not installed (not found on PATH)")
        if suffix == ".sh" and _fits_argv(text):
            argv = [program, *prefix[1:], "-c", text, ctx.step.name]
        else:
            make_private_dir(ctx.step_dir)
            script = ctx.step_dir / f"script{suffix}"
            write_private(script, text)
            argv = [program, *prefix[1:], str(script)]
        cwd = _workdir(ctx)
        if not os.path.isdir(cwd):
            return _failed(f"working directory not found: {cwd}")

        lines = LastLine(ctx)
        try:
            code = await _run_direct(ctx, text, env, cwd, lines) if shell == "bash" else None
            if code is None:
                code = await run_streaming(
                    argv,
                    env=env,
                    cwd=cwd,
                    on_line=lines,
                    on_start=ctx.on_process,
                    kill_grace=ctx.kill_grace,
                )
        except (FileNotFoundError, PermissionError) as exc:
            return _failed(f"cannot start {shell}: {exc.strerror or exc}")

        outputs = self._read_outputs(ctx, output_file)
        if code != 0:
            message = lines.failure(code)[:MESSAGE_LIMIT]
            return StepResult(StepStatus.FAILED, exit_code=code, outputs=outputs, message=message)
        message = outputs.get("summary") or lines.stdout.strip()
        return StepResult(
            StepStatus.SUCCEEDED, exit_code=0, outputs=outputs, message=message[:MESSAGE_LIMIT]
        )

    @staticmethod
    def _environment(ctx: StepContext, output_file: Path, shell: str) -> dict[str, str]:
        env: dict[str, str] = {**inherited_environment(), **ctx.env}
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
        if not os.path.exists(output_file):  # the usual case: no exception raised for it
            return {}
        try:
            text = output_file.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            return {}  # the script removed it: no outputs
        # its values are in the history now (masked); a secret must not stay here in clear
        output_file.unlink(missing_ok=True)
        outputs, problems = parse_outputs(text)
        for problem in problems:
            ctx.log("system", f"FLOWTUI_OUTPUT {problem} (ignored)")
        return outputs


async def _run_direct(
    ctx: StepContext, text: str, env: dict[str, str], cwd: Path, lines: LastLine
) -> int | None:
    """Run a one-command text without bash (flowtui.engine.directexec); None: it is not
    one, or its program could not be started after all (bash then says why)."""
    sandbox = STEP_SANDBOX.get()
    hidden = [str(p) for p in sandbox.hidden] if sandbox else []
    uncovered = str(sandbox.workspace) if sandbox else None
    direct = direct_command(text, env, str(cwd), hidden, uncovered)
    if direct is None:
        return None
    started = False

    def on_start(pid: int, pgid: int, at: float) -> None:
        nonlocal started
        started = True
        ctx.on_process(pid, pgid, at)

    try:
        return await run_streaming(
            direct.argv,
            executable=direct.executable,
            env=direct.env,
            cwd=cwd,
            on_line=lines,
            on_start=on_start,
            kill_grace=ctx.kill_grace,
        )
    except OSError:
        if started:
            raise  # it ran: never run it a second time
        return None  # gone or changed since it was found: nothing ran, bash reports it


def _output_path(step_dir: Path) -> Path:
    """`<step folder>.outputs.env` beside the step folder, whose parent (shared by the run's
    steps) is made once: a step that writes no outputs costs no directory and no file."""
    folder = step_dir.parent
    if folder not in _private_dirs or not os.path.isdir(folder):  # made once, not per step
        make_private_dir(folder)
        if len(_private_dirs) > 1000:  # a long-lived runner: one folder per run
            _private_dirs.clear()
        _private_dirs.add(folder)
    return folder / f"{step_dir.name}.{OUTPUT_FILE}"


_private_dirs: set[Path] = set()


def _fits_argv(text: str) -> bool:
    # A leading "-" would be read as a shell option, NUL cannot be in argv, and Linux caps
    # one argument at 128 KiB (MAX_ARG_STRLEN).
    return (
        not text.startswith("-")
        and "\0" not in text
        and len(text.encode("utf-8", "surrogateescape")) <= MAX_ARGV_SCRIPT
    )


_programs: dict[tuple[str, str], str] = {}


def _find_program(name: str, path: str) -> str | None:
    """`shutil.which`, remembered while the file stays there: an absolute argv[0] also
    spares the child an execve attempt per PATH entry."""
    key = (name, path)
    found = _programs.get(key)
    if found is not None and os.access(found, os.X_OK):
        return found
    found = shutil.which(name, path=path)
    if found is None or not os.path.isabs(found):
        # a relative PATH entry means the step's own cwd: the child resolves it as before
        _programs.pop(key, None)
        return None if found is None else name
    _programs[key] = found
    return found


def _failed(message: str) -> StepResult:
    return StepResult(StepStatus.FAILED, message=message)


__all__ = ["SHELLS", "ScriptExecutor", "parse_outputs"]
