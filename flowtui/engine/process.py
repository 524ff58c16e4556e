"""Start, stream and stop step subprocesses, always as a whole process group.

Every step process is started in its own session, so its pid is also the id of a process
group holding everything it spawns; stopping a step signals that group, never one pid.
Orphans re-parented to an init that does not reap leave zombies behind, so "alive" below
always means "exists and is not a zombie".
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from flowtui.engine import proctime
from flowtui.engine.childwatch import prefer_pidfd_watcher
from flowtui.engine.sandbox import STEP_SANDBOX, StepSandbox
from flowtui.engine.spawner import SpawnedProcess

if TYPE_CHECKING:  # imported where used: a step's start and end need none of it (#18)
    import psutil

LineFn = Callable[[str, str], None]  # (stream, line)
StartFn = Callable[[int, int, float], None]  # (pid, pgid, create time)

MAX_LINE_BYTES = 64 * 1024
READ_CHUNK = 64 * 1024
PIPE_LINGER = 0.2  # time readers get after the main process exits before the group is killed
DRAIN_TIMEOUT = 1.0  # time readers get to reach EOF once the group is gone
_POLL = 0.05
HOLD_BYTES = 1 << 20  # held per pipe while the writer is behind (as asyncio's reader did)
_POLL_CHUNKS = 16  # read at once after the main process exits, before the loop watches

# Awaited by output readers after each chunk while the step's main process runs.  The
# runner sets it to "until the history writer has room", so a step printing faster than
# the store writes waits on its full pipe (as with a slow terminal) instead of the backlog
# filling memory.
OUTPUT_THROTTLE: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar(
    "flowtui_output_throttle", default=None
)


class StepProcess(Protocol):
    """What is used of a step's main process: asyncio's, or one started by the run's
    spawner (flowtui.engine.spawner).  Its output pipes are read apart (`_Output`), so
    wait() is its exit alone."""

    @property
    def pid(self) -> int: ...
    @property
    def returncode(self) -> int | None: ...
    async def wait(self) -> int: ...


# -- process groups ------------------------------------------------------------------------


def _signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to the group; False when the group no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        # macOS answers EPERM for a group made only of zombies; nothing left to signal.
        return False
    return True


def group_members(pgid: int) -> list[int]:
    """Pids of the live (non-zombie) processes in group `pgid`."""
    import psutil

    pids: list[int] = []
    for proc in psutil.process_iter(["status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            if os.getpgid(proc.pid) == pgid:
                pids.append(proc.pid)
        except OSError:
            continue
    return pids


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    # killpg also succeeds for a group of zombies, so look closer.
    return bool(group_members(pgid))


async def _wait_group_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while group_alive(pgid):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        await asyncio.sleep(min(_POLL, remaining))
    return True


async def kill_process_group(
    pgid: int, grace: float, *, first: signal.Signals = signal.SIGTERM
) -> None:
    """Send `first` to the group, then SIGKILL whatever is still alive after `grace` s."""
    await terminate_sequence(pgid, grace, signals=(first,))


async def terminate_sequence(
    pgid: int,
    grace: float,
    *,
    signals: Sequence[signal.Signals] = (signal.SIGINT, signal.SIGTERM),
) -> None:
    """Stop a group politely: each of `signals` in turn, then SIGKILL.

    `grace` is shared evenly between the signals (grace/2 each by default), and a signal
    is only followed by the next one while some member of the group is still alive.
    A group that is already gone is fine.
    """
    step = grace / len(signals) if signals else 0.0
    for sig in signals:
        if not _signal_group(pgid, sig):
            return
        if await _wait_group_gone(pgid, step):
            return
    if _signal_group(pgid, signal.SIGKILL):
        await _wait_group_gone(pgid, DRAIN_TIMEOUT)


# -- the start time recorded for a step process (recovery checks it) -----------------------


def create_time_now() -> float | None:
    """Now, on the scale of psutil's `create_time()` (boot clock + boot time), or None where
    there is no boot clock.

    Taken just before a spawn it is the child's create time to within a clock tick and the
    spawn's latency, inside the tolerance the recovery uses for it
    (`flowtui.engine.owner.STEP_START_SLACK`); reading /proc/<pid>/stat instead blocks the
    loop until the child's exec is done, on a busy machine ~1 ms per step.
    """
    if not hasattr(time, "CLOCK_BOOTTIME"):
        return None
    return time.clock_gettime(time.CLOCK_BOOTTIME) + _boot_time()


_BOOT_TIME_TTL = 10.0
_boot: list[float] = []  # [boot time, read at (monotonic)]


def _boot_time() -> float:
    """psutil.boot_time() (a /proc/stat read), read again after _BOOT_TIME_TTL s: it only
    moves when the wall clock is set, and a step starts every millisecond in a big run."""
    now = time.monotonic()
    if not _boot or now - _boot[1] > _BOOT_TIME_TTL:
        _boot[:] = [proctime.boot_time(), now]
    return _boot[0]


# -- streaming a subprocess -----------------------------------------------------------------


def _utf8_boundary(buf: bytearray, pos: int, floor: int) -> int:
    """Move a cut position back so it does not split a UTF-8 character."""
    cut = pos
    while cut > floor and pos - cut < 3 and (buf[cut] & 0xC0) == 0x80:
        cut -= 1
    return cut if cut > floor else pos


def _split_lines(buf: bytearray) -> list[bytes]:
    """Remove and return the complete lines of `buf` (longer ones in MAX_LINE_BYTES chunks)."""
    lines: list[bytes] = []
    start, size = 0, len(buf)
    while start < size:
        nl = buf.find(b"\n", start, start + MAX_LINE_BYTES + 1)
        if nl != -1:
            lines.append(bytes(buf[start:nl]))
            start = nl + 1
        elif size - start > MAX_LINE_BYTES:
            cut = _utf8_boundary(buf, start + MAX_LINE_BYTES, start)
            lines.append(bytes(buf[start:cut]))
            start = cut
        else:
            break
    del buf[:start]
    return lines


def _decode(line: bytes) -> str:
    return line.removesuffix(b"\r").decode("utf-8", errors="replace")


class _Output:
    """One output pipe of a step, read by the loop itself from its file descriptor: a
    callback per chunk, no transport, stream reader or task (#18: a step has two, and
    most print nothing).  `done` resolves at EOF, or once `stop` gave up on it.

    While the history writer is behind (the output throttle waits), what the pipe brings
    is held unsplit, up to HOLD_BYTES, then the pipe is no longer read (the step waits on
    it, as with a slow terminal); once there is room the held lines go out READ_CHUNK
    bytes at a time, the throttle asked between.  Once the main process has exited, the
    rest goes out at once (it is finite, and must be stored before the drain timeout)."""

    __slots__ = (
        "_buf",
        "_fd",
        "_lines",
        "_loop",
        "_on_line",
        "_proc",
        "_stream",
        "_throttle",
        "_waiting",
        "_watching",
        "done",
    )

    def __init__(self, fd: int, stream: str, on_line: LineFn, proc: StepProcess) -> None:
        self._loop = asyncio.get_running_loop()
        self._fd = fd
        self._stream = stream
        self._on_line = on_line
        self._proc = proc
        self._throttle = OUTPUT_THROTTLE.get()
        self._buf = bytearray()  # bytes read, not yet split into lines
        self._lines: deque[bytes] = deque()  # complete lines not yet handed over
        self._waiting: asyncio.Future[None] | None = None  # paused for the history writer
        self._watching = False
        self.done: asyncio.Future[None] = self._loop.create_future()
        os.set_blocking(fd, False)
        if proc.returncode is not None:
            # it is over already (a short step, told before its start was): its EOF is
            # most likely there, then it is read without ever being watched
            self.poll()
            if self._fd < 0:
                return
        self._watch()

    def _watch(self) -> None:
        if not self._watching and self._fd >= 0:
            # read at once, never left to gather: a step's stdout and stderr are two
            # pipes, and a pipe left alone a while has its lines stored after the other
            # pipe's later ones (the order of a `set -x` trace and its output)
            self._loop.add_reader(self._fd, self._read)  # its answer is for poll()
            self._watching = True

    def _unwatch(self) -> None:
        if self._watching:
            self._loop.remove_reader(self._fd)
            self._watching = False

    def _read(self) -> bool:
        """Read one chunk; True when there may be more to read at once."""
        try:
            chunk = os.read(self._fd, READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            self._end(exc)
            return False
        if not chunk:
            self._end(None)
            return False
        self._buf += chunk
        if self._waiting is not None:  # held for the writer
            if len(self._buf) >= HOLD_BYTES:
                self._unwatch()
            return False
        return self._hand_over()

    def _hand_over(self) -> bool:
        """Hand over the complete lines, a chunk's worth at a time with the throttle asked
        between while the main process runs; False when it has to wait for room."""
        lines = self._lines
        lines.extend(_split_lines(self._buf))
        while lines:
            budget = READ_CHUNK
            try:
                while lines and budget > 0:
                    line = lines.popleft()
                    budget -= len(line) + 1
                    self._on_line(self._stream, _decode(line))
            except Exception as exc:  # the line sink failed: the step fails with it
                self._end(exc)
                return False
            if self._throttle is not None and self._proc.returncode is None:
                waiting = _room(self._throttle)
                if waiting is not None:  # the history writer is behind
                    self._waiting = waiting
                    waiting.add_done_callback(self.resume)
                    if len(self._buf) >= HOLD_BYTES or lines:
                        self._unwatch()
                    else:
                        self._watch()  # held meanwhile, up to HOLD_BYTES
                    return False
        return True

    def resume(self, _waited: object = None) -> None:
        """Go on (the writer has room, or the step's main process exited)."""
        waiting, self._waiting = self._waiting, None
        if waiting is None:
            return
        waiting.cancel()
        if self._fd >= 0 and self._hand_over():
            self._watch()

    def _end(self, error: BaseException | None) -> None:
        if self._fd < 0:
            return
        if self._waiting is not None:
            self._waiting.cancel()
            self._waiting = None
        self._unwatch()
        os.close(self._fd)
        self._fd = -1
        if error is None:  # the held lines, and a last line without a newline
            lines = self._lines
            lines.extend(_split_lines(self._buf))
            if self._buf:
                lines.append(bytes(self._buf))
                self._buf.clear()
            try:
                while lines:
                    self._on_line(self._stream, _decode(lines.popleft()))
            except Exception as exc:
                error = exc
        if not self.done.done():
            if error is None:
                self.done.set_result(None)
            else:
                self.done.set_exception(error)

    def poll(self) -> None:
        """Read what the pipe holds now, without waiting for the loop: once the main
        process has exited its EOF is usually there (no loop turn spent on it).  A few
        chunks at most: a background child still writing is read by the loop."""
        for _ in range(_POLL_CHUNKS):
            if self._fd < 0 or self._waiting is not None or not self._read():
                return

    def stop(self) -> None:
        """Read no more: what was read (held lines, a last line) is delivered, the pipe
        closed."""
        if self._fd >= 0:
            try:
                self._end(None)
            finally:
                if not self.done.done():
                    self.done.set_result(None)


def _room(throttle: Callable[[], Awaitable[None]]) -> asyncio.Future[None] | None:
    """None when the output throttle has room at once (the usual case: it is run only as
    far as that, no task made); else a task that waits for it (a fresh call of it: the
    first one is closed where it had to wait)."""
    probe = throttle().__await__()
    try:
        probe.send(None)
    except StopIteration:
        return None
    close = getattr(probe, "close", None)
    if close is not None:
        close()
    return asyncio.ensure_future(throttle())


async def _wait_outputs(outputs: list[_Output], timeout: float) -> list[_Output]:
    """Give `outputs` up to `timeout` s to reach EOF; the ones still open."""
    for output in outputs:
        output.poll()
    pending = [o for o in outputs if not o.done.done()]
    if pending:  # asyncio.wait costs a loop turn even when every pipe is done
        await asyncio.wait([o.done for o in pending], timeout=timeout)
    return [o for o in pending if not o.done.done()]


async def _settle_readers(readers: list[_Output], timeout: float) -> None:
    """Give readers `timeout` s to reach EOF, then stop the rest."""
    for output in await _wait_outputs(readers, timeout):
        output.stop()


async def _finish_after_exit(pgid: int, readers: list[_Output], grace: float) -> None:
    for output in readers:
        output.resume()  # no more waiting for the history writer: the step is over
    pending = await _wait_outputs(readers, PIPE_LINGER)
    if pending or group_alive(pgid):
        # A step owns its process group: background children (holding the pipes or not)
        # must neither keep the step running nor outlive it as orphans.
        await kill_process_group(pgid, grace)
        await _settle_readers(readers, DRAIN_TIMEOUT)
    for output in readers:
        if (exc := output.done.exception()) is not None:
            raise exc


def _escaped_descendants(pid: int, pgid: int) -> list[psutil.Process]:
    """Descendants of `pid` that moved to another process group (e.g. with `setsid`)."""
    import psutil

    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
    escaped = []
    for child in children:
        with contextlib.suppress(OSError):
            if os.getpgid(child.pid) != pgid:
                escaped.append(child)
    return escaped


def _kill_escaped(escaped: list[psutil.Process], on_line: LineFn | None) -> None:
    """SIGKILL what left the group; psutil checks each pid still is the same process."""
    import psutil

    killed = 0
    for child in escaped:
        with contextlib.suppress(psutil.Error):
            if child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
                child.kill()
                killed += 1
    if killed and on_line is not None:
        noun = "process" if killed == 1 else "processes"
        on_line("system", f"killed {killed} {noun} that left the step's process group")


def _alive(pid: int) -> bool:
    """Exists and is not a zombie (a zombie waits for the child watcher to reap it)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


async def _stop(
    proc: StepProcess,
    pgid: int,
    readers: list[_Output],
    grace: float,
    on_line: LineFn | None = None,
) -> None:
    finished = False
    # found before signalling: once the step's shell is gone they are re-parented away
    escaped = _escaped_descendants(proc.pid, pgid)
    try:
        await terminate_sequence(pgid, grace)
        _kill_escaped(escaped, on_line)
        if proc.returncode is None and _alive(proc.pid):
            # the leader left its group: stop it directly. Not with proc.kill(): Popen polls
            # (reaps) first, and the loop's child watcher then finds the child already
            # reaped and warns. Unreaped, the pid cannot have been reused (a step started
            # by the run's spawner is reaped there: its exit is told at once, leaving only
            # the moment between that reap and this check)
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), DRAIN_TIMEOUT)
        for output in readers:
            output.resume()
        await _settle_readers(readers, DRAIN_TIMEOUT)
        finished = True
    finally:
        if not finished:  # interrupted again while stopping: do not leave anything behind
            _signal_group(pgid, signal.SIGKILL)
            for output in readers:
                output.stop()


def _close_all(fds: Collection[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


async def _spawn(
    sandbox: StepSandbox | None,
    argv: Sequence[str],
    executable: str | None,
    env: dict[str, str],
    cwd: str | Path,
) -> tuple[asyncio.subprocess.Process, float | None, tuple[int, int]]:
    """Start `argv` as this process's child, under a sandbox of its own if the run has one;
    with the read ends of its stdout and stderr pipes (read by `_Output`, not by asyncio:
    the process's wait() is then its exit alone, whoever holds the pipes)."""
    command = sandbox.command(argv, cwd, env) if sandbox else list(argv)
    if executable is not None and command[0] != argv[0]:
        executable = None  # wrapped: the wrapper execs argv[0] with the step's PATH
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        with sandbox.spawn_hook() if sandbox else contextlib.nullcontext() as restrict:
            started = create_time_now()
            proc = await asyncio.create_subprocess_exec(
                *command,
                executable=executable,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out_w,
                stderr=err_w,
                env=env,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=restrict,  # the step's sandbox (flowtui.engine.sandbox), if any
            )
    except BaseException:
        _close_all((out_r, err_r))
        raise
    finally:
        _close_all((out_w, err_w))
    return proc, started, (out_r, err_r)


async def run_streaming(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | Path,
    on_line: LineFn,
    on_start: StartFn | None = None,
    kill_grace: float = 5.0,
    executable: str | None = None,
) -> int:
    """Run `argv` in its own process group, handing each output line to `on_line`.
    `executable`: the program's path when argv[0] is only the name it is called by (under
    bwrap, which finds argv[0] on PATH itself, it is not needed).

    Returns the exit code (negative: killed by that signal).  Raises FileNotFoundError /
    PermissionError when the program or `cwd` cannot be used.  On cancellation the whole
    group is stopped (SIGINT, SIGTERM, SIGKILL over `kill_grace` s), output read so far is
    delivered, and CancelledError is re-raised.
    """
    prefer_pidfd_watcher()
    sandbox = STEP_SANDBOX.get()
    if sandbox is not None and (note := sandbox.note_for(cwd)) is not None:
        on_line("system", note)
    env = sandbox.environment(env) if sandbox else dict(env)
    spawner = await sandbox.spawner(cwd) if sandbox else None
    spawned: SpawnedProcess | None = None
    if spawner is not None:  # the run's sandbox is up: its spawner starts the step
        started = create_time_now()
        spawned = await spawner.spawn(argv, executable=executable, cwd=cwd, env=env)
    proc: StepProcess
    if spawned is None:
        proc, started, (out_fd, err_fd) = await _spawn(sandbox, argv, executable, env, cwd)
    else:
        proc, (out_fd, err_fd) = spawned, spawned.take_pipes()
    pgid = proc.pid  # a new session makes the child its group leader
    readers: list[_Output] = []
    try:
        readers.append(_Output(out_fd, "stdout", on_line, proc))
        readers.append(_Output(err_fd, "stderr", on_line, proc))
        if on_start is not None:
            if started is None:
                try:
                    started = proctime.create_time(proc.pid)
                except OSError:
                    started = time.time()
            on_start(proc.pid, pgid, started)
        returncode = await proc.wait()
        await _finish_after_exit(pgid, readers, kill_grace)
        if (note := getattr(proc, "note", None)) is not None:
            on_line("system", note)  # e.g. its spawner went away (flowtui.engine.spawner)
    except BaseException:
        _close_all((out_fd, err_fd)[len(readers) :])  # the pipes no reader took
        await _stop(proc, pgid, readers, kill_grace, on_line)
        raise
    return returncode
