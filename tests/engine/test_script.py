"""The script executor, running real shells."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest

from flowtui.engine.executors.registry import get_executor
from flowtui.engine.executors.script import ScriptExecutor, parse_outputs
from flowtui.engine.states import StepStatus
from tests.processes import group_members, is_running

if TYPE_CHECKING:
    from tests.engine.conftest import MakeCtx, Recorder


async def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_logs_each_stream_in_order_and_summarises(make_ctx: MakeCtx, rec: Recorder) -> None:
    ctx = make_ctx(spec={"run": "echo one\necho oops >&2\necho two\n\necho warn >&2\n"})
    result = await ScriptExecutor().execute(ctx)
    assert result.status is StepStatus.SUCCEEDED
    assert result.exit_code == 0
    assert rec.stream("stdout") == ["one", "two"]
    assert rec.stream("stderr") == ["oops", "warn"]
    assert result.message == "two"
    [(pid, pgid, _)] = rec.processes
    assert pid == pgid


async def test_outputs_file_with_multiline_and_summary(make_ctx: MakeCtx, rec: Recorder) -> None:
    run = """
echo 'version=1.2.3' >> "$FLOWTUI_OUTPUT"
echo '# a comment' >> "$FLOWTUI_OUTPUT"
echo '' >> "$FLOWTUI_OUTPUT"
printf 'notes<<EOF\\nline a\\nline b=c\\nEOF\\n' >> "$FLOWTUI_OUTPUT"
echo 'bad key=1' >> "$FLOWTUI_OUTPUT"
echo 'summary=deployed 1.2.3' >> "$FLOWTUI_OUTPUT"
echo 'url=http://x/?a=b' >> "$FLOWTUI_OUTPUT"
echo done
"""
    result = await ScriptExecutor().execute(make_ctx(spec={"run": run}))
    assert result.status is StepStatus.SUCCEEDED
    assert result.outputs == {
        "version": "1.2.3",
        "notes": "line a\nline b=c",
        "summary": "deployed 1.2.3",
        "url": "http://x/?a=b",
    }
    assert result.message == "deployed 1.2.3"
    assert any("bad key" in line for line in rec.stream("system"))


def test_parse_outputs_reports_problems() -> None:
    outputs, problems = parse_outputs("a=1\nnot a pair\nlong<<END\nx\n")
    assert outputs == {"a": "1"}
    assert len(problems) == 2
    assert "line 2" in problems[0] and "END" in problems[1]


async def test_message_is_truncated_last_stdout_line(make_ctx: MakeCtx) -> None:
    result = await ScriptExecutor().execute(make_ctx(spec={"run": "printf '%0300d\\n' 0\n"}))
    assert result.message == "0" * 200


async def test_nonzero_exit_fails_with_code(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(spec={"run": "echo 'partial=yes' >> \"$FLOWTUI_OUTPUT\"\nexit 3\n"})
    result = await ScriptExecutor().execute(ctx)
    assert result.status is StepStatus.FAILED
    assert result.exit_code == 3
    assert result.message == "exit code 3"
    assert result.outputs == {"partial": "yes"}


async def test_bash_is_strict(make_ctx: MakeCtx, rec: Recorder) -> None:
    ctx = make_ctx(spec={"run": "false | true\necho unreachable\n"})
    result = await ScriptExecutor().execute(ctx)
    assert result.status is StepStatus.FAILED
    assert "unreachable" not in rec.stream("stdout")


async def test_killed_by_signal(make_ctx: MakeCtx) -> None:
    result = await ScriptExecutor().execute(make_ctx(spec={"run": "kill -KILL $$\n"}))
    assert result.status is StepStatus.FAILED
    assert result.message == "killed by SIGKILL"


async def test_params_reach_the_script_only_as_env(
    make_ctx: MakeCtx, rec: Recorder, tmp_path: Path
) -> None:
    value = 'x";touch PWNED;#'
    ctx = make_ctx(
        spec={"run": 'printf "%s\\n" "$PARAM_X"\necho $PARAM_X\n'}, env={"PARAM_X": value}
    )
    result = await ScriptExecutor().execute(ctx)
    assert result.status is StepStatus.SUCCEEDED
    assert rec.stream("stdout") == [value, value]
    assert list(tmp_path.rglob("PWNED")) == []
    assert not Path("PWNED").exists()


async def test_flowtui_variables_and_default_cwd(
    make_ctx: MakeCtx, rec: Recorder, tmp_path: Path
) -> None:
    ctx = make_ctx(
        name="build",
        attempt=2,
        spec={
            "run": 'pwd\necho "$FLOWTUI_WORKSPACE|$FLOWTUI_RUN_ID|$FLOWTUI_STEP|$FLOWTUI_ATTEMPT"'
        },
        env={"FLOWTUI_STEP": "spoofed"},
    )
    await ScriptExecutor().execute(ctx)
    cwd, flowtui = rec.stream("stdout")
    assert Path(cwd) == (tmp_path / "wf").resolve()
    assert flowtui == f"{tmp_path / 'workspace'}|7|build|2"


async def test_script_beside_the_workflow_runs(make_ctx: MakeCtx, tmp_path: Path) -> None:
    (tmp_path / "wf").mkdir()
    plan = tmp_path / "wf" / "plan.sh"
    plan.write_text("#!/bin/sh\necho planned\n")
    plan.chmod(0o755)
    result = await ScriptExecutor().execute(make_ctx(spec={"run": "./plan.sh"}))
    assert result.status is StepStatus.SUCCEEDED
    assert result.message == "planned"


async def test_relative_cwd_and_no_workflow_path(
    make_ctx: MakeCtx, rec: Recorder, tmp_path: Path
) -> None:
    (tmp_path / "wf" / "sub").mkdir(parents=True)
    await ScriptExecutor().execute(make_ctx(spec={"run": "pwd", "cwd": "sub"}))
    await ScriptExecutor().execute(make_ctx(spec={"run": "pwd"}, workflow_path=None))
    result = await ScriptExecutor().execute(make_ctx(spec={"run": "pwd", "cwd": "missing"}))
    assert [Path(p) for p in rec.stream("stdout")] == [
        (tmp_path / "wf" / "sub").resolve(),
        (tmp_path / "workspace").resolve(),
    ]
    assert result.status is StepStatus.FAILED
    assert "missing" in result.message


async def test_python_shell(make_ctx: MakeCtx, rec: Recorder) -> None:
    run = (
        "import os, sys\n"
        "print('hi from', sys.version_info[0])\n"
        "print(os.environ['PARAM_N'], file=sys.stderr)\n"
        "open(os.environ['FLOWTUI_OUTPUT'], 'a').write('n=' + os.environ['PARAM_N'] + '\\n')\n"
    )
    result = await ScriptExecutor().execute(
        make_ctx(spec={"run": run, "shell": "python"}, env={"PARAM_N": "42"})
    )
    assert result.status is StepStatus.SUCCEEDED, rec.lines
    assert rec.stream("stdout") == ["hi from 3"]
    assert rec.stream("stderr") == ["42"]
    assert result.outputs == {"n": "42"}


async def test_sh_shell(make_ctx: MakeCtx, rec: Recorder) -> None:
    result = await ScriptExecutor().execute(
        make_ctx(spec={"run": "false\necho unreachable", "shell": "sh"})
    )
    assert result.status is StepStatus.FAILED
    assert rec.stream("stdout") == []


async def test_missing_shell_fails_clearly(make_ctx: MakeCtx, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    ctx = make_ctx(spec={"run": "echo hi", "shell": "bash"}, env={"PATH": str(empty)})
    result = await ScriptExecutor().execute(ctx)
    assert result.status is StepStatus.FAILED
    assert "bash" in result.message and "not installed" in result.message


async def test_unknown_shell_fails(make_ctx: MakeCtx) -> None:
    result = await ScriptExecutor().execute(make_ctx(spec={"run": "x", "shell": "fish"}))
    assert result.status is StepStatus.FAILED
    assert "fish" in result.message


async def test_cancel_kills_every_process_of_the_step(make_ctx: MakeCtx, rec: Recorder) -> None:
    ctx = make_ctx(spec={"run": "sleep 600 | cat &\nwait\n"}, kill_grace=1.0)
    task = asyncio.create_task(ScriptExecutor().execute(ctx))

    def group() -> list[int]:
        if not rec.processes:
            return []
        return group_members(rec.processes[0][1])

    await wait_for(lambda: len(group()) >= 3)  # bash, sleep, cat
    pids = group()
    t0 = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - t0 < ctx.kill_grace + 1.5
    assert [pid for pid in pids if is_running(pid)] == []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        assert psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # dead, never reaped


async def test_background_process_holding_stdout_is_stopped(
    make_ctx: MakeCtx, rec: Recorder
) -> None:
    ctx = make_ctx(spec={"run": "sleep 600 &\necho bg=$!\necho finished\n"}, kill_grace=2.0)
    t0 = time.monotonic()
    result = await asyncio.wait_for(ScriptExecutor().execute(ctx), timeout=10)
    assert time.monotonic() - t0 < 3
    assert result.status is StepStatus.SUCCEEDED
    assert result.message == "finished"
    bg = int(rec.stream("stdout")[0].removeprefix("bg="))
    await wait_for(lambda: not is_running(bg), timeout=2)


async def test_long_line_does_not_crash(make_ctx: MakeCtx, rec: Recorder) -> None:
    ctx = make_ctx(spec={"run": "head -c 204800 /dev/zero | tr '\\0' y\necho\necho tail\n"})
    result = await ScriptExecutor().execute(ctx)
    assert result.status is StepStatus.SUCCEEDED
    out = rec.stream("stdout")
    assert out[-1] == "tail"
    assert "".join(out[:-1]) == "y" * 204800
    assert max(len(line) for line in out) <= 64 * 1024


def test_registry() -> None:
    assert isinstance(get_executor("script"), ScriptExecutor)
    assert {get_executor(t).type_name for t in ("script", "http", "notify")} == {
        "script",
        "http",
        "notify",
    }
    with pytest.raises(KeyError, match="approval"):
        get_executor("approval")


async def test_background_children_with_redirected_output_do_not_outlive_the_step(
    make_ctx, rec, tmp_path
) -> None:
    import os

    import psutil

    from flowtui.engine.executors.script import ScriptExecutor

    pidfile = tmp_path / "bg.pid"
    ctx = make_ctx(spec={"run": f"nohup sleep 600 >/dev/null 2>&1 & echo $! > {pidfile}"})
    result = await ScriptExecutor().execute(ctx)
    assert result.status == "succeeded"
    pid = int(pidfile.read_text())
    gone = not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    if not gone:
        os.kill(pid, 9)
    assert gone, "a background child survived its step"


async def test_a_failure_says_its_last_error_line(make_ctx: MakeCtx) -> None:
    """`exit code 1: missing /etc/app.conf` — the last non-blank stderr line says why (its
    last text if a progress bar rewrote it); without one, the exit code alone."""
    cases = {
        "echo starting; echo 'missing /etc/app.conf' >&2; echo >&2; exit 1\n": (
            "exit code 1: missing /etc/app.conf"
        ),
        "printf 'try 1\\rtry 2\\rgave up\\n' >&2; exit 2\n": "exit code 2: gave up",
        "echo only stdout; exit 3\n": "exit code 3",
    }
    for script, message in cases.items():
        result = await ScriptExecutor().execute(make_ctx(spec={"run": script}))
        assert result.status is StepStatus.FAILED
        assert result.message == message, script
