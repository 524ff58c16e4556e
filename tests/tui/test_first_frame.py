"""The first frame shows the workflow list before the history's runs are read (Pilot).

With a long history the list's last results take a moment: the names come first, each row's
last result pending (…, never "never run", which would be untrue), then filled in."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

import flowtui.tui.app
from flowtui.store import RunStore
from flowtui.tui.app import FlowApp
from flowtui.tui.widgets.workflow_list import NEVER_RUN, PENDING, WorkflowList
from tests.store.store_helpers import plan

SIZE = (120, 40)


class HeldFill(FlowApp):
    """The dashboard with the list's filling held until the test lets it go."""

    CSS_PATH = str(Path(flowtui.tui.app.__file__).parent / FlowApp.CSS_PATH)  # not beside us

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.let_fill = asyncio.Event()
        self.fill_waiting = asyncio.Event()

    async def _fill_list(self) -> None:
        self.fill_waiting.set()
        await self.let_fill.wait()
        await super()._fill_list()


async def until(pilot: Pilot[None], condition: Callable[[], object], timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await pilot.pause(0.01)


async def test_the_list_shows_names_first_then_fills_each_rows_runs(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "built.yaml").write_text("name: built\nsteps:\n  a: {run: 'true'}\n")
    (folder / "fresh.yaml").write_text("name: fresh\nsteps:\n  a: {run: 'true'}\n")
    db = tmp_path / "history.db"
    store = await RunStore.open(db)
    await store.create_run(workflow="built", steps=plan("a"))  # queued, never taken
    await store.close()

    app = HeldFill(folder, db_path=db, watch=False, triggers=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.fill_waiting.wait()
        table = app.query_one(WorkflowList)
        await until(pilot, lambda: table.row_count == 2)
        first = {table.get_row_at(i)[1].plain: table.get_row_at(i)[2].plain for i in range(2)}
        assert first == {"built": PENDING, "fresh": PENDING}
        assert not app.ready.is_set()

        app.let_fill.set()
        await app.ready.wait()
        filled = {table.get_row_at(i)[1].plain: table.get_row_at(i)[2].plain for i in range(2)}
        assert filled["fresh"] == NEVER_RUN
        assert filled["built"].endswith("queued"), filled
