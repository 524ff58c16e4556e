"""The history disk fills up while a step logs: the step fails clearly, nothing crashes.

Two real ways to fill it: SQLite's own `max_page_count` (a true SQLITE_FULL from the
library, on any machine) and, as root, a 1 MB tmpfs that the database lives on (ENOSPC from
the kernel).  Once space is back, the run's final state is written.
"""

from __future__ import annotations

import asyncio
import os
import queue
import sqlite3
import subprocess
import textwrap
import threading
from pathlib import Path
from typing import IO

import pytest

from flowtui.engine.events import Event, StepStatusChanged
from flowtui.engine.states import RunStatus, StepStatus

from .conftest import Engine, child_env, flowtui_argv, wait_until

CHATTY = """\
name: chatty
steps:
  talk:
    shell: python
    run: |
      import itertools
      for i in itertools.count():
          print(f"line {i} " + "x" * 200, flush=i % 100 == 0)
  after: {requires: [talk], run: echo never}
"""
UNLIMITED_PAGES = 1_073_741_823


async def _fill(engine: Engine, spare_pages: int = 20) -> None:
    row = await engine.store.db.fetchone("PRAGMA page_count")
    assert row is not None
    await engine.store.db.fetchall(f"PRAGMA max_page_count = {row[0] + spare_pages}")


async def test_sqlite_full_fails_the_step_and_the_run_is_stored_once_space_is_back(
    engine: Engine,
) -> None:
    workflow = engine.workflow(CHATTY)
    events: list[Event] = []
    engine.runner.bus.add_listener(events.append)
    await _fill(engine)
    handle = await engine.runner.submit(workflow)
    status = await asyncio.wait_for(handle.wait(), 30)
    expected = f"disk full: could not write log to {engine.store.path}"
    assert status == RunStatus.FAILED
    (failed,) = [
        e for e in events if isinstance(e, StepStatusChanged) and e.status == StepStatus.FAILED
    ]
    assert (failed.step, failed.message) == ("talk", expected)
    assert any("disk full" in error for error in engine.sink.errors)
    # the writer has given up on those log lines and keeps only the state changes
    await wait_until(lambda: engine.sink.lost_logs > 0, timeout=10, what="logs dropped")

    await engine.store.db.fetchall(f"PRAGMA max_page_count = {UNLIMITED_PAGES}")  # space back
    await asyncio.wait_for(engine.sink.flush(), 15)
    run = await engine.store.get_run(handle.run_id)
    assert run is not None and (run.status, run.message) == (RunStatus.FAILED, expected)
    steps = {s.name: s for s in await engine.store.get_steps(handle.run_id)}
    assert (steps["talk"].status, steps["talk"].message) == (StepStatus.FAILED, expected)
    assert steps["after"].status == StepStatus.PENDING
    assert engine.sink.lost_logs > 0
    notes = [log.line for log in await engine.store.get_logs(handle.run_id) if log.step == ""]
    assert any(
        line.endswith(f"log lines not stored: disk full: could not write to {engine.store.path}")
        for line in notes
    ), notes


async def test_the_dashboard_keeps_working_while_the_disk_is_full(tmp_path: Path) -> None:
    from flowtui.tui.app import FlowApp
    from tests.tui.test_app import SIZE, header, run_status, select, until

    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "chatty.yaml").write_text(CHATTY)
    app = FlowApp(folder, db_path=tmp_path / "dash.db", watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        assert app.store is not None and app.runner is not None
        row = await app.store.db.fetchone("PRAGMA page_count")
        assert row is not None
        await app.store.db.fetchall(f"PRAGMA max_page_count = {row[0] + 20}")
        await select(pilot, app, "chatty")
        await pilot.press("r")
        await until(pilot, lambda: not app.runner.active_run_ids and run_status(app, 1))
        for key in ("h", "t", "l", "g"):  # every view still answers
            await pilot.press(key)
            await pilot.pause()
        await app.store.db.fetchall(f"PRAGMA max_page_count = {UNLIMITED_PAGES}")
        await until(pilot, lambda: run_status(app, 1) == "failed", timeout=20)
        await until(pilot, lambda: "disk full" in header(app), timeout=10)


def _lines(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


def test_a_full_filesystem_fails_the_step_and_the_cli_reports_it(tmp_path: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("mounting a 1 MB tmpfs needs root")
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        db = small / "history.db"
        wf = tmp_path / "chatty.yaml"
        wf.write_text(textwrap.dedent(CHATTY))
        proc = subprocess.Popen(
            [*flowtui_argv("run", str(wf), "--db", str(db), "-q")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(PYTHONUNBUFFERED="1", NO_COLOR="1"),
        )
        out: queue.Queue[str] = queue.Queue()
        errors: queue.Queue[str] = queue.Queue()
        readers = [
            threading.Thread(target=_lines, args=(proc.stdout, out), daemon=True),
            threading.Thread(target=_lines, args=(proc.stderr, errors), daemon=True),
        ]
        for reader in readers:
            reader.start()
        seen: list[str] = []
        try:
            while not any("disk full: could not write log to" in line for line in seen):
                seen.append(out.get(timeout=30))
            # space comes back while the runner is still trying to record the end of the run
            subprocess.run(["mount", "-o", "remount,size=64m", str(small)], check=True)
            proc.wait(timeout=30)
        finally:
            proc.kill()
        for reader in readers:
            reader.join(timeout=10)
        seen.extend(out.queue)
        stdout, err = "".join(seen), "".join(errors.queue)
        assert proc.returncode == 1, stdout + err
        assert "Traceback" not in err + stdout
        assert f"✗ failed — disk full: could not write log to {db}" in stdout

        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT status, message FROM runs").fetchall() == [
                ("failed", f"disk full: could not write log to {db}")
            ]
            assert conn.execute("SELECT status FROM steps WHERE name='talk'").fetchall() == [
                ("failed",)
            ]
    finally:
        subprocess.run(["umount", "-l", str(small)], capture_output=True)


def test_when_space_never_comes_back_the_cli_says_what_was_lost(tmp_path: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("mounting a 1 MB tmpfs needs root")
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        db = small / "history.db"
        wf = tmp_path / "chatty.yaml"
        wf.write_text(CHATTY)
        result = subprocess.run(
            [*flowtui_argv("run", str(wf), "--db", str(db), "-q")],
            capture_output=True,
            text=True,
            env=child_env(NO_COLOR="1"),
            timeout=60,
        )
        assert result.returncode == 1
        assert "Traceback" not in result.stderr + result.stdout
        assert f"✗ failed — disk full: could not write log to {db}" in result.stdout
        assert f"log lines of run 1 were not stored (disk full: could not write log to {db})" in (
            result.stderr
        )
        # a status change is small: it still fits where a flood of log lines did not
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT status, message FROM runs").fetchall() == [
                ("failed", f"disk full: could not write log to {db}")
            ]
            notes = [r[0] for r in conn.execute("SELECT line FROM logs WHERE step = ''")]
            lost = f"log lines not stored: disk full: could not write to {db}"
            assert any(note.endswith(lost) for note in notes), notes
    finally:
        subprocess.run(["umount", "-l", str(small)], capture_output=True)
