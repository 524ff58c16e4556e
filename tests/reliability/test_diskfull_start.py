"""Issue #17 item 7: the disk is already full when flowtui starts.

A 1 MB tmpfs (root only) holds a history with one run; a file then takes the rest of the
space.  `run` says "disk full" with the path, and the read-only commands (`history`,
`show`, `logs`) still show the history.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import child_env, flowtui_argv

FLOW = """\
name: small
steps:
  hello: {run: echo hello from the step}
"""


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a 1 MB tmpfs needs root")
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield small
    finally:
        subprocess.run(["umount", "-l", str(small)], capture_output=True)


def _flowtui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        flowtui_argv(*args), capture_output=True, text=True, env=child_env(), timeout=60
    )


def _fill(folder: Path) -> None:
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass  # ENOSPC: the disk is full now
    finally:
        os.close(fd)


def test_a_full_disk_at_start_says_so_and_the_history_stays_readable(
    small_disk: Path, tmp_path: Path
) -> None:
    flow = tmp_path / "small.yaml"
    flow.write_text(FLOW)
    db = small_disk / "history.db"
    first = _flowtui("run", str(flow), "--db", str(db), "-q")
    assert first.returncode == 0, first.stderr
    _fill(small_disk)

    again = _flowtui("run", str(flow), "--db", str(db))
    assert again.returncode == 1
    assert f"disk full: cannot write to the history database {db}" in again.stderr
    assert "Traceback" not in again.stderr

    history = _flowtui("history", "--db", str(db))
    assert history.returncode == 0, history.stderr
    assert "small" in history.stdout and "succeeded" in history.stdout
    assert f"disk full: {db} is read only" in history.stderr
    show = _flowtui("show", "1", "--db", str(db))
    assert show.returncode == 0 and "hello" in show.stdout, show.stderr
    logs = _flowtui("logs", "1", "--db", str(db))
    assert logs.returncode == 0 and "hello from the step" in logs.stdout, logs.stderr

    fresh = _flowtui("history", "--db", str(small_disk / "new.db"))
    assert fresh.returncode == 1 and "disk full" in fresh.stderr
