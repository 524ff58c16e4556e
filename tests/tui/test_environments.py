"""The dashboard's Environments view (Pilot, real runs): `E` lists workflow × environment
with status, release and age; its `p` shows what a promotion will run, starts it on yes,
and the protected environment's gate is approved with the dashboard's `a`."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Label

from flowtui.engine.identity import current_user
from flowtui.model.environments import bind_environment
from flowtui.tui.app import FlowApp
from flowtui.tui.screens.approval import ApprovalScreen
from flowtui.tui.screens.dialogs import ConfirmScreen
from flowtui.tui.screens.environments import EnvironmentsScreen
from flowtui.tui.widgets.run_history import RunHistory
from tests.cli.test_environments import DEPLOY, ENVIRONMENTS
from tests.tui.test_app import SIZE, run_status, step_status, until, write


async def test_the_environments_view_promotes_after_a_preview(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAGING_TOKEN", "t0ken-for-staging")
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(folder, "environments.yaml", ENVIRONMENTS % current_user())
    write(folder, "deploy.yaml", DEPLOY)
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        entry = next(e for e in app.catalog.entries if e.name == "deploy")
        assert entry.workflow is not None
        staging = bind_environment(entry.workflow, "staging")
        handle = await app.local_runner.submit(
            staging, params={"version": "3.1"}, triggered_by="ann", branch=""
        )
        await handle.wait()
        await until(pilot, lambda: run_status(app, 1) == "succeeded")

        await pilot.press("E")
        await until(pilot, lambda: isinstance(app.screen, EnvironmentsScreen))
        table = app.screen.query_one(DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert [r[:4] for r in rows] == [
            ["deploy", "staging", "succeeded", "3.1"],
            ["deploy", "production", "never run", "-"],
        ]
        assert rows[0][4].endswith(" ago") and rows[0][5] == "#1" and rows[1][7] == "staging"

        await pilot.press("j", "p")  # j: as ↓, like the lists
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        preview = str(app.screen.query_one(Label).render())
        assert "promote deploy: staging → production" in preview
        assert "release 3.1 from run #1" in preview and "version=3.1" in preview
        assert "steps: approve-production, build, ship" in preview
        await pilot.press("y")
        await until(pilot, lambda: step_status(app, 2, "approve-production") == "held")
        run = await app.history.get_run(2)
        assert run is not None and run.environment == "production" and run.trigger == "promote"

        await pilot.press("a")  # the gate is an approval like any other
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await pilot.press("enter")
        await until(pilot, lambda: run_status(app, 2) == "succeeded")
        await pilot.press("h")  # the history shows each run's environment
        await until(pilot, lambda: "production" in _history_text(app))
        logs = [line.line for line in await app.history.get_logs(2, "ship")]
        assert any("release=3.1 from=staging" in line for line in logs)


def _history_text(app: FlowApp) -> str:
    table = app.query_one(RunHistory)
    return " ".join(str(c) for i in range(table.row_count) for c in table.get_row_at(i))
