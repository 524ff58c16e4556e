"""A new user's trial of the dashboard (session 7): each finding fixed and kept fixed
(Pilot, real files, real runs)."""

from __future__ import annotations

import re
from pathlib import Path

from textual.content import Content
from textual.widgets import Button, DataTable, Input, Static, TabbedContent
from textual.widgets._toast import Toast, ToastRack
from textual.widgets.data_table import ColumnKey

from flowtui.tui.app import FlowApp
from flowtui.tui.dag_layout import compute_layout, render_row
from flowtui.tui.markup import cells, escape
from flowtui.tui.screens.dialogs import ConfirmScreen
from flowtui.tui.widgets.dag_view import DagView
from flowtui.tui.widgets.log_lines import LogLines
from flowtui.tui.widgets.log_view import LogView
from flowtui.tui.widgets.workflow_list import WorkflowList
from tests.tui.test_app import Notes, header, run_status, select, until, write

WIDE = (120, 40)
SMALL = (80, 24)

GOOD = """\
name: gate
description: ends [/dim] and [/] and [b here
steps:
  plan: {run: "true"}
  apply: {requires: [plan], run: "true"}
"""
# a YAML error whose message quotes the line: `[`, `[/dim]`, `[/]` in the error text
BROKEN = GOOD.replace('requires: [plan], run: "true"}', "requires: [plan, run: echo [/dim] [/]}")


def test_escape_shows_any_text_as_it_is() -> None:
    for text in ["the `[` opened", "[/dim]", "[/]", "x [build", "[$x]", "end\\", "\\[b]x"]:
        shown = Content.from_markup(f"[dim]{escape(text)}[/dim]").plain
        assert shown.replace("\u200b", "") == text


async def reload(app: FlowApp, path: Path) -> None:
    """What the folder watcher does with a changed file."""
    await app.reload_catalog([path])
    await app.refresh_list()
    await app.refresh_view()


async def test_an_error_text_with_brackets_never_ends_the_app(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    path = write(folder, "gate.yaml", GOOD)
    notes = Notes()
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=WIDE, message_hook=notes, notifications=True) as pilot:
        await app.ready.wait()
        await select(pilot, app, "gate")
        assert "ends [/dim] and [/] and [b here" in header(app)

        path.write_text(BROKEN)
        await reload(app, path)
        banner = app.query_one("#banner", Static)
        assert banner.has_class("-visible")
        assert "the `[` opened" in str(banner.render())
        assert "echo [/dim] [/]" in str(app.query_one("#workflow-error", Static).render())
        assert "invalid" in header(app)
        await pilot.pause()

        path.write_text(GOOD)  # fixed: the banner goes, the header says so
        await reload(app, path)
        assert not banner.has_class("-visible")
        assert "invalid" not in header(app)
        # a toast of user text (an error message, a comment) is shown as it is
        app.notify("run failed: [/dim] [/] [b", title="[/]")
        app.query_one("#run-header").notify("from a widget: [/dim]")
        await notes.all_in(pilot, app)
        await pilot.pause()
        assert app.is_running
        assert not [m for m in notes.messages if "Error" in m], notes.messages

        # dialogs and tables of user text
        await app.push_screen(ConfirmScreen("delete [/dim] x.yaml?"))
        await pilot.pause()
        assert app.is_running
        app.pop_screen()
        table: DataTable[object] = DataTable()
        await app.screen.mount(table)
        table.add_columns("a")
        table.add_row(*cells(("[/dim] [/]",)))
        await pilot.pause()
        assert app.is_running


LONG = """\
name: talk
steps:
  say:
    run: |
      for i in 1 2 3; do
        echo "line $i: the quick brown fox jumps over the lazy dog and runs past the edge END$i"
      done
"""


