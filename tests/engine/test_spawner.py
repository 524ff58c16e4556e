"""One sandbox per run (flowtui/engine/spawner.py): real bwrap, real spawner, real steps."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from flowtui.engine import mountns, sandbox
from flowtui.engine import spawner as spawner_module
from flowtui.engine.process import run_streaming
from flowtui.engine.sandbox import STEP_SANDBOX, StepSandbox
from flowtui.engine.spawner import MAX_REQUEST
from tests.engine.test_process import Lines, wait_for

pytestmark = pytest.mark.skipif(not mountns.usable(), reason="bwrap cannot be used here")


@pytest.fixture
async def run_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[StepSandbox]:
    """A run's sandbox whose steps wait for its spawner (FLOWTUI_SPAWNER=wait): a secret
    folder hidden, the run's workspace kept."""
    monkeypatch.setenv(sandbox.SPAWNER_ENV, "wait")
    data = tmp_path / "data"
    (data / "workspaces" / "1").mkdir(parents=True)
    (data / "history.db").write_text("secret")
    box = StepSandbox([data / "history.db", data / "workspaces"], data / "workspaces" / "1")
    token = STEP_SANDBOX.set(box)
    try:
        yield box
    finally:
        STEP_SANDBOX.reset(token)
        await box.aclose()


async def sh(script: str, cwd: Path, lines: Lines, **kw: object) -> int:
    return await run_streaming(
        ["bash", "-c", script], env=dict(os.environ), cwd=cwd, on_line=lines, **kw
    )


def _spawners(box: StepSandbox) -> list[psutil.Process]:
    found = []
    for p in psutil.Process().children(recursive=True):
        try:  # one exiting meanwhile (an idle spawner closing) is not one
            if p.name() != "bwrap" and any("flowtui-spawner" in part for part in p.cmdline()):
                found.append(p)
        except psutil.NoSuchProcess:
            pass
    return found


async def test_steps_start_in_the_runs_one_sandbox(
    run_sandbox: StepSandbox, tmp_path: Path
) -> None:
    lines = Lines()
    script = (
        'tr "\\0" " " < /proc/$PPID/cmdline; echo; '
        "cat ../data/history.db 2>/dev/null || echo hidden; "
        "echo kept > ../data/workspaces/1/mine$$ && cat ../data/workspaces/1/mine$$"
    )
    work = tmp_path / "work"
    work.mkdir()
    codes = await asyncio.gather(*(sh(script, work, lines) for _ in range(12)))
    assert codes == [0] * 12
    out = lines.of("stdout")
    assert sum("flowtui-spawner" in line for line in out) == 12
    assert out.count("hidden") == 12 and out.count("kept") == 12
    assert len(_spawners(run_sandbox)) == 1  # one for the run, not one per step
    assert (tmp_path / "data" / "history.db").read_text() == "secret"


async def test_exit_codes_and_signals_come_back_as_from_a_bwrap_per_step(
    run_sandbox: StepSandbox, tmp_path: Path
) -> None:
    lines = Lines()
    assert await sh("exit 3", tmp_path, lines) == 3
    # 128 + N, as a bwrap per step reports it (the run's first steps may start so)
    assert await sh("kill -TERM $$", tmp_path, lines) == 128 + signal.SIGTERM
    assert await sh("echo out; echo err >&2", tmp_path, lines) == 0
    assert lines.of("stdout") == ["out"] and lines.of("stderr") == ["err"]


async def test_what_cannot_start_raises_as_it_would_without_the_spawner(
    run_sandbox: StepSandbox, tmp_path: Path
) -> None:
    lines = Lines()
    (tmp_path / "plain.txt").write_text("not a program")
    with pytest.raises(FileNotFoundError):
        await run_streaming(
            ["no-such-program-x"], env=dict(os.environ), cwd=tmp_path, on_line=lines
        )
    with pytest.raises(FileNotFoundError):
        await sh("true", tmp_path / "missing", lines)
    with pytest.raises(PermissionError) as refused:
        await run_streaming(["./plain.txt"], env=dict(os.environ), cwd=tmp_path, on_line=lines)
    assert refused.value.filename == "./plain.txt"
    with pytest.raises(FileNotFoundError) as missing:
        await run_streaming(["./none"], env=dict(os.environ), cwd=tmp_path, on_line=lines)
    assert missing.value.filename == "./none"
    with pytest.raises(FileNotFoundError) as no_cwd:
        await sh("true", tmp_path / "missing", lines)
    assert no_cwd.value.filename == str(tmp_path / "missing")
    assert _spawners(run_sandbox), "the spawner went on after the failures"
    assert await sh("true", tmp_path, lines) == 0


