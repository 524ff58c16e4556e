"""The dashboard lists a workflow written in Python, draws it, and reloads it on save: a
broken save shows the error at the Python line and keeps the last good version."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
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


SLOW = """\
import pathlib, time
from flowtui.workflows import Workflow

here = pathlib.Path(__file__).parent
(here / ".started").write_text("")
while not (here / ".release").exists():  # held until the test lets it go
    time.sleep(0.02)
Workflow("slow").script("a", run="true")
"""


async def test_a_file_still_evaluating_does_not_hold_the_dashboard_and_d_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWTUI_PY_WORKFLOW_TIMEOUT", "120")  # the test releases it itself
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "pyflow.py").write_text(FLOW)
    (folder / "other.yaml").write_text("name: other\nsteps:\n  x: {run: 'true'}\n")
    app = FlowApp(folder, db_path=tmp_path / "h.db", triggers=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await watcher_on(pilot, app)
        table = app.query_one(WorkflowList)
        (folder / "slow.py").write_text(SLOW)
        await until(pilot, lambda: (folder / ".started").exists())
        # while the child is held, keys are answered and views redrawn
        await select(pilot, app, "other")
        dag = app.query_one(DagView)
        await until(pilot, lambda: set(dag.node_names) == {"x"})
        await select(pilot, app, "pyflow")
        await until(pilot, lambda: set(dag.node_names) == {"build"})
        assert table.row_count == 2
        (folder / ".release").write_text("")
        await until(pilot, lambda: table.row_count == 3)

        # `d` copies a Python workflow under a module name, renaming its Workflow
        await select(pilot, app, "pyflow")
        await pilot.press("d")
        await until(pilot, lambda: table.row_count == 4)
        assert 'Workflow("pyflow_copy"' in (folder / "pyflow_copy.py").read_text()
        await select(pilot, app, "pyflow_copy")


HELD = """\
import pathlib, time
from flowtui.workflows import Workflow

here = pathlib.Path(__file__).parent
(here / ".started").write_text("")
while (here / ".hold").exists():  # held while the test wants it
    time.sleep(0.02)
Workflow("held").script("a", run="true")
"""


async def test_a_slow_rescan_never_puts_back_an_older_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full rescan (after a builder save) that read `a.yaml` before `e` saved it again
    finishes after the edit's reload: the catalog keeps the edited version."""
    monkeypatch.setenv("FLOWTUI_PY_WORKFLOW_TIMEOUT", "120")  # the test releases it itself
    folder = tmp_path / "flows"
    folder.mkdir()
    edited = folder / "a.yaml"  # sorts before held.py: the rescan reads it first
    edited.write_text("name: a\nsteps:\n  x: {run: 'true'}\n")
    (folder / "held.py").write_text(HELD)
    app = FlowApp(folder, db_path=tmp_path / "h.db", triggers=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        (folder / ".started").unlink()
        (folder / ".hold").write_text("")
        rescan = asyncio.create_task(app._builder_closed(True))
        await until(pilot, lambda: (folder / ".started").exists())
        edited.write_text("name: a\nsteps:\n  x: {run: 'true'}\n  y: {run: 'true'}\n")
        reload = asyncio.create_task(app._reload_edited(edited))
        # the edit's reload finished (unserialized loads) or waits behind the rescan
        await until(pilot, lambda: reload.done() or getattr(app, "catalog_loads_waiting", 0))
        (folder / ".hold").unlink()
        await asyncio.wait_for(asyncio.gather(rescan, reload), timeout=30)
        entry = app.catalog.by_name("a")
        assert entry is not None and entry.workflow is not None
        assert set(entry.workflow.steps) == {"x", "y"}


async def test_d_renames_a_python_copy_however_its_workflow_is_spelled(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "aliased.py").write_text(
        'from flowtui.workflows import Workflow as W\nW(name="aliased").script("a", run="true")\n'
    )
    (folder / "computed.py").write_text(
        'import flowtui.workflows as fw\nNAME = "computed"\n'
        'fw.Workflow(NAME).script("a", run="1")\n'
    )
    app = FlowApp(folder, db_path=tmp_path / "h.db", triggers=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        table = app.query_one(WorkflowList)
        await select(pilot, app, "aliased")
        await pilot.press("d")
        await until(pilot, lambda: table.row_count == 3)
        copy = app.catalog.get(folder / "aliased_copy.py")
        assert copy is not None and copy.error is None, copy
        assert copy.workflow is not None and copy.workflow.name == "aliased_copy"

        await select(pilot, app, "computed")
        await pilot.press("d")
        await until(
            pilot, lambda: any("not a plain string" in n.message for n in app._notifications)
        )
        assert not (folder / "computed_copy.py").exists()
        assert table.row_count == 3
