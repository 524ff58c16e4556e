"""A list row whose last result changes is repainted alone (Pilot).

The list is redrawn on every run status change and poll; repainting all of its visible
rows each time (what `DataTable.update_cell` does) kept keys waiting 20-60 ms during a log
flood.  These tests count the lines the table renders and read what the screen shows."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from textual.app import App, ComposeResult
from textual.strip import Strip

from flowtui.tui.widgets.workflow_list import WorkflowList, WorkflowRow

SIZE = (60, 12)


class CountingList(WorkflowList):
    """The workflow list, noting each line (y within the widget) it renders."""

    def __init__(self) -> None:
        super().__init__(id="workflows")
        self.rendered: list[int] = []

    def render_line(self, y: int) -> Strip:
        self.rendered.append(y)
        return super().render_line(y)


class ListApp(App[None]):
    def compose(self) -> ComposeResult:
        yield CountingList()


def rows(count: int) -> list[WorkflowRow]:
    return [
        WorkflowRow(Path(f"/w/wf{i}.yaml"), f"wf{i}", "active", "", 1, "succeeded", i, "1s")
        for i in range(count)
    ]


def screen_lines(app: App[None]) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


async def test_a_changed_row_is_repainted_and_the_others_are_not() -> None:
    app = ListApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(CountingList)
        before = rows(5)
        table.set_rows(before)
        await pilot.pause()
        assert all("✓ 1s" in line for line in screen_lines(app)[1:6])

        table.rendered.clear()
        after = list(before)
        after[3] = replace(before[3], last_status="failed", last_duration="7s", recent=("failed",))
        table.set_rows(after)
        await pilot.pause()

        shown = screen_lines(app)
        assert "wf3" in shown[4] and "✗ 7s" in shown[4], shown
        for i in (0, 1, 2, 4):  # the others still show what they showed
            assert f"wf{i}" in shown[i + 1] and "✓ 1s" in shown[i + 1], shown
        assert set(table.rendered) == {4}  # the header is line 0: wf3 is line 4
        assert table.get_row_at(3)[2].plain == "✗ 7s"


async def test_the_cursor_row_keeps_its_highlight_when_its_cells_change() -> None:
    app = ListApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(CountingList)
        before = rows(3)
        table.set_rows(before)
        table.move_cursor(row=1)
        await pilot.pause()
        highlight = background(app, 2)  # wf1, under the cursor
        assert background(app, 1) != highlight
        after = list(before)
        after[1] = replace(before[1], last_status="failed", last_duration="7s")
        table.set_rows(after)
        await pilot.pause()
        assert table.cursor_row == 1
        assert "✗ 7s" in screen_lines(app)[2]
        assert background(app, 2) == highlight
        assert background(app, 1) != highlight

        table.move_cursor(row=0)  # and the changed row is drawn right once it is left
        await pilot.pause()
        assert background(app, 1) == highlight and background(app, 2) != highlight
        assert "✗ 7s" in screen_lines(app)[2] and "✓ 1s" in screen_lines(app)[1]


def background(app: App[None], y: int) -> object:
    """The background colour at the start of line `y` of the screen."""
    strip = app.screen._compositor.render_strips()[y]
    return next(iter(strip)).style.bgcolor  # type: ignore[union-attr]


async def test_a_row_changed_out_of_view_shows_its_change_once_scrolled_to() -> None:
    app = ListApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(CountingList)
        before = rows(40)
        table.set_rows(before)
        await pilot.pause()
        after = list(before)
        after[30] = replace(before[30], last_status="failed", last_duration="7s")
        table.set_rows(after)
        await pilot.pause()
        assert not any("wf30" in line for line in screen_lines(app))
        table.move_cursor(row=30)
        await pilot.pause()
        shown = [line for line in screen_lines(app) if "wf30 " in line]
        assert len(shown) == 1 and "✗ 7s" in shown[0], screen_lines(app)