PROBE = r"""
import os, signal
status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines())
print("fds", sorted(int(fd) for fd in os.listdir("/proc/self/fd"))[:-1])  # less the listing's
print("stdin", os.readlink("/proc/self/fd/0"))
print("session leader", os.getsid(0) == os.getpid() == os.getpgid(0))
# glibc's posix_spawn leaves its two internal signals (32, 33) ignored: see the test
print("ignored", int(status["SigIgn"], 16) & ~(3 << 31), "blocked", status["SigBlk"])
print("cwd", os.getcwd())
"""


async def test_a_step_starts_as_it_would_without_the_spawner(
    run_sandbox: StepSandbox, tmp_path: Path
) -> None:
    # the spawner starts steps with posix_spawn, not Popen: the same descriptors (none of
    # its own: its socket, the other steps' pipes), stdin, session, signals and cwd
    lines, plain = Lines(), Lines()
    argv = [sys.executable, "-c", PROBE]
    codes = await asyncio.gather(
        *(run_streaming(argv, env=dict(os.environ), cwd=tmp_path, on_line=lines) for _ in range(3))
    )
    assert codes == [0, 0, 0], lines.items
    token = STEP_SANDBOX.set(None)
    try:
        assert await run_streaming(argv, env=dict(os.environ), cwd=tmp_path, on_line=plain) == 0
    finally:
        STEP_SANDBOX.reset(token)
    assert plain.of("stdout")[0] == "fds [0, 1, 2]"
    assert lines.of("stdout") == plain.of("stdout") * 3
    assert not lines.of("stderr")


async def test_bytes_that_are_not_utf8_reach_the_step_as_they_were(
    run_sandbox: StepSandbox, tmp_path: Path
) -> None:
    # the request travels in marshal: an environment value or argument decoded with
    # surrogateescape (a non-UTF-8 byte) reaches the step as the byte it was
    lines = Lines()
    script = "import os, sys; print(os.environb[b'ODD'].hex(), os.fsencode(sys.argv[1]).hex())"
    env = {**os.environ, "ODD": "a\udcffb"}
    argv = [sys.executable, "-c", script, "c\udcfed"]
    assert await run_streaming(argv, env=env, cwd=tmp_path, on_line=lines) == 0, lines.items
    assert lines.of("stdout") == ["61ff62 63fe64"]


async def test_glibcs_internal_signals_start_ignored_in_the_spawners_steps(
    run_sandbox: StepSandbox, tmp_path: Path
) -> None:
    # the one difference posix_spawn makes (docs/reliability.md, Limits): signals 32 and
    # 33, which glibc keeps for itself (SIGRTMIN is 34), start ignored; every other is as
    # Popen leaves it
    lines = Lines()
    code = await run_streaming(
        ["/bin/grep", "SigIgn", "/proc/self/status"], env={}, cwd=tmp_path, on_line=lines
    )
    assert code == 0, lines.items
    ignored = int(lines.of("stdout")[0].split()[1], 16)
    assert [sig for sig in range(1, 65) if ignored & (1 << (sig - 1))] == [32, 33]


async def test_cancel_stops_the_steps_whole_group(run_sandbox: StepSandbox, tmp_path: Path) -> None:
    lines = Lines()
    pids = tmp_path / "pids"
    task = asyncio.create_task(
        sh(
            f"sleep 600 & echo $! > {pids}.tmp; echo $$ >> {pids}.tmp; mv {pids}.tmp {pids}; wait",
            tmp_path,
            lines,
            kill_grace=2.0,
        )
    )
    await wait_for(pids.exists, timeout=20)
    members = [int(p) for p in pids.read_text().split()]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_for(
        lambda: (
            not any(
                psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                for p in members
            )
        ),
        timeout=10,
    )


async def test_a_killed_spawner_ends_its_running_step_as_killed(
    run_sandbox: StepSandbox, tmp_path: Path
) -> None:
    lines = Lines()
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    started = asyncio.Event()
    step = asyncio.create_task(
        sh(f"echo up; read line < {fifo}", tmp_path, lines, on_start=lambda *_: started.set())
    )
    await asyncio.wait_for(started.wait(), 20)
    [spawner] = _spawners(run_sandbox)
    spawner.kill()
    # the step lives on (as it would have under a bwrap of its own killed outright); once
    # it ends, its end is seen although its parent is gone
    fd = os.open(fifo, os.O_WRONLY)
    os.write(fd, b"go\n")
    os.close(fd)
    assert await asyncio.wait_for(step, 20) == 128 + signal.SIGKILL
    # and later steps start under bwraps of their own
    assert await sh('tr "\\0" " " < /proc/$PPID/cmdline', tmp_path, lines) == 0
    assert "bwrap" in lines.of("stdout")[-1]


