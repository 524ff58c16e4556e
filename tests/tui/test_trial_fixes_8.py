"""A new user's trial of the dashboard (session 8): each finding fixed and kept fixed
(Pilot, real files, real runs)."""

from __future__ import annotations

import asyncio
import getpass
import os
import subprocess
import sys
from pathlib import Path

from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Button, Input, Static, TabbedContent

from flowtui.tui.app import FlowApp
from flowtui.tui.dag_layout import _coarser
from flowtui.tui.log_pages import LOG_TAIL
from flowtui.tui.screens.approval import ApprovalScreen
from flowtui.tui.screens.dialogs import ConfirmScreen
from flowtui.tui.widgets.log_view import LogView
from flowtui.tui.widgets.run_history import RunHistory
from flowtui.tui.widgets.workflow_list import WorkflowList
from tests.tui.test_app import Notes, header, run_status, select, step_status, until, write

WIDE = (120, 40)
SMALL = (80, 24)

GATE = """\
name: gate
steps:
  plan: {run: "true"}
  approve: {type: approval, requires: [plan]}
  apply: {requires: [approve], run: "true"}
"""


def gate_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(folder, "gate.yaml", GATE)
    return folder


async def cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Another terminal: `flowtui ARGS` on the same history (the app's loop keeps going)."""
    env = {**os.environ, "FLOWTUI_DB": str(db)}
    command = [sys.executable, "-m", "flowtui", *args]
    return await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True)


async def start_elsewhere(app: FlowApp) -> None:
    """A run of `gate` not started by this dashboard's keys (as a trigger starts one)."""
    entry = app.catalog.by_name("gate")
    assert app.runner is not None and entry is not None and entry.workflow is not None
    await app.runner.submit(entry.workflow, params={}, trigger="cron")


