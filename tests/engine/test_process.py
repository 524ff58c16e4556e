"""Process groups and streaming, with real subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowtui.engine.process import (
    MAX_LINE_BYTES,
    kill_process_group,
    run_streaming,
    terminate_sequence,
)
from tests.processes import group_members, is_running


async def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


class Lines:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def __call__(self, stream: str, line: str) -> None:
        self.items.append((stream, line))

    def of(self, stream: str) -> list[str]:
        return [line for s, line in self.items if s == stream]


async def run(script: str, tmp_path: Path, lines: Lines, **kw) -> int:
    return await run_streaming(
        ["bash", "-c", script], env=os.environ, cwd=tmp_path, on_line=lines, **kw
    )


@pytest.fixture
def spawned() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def spawn_group(procs: list[subprocess.Popen[bytes]], code: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-c", code], start_new_session=True, stdin=subprocess.DEVNULL
    )
    procs.append(proc)
    return proc


async def test_streams_lines_per_stream_in_order(tmp_path: Path) -> None:
    lines = Lines()
    code = await run(
        "for i in 1 2 3; do echo out$i; echo err$i >&2; done; printf 'last\\r\\nno-newline'",
        tmp_path,
        lines,
    )
    assert code == 0
    assert lines.of("stdout") == ["out1", "out2", "out3", "last", "no-newline"]
    assert lines.of("stderr") == ["err1", "err2", "err3"]


async def test_exit_codes_and_signals(tmp_path: Path) -> None:
    assert await run("exit 3", tmp_path, Lines()) == 3
    assert await run("kill -KILL $$", tmp_path, Lines()) == -signal.SIGKILL


async def test_on_start_reports_own_group(tmp_path: Path) -> None:
    started: list[tuple[int, int, float]] = []
    lines = Lines()
    await run("echo $$; ps -o pgid= -p $$", tmp_path, lines, on_start=lambda *a: started.append(a))
    [(pid, pgid, create_time)] = started
    assert pid == pgid != os.getpgid(0)
    assert [int(x) for x in lines.of("stdout")] == [pid, pgid]
    assert abs(create_time - time.time()) < 10


async def test_undecodable_bytes_are_replaced(tmp_path: Path) -> None:
    lines = Lines()
    assert await run("printf 'a\\xffb\\n'", tmp_path, lines) == 0
    assert lines.of("stdout") == ["a\ufffdb"]


async def test_long_lines_are_chunked(tmp_path: Path) -> None:
    lines = Lines()
    code = "import sys; sys.stdout.write('x' * 200 * 1024 + '\\n' + 'é' * 100_000 + '\\nend\\n')"
    rc = await run_streaming(
        [sys.executable, "-c", code], env=os.environ, cwd=tmp_path, on_line=lines
    )
    assert rc == 0
    out = lines.of("stdout")
    assert all(len(line.encode()) <= MAX_LINE_BYTES for line in out)
    assert out[-1] == "end"
    text = "".join(out[:-1])
    assert text == "x" * 200 * 1024 + "é" * 100_000  # no character cut in half
    assert len(out) > 4


async def test_a_line_by_line_printer_is_read_in_order_and_its_last_line_not_held(
    tmp_path: Path,
) -> None:
    # every line comes, in order, and the one printed last comes while the step still runs
    # (the pipe is watched again after each read, not left until more comes)
    lines = Lines()
    # a line every ms or so: read after read, close together
    code = "import time\nfor i in range(300):\n    print(i, flush=True)\n    time.sleep(0.001)\n"
    code += "print('last', flush=True)\ntime.sleep(60)"  # then until cancelled
    task = asyncio.create_task(
        run_streaming(
            [sys.executable, "-c", code], env=os.environ, cwd=tmp_path, on_line=lines, kill_grace=1
        )
    )
    try:
        await wait_for(lambda: "last" in lines.of("stdout"))
        assert lines.of("stdout") == [str(i) for i in range(300)] + ["last"]
        assert not task.done()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_background_child_holding_pipes_does_not_hang(tmp_path: Path) -> None:
    lines = Lines()
    started = time.monotonic()
    code = await run("sleep 600 & echo bg=$!; echo main done", tmp_path, lines, kill_grace=2)
    assert code == 0
    assert time.monotonic() - started < 3
    first, second = lines.of("stdout")
    assert first.startswith("bg=") and second == "main done"
    bg = int(first.removeprefix("bg="))
    await wait_for(lambda: not is_running(bg), timeout=2)


async def test_cancel_kills_the_whole_group(tmp_path: Path) -> None:
    lines = Lines()
    started: list[tuple[int, int, float]] = []
    task = asyncio.create_task(
        run(
            "echo ready; sleep 600 | cat & wait",
            tmp_path,
            lines,
            on_start=lambda *a: started.append(a),
            kill_grace=1.0,
        )
    )
    await wait_for(lambda: bool(started) and len(group_members(started[0][1])) >= 3)
    group = group_members(started[0][1])
    t0 = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - t0 < 1.0 + 1.5
    assert [pid for pid in group if is_running(pid)] == []
    assert lines.of("stdout") == ["ready"]  # output read before the cancel was delivered


async def test_kill_process_group_escalates_to_sigkill(spawned: list, tmp_path: Path) -> None:
    marker = tmp_path / "ready"
    proc = spawn_group(
        spawned,
        "import pathlib, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"pathlib.Path({str(marker)!r}).touch()\n"
        "time.sleep(600)",
    )
    await wait_for(marker.exists)
    t0 = time.monotonic()
    await kill_process_group(proc.pid, 0.5)
    elapsed = time.monotonic() - t0
    assert proc.wait(timeout=2) == -signal.SIGKILL
    assert 0.4 < elapsed < 2.5
    await kill_process_group(proc.pid, 0.5)  # already gone: no error


async def test_terminate_sequence_sends_sigint_then_sigterm(spawned: list, tmp_path: Path) -> None:
    marker = tmp_path / "got"
    proc = spawn_group(
        spawned,
        "import pathlib, signal, time\n"
        f"p = pathlib.Path({str(marker)!r})\n"
        "signal.signal(signal.SIGINT, lambda *a: p.write_text('INT'))\n"
        "p.write_text('ready')\n"
        "time.sleep(600)",
    )
    await wait_for(lambda: marker.exists() and marker.read_text() == "ready")
    t0 = time.monotonic()
    await terminate_sequence(proc.pid, 1.0)
    assert proc.wait(timeout=2) == -signal.SIGTERM
    assert marker.read_text() == "INT"
    assert 0.4 < time.monotonic() - t0 < 1.5


async def test_stdout_and_stderr_lines_keep_the_order_they_were_printed_in(
    tmp_path: Path,
) -> None:
    """Two pipes, one step: a line on stderr a few ms after one on stdout is stored after
    it (a pipe left to gather lines for a while had its lines stored after the other
    pipe's later ones: 44 of 80 out of place, found in review; 15 ms apart here, so
    a busy loop does not see both at once)."""
    code = (
        "import sys, time\n"
        "for i in range(25):\n"
        "    print(f'out {i}', flush=True)\n"
        "    time.sleep(0.015)\n"
        "    print(f'err {i}', file=sys.stderr, flush=True)\n"
        "    time.sleep(0.015)\n"
    )
    got: list[str] = []
    rc = await run_streaming(
        [sys.executable, "-c", code],
        env=os.environ,
        cwd=tmp_path,
        on_line=lambda _stream, line: got.append(line),
    )
    assert rc == 0
    assert got == [f"{kind} {i}" for i in range(25) for kind in ("out", "err")]
