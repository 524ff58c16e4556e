"""The dashboard around runs: approvals in context, failures that point to the next step,
other processes' runs announced, nothing rerun for nothing (Pilot, real runs)."""

from __future__ import annotations

import asyncio
import getpass
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from textual.widgets import Label, Static

from flowtui.tui.app import FlowApp
from flowtui.tui.screens.approval import ApprovalScreen
from flowtui.tui.view import build_detail
from flowtui.tui.widgets.dag_view import DagView
from flowtui.tui.widgets.failure_panel import FailurePanel
from flowtui.tui.widgets.timeline import TimelineView
from tests.tui.test_app import (
    SIZE,
    Notes,
    db_rows,
    header,
    run_status,
    select,
    step_status,
    until,
    write,
)
from tests.tui.test_dag_view import screen_lines

GATE = """
name: gate
steps:
  plan: {run: 'echo "summary=2 to add, 1 to change" >> "$FLOWTUI_OUTPUT"'}
  approve:
    type: approval
    requires: [plan]
    message: Check the plan first
    timeout: 1h
  apply: {requires: [approve], run: echo applied}
"""


async def test_rerun_from_failed_of_a_run_with_nothing_failed_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(
        folder,
        "ok.yaml",
        "name: ok\nsteps:\n  a: {run: echo a}\n  b: {requires: [a], run: echo b}\n",
    )
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    notes = Notes()
    async with app.run_test(size=SIZE, message_hook=notes) as pilot:
        await app.ready.wait()
        await select(pilot, app, "ok")
        await pilot.press("r")
        await until(pilot, lambda: run_status(app, 1) == "succeeded")
        await pilot.press("f")
        await until(pilot, lambda: notes.matching("nothing to rerun"))
        assert db_rows(app, "SELECT count(*) FROM runs") == [(1,)]
        await pilot.press("F")  # from the start is still there
        await until(pilot, lambda: run_status(app, 2) == "succeeded")


def dag_text(app: FlowApp) -> str:
    return "\n".join(screen_lines(app.query_one(DagView)))


def held_seconds(app: FlowApp) -> float:
    """How long a held run has waited, in its header (`⏸ held 12.3s`): the hold's time."""
    found = re.search(r"held\s+(\d+\.\d)s", header(app))
    return float(found.group(1)) if found else -1.0


