"""flowtui/engine/proctime.py reads create times as psutil does, without importing it: the
run's owner and its steps are later checked against psutil's own figures (owner.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from flowtui.engine import proctime


def test_boot_time_is_psutils() -> None:
    assert proctime.boot_time() == psutil.boot_time()


def test_create_time_is_psutils_for_this_process_and_a_child(tmp_path: Path) -> None:
    assert proctime.create_time(os.getpid()) == psutil.Process().create_time()
    # a command name with a space and parentheses, as /proc/PID/stat shows it: `(a) (b)`
    odd = tmp_path / "a) (b"
    odd.symlink_to(os.path.realpath(sys.executable))
    child = subprocess.Popen(
        [str(odd), "-I", "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        assert proctime.create_time(child.pid) == psutil.Process(child.pid).create_time()
    finally:
        child.communicate(b"")


def test_create_time_of_a_process_that_is_gone() -> None:
    child = subprocess.Popen(["true"])
    child.wait()
    with pytest.raises(ProcessLookupError):
        proctime.create_time(child.pid)
