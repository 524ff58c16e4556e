"""Looking at real processes from tests, independently of flowtui's own process code."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import threading
import time

import psutil


def is_running(pid: int) -> bool:
    """Exists and is not a zombie (orphans may never be reaped in a container)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def group_members(pgid: int) -> list[int]:
    """The live (non-zombie) processes of process group `pgid`."""
    found = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and is_running(proc.pid):
                found.append(proc.pid)
        except OSError:
            pass
    return found


class Lines:
    """The process's stdout, line by line, readable with a timeout."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        stream = proc.stdout
        threading.Thread(target=lambda: [self._queue.put(x) for x in stream], daemon=True).start()

    def wait_for(self, pattern: str, timeout: float = 15, since: int = 0) -> re.Match[str]:
        """The first line matching `pattern`, from line `since` of what was seen on."""
        for line in self.seen[since:]:
            if found := re.search(pattern, line):
                return found
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            self.seen.append(line)
            if found := re.search(pattern, line):
                return found
        raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(self.seen)}")
