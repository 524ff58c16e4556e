"""The dashboard on a PostgreSQL history: a run started by another process (another
machine, as far as the dashboard can tell) shows up live, and `a` approves it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from flowtui.tui.app import FlowApp
from flowtui.tui.screens.approval import ApprovalScreen
from flowtui.tui.widgets.workflow_list import WorkflowList
from tests.team.teamkit import Team

GATED = """
name: gated
steps:
  build: {runs_on: east, run: echo "built on $FLOWTUI_WORKER"}
  gate: {type: approval, requires: [build]}
  ship: {requires: [gate], runs_on: east, run: echo "shipped on $FLOWTUI_WORKER"}
"""


async def test_a_run_of_another_process_is_shown_and_approved(team: Team) -> None:
    team.worker("w-east", "east")
    folder = team.folder / "workflows"
    folder.mkdir()
    (folder / "gated.yaml").write_text(GATED.lstrip())
    app = FlowApp(folder, db_path=team.url, watch=False, triggers=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.ready.wait()
        runner, lines = team.start("run", str(folder / "gated.yaml"))  # another process

        def header() -> str:
            return str(app.query_one("#run-header").render())

        async def until(condition: Callable[[], bool], what: str) -> None:
            try:
                async with asyncio.timeout(30):
                    while not condition():
                        await pilot.pause(0.05)
            except TimeoutError:
                raise AssertionError(f"timed out waiting for {what}") from None

        table = app.query_one(WorkflowList)
        table.move_cursor(row=0)
        await until(lambda: "waiting: gate" in header(), "the held run in the header")
        await pilot.press("a")
        await until(lambda: isinstance(app.screen, ApprovalScreen), "the comment prompt")
        await pilot.press(*"from the dashboard", "enter")
        await asyncio.to_thread(runner.wait, 60)
        assert runner.returncode == 0, "".join(lines.seen)
        await until(lambda: "succeeded" in header(), "the finished run")
    shown = team.cli("show", "last")
    assert "approved by flowtui: from the dashboard" in shown
    assert "shipped on w-east" in shown
