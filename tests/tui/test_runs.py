"""The dashboard around runs: approvals in context, failures that point to the next step,
other processes' runs announced, nothing rerun for nothing (Pilot, real runs)."""

from __future__ import annotations

from pathlib import Path

from flowtui.tui.app import FlowApp
from tests.tui.test_app import SIZE, Notes, db_rows, run_status, select, until, write


async def test_rerun_from_failed_of_a_run_with_nothing_failed_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(
        folder,
        "ok.yaml",
        "name: ok\nsteps:\n  a: {run: echo a}\n  b: {requires: [a], run: echo b}\n",
    )
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    notes = Notes()
    async with app.run_test(size=SIZE, message_hook=notes) as pilot:
        await app.ready.wait()
        await select(pilot, app, "ok")
        await pilot.press("r")
        await until(pilot, lambda: run_status(app, 1) == "succeeded")
        await pilot.press("f")
        await until(pilot, lambda: notes.matching("nothing to rerun"))
        assert db_rows(app, "SELECT count(*) FROM runs") == [(1,)]
        await pilot.press("F")  # from the start is still there
        await until(pilot, lambda: run_status(app, 2) == "succeeded")