async def test_the_logs_keys_the_help_lists_work_on_the_logs_tab(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(folder, "talk.yaml", LONG)
    write(folder, "other.yaml", "name: other\nsteps:\n  a: {run: 'true'}\n")
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=SMALL) as pilot:
        await app.ready.wait()
        await select(pilot, app, "talk")
        await pilot.press("r")
        await until(pilot, lambda: run_status(app, 1) == "succeeded")
        await pilot.press("g", "l")
        logs = app.query_one(LogView)
        lines = app.query_one(LogLines)
        await until(pilot, lambda: lines.row_total >= 3)
        tabs = app.query_one(TabbedContent)
        # cut lines say so, and → scrolls sideways
        width = lines.scrollable_content_region.width
        assert lines.render_line(0).text.endswith("…")
        await pilot.press("right", "right")
        assert lines.scroll_x > 0
        assert lines.render_line(0).text.startswith("…")
        await pilot.press("w")
        assert logs.wrap
        await until(pilot, lambda: lines.row_total > 3)  # a long line takes more rows
        assert "END1" in "".join(lines.render_line(y).text for y in range(lines.row_total))
        assert width > 0
        await pilot.press("t")
        assert logs.timestamps and tabs.active == "logs"
        # after another tab and back, the keys still reach the log, not the list
        await pilot.press("g", "l")
        cursor = app.query_one(WorkflowList).cursor_row
        await pilot.press("t", "j")
        assert not logs.timestamps and tabs.active == "logs"
        assert app.query_one(WorkflowList).cursor_row == cursor
        # the palette finds a panel's keys by name, and runs them on the panel
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        assert "Wrap (Logs)" in commands and "Times (Logs)" in commands
        await pilot.press("g")
        await commands["Wrap (Logs)"].callback()
        assert tabs.active == "logs" and not logs.wrap


async def test_a_hidden_filter_never_takes_the_keys(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(folder, "build.yaml", "name: build\nsteps:\n  a: {run: 'true'}\n")
    write(
        folder,
        "slow.yaml",
        "name: slow\nsteps:\n  a: {run: 'true'}\n  b: {requires: [a], run: 'true'}\n",
    )
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=WIDE) as pilot:
        await app.ready.wait()
        await select(pilot, app, "build")
        table = app.query_one(WorkflowList)
        box = app.query_one("#filter", Input)
        await pilot.press(":", *"run slow", "enter")
        await until(pilot, lambda: run_status(app, 1) == "succeeded")
        # the trial's keys: a step's log, the inbox, the environments, then `i` again
        for key in ["t", "g", "right", "enter", "i", "escape", "E", "escape", "i", "escape"]:
            await pilot.press(key)
            assert app.focused is not box, key
        # whatever has the focus when a dialog closes, the hidden box never gets it
        app.set_focus(None)
        await pilot.press("E")
        await pilot.press("escape", "i", "escape")
        assert app.focused is not box
        assert not box.value and table.row_count == 2
        # a filter in use is shown; escape clears it from the box or the list
        await pilot.press("g", "/", "s")
        assert box.display and table.row_count == 1
        await pilot.press("enter")
        assert box.display and table.row_count == 1
        await pilot.press("escape")
        assert not box.display and not box.value and table.row_count == 2


async def test_run_name_shows_the_new_run_under_its_own_workflow(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(folder, "build.yaml", "name: build\nsteps:\n  compile: {run: 'true'}\n")
    write(
        folder,
        "ship.yaml",
        "name: ship\nsteps:\n  a: {run: 'true'}\n  b: {requires: [a], run: 'exit 3'}\n",
    )
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=WIDE) as pilot:
        await app.ready.wait()
        await select(pilot, app, "build")
        dag = app.query_one(DagView)
        await pilot.press(":", *"run ship", "enter")
        await until(pilot, lambda: run_status(app, 1) == "failed")
        await until(pilot, lambda: "failed" in header(app))
        assert header(app).startswith("ship") and "run #1" in header(app)
        assert "earlier version" not in header(app)
        assert dag.node_names == ["a", "b"]
        assert app.selected_entry is not None and app.selected_entry.name == "ship"
        # a rerun of a run of another workflow than the highlighted one: the same
        await select(pilot, app, "build")
        await pilot.press(":", *"rerun 1", "enter")
        await until(pilot, lambda: run_status(app, 2) == "failed")
        await until(pilot, lambda: "run #2" in header(app))
        assert header(app).startswith("ship") and dag.node_names == ["a", "b"]