async def test_a_request_too_big_for_the_socket_starts_under_its_own_bwrap(
    run_sandbox: StepSandbox, tmp_path: Path
) -> None:
    lines = Lines()
    # one variable may not pass 128 KiB (Linux's MAX_ARG_STRLEN): four of 60 KiB
    big = {f"BIG{i}": "x" * (60 * 1024) for i in range(4)}
    assert sum(map(len, big.values())) > MAX_REQUEST
    env = {**os.environ, **big}
    code = await run_streaming(
        ["bash", "-c", 'echo ${#BIG3}; tr "\\0" " " < /proc/$PPID/cmdline'],
        env=env,
        cwd=tmp_path,
        on_line=lines,
    )
    assert code == 0
    assert lines.of("stdout")[0] == str(60 * 1024)
    assert "bwrap" in lines.of("stdout")[1] and "flowtui-spawner" not in lines.of("stdout")[1]


async def test_closing_the_run_ends_its_spawner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(sandbox.SPAWNER_ENV, "wait")
    (tmp_path / "ws").mkdir()
    box = StepSandbox([tmp_path / "secret"], tmp_path / "ws")
    (tmp_path / "secret").write_text("x")
    token = STEP_SANDBOX.set(box)
    try:
        assert await sh("true", tmp_path, Lines()) == 0
        [spawner] = _spawners(box)
    finally:
        STEP_SANDBOX.reset(token)
        await box.aclose()
    await wait_for(
        lambda: not psutil.pid_exists(spawner.pid) or spawner.status() == psutil.STATUS_ZOMBIE
    )


async def test_by_default_the_first_step_does_not_wait_for_the_spawner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # nor starts it (a one-step run needs none, issue #18): the second step does
    monkeypatch.delenv(sandbox.SPAWNER_ENV, raising=False)
    (tmp_path / "ws").mkdir()
    (tmp_path / "secret").write_text("x")
    box = StepSandbox([tmp_path / "secret"], tmp_path / "ws")
    token = STEP_SANDBOX.set(box)
    lines = Lines()
    try:
        assert await sh('tr "\\0" " " < /proc/$PPID/cmdline', tmp_path, lines) == 0
        assert "bwrap" in lines.of("stdout")[0]
        assert await _started(box) == []
        assert await sh('tr "\\0" " " < /proc/$PPID/cmdline', tmp_path, lines) == 0
        assert "bwrap" in lines.of("stdout")[1]
        assert len(await _started(box)) == 1
        assert await sh('tr "\\0" " " < /proc/$PPID/cmdline', tmp_path, lines) == 0
        assert "flowtui-spawner" in lines.of("stdout")[2]
    finally:
        STEP_SANDBOX.reset(token)
        await box.aclose()


async def test_with_spawner_first_even_the_first_step_starts_in_the_runs_spawner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the dashboard's runs (RunnerOptions.spawner_first): no step is forked from its process
    monkeypatch.delenv(sandbox.SPAWNER_ENV, raising=False)
    (tmp_path / "ws").mkdir()
    (tmp_path / "secret").write_text("x")
    box = StepSandbox([tmp_path / "secret"], tmp_path / "ws", spawner_first=True)
    token = STEP_SANDBOX.set(box)
    lines = Lines()
    try:
        assert await sh('tr "\\0" " " < /proc/$PPID/cmdline', tmp_path, lines) == 0
        assert "flowtui-spawner" in lines.of("stdout")[0]
        assert len(_spawners(box)) == 1
    finally:
        STEP_SANDBOX.reset(token)
        await box.aclose()


async def test_spawner_first_leaves_flowtui_spawner_0_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(sandbox.SPAWNER_ENV, "0")
    (tmp_path / "ws").mkdir()
    (tmp_path / "secret").write_text("x")
    box = StepSandbox([tmp_path / "secret"], tmp_path / "ws", spawner_first=True)
    token = STEP_SANDBOX.set(box)
    lines = Lines()
    try:
        assert await sh('tr "\\0" " " < /proc/$PPID/cmdline', tmp_path, lines) == 0
        assert "bwrap" in lines.of("stdout")[0]
        assert _spawners(box) == []
    finally:
        STEP_SANDBOX.reset(token)
        await box.aclose()


async def _started(box: StepSandbox) -> list[psutil.Process]:
    for spawner in list(box._spawners.values()):
        await spawner.wait_ready()
    return _spawners(box)


def test_an_unknown_spawner_mode_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sandbox.SPAWNER_ENV, "yes")
    with pytest.raises(ValueError, match="FLOWTUI_SPAWNER must be one of 1, 0, wait"):
        sandbox.spawner_mode()


