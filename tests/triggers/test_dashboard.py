"""The dashboard runs the triggers while it is open: a chain fires, a webhook port opens
only when asked for."""

from __future__ import annotations

import textwrap
from pathlib import Path

from flowtui.tui.app import FlowApp
from flowtui.tui.screens.dialogs import ParamsScreen
from tests.triggers.test_chain import BUILD, DEPLOY
from tests.tui.test_app import SIZE, run_status, select, until


async def test_dashboard_starts_chained_runs_and_no_port_by_default(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "build.yaml").write_text(textwrap.dedent(BUILD))
    (folder / "deploy.yaml").write_text(textwrap.dedent(DEPLOY))
    app = FlowApp(folder, db_path=tmp_path / "dash.db", watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        assert app.trigger_service is not None and app.trigger_service.webhook_port is None
        await select(pilot, app, "build")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ParamsScreen))
        await pilot.press("enter")  # accept the default params
        await until(pilot, lambda: run_status(app, 1) == "succeeded")
        await until(pilot, lambda: run_status(app, 2) == "succeeded")
    assert app.trigger_service is not None


async def test_dashboard_opens_the_webhook_port_when_given(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "build.yaml").write_text(textwrap.dedent(BUILD))
    app = FlowApp(folder, db_path=tmp_path / "dash.db", watch=False, webhook_port=0)
    async with app.run_test(size=SIZE):
        await app.ready.wait()
        assert app.trigger_service is not None
        assert app.trigger_service.webhook_port