def test_a_dag_box_has_room_for_its_duration() -> None:
    layout = compute_layout([("build", ()), ("hold", ("build",)), ("ok", ("hold",))])
    durations = {"build": "0.6s", "hold": "10.8s", "ok": "12m05s"}
    bottom = "".join(text for text, _ in render_row(layout, 2, {}, None, lambda s: "·", durations))
    assert " 0.6s " in bottom
    assert " 11s " in bottom and " 12m " in bottom  # a coarser time, never a cut one
    assert "…" not in bottom


async def test_cut_lines_and_the_live_time_in_the_header(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(
        folder,
        "ship.yaml",
        """\
        name: ship
        steps:
          apply_to_the_us_region: {run: 'true'}
          apply_to_the_eu_region: {run: 'true'}
          approve: {type: approval, requires: [apply_to_the_us_region, apply_to_the_eu_region]}
        """,
    )
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=SMALL) as pilot:
        await app.ready.wait()
        await select(pilot, app, "ship")
        dag = app.query_one(DagView)
        await until(pilot, lambda: len(dag.node_names) == 3)
        await pilot.press("g", "m")  # the list form
        assert dag.compact
        lines = [dag.render_line(y).text for y in range(3)]
        last = next(line for line in lines if "approve" in line)
        assert last.rstrip().endswith("…"), lines  # `← apply_to_the_us_region, apply_…`
        await pilot.press("r")
        await until(pilot, lambda: "waiting: approve" in header(app))
        first = header(app).splitlines()[0]
        # the live state and its time come first: a narrow pane cuts the end of the line
        held = first.index("⏸ held")
        assert held < first.index("waiting: approve") < first.index("run #1")
        assert re.match(r"⏸ held \d+\.\ds", first[held:]), first


async def test_long_workflow_names_are_shown_whole_at_wide_sizes(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    for name in ["production-deploy", "production-deploy-copy", "approval-hold"]:
        write(folder, f"{name}.yaml", f"name: {name}\nsteps:\n  a: {{run: 'true'}}\n")
    write(folder, "approval-hold.yaml", "name: approval-hold\nsteps:\n  a: {run: [true\n")
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=WIDE) as pilot:
        await app.ready.wait()
        await pilot.pause()
        table = app.query_one(WorkflowList)
        shown = "\n".join(table.render_line(y).text for y in range(table.size.height))
        for name in ["production-deploy-copy", "approval-hold invalid"]:
            assert name in shown, shown
        assert table.columns[ColumnKey("recent")].width > 0  # not at its cost
        assert app.query_one("#left").size.width <= WIDE[0] // 2
        await pilot.resize_terminal(*SMALL)  # narrow: the panel keeps its width
        await until(pilot, lambda: app.query_one("#left").size.width <= 32)


async def test_toasts_never_hide_a_dialogs_controls(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(folder, "a.yaml", "name: a\nsteps:\n  s: {run: 'true'}\n")
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        await app.ready.wait()
        for n in range(4):  # enough to fill the bottom right corner
            app.notify(f"started a run {n}\nsecond line\nthird line", timeout=30)
        await app.push_screen(ConfirmScreen("Delete a.yaml? " + "a long question " * 8))
        await pilot.pause()
        dialog = app.screen
        controls = [*dialog.query(Button), *dialog.query(".title")]
        toasts = dialog.get_child_by_type(ToastRack).query(Toast)
        assert toasts and any(t.region for t in toasts), "the toasts are up"
        for control in controls:
            region = control.region
            for x in (region.x, region.right - 1):
                widget, _ = dialog.get_widget_at(x, region.y)
                assert control in widget.ancestors_with_self, (control, widget)