async def test_a_held_run_keeps_its_clock_and_its_box_shows_the_hold(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    # a plan of a second and more: the run's time and the hold's differ by that much
    write(folder, "gate.yaml", GATE.replace("plan: {run: '", "plan: {run: 'sleep 1.2; "))
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await select(pilot, app, "gate")
        await pilot.press("r")
        await until(pilot, lambda: held_seconds(app) >= 0)
        first = held_seconds(app)
        # nothing is recorded while it waits: only the clock can move the header on
        await until(pilot, lambda: held_seconds(app) >= first + 1.0, timeout=10)
        # the approval's box shows how long it has been held, beside the plan's time,
        # and the header the same hold's time (not the run's, which counts the plan too)
        lines = dag_text(app).splitlines()
        row = next(i for i, line in enumerate(lines) if "⏸ approve" in line)
        assert len(re.findall(r"\d+\.\ds", lines[row + 1])) == 2, "\n".join(lines[:4])
        run = await app.history.get_run(1)
        approve = next(s for s in await app.history.get_steps(1) if s.name == "approve")
        assert run is not None and approve.held_at is not None and run.started_at is not None
        shown, now = held_seconds(app), time.time()
        assert shown <= now - approve.held_at + 0.15, (shown, now - approve.held_at)
        assert now - run.started_at - shown >= 1.0, (shown, now - run.started_at)


FAILING = """
name: failing
steps:
  build: {run: echo built}
  flaky_tests: {run: 'test "$FLOWTUI_ATTEMPT" = 2', retries: 1, retry_delay: 0s}
  lint: {run: exit 3, continue_on_failure: true}
  slow: {run: sleep 5, timeout: 1s}
  test: {requires: [build], run: 'echo running tests; echo "AssertionError: 2 != 3" >&2; exit 1'}
  deploy: {requires: [test, slow], run: echo never}
"""


async def test_a_failure_selects_its_step_and_says_what_to_do(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(folder, "failing.yaml", FAILING)
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    notes = Notes()
    async with app.run_test(size=SIZE, message_hook=notes) as pilot:
        await app.ready.wait()
        await select(pilot, app, "failing")
        await pilot.press("r")
        await until(pilot, lambda: run_status(app, 1) == "failed")
        panel = app.query_one(FailurePanel)
        await until(pilot, lambda: panel.failure is not None)
        assert panel.display
        text = str(panel.render())
        # the first to fail is the one to look at, with its last stderr lines
        assert "✗ test failed — exit code 1: AssertionError: 2 != 3  (also: slow)" in text, text
        assert "│ AssertionError: 2 != 3" in text and "running tests" not in text, text
        assert app.query_one(DagView).selected == "test" == app.view.step
        assert "f rerun from failed" in text and "l its log" in text and "e edit" in text
        assert "s a shell there" in text
        await until(pilot, lambda: notes.matching("failing run 1 failed: "))
        await notes.all_in(pilot, app)
        # named once: from this process's bus, not again from the history
        assert notes.matching("failing run 1 failed: slow timed out, test failed")
        assert len(notes.matching("failing run 1 failed")) == 1, notes.messages
        # every step looks like what happened to it
        drawn = dag_text(app)
        assert "○ deploy" in drawn  # never ran: not "·" as a pending step
        assert "⧗ slow" in drawn  # a timeout
        assert "✗ lint" in drawn and "✗ test" in drawn
        assert re.search(r"×2", drawn), drawn  # the retried success
        states = {row.name: row.status for row in app.query_one(TimelineView).rows}
        assert states["deploy"] == "not_run"
        assert states["lint"] == "allowed_failure"
        assert states["slow"] == "timed_out"


async def test_other_processes_runs_are_announced(tmp_path: Path) -> None:
    """`flowtui run` and `flowtui approve` elsewhere on the dashboard's db: toasts here."""
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(folder, "gate.yaml", GATE)
    db = tmp_path / "h.db"
    app = FlowApp(folder, db_path=db, watch=False)
    notes = Notes()
    env = {**os.environ, "FLOWTUI_DB": str(db), "NO_COLOR": "1"}
    async with app.run_test(size=SIZE, message_hook=notes) as pilot:
        await app.ready.wait()
        proc = subprocess.Popen(
            [sys.executable, "-m", "flowtui", "run", str(folder / "gate.yaml"), "-q"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            await until(pilot, lambda: notes.matching("approve of run 1 waits for approval"))
            approve = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "flowtui", "approve", "1"],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert approve.returncode == 0, approve.stderr
            await until(pilot, lambda: notes.matching("gate run 1 succeeded"))
            assert await asyncio.to_thread(proc.wait, 20) == 0
        finally:
            proc.kill()
        await notes.all_in(pilot, app)
        assert len(notes.matching("waits for approval")) == 1, notes.messages


def texts(screen: ApprovalScreen) -> str:
    return "\n".join(str(w.render()) for w in screen.query(Static))


async def test_the_approval_dialog_shows_the_gate_in_context(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(folder, "gate.yaml", GATE)
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await select(pilot, app, "gate")
        await pilot.press("r")
        await until(pilot, lambda: step_status(app, 1, "approve") == "held")
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        screen = app.screen
        assert isinstance(screen, ApprovalScreen)
        text = texts(screen)
        assert "Approve approve of gate run #1?" in str(screen.query_one(Label).render())
        assert "Check the plan first" in text  # its message:
        assert f"started by manual ({getpass.getuser()}) at " in text
        assert "approvers: anyone" in text
        assert re.search(r"✓ plan\s+2 to add, 1 to change", text), text  # what it gates
        assert re.search(r"held for \d+\.\ds · rejected by itself in (59m\d\ds|1h00m)", text), text
        clock = str(screen.query_one("#gate-clock", Static).render())
        await until(pilot, lambda: str(screen.query_one("#gate-clock").render()) != clock)
        await pilot.press(*"ship it", "enter")
        await until(pilot, lambda: run_status(app, 1) == "succeeded")
        # the log's header says the decision once: by its approval record
        detail = await build_detail(app.history, await app.history.get_run(1), "approve")
        assert detail is not None and detail.approval is not None
        assert detail.approval.comment == "ship it"
        assert detail.message == "" and "approved_by" not in detail.outputs
        assert detail.duration is not None  # how long it was held


async def test_the_approval_dialog_fits_a_small_terminal(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(folder, "gate.yaml", GATE)
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.ready.wait()
        await select(pilot, app, "gate")
        await pilot.press("r")
        await until(pilot, lambda: step_status(app, 1, "approve") == "held")
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await pilot.pause()
        # inside the box's borders and padding: nothing cut off at the bottom
        box = app.screen.query_one("Vertical").content_region
        for widget in ("#prompt", "#ok", "#cancel", "#gate-results"):
            region = app.screen.query_one(widget).region
            assert box.contains_region(region), (widget, region, box)
