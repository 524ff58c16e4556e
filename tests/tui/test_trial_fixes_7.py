"""A new user's trial of the dashboard (session 7): each finding fixed and kept fixed
(Pilot, real files, real runs)."""

from __future__ import annotations

from pathlib import Path

from textual.content import Content
from textual.widgets import DataTable, Static

from flowtui.tui.app import FlowApp
from flowtui.tui.markup import cells, escape
from flowtui.tui.screens.dialogs import ConfirmScreen
from tests.tui.test_app import Notes, header, select, write

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
    async with app.run_test(size=WIDE, message_hook=notes) as pilot:
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
