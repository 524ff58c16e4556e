"""Steps `flowtui run --only/--skip` left out read "left out" in the dashboard too."""

from __future__ import annotations

from pathlib import Path

from flowtui.engine.records import NewStep
from flowtui.engine.states import StepStatus
from flowtui.glyphs import GLYPHS, LEFT_OUT, status_label
from flowtui.store import RunStore
from flowtui.tui.view import shown_states


async def test_left_out_steps_are_shown_left_out_not_skipped(tmp_path: Path) -> None:
    store = await RunStore.open(tmp_path / "history.db")
    try:
        skipped = StepStatus.SKIPPED
        run_id = await store.create_run(
            workflow="w",
            steps=[
                NewStep("lint", "script", [], 0, status=skipped, message="skipped by --skip"),
                NewStep("docs", "script", [], 1, status=skipped, message="when: false"),
                NewStep("build", "script", [], 2),
            ],
            left_out={"lint": "--skip"},
        )
        run = await store.get_run(run_id)
        assert run is not None
        shown = shown_states(run, await store.get_steps(run_id))
    finally:
        await store.close()
    assert shown == {"lint": LEFT_OUT, "docs": "skipped", "build": "pending"}
    assert (GLYPHS[LEFT_OUT], status_label(LEFT_OUT)) == ("○", "left out")
