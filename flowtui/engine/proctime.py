"""Process create times on psutil's scale, read without importing psutil (issue #18).

psutil's `Process.create_time()` on Linux is the process's start in clock ticks since boot
(field 22 of /proc/PID/stat) over SC_CLK_TCK, plus the boot time (`btime` in /proc/stat):
the run's owner records its own, and each step's start is taken on the same scale
(`flowtui.engine.process.create_time_now`).  A one-step `flowtui run` needs nothing else
from psutil, whose import was ~4 % of its time; so these two read /proc as psutil does
(`tests/engine/test_proctime.py` holds them equal to psutil's), and psutil answers where
there is no /proc.  Every other process question (liveness, groups, killing) stays
psutil's.
"""

from __future__ import annotations

import os

_PROC = "/proc"
_HAS_PROC = os.path.exists(f"{_PROC}/self/stat")
_TICKS: list[int] = []  # SC_CLK_TCK, read once


def boot_time() -> float:
    """When the system booted (seconds since the epoch), as `psutil.boot_time()`."""
    if not _HAS_PROC:
        import psutil

        return float(psutil.boot_time())
    with open(f"{_PROC}/stat", "rb") as stat:
        for line in stat:
            if line.startswith(b"btime"):
                return float(line.split()[1])
    raise RuntimeError(f"no btime line in {_PROC}/stat")


def create_time(pid: int) -> float:
    """When `pid` started, as `psutil.Process(pid).create_time()`; ProcessLookupError when
    there is no such process."""
    if not _HAS_PROC:
        import psutil

        try:
            return float(psutil.Process(pid).create_time())
        except psutil.NoSuchProcess:
            raise ProcessLookupError(pid) from None
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as stat:
            data = stat.read()
    except FileNotFoundError:
        raise ProcessLookupError(pid) from None
    # the command name (field 2) is in parentheses and may hold spaces and parentheses
    fields = data[data.rfind(b")") + 2 :].split()
    if not _TICKS:
        _TICKS.append(os.sysconf("SC_CLK_TCK"))
    return float(fields[19]) / _TICKS[0] + boot_time()