@pytest.mark.parametrize("mode", ["0", "wait"])
async def test_a_signalled_step_reports_the_same_code_either_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    # the run's first steps may start under a bwrap of their own, later ones by its spawner:
    # `on_exit_codes: [143]` must mean the same for both
    monkeypatch.setenv(sandbox.SPAWNER_ENV, mode)
    (tmp_path / "ws").mkdir()
    (tmp_path / "secret").write_text("x")
    box = StepSandbox([tmp_path / "secret"], tmp_path / "ws")
    token = STEP_SANDBOX.set(box)
    try:
        assert await sh("kill -TERM $$", tmp_path, Lines()) == 128 + signal.SIGTERM
    finally:
        STEP_SANDBOX.reset(token)
        await box.aclose()


async def test_a_pool_keeps_one_sandbox_per_run_and_closes_idle_ones_beyond_its_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(sandbox.SPAWNER_ENV, "wait")
    (tmp_path / "secret").write_text("x")
    pool = sandbox.SandboxPool(size=1)
    spaces = [tmp_path / f"ws{i}" for i in range(3)]
    for space in spaces:
        space.mkdir()
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    try:
        first = pool.get([tmp_path / "secret"], spaces[0])
        assert pool.get([tmp_path / "secret"], spaces[0]) is first  # its later steps
        token = STEP_SANDBOX.set(first)
        started = asyncio.Event()
        long = asyncio.create_task(
            sh(f"read line < {fifo}", tmp_path, Lines(), on_start=lambda *_: started.set())
        )
        await asyncio.wait_for(started.wait(), 20)
        STEP_SANDBOX.reset(token)
        second = pool.get([tmp_path / "secret"], spaces[1])
        token = STEP_SANDBOX.set(second)
        assert await sh("true", tmp_path, Lines()) == 0
        STEP_SANDBOX.reset(token)
        assert len(_spawners(first)) == 2  # the busy first run's is kept beyond the size
        pool.get([tmp_path / "secret"], spaces[2])  # the idle second run's is closed
        fd = os.open(fifo, os.O_WRONLY)
        os.write(fd, b"go\n")
        os.close(fd)
        assert await asyncio.wait_for(long, 20) == 0
        await wait_for(lambda: len(_spawners(first)) == 1, timeout=20)
    finally:
        await pool.aclose()
    await wait_for(lambda: not _spawners(first), timeout=20)


async def test_an_idle_spawner_is_closed_and_the_next_step_starts_another(
    run_sandbox: StepSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a run held at a gate for days keeps no process of its own
    monkeypatch.setattr(spawner_module, "IDLE_SECONDS", 0.01)
    lines = Lines()
    assert await sh("true", tmp_path, lines) == 0
    [first] = _spawners(run_sandbox)
    await wait_for(lambda: not _spawners(run_sandbox), timeout=20)
    assert await sh('tr "\\0" " " < /proc/$PPID/cmdline', tmp_path, lines) == 0
    assert "flowtui-spawner" in lines.of("stdout")[-1]
    [second] = _spawners(run_sandbox)
    assert second.pid != first.pid


PEEK = r"""
import ctypes, os, sys
parent = os.getppid()
try:
    open(f"/proc/{parent}/environ", "rb").read()
    print("environ yes")
except OSError:
    print("environ no")
libc = ctypes.CDLL(None, use_errno=True)
pidfd = os.pidfd_open(parent)
fd = libc.syscall(438, pidfd, int(sys.argv[1]), 0)  # pidfd_getfd: the spawner's socket
print("socket yes" if fd >= 0 else "socket no")
"""


async def test_a_step_cannot_read_the_spawners_environment_or_take_its_socket(
    run_sandbox: StepSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the runner's own environment (FLOWTUI_DB, PG*, a webhook secret) never reaches the
    # spawner, and the spawner (which holds every step's request) is not dumpable
    monkeypatch.setenv("FLOWTUI_WEBHOOK_SECRET", "hunter2")
    lines = Lines()
    await sh('tr "\\0" " " < /proc/$PPID/cmdline', tmp_path, lines)
    fd = lines.of("stdout")[0].split()[-1]
    env = {"PATH": os.environ["PATH"]}
    code = await run_streaming(
        [sys.executable, "-c", PEEK, fd], env=env, cwd=tmp_path, on_line=lines
    )
    assert code == 0, lines.items
    assert lines.of("stdout")[1:] == ["environ no", "socket no"]
    [spawner] = _spawners(run_sandbox)
    assert "FLOWTUI_WEBHOOK_SECRET" not in spawner.environ()


async def test_a_request_the_spawner_cannot_start_fails_only_its_step(
    run_sandbox: StepSandbox, tmp_path: Path
) -> None:
    lines = Lines()
    with pytest.raises((OSError, ValueError)):
        await run_streaming(
            ["true"], env={**os.environ, "BAD": "a\0b"}, cwd=tmp_path, on_line=lines
        )
    assert await sh('tr "\\0" " " < /proc/$PPID/cmdline', tmp_path, lines) == 0
    assert "flowtui-spawner" in lines.of("stdout")[-1]
