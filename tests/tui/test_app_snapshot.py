"""The dashboard's look, fixed: workflow list, banner for a broken file, DAG of the selection."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from flowtui.tui.app import FlowApp
from flowtui.tui.widgets.dag_view import DagView
from tests.tui.test_app import header, until

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FlowApp:
    monkeypatch.chdir(FIXTURES)  # relative paths on screen: the same on every machine
    return FlowApp(Path("workflows"), db_path=tmp_path / "h.db", watch=False)


async def _select_deploy(pilot: Pilot[None]) -> None:
    """Move to the second workflow (deploy) and wait until the right side shows it: it is
    drawn by a worker, which the screenshot would not wait for."""
    app = pilot.app
    assert isinstance(app, FlowApp)
    await app.ready.wait()
    await pilot.press("j")
    dag = app.query_one(DagView)
    await until(pilot, lambda: "deploy" in header(app) and "notify" in dag.node_names)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_dashboard_list_and_dag(snap_compare, app: FlowApp, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size, run_before=_select_deploy)


def test_themes_are_registered_and_switchable(app: FlowApp) -> None:
    import asyncio

    async def go() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await app.ready.wait()
            assert app.theme == "flowtui-dark"
            for name in ("flowtui-light", "flowtui-high-contrast"):
                app.theme = name
                await pilot.pause()
                assert app.current_theme.name == name
            titles = [c.title for c in app.get_system_commands(app.screen)]
            assert any(t.startswith("Approve") for t in titles)
            assert any(t.startswith("Rerun failed") for t in titles)

    asyncio.run(go())
