"""Which process owns a run, whether it is still alive, and killing what it left behind."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from typing import TYPE_CHECKING

from msgspec import Struct

from flowtui.engine import proctime
from flowtui.engine.process import group_alive

if TYPE_CHECKING:  # imported where used: a run's start needs none of it (#18: start-up)
    import psutil

# Create times are boot time + clock ticks (read as psutil reads them, engine/proctime.py):
# identical for the same process, whoever asks.  The slack only absorbs float rounding.
CREATE_TIME_SLACK = 0.01  # a runner's own create time is recorded and checked so: exact
# A step's start time is read from the boot clock just before its spawn
# (flowtui.engine.process.create_time_now): psutil's create time rounds to a clock tick
# (10 ms) and comes after the spawn's latency, which a busy machine stretches.  A pid is not
# reused within half a second, so this still tells a stranger from the recorded process.
STEP_START_SLACK = 0.5
# A runner beats every 2 s (RunnerOptions.heartbeat_interval): 10 missed beats in a row, then
# a re-read under the write lock, before another process declares it dead.
STALE_AFTER = 20.0


class Owner(Struct, frozen=True):
    host: str
    pid: int
    started: float  # process create time: a reused pid has another one

    @classmethod
    def current(cls) -> Owner:
        pid = os.getpid()
        cached = _current.get(pid)
        if cached is None:
            cached = cls(socket.gethostname(), pid, proctime.create_time(pid))
            _current.clear()  # after fork() the parent's identity is stale
            _current[pid] = cached
        return cached


_current: dict[int, Owner] = {}


def process_matches(pid: int, started: float | None, slack: float = CREATE_TIME_SLACK) -> bool:
    """True when `pid` runs, is not a zombie, and (if known) was created at `started`
    (within `slack` seconds)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if started is None:
            return True
        # the same reading as the recorded one (Owner.current), whatever psutil's version
        return abs(proctime.create_time(pid) - started) <= slack
    except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
        return False


def owner_alive_locally(host: str | None, pid: int | None, started: float | None) -> bool | None:
    """Liveness of a run's owner on this host; None when it cannot be told from here."""
    if host is None or pid is None or host != socket.gethostname():
        return None
    return process_matches(pid, started)


async def kill_orphan_group(
    pid: int, pgid: int | None, started: float | None, *, grace: float = 3.0
) -> bool:
    """Terminate the process group of a step whose runner died.

    When `pid` is alive with the recorded create time, its whole group is signalled.  When
    it is gone (the step's shell died, e.g. of SIGPIPE once the runner's pipe closed), the
    members left in its group are killed one by one — a group id is not reused while any
    member lives, and each is checked to be ours (same user, started after the step).  A
    reused pid belongs to a stranger and is left alone.  SIGTERM first, SIGKILL after
    `grace` seconds.  Returns True when a signal was sent.
    """
    if started is None:
        return False
    group = pgid if pgid is not None else pid
    if group <= 1 or group == os.getpgid(0):
        return False  # never signal init or our own group
    if not process_matches(pid, started, STEP_START_SLACK):
        if pid != group and process_matches(group, None):
            return False  # the group's leader is alive but is not the recorded step
        return await asyncio.to_thread(_kill_left_members, group, started, grace)
    try:
        os.killpg(group, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return False
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while loop.time() < deadline:
        if not await asyncio.to_thread(group_alive, group):
            return True
        await asyncio.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)
    return True


def _kill_left_members(group: int, started: float, grace: float) -> bool:
    """SIGTERM, then SIGKILL after `grace` s, the processes of `group` that are ours."""
    import psutil

    if process_matches(group, None):
        return False  # a live leader that is not the step: the id was reused
    uid = os.getuid()
    members: list[psutil.Process] = []
    for proc in psutil.process_iter(["status", "create_time", "uids"]):
        with contextlib.suppress(OSError, psutil.Error):
            if (
                proc.info["status"] != psutil.STATUS_ZOMBIE
                and os.getpgid(proc.pid) == group
                and proc.info["uids"].real == uid
                and proc.info["create_time"] >= started - STEP_START_SLACK
            ):
                members.append(proc)
    for proc in members:
        with contextlib.suppress(psutil.Error):
            proc.terminate()  # psutil checks the pid is still the same process
    deadline = time.monotonic() + grace
    while (alive := [p for p in members if _running(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    return bool(members)


def _running(proc: psutil.Process) -> bool:
    """Still there and not a zombie (an orphan's zombie may never be reaped in a container)."""
    import psutil

    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
