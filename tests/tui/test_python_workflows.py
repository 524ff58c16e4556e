"""The dashboard lists a workflow written in Python, draws it, and reloads it on save: a
broken save shows the error at the Python line and keeps the last good version."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from flowtui.tui.app import FlowApp
from flowtui.tui.widgets.dag_view import DagView
from flowtui.tui.widgets.workflow_list import WorkflowList
from tests.tui.test_app import SIZE, select, until, watcher_on

FLOW = """\
from flowtui.workflows import Workflow

wf = Workflow("pyflow", description="from Python")
build = wf.script("build", run="true")
"""


async def test_a_python_workflow_is_listed_and_reloads_on_save(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    path = folder / "pyflow.py"
    path.write_text(FLOW)
    (folder / "helper.py").write_text("def f(ctx):\n    return {}\n")  # not a workflow
    app = FlowApp(folder, db_path=tmp_path / "h.db", triggers=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        table = app.query_one(WorkflowList)
        assert table.row_count == 1
        await select(pilot, app, "pyflow")
        dag = app.query_one(DagView)
        await until(pilot, lambda: set(dag.node_names) == {"build"})
        await watcher_on(pilot, app)

        path.write_text(FLOW + 'wf.script("ship", run="true", requires=[build])\n')
        await until(pilot, lambda: set(dag.node_names) == {"build", "ship"})

        path.write_text(FLOW + 'wf.script("ship", run="true", requires=["biuld"])\n')
        banner = app.query_one("#banner", Static)
        await until(pilot, lambda: banner.has_class("-visible"))
        text = str(banner.render())
        assert f"{path}:5:1:" in text and "unknown step `biuld`" in text, text
        assert set(dag.node_names) == {"build", "ship"}, "the last good one stays"


async def test_duplicating_a_python_workflow_keeps_a_module_name(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "pyflow.py").write_text(FLOW)
    app = FlowApp(folder, db_path=tmp_path / "h.db", triggers=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await select(pilot, app, "pyflow")
        await pilot.press("d")
        copy = folder / "pyflow_copy.py"
        table = app.query_one(WorkflowList)
        await until(pilot, lambda: table.row_count == 2)
        assert 'Workflow("pyflow_copy"' in copy.read_text()
        await select(pilot, app, "pyflow_copy")
