"""Reap step processes through pidfds on the running loop (Python 3.11 only).

3.11's default ThreadedChildWatcher starts and joins one thread per subprocess, which costs
more than a short step itself; its PidfdChildWatcher is bound to one loop.  This watcher is
3.12's loop-agnostic pidfd watcher, which 3.12+ uses by default where the kernel allows.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

log = logging.getLogger("flowtui.engine")

_checked = False


class LoopPidfdWatcher(asyncio.AbstractChildWatcher):
    """Waits for each child on the loop that started it: no threads, no SIGCHLD handler."""

    def __enter__(self) -> LoopPidfdWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def is_active(self) -> bool:
        return True

    def close(self) -> None:
        pass

    def attach_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        pass

    # typeshed types the callback with a TypeVarTuple; any callable of (pid, code, *args) works
    def add_child_handler(  # type: ignore[override]
        self, pid: int, callback: Callable[..., Any], *args: Any
    ) -> None:
        loop = asyncio.get_running_loop()
        pidfd = os.pidfd_open(pid)
        loop.add_reader(pidfd, self._do_wait, loop, pid, pidfd, callback, args)

    def remove_child_handler(self, pid: int) -> bool:
        return True  # asyncio only calls this for watchers it is discarding

    @staticmethod
    def _do_wait(
        loop: asyncio.AbstractEventLoop,
        pid: int,
        pidfd: int,
        callback: Callable[..., Any],
        args: tuple[Any, ...],
    ) -> None:
        loop.remove_reader(pidfd)
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            returncode = 255  # reaped elsewhere: asyncio reports 255 in that case too
            log.warning("child process pid %d was already reaped", pid)
        else:
            returncode = os.waitstatus_to_exitcode(status)
        os.close(pidfd)
        callback(pid, returncode, *args)


def prefer_pidfd_watcher() -> None:
    """Install `LoopPidfdWatcher` once, on 3.11 with pidfd support, over the default watcher."""
    global _checked
    if _checked:
        return
    _checked = True
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return  # kernel without pidfd support
    if isinstance(asyncio.get_child_watcher(), asyncio.ThreadedChildWatcher):
        asyncio.set_child_watcher(LoopPidfdWatcher())
