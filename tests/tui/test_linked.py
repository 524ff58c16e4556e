"""The dashboard opened on a run (`flowtui dashboard --open-run N --open-step S`, what
`flowtui web` gives a link's `#run=N&step=S`): that run and step, not the newest; a run or step
it cannot show is said."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import TabbedContent

from flowtui.engine.records import NewStep
from flowtui.store import RunStore
from flowtui.tui.app import FlowApp
from flowtui.tui.linked import LinkedRun
from flowtui.tui.widgets.workflow_list import WorkflowList
from tests.tui.test_app import until


async def _history(tmp_path: Path) -> tuple[Path, Path, dict[str, int]]:
    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "a.yaml").write_text("name: alpha\nsteps:\n  x: {run: 'true'}\n")
    (folder / "b.yaml").write_text("name: beta\nsteps:\n  greet: {run: 'true'}\n")
    db = tmp_path / "h.db"
    store = await RunStore.open(db)
    try:
        ids = {
            key: await store.create_run(workflow=name, steps=[NewStep(step, "script", [], 0)])
            for key, name, step in (
                ("older", "beta", "greet"),
                ("newest", "beta", "greet"),
                ("alpha", "alpha", "x"),
                ("elsewhere", "gone", "y"),
            )
        }
    finally:
        await store.close()
    return folder, db, ids


async def test_opens_on_the_linked_run_and_step(tmp_path: Path) -> None:
    folder, db, ids = await _history(tmp_path)
    link = LinkedRun(ids["older"], "greet")
    app = FlowApp(folder, db_path=db, watch=False, triggers=False, open_run=link)
    async with app.run_test() as pilot:
        await app.ready.wait()
        await until(pilot, lambda: app.view.run_id == ids["older"])
        await until(pilot, lambda: app.query_one(TabbedContent).active == "logs")
        await pilot.pause()
        assert (app.view.pinned, app.view.step) == (True, "greet")
        assert app.view.run_id == ids["older"]  # not beta's newest, nor alpha's (first listed)
        assert app.query_one(WorkflowList).selected_path == folder / "b.yaml"
        assert app.query_one(TabbedContent).active == "logs"
        assert app.linked is None  # taken once: moving in the list is as usual again


@pytest.mark.parametrize(
    ("which", "step", "said"),
    [
        (None, None, "run #999 is not there"),
        ("elsewhere", None, "run #{id} is of gone, which is not in"),
        ("older", "nosuch", "run #{id} has no step 'nosuch'"),  # the run still shown
    ],
)
async def test_a_run_or_step_it_cannot_show_is_said(
    tmp_path: Path, which: str | None, step: str | None, said: str
) -> None:
    folder, db, ids = await _history(tmp_path)
    run_id = ids[which] if which else 999
    said = said.format(id=run_id)
    link = LinkedRun(run_id, step)
    app = FlowApp(folder, db_path=db, watch=False, triggers=False, open_run=link)
    async with app.run_test() as pilot:
        await app.ready.wait()
        await until(pilot, lambda: any(said in n.message for n in app._notifications))
        if which == "older":  # on its DAG, no step's log
            await until(pilot, lambda: app.view.run_id == run_id)
            assert app.view.step is None
            assert app.query_one(TabbedContent).active == "dag"