def history_rows(app: FlowApp) -> list[str]:
    table = app.query_one(RunHistory)
    return [" ".join(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]


async def test_a_and_x_act_on_the_run_that_waits_not_an_older_one(tmp_path: Path) -> None:
    """#1: a run started here and ended gives the view to a newer run of its workflow;
    a run looked at on purpose (History) stays, and `a` acts on the held run the toast named."""
    folder = gate_folder(tmp_path)
    db = tmp_path / "h.db"
    notes = Notes()
    app = FlowApp(folder, db_path=db, watch=False, triggers=False)
    async with app.run_test(size=WIDE, message_hook=notes) as pilot:
        await app.ready.wait()
        await select(pilot, app, "gate")
        await pilot.press("r")  # run 1, started here: the view is pinned on it
        await until(pilot, lambda: step_status(app, 1, "approve") == "held")
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        # #10: the comment field (no frame) has a shade of its own in the box
        box = app.screen.query_one(Vertical)
        prompt = app.screen.query_one("#prompt", Input)
        assert prompt.styles.background != box.styles.background
        await pilot.press("enter")
        await until(pilot, lambda: run_status(app, 1) == "succeeded")
        await until(pilot, lambda: "succeeded" in header(app))

        # run 2 (a trigger's, another terminal's) holds at the gate: it takes the view
        await start_elsewhere(app)
        await until(pilot, lambda: "waiting: approve" in header(app) and "run #2" in header(app))
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        assert isinstance(app.screen, ApprovalScreen) and app.screen.run_id == 2
        await pilot.press("enter")
        await until(pilot, lambda: run_status(app, 2) == "succeeded")
        await until(pilot, lambda: "run #2" in header(app) and "succeeded" in header(app))

        # run 1 chosen in History stays shown while run 3 holds; `a` approves run 3
        await pilot.press("h")
        await until(pilot, lambda: len(history_rows(app)) == 2)
        await pilot.press("down", "enter")
        await until(pilot, lambda: "run #1" in header(app))
        await start_elsewhere(app)
        await until(pilot, lambda: notes.matching("approve of run 3 waits for approval"))
        await pilot.pause()
        assert "run #1" in header(app)  # looked at on purpose: not taken away
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        assert isinstance(app.screen, ApprovalScreen) and app.screen.run_id == 3
        await pilot.press("escape")
        # #5: ctrl+c asks as `q` does (Textual's hint came out as raw markup), once
        await pilot.press("ctrl+c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert len(app.screen_stack) == 2 and not notes.matching("[b]")
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await pilot.press("x")  # #4: the toast says what happened, in words
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await pilot.press("enter")
        await until(pilot, lambda: notes.matching("rejected approve of run 3"))
        assert not notes.matching("rejectd")


async def test_history_is_live_while_shown(tmp_path: Path) -> None:
    """#2: runs started and ended elsewhere, and a run of this dashboard ending, show up in
    the History tab without leaving it."""
    folder = gate_folder(tmp_path)
    db = tmp_path / "h.db"
    app = FlowApp(folder, db_path=db, watch=False, triggers=False)
    async with app.run_test(size=WIDE) as pilot:
        await app.ready.wait()
        await select(pilot, app, "gate")
        await pilot.press("r")
        await until(pilot, lambda: step_status(app, 1, "approve") == "held")
        await pilot.press("h")
        await until(pilot, lambda: any("#1" in r and "held" in r for r in history_rows(app)))
        table = app.query_one(RunHistory)
        held_for = str(table.get_cell("1", "duration"))  # the clock moves a live run's time
        await until(pilot, lambda: str(table.get_cell("1", "duration")) != held_for)
        assert (await cli(db, "run", "gate", "--detach", "--dir", str(folder))).returncode == 0
        await until(pilot, lambda: any(r.startswith("#2") for r in history_rows(app)))
        assert (await cli(db, "cancel", "2")).returncode == 0
        await until(pilot, lambda: any("#2" in r and "cancelled" in r for r in history_rows(app)))
        # #8: an open dialog sees the step decided from a CLI, and stops offering it
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        dialog = app.screen
        assert isinstance(dialog, ApprovalScreen)
        done = await cli(db, "approve", "1", "approve")  # this dashboard's run ends
        assert done.returncode == 0, done.stderr
        await until(pilot, lambda: dialog.decided_text is not None)
        assert f"approved by {getpass.getuser()}" in str(dialog.decided_text)
        assert dialog.query_one("#ok", Button).disabled
        await pilot.press("enter")  # closes; nothing is sent
        await until(pilot, lambda: not isinstance(app.screen, ApprovalScreen))
        await until(pilot, lambda: any("#1" in r and "succeeded" in r for r in history_rows(app)))
        assert app.query_one(TabbedContent).active == "history"


def test_a_sub_second_time_is_never_shown_as_0s() -> None:
    """#9"""
    assert _coarser("0.3s") == "<1s"
    assert _coarser("0.0s") == "<1s"
    assert _coarser("10.8s") == "11s"


async def test_a_long_list_at_80_columns_keeps_its_last_column(tmp_path: Path) -> None:
    """#3: with a vertical scrollbar, the names are cut before the last result is."""
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(1, 46):
        write(
            folder,
            f"s{i:02}.yaml",
            f"name: service-number-{i:02}-deploy\nsteps:\n  a: {{run: 'true'}}\n",
        )
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False, triggers=False)
    async with app.run_test(size=SMALL) as pilot:
        await app.ready.wait()
        await pilot.pause()
        table = app.query_one(WorkflowList)
        assert table.show_vertical_scrollbar and not table.show_horizontal_scrollbar
        assert table.virtual_size.width <= table.size.width - table.styles.scrollbar_size_vertical
        first = [str(cell) for cell in table.get_row_at(0)]
        assert first[2] == "never run" and first[1].startswith("service-")
        # #6: the palette's help texts are not read as markup (`:approve RUN [STEP]`)
        commands = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert Content.from_markup(commands["Command"]).plain.endswith(
            ":approve RUN [STEP], :rerun RUN, :theme NAME…"
        )


async def test_a_history_that_goes_away_is_one_line_not_a_stack_of_toasts(
    tmp_path: Path,
) -> None:
    """#7: one notice, a line that stays while the history is away, one notice when back."""
    from tests.tui.test_resilience import Broken

    folder = gate_folder(tmp_path)
    notes = Notes()
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False, triggers=False)
    async with app.run_test(size=SMALL, message_hook=notes) as pilot:
        await app.ready.wait()
        assert app.store is not None
        error = OSError("cannot connect to server\nline two\nline three")
        broken = Broken(app.store, "last_event_id", error)
        line = app.query_one("#history-down", Static)
        await until(pilot, lambda: broken.calls >= 2)  # the poller tried again
        await notes.all_in(pilot, app)
        assert len(notes.matching("history unavailable")) == 1
        assert line.has_class("-visible") and line.region.height == 1
        assert "history unavailable: cannot connect to server" in str(line.render())
        broken.fix()
        await until(pilot, lambda: not line.has_class("-visible"))
        await until(pilot, lambda: notes.matching("the history answers again"))


