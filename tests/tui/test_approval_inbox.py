"""The dashboard's side of approvals that carry decisions (Pilot, real runs): the dialog asks
the gate's inputs and refuses answers that do not fit, `i` opens the inbox of every held
step with approve/reject from it, and the step's detail shows the audit trail."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Checkbox, DataTable, Input, Select, Static

from flowtui.tui.app import FlowApp
from flowtui.tui.screens.approval import ApprovalScreen
from flowtui.tui.screens.inbox import InboxScreen
from flowtui.tui.view import build_detail
from flowtui.tui.widgets.log_view import detail_content
from tests.cli.test_approval_inputs import SHIP
from tests.tui.test_app import SIZE, Notes, run_status, select, step_status, until, write

OTHER = """
name: other
steps:
  hold: {type: approval, message: Second gate}
"""


async def _held_ship(pilot: Pilot[None], app: FlowApp) -> None:
    await app.ready.wait()
    await select(pilot, app, "ship")
    await pilot.press("r")
    await until(pilot, lambda: step_status(app, 1, "approve") == "held")


async def test_the_dialog_asks_the_inputs_and_refuses_a_missing_one(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(folder, "ship.yaml", SHIP)
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await _held_ship(pilot, app)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        screen = app.screen
        assert isinstance(screen, ApprovalScreen)
        version = screen.query_one("#input-version", Input)
        assert app.focused is version  # the first field has the keys
        assert screen.query_one("#input-target", Select).value == "staging"
        assert screen.query_one("#input-dry", Checkbox).value is False

        await pilot.press("enter")  # version left out: said in the dialog, which stays
        await pilot.pause()
        error = str(screen.query_one("#gate-error", Static).render())
        assert "missing required input version (string, required)" in error
        assert app.screen is screen and step_status(app, 1, "approve") == "held"

        version.value = "1.4.2"
        screen.query_one("#input-dry", Checkbox).value = True
        await pilot.press("enter")
        await until(pilot, lambda: run_status(app, 1) == "succeeded")
        outputs = (await app.history.get_outputs(1))["approve"]
        assert (outputs["version"], outputs["target"], outputs["dry"]) == (
            "1.4.2",
            "staging",
            "true",
        )
        detail = await build_detail(app.history, await app.history.get_run(1), "approve")
        assert detail is not None
        assert "inputs version=1.4.2, target=staging, dry=true" in str(detail_content(detail))


async def test_i_opens_the_inbox_and_approves_from_it(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(folder, "ship.yaml", SHIP)
    write(folder, "other.yaml", OTHER)
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    notes = Notes()
    async with app.run_test(size=SIZE, message_hook=notes) as pilot:
        await app.ready.wait()
        await pilot.press("i")  # nothing held yet: it says so
        await until(pilot, lambda: notes.matching("nothing waits for approval"))
        assert not isinstance(app.screen, InboxScreen)

        await _held_ship(pilot, app)
        await select(pilot, app, "other")
        await pilot.press("r")
        await until(pilot, lambda: step_status(app, 2, "hold") == "held")
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, InboxScreen))
        table = app.screen.query_one(DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert [r[:4] for r in rows] == [
            ["#1", "ship", "approve", "Ship it?"],
            ["#2", "other", "hold", "Second gate"],
        ]
        assert rows[0][5] == "no timeout" and rows[0][6] == "anyone"

        await pilot.press("j", "a")  # j as ↓; approve `hold` of run 2: its dialog, then enter
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        assert "hold of other run #2" in str(app.screen.query_one(".title").render())
        await pilot.press("enter")
        await until(pilot, lambda: run_status(app, 2) == "succeeded")

        await pilot.press("i", "x")  # reject the one left, from the inbox
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await pilot.press(*"not today", "enter")
        await until(pilot, lambda: step_status(app, 1, "approve") == "rejected")
