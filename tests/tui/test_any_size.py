"""The dashboard at any terminal size: the same layout after a resize as at a fresh start."""

from __future__ import annotations

from pathlib import Path

from textual.widget import Widget

from flowtui.tui.app import FlowApp
from flowtui.tui.widgets.dag_view import DagView
from flowtui.tui.widgets.workflow_list import WorkflowList
from tests.tui.test_app import folder, until

__all__ = ["folder"]  # the fixture, used by name

SIZES = [(120, 40), (80, 24), (100, 30), (160, 50)]


def widths(app: FlowApp) -> dict[str, int]:
    panes: list[Widget] = [app.query_one("#left"), app.query_one(DagView)]
    panes.append(app.query_one(WorkflowList))
    return {str(pane.id): pane.size.width for pane in panes}


async def fresh_widths(folder: Path, db: Path, size: tuple[int, int]) -> dict[str, int]:
    app = FlowApp(folder, db_path=db, watch=False, triggers=False)
    async with app.run_test(size=size) as pilot:
        await app.ready.wait()
        await pilot.pause()
        return widths(app)


async def test_a_resize_lays_out_as_a_fresh_start(folder: Path, tmp_path: Path) -> None:
    fresh = {size: await fresh_widths(folder, tmp_path / "h.db", size) for size in SIZES}
    assert fresh[(80, 24)]["left"] < fresh[(120, 40)]["left"]
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False, triggers=False)
    async with app.run_test(size=SIZES[0]) as pilot:
        await app.ready.wait()
        for size in [*SIZES[1:], *SIZES]:
            await pilot.resize_terminal(*size)
            await until(pilot, lambda size=size: app.size == size)  # type: ignore[misc]
            await pilot.pause()
            assert widths(app) == fresh[size], size
