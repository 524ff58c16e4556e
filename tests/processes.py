"""Looking at real processes from tests, independently of flowtui's own process code."""

from __future__ import annotations

import os

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
