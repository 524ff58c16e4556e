"""The dashboard at any terminal size: the same layout after a resize as at a fresh start."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.widget import Widget

from flowtui.engine.records import RunRecord
from flowtui.engine.states import RunStatus
from flowtui.tui.app import FlowApp
from flowtui.tui.widgets.dag_view import DagView
from flowtui.tui.widgets.run_history import RunHistory
from flowtui.tui.widgets.workflow_list import ListFit, WorkflowList, WorkflowRow, fit_columns
from tests.tui.test_app import folder, until, write

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


def column_widths(table: WorkflowList) -> dict[str, int]:
    return {str(key.value): col.get_render_width(table) for key, col in table.columns.items()}


def test_columns_fit_by_width() -> None:
    # wide: every column; narrower: a shorter spark, then none, then the result's glyph only
    assert fit_columns(45, 17, 9) == ListFit(17, 9, 10)
    assert fit_columns(38, 17, 9) == ListFit(15, 9, 5)
    assert fit_columns(31, 17, 9) == ListFit(15, 9, 0)
    assert fit_columns(22, 17, 9) == ListFit(14, 1, 0)
    assert fit_columns(10, 17, 9) == ListFit(2, 1, 0)
    for width in range(8, 60):
        fit = fit_columns(width, 30, 9)
        used = 3 + fit.name + 2 + fit.last + 2 + (fit.recent + 2 if fit.recent else 0)
        assert used <= width or fit.name == 1, width


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_list_fits_its_pane(folder: Path, tmp_path: Path, size: tuple[int, int]) -> None:
    write(folder, "a-workflow-with-a-rather-long-name.yaml", "steps: {a: {run: 'true'}}\n")
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False, triggers=False)
    async with app.run_test(size=size) as pilot:
        await app.ready.wait()
        table = app.query_one(WorkflowList)
        await until(pilot, lambda: table.row_count == 2)
        assert table.max_scroll_x == 0  # nothing to scroll to sideways
        await pilot.press("right", "right")
        assert table.scroll_x == 0
        assert "Last" in [str(c.label) for c in table.columns.values()]
        lines = ["".join(s.text for s in table.render_line(y)) for y in range(1 + table.row_count)]
        assert all(line.lstrip().startswith("●") for line in lines[1:]), lines
        assert any("a-workflow-w" in line and "…" in line for line in lines)  # cut, not wrapped
        assert ("Recent" in lines[0]) == (size[0] >= 120)


async def test_columns_narrow_again_when_a_broken_file_is_fixed(
    folder: Path, tmp_path: Path
) -> None:
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False, triggers=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.ready.wait()
        table = app.query_one(WorkflowList)
        await until(pilot, lambda: table.row_count == 1)
        before = column_widths(table)
        path = folder / "gate.yaml"
        good = path.read_text()
        path.write_text(good + "  broken: {requires: [nothing_of_the_sort_at_all]}\n")
        app.catalog.refresh([path])
        await app.refresh_list()
        await until(pilot, lambda: column_widths(table) != before)
        path.write_text(good)
        app.catalog.refresh([path])
        await app.refresh_list()
        await until(pilot, lambda: column_widths(table) == before)


def a_run(run_id: int, status: RunStatus) -> RunRecord:
    return RunRecord(
        id=run_id,
        workflow="deploy",
        status=status,
        trigger="webhook",
        triggered_by="release-bot@example.org",
        params={},
        git_commit=None,
        parent_run_id=run_id - 1 if run_id > 1 else None,
        rerun_mode=None,
        created_at=1_700_000_000.0 + run_id,
        started_at=1_700_000_000.0 + run_id,
        ended_at=1_700_000_042.0 + run_id,
        message="",
        definition={},
        workflow_path=None,
        owner_host=None,
        owner_pid=None,
        owner_started=None,
        heartbeat_at=None,
        branch="feature/a-rather-long-branch-name",
    )


class HistoryApp(App[None]):
    def compose(self) -> ComposeResult:
        yield RunHistory()

    def on_mount(self) -> None:
        runs = [
            a_run(i, RunStatus.SUCCEEDED if i % 3 else RunStatus.FAILED) for i in range(9, 0, -1)
        ]
        self.query_one(RunHistory).add_runs(runs, {4: "alice", 7: "bob"})


@pytest.mark.parametrize("width", [48, 80, 200])
async def test_history_leaves_out_what_does_not_fit(width: int) -> None:
    app = HistoryApp()
    async with app.run_test(size=(width, 20)) as pilot:
        table = app.query_one(RunHistory)
        await pilot.pause()
        assert table.max_scroll_x == 0  # never scrolled sideways
        labels = [str(c.label) for c in table.columns.values()]
        assert labels[:2] == ["Run", "Status"]
        assert ("Branch" in labels) == (width >= 200)
        assert ("Duration" in labels) == (width >= 48)
        table.move_cursor(row=3)
        await pilot.resize_terminal(200 if width < 200 else 48, 20)
        await pilot.pause()
        assert table.max_scroll_x == 0 and table.selected_run == 6  # the cursor's run kept


def test_cell_widths_are_measured_like_the_cells() -> None:
    from flowtui.tui.widgets.workflow_list import WorkflowList, _last_len, _name_len

    rows = [
        WorkflowRow(Path("a.yaml"), "déploiement-東京", "paused", "", 1),
        WorkflowRow(Path("b.yaml"), "b", "active", "", 1, "failed", 3, "1m 2s"),
        WorkflowRow(Path("c.yaml"), "c", "invalid", "", 1, "running", 4, ""),
    ]
    for row in rows:
        _, name, last, _ = WorkflowList.row_cells(row, None)
        assert (name.cell_len, last.cell_len) == (_name_len(row), _last_len(row))