async def test_a_log_search_says_it_looked_at_the_loaded_lines_only(tmp_path: Path) -> None:
    """#11: a search the loaded lines do not have says so; enter looks in the stored log and
    jumps there; the search's result
    and the cap's notice come first in the status line (it is cut at the pane's edge)."""
    from tests.tui.test_log_paging import PagedApp, status, stored_log

    store, run_id = await stored_log(tmp_path / "h.db", LOG_TAIL + 50)
    app = PagedApp(store, run_id, "long")
    try:
        async with app.run_test(size=(60, 20)) as pilot:
            view = app.query_one(LogView)
            await until(pilot, lambda: view.line_count == LOG_TAIL)
            view.set_dropped(7)
            await pilot.press("slash")
            view.query_one("#log-search", Input).value = "line 0"  # stored, not loaded
            await until(pilot, lambda: "no matches" in status(app))
            assert status(app).startswith(
                "/line 0  no matches in the loaded lines — enter searches all · log cap"
            )
            assert "older lines not loaded: ↑ or home" in status(app)
            assert "enter searches all" in status(app)
            await pilot.press("enter")  # the stored line is found, and shown as the match
            await until(pilot, lambda: view.current_match is not None)
            assert view.current_match is not None
            assert view.lines[view.current_match] == "line 0"
            assert status(app).startswith("/line 0  1/")
            await pilot.press("slash", *"nowhere", "enter")  # typed right behind `/`
            await until(pilot, lambda: "no matches in the whole log" in status(app))
    finally:
        await store.close()


async def test_runs_of_workflows_outside_the_folder_are_not_toasted(tmp_path: Path) -> None:
    """A shared history (a `serve` elsewhere runs other workflows): their ends and holds are
    not this dashboard's to toast (the inbox lists every hold); its folder's are."""
    folder = gate_folder(tmp_path)
    other = tmp_path / "elsewhere"
    other.mkdir()
    write(other, "tick.yaml", "name: tick\nsteps:\n  t: {run: 'true'}\n")
    write(other, "hold.yaml", "name: hold\nsteps:\n  wait: {type: approval}\n")
    db = tmp_path / "h.db"
    notes = Notes()
    app = FlowApp(folder, db_path=db, watch=False, triggers=False)
    async with app.run_test(size=WIDE, message_hook=notes) as pilot:
        await app.ready.wait()
        assert (await cli(db, "run", str(other / "tick.yaml"), "-q")).returncode == 0
        started = await cli(db, "run", str(other / "hold.yaml"), "--detach", "-q")
        assert started.returncode == 0, started.stderr
        try:
            gate = await cli(db, "run", str(folder / "gate.yaml"), "--detach", "-q")
            assert gate.returncode == 0, gate.stderr
            await until(pilot, lambda: notes.matching("approve of run 3 waits"))
            assert (await cli(db, "cancel", "3")).returncode == 0
            await until(pilot, lambda: notes.matching("gate run 3 cancelled"))
            await notes.all_in(pilot, app)
            assert not notes.matching("tick run") and not notes.matching("of run 2 waits")
        finally:  # no detached run left behind, whatever failed
            await cli(db, "cancel", "2")
            await cli(db, "cancel", "3")
