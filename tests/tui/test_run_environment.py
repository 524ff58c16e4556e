"""The dashboard's run dialog offers the workflow's environments (Pilot, real runs): `r`
picks none or one of them (a protected one says so) and the run is bound to it as
`flowtui run --env` binds it; `:run NAME --env ENV` chooses it at first, and an unknown
one is refused by name."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Select

from flowtui.engine.identity import current_user
from flowtui.tui.app import FlowApp
from flowtui.tui.screens.dialogs import ParamsScreen
from tests.tui.test_app import SIZE, run_status, select, step_status, until, write
from tests.tui.test_command_mode import type_command

ENVIRONMENTS = """\
environments:
  staging:
    variables: {TARGET: staging.local}
  production:
    variables: {TARGET: prod.local}
    protection: {approvers: [%s]}
"""

DEPLOY = """\
name: deploy
params:
  version: {default: "1.0"}
steps:
  ship:
    run: echo "ship $PARAM_VERSION to $TARGET in $FLOWTUI_ENVIRONMENT"
"""


async def test_the_run_dialog_binds_the_chosen_environment(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(folder, "environments.yaml", ENVIRONMENTS % current_user())
    write(folder, "deploy.yaml", DEPLOY)
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await select(pilot, app, "deploy")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ParamsScreen))
        choice = app.screen.query_one(Select)
        assert [str(prompt) for prompt, _ in choice._options] == [
            "none",
            "staging",
            f"production (protected: approval by {current_user()})",
        ]
        assert choice.value == ""  # none, unless chosen
        # from the version field back to the choice; open it, pick production, run
        await pilot.press("shift+tab", "enter", "down", "down", "enter")
        await until(pilot, lambda: choice.value == "production")
        await pilot.press("tab", "enter")
        await until(pilot, lambda: step_status(app, 1, "approve-production") == "held")
        run = await app.history.get_run(1)
        assert run is not None and run.environment == "production"
        assert run.definition["gate"]["spec"]["approvers"] == [current_user()]

        # `:run NAME --env ENV` chooses it at first; the run gets its variables
        await type_command(pilot, app, "run deploy --env staging")
        await until(pilot, lambda: isinstance(app.screen, ParamsScreen))
        assert app.screen.query_one(Select).value == "staging"
        await pilot.press("enter")
        await until(pilot, lambda: run_status(app, 2) == "succeeded")
        logs = [line.line for line in await app.history.get_logs(2, "ship")]
        assert any("ship 1.0 to staging.local in staging" in line for line in logs)

        assert await app.command_candidates("run", 1, ["deploy"]) == ["--env"]
        assert await app.command_candidates("run", 2, ["deploy", "--env"]) == [
            "staging",
            "production",
        ]
        await type_command(pilot, app, "run deploy --env prod")
        await until(
            pilot,
            lambda: any(
                "deploy has no environment `prod`" in str(n.message) for n in app._notifications
            ),
        )
        assert not isinstance(app.screen, ParamsScreen)
