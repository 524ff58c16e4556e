"""What a new user's trial of the dashboard found, each fixed and kept fixed (Pilot, real
runs of real files, 80x24)."""

from __future__ import annotations

from pathlib import Path

from flowtui.tui.app import FlowApp
from flowtui.tui.widgets.dag_view import DagView
from tests.tui.test_app import header, run_status, select, until, write

SMALL = (80, 24)


async def test_the_last_run_of_an_earlier_file_is_drawn_on_its_own_graph(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    path = write(folder, "ship.yaml", "name: ship\nsteps:\n  plan: {run: 'true'}\n")
    write(folder, "other.yaml", "name: other\nsteps:\n  a: {run: 'true'}\n")
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=SMALL) as pilot:
        await app.ready.wait()
        await select(pilot, app, "ship")
        await pilot.press("r")
        await until(pilot, lambda: run_status(app, 1) == "succeeded")
        await until(pilot, lambda: "succeeded" in header(app))
        assert "earlier version" not in header(app)
        # the file changes: `plan` dropped, two steps added
        write(
            folder,
            "ship.yaml",
            "name: ship\nsteps:\n  build: {run: 'true'}\n  test: {run: 'true'}\n",
        )
        app.catalog.apply(app.catalog.load([path]))
        await select(pilot, app, "other")  # and back: the run shown is the last one, not pinned
        await select(pilot, app, "ship")
        await until(pilot, lambda: "run #1" in header(app))
        dag = app.query_one(DagView)
        assert dag.node_names == ["plan"]
        assert "an earlier version of the file" in header(app)
        # back to the text the run had: the file's graph, no note
        write(folder, "ship.yaml", "name: ship\nsteps:\n  plan: {run: 'true'}\n")
        app.catalog.apply(app.catalog.load([path]))
        await app.refresh_view()
        assert dag.node_names == ["plan"]
        assert "earlier version" not in header(app)
