"""The keys' screens, fixed: the footer at both sizes with the DAG focused (its panel marked),
the delete question whole at 80 columns, the command line completing, the help."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from flowtui.tui.app import FlowApp
from flowtui.tui.screens.dialogs import ConfirmScreen, HelpScreen
from flowtui.tui.widgets.command_line import CommandLine
from flowtui.tui.widgets.dag_view import DagView
from tests.tui.test_app import header, until

FIXTURES = Path(__file__).parent / "fixtures"
SIZES = [(120, 40), (80, 24)]


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FlowApp:
    monkeypatch.chdir(FIXTURES)  # relative paths on screen: the same on every machine
    return FlowApp(Path("workflows"), db_path=tmp_path / "h.db", watch=False)


async def _deploy(pilot: Pilot[None]) -> FlowApp:
    app = pilot.app
    assert isinstance(app, FlowApp)
    await app.ready.wait()
    await pilot.press("j")
    dag = app.query_one(DagView)
    await until(pilot, lambda: "deploy" in header(app) and "notify" in dag.node_names)
    return app


async def _dag_focused(pilot: Pilot[None]) -> None:
    app = await _deploy(pilot)
    await pilot.press("g")
    await until(pilot, lambda: app.focused is app.query_one(DagView))


async def _delete_asked(pilot: Pilot[None]) -> None:
    app = await _deploy(pilot)
    await pilot.press("delete")
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
    await pilot.pause()


async def _command_completing(pilot: Pilot[None]) -> None:
    app = await _deploy(pilot)
    await pilot.press("colon", *"run ni")
    line = app.query_one(CommandLine)
    await until(pilot, lambda: line._suggestion == "run nightly")


async def _help(pilot: Pilot[None]) -> None:
    app = await _deploy(pilot)
    await pilot.press("question_mark")
    await until(pilot, lambda: isinstance(app.screen, HelpScreen))
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_dag_focused_footer(snap_compare, app: FlowApp, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size, run_before=_dag_focused)


@pytest.mark.parametrize("size", SIZES)
def test_delete_question(snap_compare, app: FlowApp, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size, run_before=_delete_asked)


def test_command_line_completes(snap_compare, app: FlowApp) -> None:
    assert snap_compare(app, terminal_size=(80, 24), run_before=_command_completing)


def test_help(snap_compare, app: FlowApp) -> None:
    assert snap_compare(app, terminal_size=(80, 24), run_before=_help)
