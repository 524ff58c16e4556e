"""The dashboard's folder watcher and `environments.yaml` (Pilot, a real watch): saving
only that file reloads the folder's workflows (validated and bound with it) and redraws
the Environments view (`E`) if it is open."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable

from flowtui.tui.app import FlowApp
from flowtui.tui.screens.environments import EnvironmentsScreen
from tests.tui.test_app import SIZE, until, watcher_on, write

DEPLOY = """\
name: deploy
steps:
  ship:
    run: echo "ship to $TARGET"
"""


def _envs(*names: str) -> str:
    return "environments:\n" + "".join(f"  {n}:\n    variables: {{TARGET: {n}}}\n" for n in names)


def _rows(app: FlowApp) -> list[str]:
    table = app.screen.query_one(DataTable)
    return [str(table.get_row_at(i)[1]) for i in range(table.row_count)]


async def test_saving_environments_yaml_reloads_the_workflows_and_the_view(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(folder, "environments.yaml", _envs("staging"))
    write(folder, "deploy.yaml", DEPLOY)
    app = FlowApp(folder, db_path=tmp_path / "h.db")
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await watcher_on(pilot, app)

        def deploy_envs() -> list[str]:
            entry = app.catalog.by_name("deploy")
            return list(entry.workflow.environments) if entry and entry.workflow else []

        def deploy_error() -> str:
            entry = app.catalog.by_name("deploy")
            return entry.error or "" if entry else ""

        assert deploy_envs() == ["staging"]
        await pilot.press("E")
        await until(pilot, lambda: isinstance(app.screen, EnvironmentsScreen))
        assert _rows(app) == ["staging"]

        write(folder, "environments.yaml", _envs("staging", "production"))
        await until(pilot, lambda: deploy_envs() == ["staging", "production"])
        await until(pilot, lambda: _rows(app) == ["staging", "production"])

        # a broken file: the workflow keeps its last good version and says where
        write(folder, "environments.yaml", "environments:\n  qa:\n    varibles: {A: b}\n")
        await until(pilot, lambda: "environments.yaml:3:5" in deploy_error())
        assert deploy_envs() == ["staging", "production"]
        write(folder, "environments.yaml", _envs("qa"))
        await until(pilot, lambda: deploy_envs() == ["qa"] and not deploy_error())
        await until(pilot, lambda: _rows(app) == ["qa"])
