"""The dashboard's `R` (rerun from the selected step, previewed on the graph first) and `s`
(a shell at the selected step), with real runs (Pilot)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from textual.pilot import Pilot

from flowtui.tui.app import FlowApp
from flowtui.tui.screens.rerun_preview import RerunPreviewScreen
from flowtui.tui.widgets.dag_view import DagView
from tests.tui.test_app import SIZE, Notes, db_rows, run_status, select, until, write
from tests.tui.test_dag_view import screen_lines

CHAIN = """
name: chain
steps:
  build: {run: 'echo built > "$FLOWTUI_WORKSPACE/artifact"; echo "tag=v7" >> "$FLOWTUI_OUTPUT"'}
  lint: {requires: [build], run: echo lint}
  deploy: {requires: [build], run: 'grep -q built "$FLOWTUI_WORKSPACE/artifact"'}
  smoke: {requires: [deploy], run: echo smoke}
"""


async def _ran(pilot: Pilot, app: FlowApp) -> None:
    await app.ready.wait()
    await select(pilot, app, "chain")
    await pilot.press("r")
    await until(pilot, lambda: run_status(app, 1) == "succeeded")


async def _select_step(pilot: Pilot, app: FlowApp, name: str) -> None:
    dag = app.query_one(DagView)
    dag.focus()
    for key in ("left", "left", "up", "up"):  # to the first step
        await pilot.press(key)
    for key in ("right", "down", "right"):
        if app.view.step == name:
            return
        await pilot.press(key)
    await until(pilot, lambda: app.view.step == name)


def _statuses(app: FlowApp, run_id: int) -> dict[str, str]:
    rows = db_rows(app, "SELECT name, status FROM steps WHERE run_id=?", run_id)
    return {str(n): str(s) for n, s in rows}


async def test_R_previews_the_rerun_on_the_graph_and_reruns_only_when_confirmed(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(folder, "chain.yaml", CHAIN)
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await _ran(pilot, app)
        await _select_step(pilot, app, "deploy")
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, RerunPreviewScreen))
        screen = app.screen
        assert isinstance(screen, RerunPreviewScreen)
        await pilot.pause()
        drawn = "\n".join(screen_lines(screen.query_one(DagView)))
        # what runs again stands out (↻, "rerun"); what is reused is drawn reused (dimmed)
        assert "↻ deploy" in drawn and "↻ smoke" in drawn, drawn
        assert "✓ build" in drawn and "✓ lint" in drawn, drawn
        assert "rerun" in drawn
        title = str(screen.query_one(".title").render())
        assert "Rerun run #1 (chain) from deploy? 2 to run again, 2 reused" in title
        reason = str(screen.query_one("#preview-reason").render())
        assert reason == "deploy: runs again — rerun from here"
        await pilot.press("right")  # the reason follows the selection
        await until(
            pilot,
            lambda: (
                str(screen.query_one("#preview-reason").render())
                == "smoke: runs again — depends on deploy"
            ),
        )
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, RerunPreviewScreen))
        assert db_rows(app, "SELECT count(*) FROM runs") == [(1,)]  # nothing started

        await _select_step(pilot, app, "deploy")
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, RerunPreviewScreen))
        await pilot.press("y")
        await until(pilot, lambda: run_status(app, 2) == "succeeded")
        assert _statuses(app, 2) == {
            "build": "reused",
            "lint": "reused",
            "deploy": "succeeded",  # found build's file: the workspace came along
            "smoke": "succeeded",
        }


async def test_R_says_why_when_it_cannot_act(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(folder, "chain.yaml", CHAIN)
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    notes = Notes()
    async with app.run_test(size=SIZE, message_hook=notes) as pilot:
        await app.ready.wait()
        await select(pilot, app, "chain")
        await pilot.press("R")
        await until(pilot, lambda: notes.matching("no run shown"))
        await pilot.press("r")
        await until(pilot, lambda: run_status(app, 1) == "succeeded")
        app.view.step = None
        await pilot.press("R")
        await until(pilot, lambda: notes.matching("select a step in the DAG (g) to rerun from it"))
        assert not isinstance(app.screen, RerunPreviewScreen)


async def test_s_opens_the_shell_at_the_selected_step_and_comes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(folder, "chain.yaml", CHAIN)
    seen = tmp_path / "seen.txt"
    fake_shell = tmp_path / "fake-shell"
    fake_shell.write_text(
        f'#!/bin/sh\n{{ pwd; echo "$FLOWTUI_STEP"; echo "$STEPS_BUILD_TAG"; }} > "{seen}"\nexit 5\n'
    )
    fake_shell.chmod(fake_shell.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("SHELL", str(fake_shell))
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    notes = Notes()
    async with app.run_test(size=SIZE, message_hook=notes) as pilot:
        await _ran(pilot, app)
        await _select_step(pilot, app, "smoke")
        await pilot.press("s")
        await until(pilot, lambda: notes.matching("back from the shell at smoke (exit 5)"))
    assert seen.read_text().splitlines() == [str(folder.resolve()), "smoke", "v7"]
