"""Issue #17 item 7: the disk is already full when flowtui starts.

A 1 MB tmpfs (root only) holds a history with one run; a file then takes the rest of the
space.  `run` says "disk full" with the path, and the read-only commands (`history`,
`show`, `logs`) and the dashboard still show the history.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.message import Message
from textual.notifications import Notify
from textual.pilot import Pilot
from textual.widgets import Static

from flowtui.tui.app import FlowApp
from flowtui.tui.widgets.dag_view import DagView
from flowtui.tui.widgets.log_view import LogView

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


async def until(pilot: Pilot, condition: Callable[[], bool], timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await pilot.pause(0.05)


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


async def test_the_dashboard_on_a_full_disk_shows_the_history_read_only(
    small_disk: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    flow = folder / "small.yaml"
    flow.write_text(FLOW)
    db = small_disk / "history.db"
    first = _flowtui("run", str(flow), "--db", str(db), "-q")
    assert first.returncode == 0, first.stderr
    _fill(small_disk)

    notes: list[str] = []

    def hook(message: Message) -> None:
        if isinstance(message, Notify):
            notes.append(f"{message.notification.title}: {message.notification.message}")

    app = FlowApp(folder, db_path=db, watch=False)
    async with app.run_test(size=(120, 40), message_hook=hook) as pilot:
        await app.ready.wait()
        assert app.runner is None and app.trigger_service is None  # no engine, no triggers
        note = str(app.query_one("#read-only", Static).render())
        assert f"disk full: {db} — read only until there is space again" in note
        header = app.query_one("#run-header", Static)
        await until(pilot, lambda: "succeeded" in str(header.render()))
        assert "run #1" in str(header.render())
        assert app.query_one(DagView).node_names == ["hello"]

        await pilot.press("l")
        logs = app.query_one(LogView)
        await until(pilot, lambda: "hello from the step" in "\n".join(logs.lines))

        for key, verb in (("r", "run"), ("p", "pause or resume"), ("f", "rerun")):
            await pilot.press(key)
            await pilot.pause()
            why = f"cannot {verb}: disk full: {db} is read only until there is space again"
            assert why in notes, notes
        assert "succeeded" in _flowtui("history", "--db", str(db)).stdout  # nothing new


async def test_the_dashboard_with_no_history_on_a_full_disk_says_why_and_leaves(
    small_disk: Path, tmp_path: Path
) -> None:
    """Nothing to show read-only: the app leaves with exit code 1 and the reason, no
    traceback."""
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "small.yaml").write_text(FLOW)
    db = small_disk / "history.db"
    _fill(small_disk)
    app = FlowApp(folder, db_path=db, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 1
