"""A worker's reaper: the step processes of a worker that dies go with it.

Steps run in process groups of their own (so that a cancel reaches all their processes),
which a worker killed with SIGKILL cannot stop: they would run on, and a retry on another
worker could overlap with them.  So each `flowtui worker` starts one small reaper process,
in a session of its own, and tells it through a pipe which step process groups are alive
(`+PGID`, `-PGID`).  When the pipe closes — the worker ended, however it ended — the reaper
stops the groups still listed (SIGTERM, then SIGKILL after the grace) and exits.

Run as `python -m flowtui.worker.reaper GRACE`; `Reaper` is the worker's side.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time

RELEASE_DELAY = 0.5  # at most this long before an ended group is struck off the reaper's list


class Reaper:
    """The worker's end of the pipe; `watch` a step's group when it starts, `release` it
    when it has ended.

    One message per step: a release waits for the next `watch` and goes with it in the
    same write (or goes alone RELEASE_DELAY later, when no step starts meanwhile).  A group
    still listed after it ended costs nothing if the worker dies then (it is gone: the
    reaper's signal finds no one), and RELEASE_DELAY is far too short for its number to be
    taken by a new group."""

    def __init__(self, grace: float) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "flowtui.worker.reaper", f"{grace:g}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # not stopped with the worker's own group
            close_fds=True,
        )
        self._released: list[int] = []
        self._timer: asyncio.TimerHandle | None = None

    def _say(self, *lines: str) -> None:
        """Write the releases that wait and `lines`, in one write (no buffer: a worker
        killed a moment later has said it)."""
        text = "".join(f"-{pgid}\n" for pgid in self._released)
        text += "".join(f"{line}\n" for line in lines)
        self._released.clear()
        stdin = self._proc.stdin
        if stdin is None or not text:
            return
        with contextlib.suppress(OSError, ValueError):  # gone: nothing to tell
            os.write(stdin.fileno(), text.encode())

    def watch(self, pgid: int) -> None:
        self._say(f"+{pgid}")

    def release(self, pgid: int) -> None:
        self._released.append(pgid)
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop to wait on: at once
            self._say()
            return
        self._timer = loop.call_later(RELEASE_DELAY, self._released_late)

    def _released_late(self) -> None:
        self._timer = None
        self._say()

    def close(self) -> None:
        """The worker is leaving after stopping its steps: the reaper has nothing to do."""
        self._say()  # the groups that ended are not the reaper's to stop
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=5)


def reap(grace: float) -> None:
    groups: set[int] = set()
    for line in sys.stdin:
        with contextlib.suppress(ValueError):
            pgid = int(line[1:])
            if line.startswith("+"):
                groups.add(pgid)
            elif line.startswith("-"):
                groups.discard(pgid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = set()
        for pgid in groups:
            with contextlib.suppress(OSError):
                os.killpg(pgid, sig)
                alive.add(pgid)
        if not alive or sig == signal.SIGKILL:
            return
        deadline = time.monotonic() + grace
        while alive and time.monotonic() < deadline:
            time.sleep(0.05)
            for pgid in list(alive):
                try:
                    os.killpg(pgid, 0)
                except OSError:
                    alive.discard(pgid)
        groups = alive


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C of the terminal is the worker's
    reap(float(sys.argv[1]) if len(sys.argv) > 1 else 5.0)
