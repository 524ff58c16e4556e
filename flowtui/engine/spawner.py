"""One sandbox per run: steps started by a process that already lives in it.

Starting each step under its own bubblewrap costs a new namespace and its mounts, ~2.8 ms
a step (benchmarks/README.md).  Instead, the second sandboxed step of a run starts
`spawnerd.py` under bwrap with the run's covers (a one-step run needs none: the sandbox's
`spawner`), and later steps are started by it:
the runner hands it the command, the environment and the two output pipes, and it answers
with the step's pid and, later, its exit status.  Until it is ready (and wherever it cannot
run) a step is started under its own bwrap as before, so a one-step run waits for nothing.

The pid namespace is shared with the runner: a step's pid and process group are the same
here, so cancel, timeouts, orphan recovery and `_escaped_descendants` work unchanged.  The
step is the spawner's child, not the runner's: its exit status comes over the socket.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import functools
import json
import logging
import marshal
import os
import signal
import socket
import struct
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("flowtui.engine")

_SCRIPT = str(Path(__file__).with_name("spawnerd.py"))
SPAWNER_NAME = "flowtui-spawner"  # its argument, so that `ps` says what it is
# A request bigger than this (an environment of hundreds of KiB) is started under its own
# bwrap instead: the socket's buffer, not the spawner, would refuse it.
MAX_REQUEST = 200 * 1024
_READ_SIZE = 1 << 20
_READY_TIMEOUT = 10.0
IDLE_SECONDS = 30.0
_KILLED = 128 + signal.SIGKILL  # how an exit that nobody saw is reported (as bwrap would)
_CLOSE_TIMEOUT = 1.0
# the spawner's pid and exit messages (spawnerd.REPLY; not imported: it is a script)
_REPLY = struct.Struct("<cqq")


class SpawnedProcess:
    """A step started by a spawner: what `flowtui.engine.process` uses of an
    asyncio.subprocess.Process."""

    def __init__(self, pid: int, pipes: tuple[int, int]) -> None:
        self.pid = pid
        self._pipes: tuple[int, int] | None = pipes  # the read ends of stdout and stderr
        self.returncode: int | None = None
        self.note: str | None = None  # what to tell the step's log about its end
        # one future per wait() (asyncio's own pattern): cancelling a waiter leaves the
        # others, and a step over already costs no future at all
        self._waiters: list[asyncio.Future[int]] = []

    def _exit(self, code: int) -> None:
        self.returncode = code
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(code)

    async def wait(self) -> int:
        if self.returncode is not None:
            return self.returncode
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return await waiter

    def take_pipes(self) -> tuple[int, int]:
        """The read ends of its stdout and stderr pipes, for the caller to read and close."""
        pipes, self._pipes = self._pipes, None
        if pipes is None:
            raise RuntimeError("the pipes were already taken")
        return pipes

    def __del__(self) -> None:
        if self._pipes is not None:  # never taken (e.g. cancelled in between): not leaked
            for fd in self._pipes:
                with contextlib.suppress(OSError):
                    os.close(fd)


class Spawner:
    """The runner's end of one spawner process (one run's sandbox)."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._ready = asyncio.get_running_loop().create_future()
        # by request id (never reused: an exit cannot be taken for a later step's)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._started: set[int] = set()  # answered with a pid, not yet registered
        self._running: dict[int, SpawnedProcess] = {}
        self._early_exits: dict[int, int] = {}
        self._next_id = 0
        self.broken = False
        # called once no step has run for IDLE_SECONDS (a run held at a gate for days
        # need not keep a process): its sandbox closes it, and starts another when needed
        self.on_idle: Callable[[], None] | None = None
        self._idle: asyncio.TimerHandle | None = None

    @property
    def busy(self) -> bool:
        """Whether a step it started (or is starting) still runs."""
        return bool(self._running or self._pending)

    @property
    def ready(self) -> bool:
        return self._ready.done() and not self.broken

    async def wait_ready(self) -> None:
        """Until the spawner is up or known broken."""
        await asyncio.shield(self._ready)

    async def start(self, wrapper: Sequence[str]) -> None:
        """Start the spawner as `wrapper` + python spawnerd.py (wrapper: bwrap and its covers,
        ending with "--").  Failures leave it broken: steps then start as before."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, MAX_REQUEST + 4096)
            # its source as read by the runner (not a file a step may have changed since),
            # and none of the runner's environment (FLOWTUI_DB, PG*, secrets' sources…)
            fd = str(theirs.fileno())
            argv = [*wrapper, sys.executable, "-I", "-S", "-", SPAWNER_NAME, fd]
            self._proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                env=_spawner_environment(),
                start_new_session=True,  # a ^C to the runner's group is not its to act on
            )
        except OSError as exc:
            ours.close()
            self._fail(f"could not start the step spawner: {exc}")
            return
        finally:
            theirs.close()
        assert self._proc.stdin is not None
        self._proc.stdin.write(_source())
        self._proc.stdin.close()  # python reads the program to its end, then runs it
        ours.setblocking(False)
        self._sock = ours
        asyncio.get_running_loop().add_reader(ours.fileno(), self._on_readable)
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), _READY_TIMEOUT)
        except TimeoutError:
            self._fail("the step spawner did not start in time")

    def _fail(self, why: str) -> None:
        if not self.broken:
            log.debug("%s; steps start under their own sandbox", why)
        self.broken = True
        if not self._ready.done():
            self._ready.set_result(None)
        self._drop(why)

    def _drop(self, why: str) -> None:
        """Without the spawner: pending spawns fail, running steps are watched here."""
        for future in self._pending.values():
            if not future.done():
                future.set_exception(SpawnerLost(why))
        self._pending.clear()
        self._detach()
        # the spawner is gone, so nobody will tell these steps' ends: watch them here
        for proc in self._running.values():
            _watch_orphan(proc, why)
        self._running.clear()

    def _detach(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(ValueError, RuntimeError):
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    def _on_readable(self) -> None:
        assert self._sock is not None
        while self._sock is not None:
            try:
                data = self._sock.recv(_READ_SIZE)
            except BlockingIOError:
                return
            except OSError as exc:
                self._fail(f"the run's sandbox process failed ({exc})")
                return
            if not data:
                self._fail("the run's sandbox process exited")
                return
            if data[:1] == b"{":
                self._dispatch(json.loads(data))
                continue
            try:
                kind, ident, number = _REPLY.unpack(data)
            except struct.error:
                self._fail(f"the run's sandbox process sent {len(data)} bytes it should not")
                return
            if kind == b"X":
                self._exited(ident, number)
            else:
                self._answered(ident, {"pid": number})

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "ready" in message:
            if not self._ready.done():
                self._ready.set_result(None)
            self._idle_soon()
        else:
            self._answered(int(message["id"]), message)

    def _answered(self, ident: int, message: dict[str, Any]) -> None:
        if (future := self._pending.pop(ident, None)) and not future.done():
            if "pid" in message:
                self._started.add(ident)
            future.set_result(message)

    def _exited(self, ident: int, code: int) -> None:
        proc = self._running.pop(ident, None)
        if proc is not None:
            proc._exit(code)
        elif ident in self._started:
            self._early_exits[ident] = code  # before its spawn reply was handled
        self._idle_soon()

    def _idle_soon(self) -> None:
        if not self.busy and self.on_idle is not None and self._idle is None:
            self._idle = asyncio.get_running_loop().call_later(IDLE_SECONDS, self._idled)

    def _idled(self) -> None:
        self._idle = None
        if not self.busy and self.on_idle is not None:
            self.on_idle()

    async def spawn(
        self,
        argv: Sequence[str],
        *,
        executable: str | None,
        cwd: str | Path,
        env: Mapping[str, str],
    ) -> SpawnedProcess | None:
        """Start a step; None when this spawner cannot (start it another way).  Raises
        OSError (FileNotFoundError, PermissionError…) when its program or cwd cannot be
        used, as asyncio.create_subprocess_exec would."""
        if not self.ready or self._sock is None:
            return None
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        self._next_id += 1
        ident = self._next_id
        request = (ident, list(argv), executable, os.fspath(cwd), dict(env))
        try:  # the same Python reads it (spawnerd.py): strings as they are, surrogates too
            data = marshal.dumps(request)
        except (TypeError, ValueError):
            return None
        if len(data) > MAX_REQUEST:
            return None
        loop = asyncio.get_running_loop()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._pending[ident] = future
        try:
            fds = array.array("i", [out_w, err_w])
            self._sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        except OSError as exc:
            self._pending.pop(ident, None)
            for fd in (out_r, out_w, err_r, err_w):
                os.close(fd)
            if not isinstance(exc, BlockingIOError):
                self._fail(f"the step spawner's socket failed: {exc}")
            return None
        os.close(out_w)
        os.close(err_w)
        try:
            reply = await asyncio.shield(future)
        except BaseException:
            os.close(out_r)
            os.close(err_r)
            future.add_done_callback(functools.partial(self._unwanted, ident))
            raise
        if "pid" not in reply:
            os.close(out_r)
            os.close(err_r)
            raise OSError(int(reply["errno"]), reply["strerror"], reply.get("filename"))
        # registered before anything else is awaited: a cancel from here on finds it
        proc = SpawnedProcess(int(reply["pid"]), (out_r, err_r))
        self._started.discard(ident)
        early = self._early_exits.pop(ident, None)
        if early is not None:
            proc._exit(early)
        elif self.broken:
            _watch_orphan(proc, "the run's sandbox process ended")
        else:
            self._running[ident] = proc
        return proc

    def _unwanted(self, ident: int, future: asyncio.Future[dict[str, Any]]) -> None:
        """A step started for a spawn that was cancelled meanwhile: stop its group."""
        self._started.discard(ident)
        self._early_exits.pop(ident, None)
        if not future.cancelled() and future.exception() is None and "pid" in future.result():
            with contextlib.suppress(OSError):
                os.killpg(int(future.result()["pid"]), signal.SIGKILL)

    async def aclose(self) -> None:
        """No more steps: the spawner exits once its steps have (not waited past a second)."""
        if self._idle is not None:
            self._idle.cancel()
        self._drop("the run's sandbox was closed")
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                await asyncio.wait_for(self._proc.wait(), _CLOSE_TIMEOUT)


class SpawnerLost(RuntimeError):
    """The spawner went away while a step was being started (it may have started)."""

    def __init__(self, why: str) -> None:
        super().__init__(
            f"{why} while this step was being started: it is not started again (it may "
            "have started; its process group was not seen)"
        )


@functools.cache
def _source() -> bytes:
    return Path(_SCRIPT).read_bytes()


def _spawner_environment() -> dict[str, str]:
    """What the spawner runs with: a PATH and the locale (so that it encodes the steps'
    environments and paths as the runner does), nothing else."""
    env = {"PATH": os.defpath}
    for name in ("LANG", "LC_ALL", "LC_CTYPE"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def _watch_orphan(proc: SpawnedProcess, why: str) -> None:
    """End `proc` once it exits, seen through a pidfd (its exit status is lost with its
    parent: it ends as killed)."""
    proc.note = f"{why} while this step ran: its exit status is lost (reported as 137)"
    loop = asyncio.get_running_loop()
    try:
        pidfd = os.pidfd_open(proc.pid)
    except OSError:
        proc._exit(_KILLED)  # already gone
        return

    def gone() -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        proc._exit(_KILLED)

    loop.add_reader(pidfd, gone)


__all__ = ["MAX_REQUEST", "SpawnedProcess", "Spawner", "SpawnerLost"]
