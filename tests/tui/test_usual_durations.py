"""Expected durations in the dashboard: ghost bars behind the timeline's bars, the header's
ETA and live "slow" flag, "slower than usual" in the step pane, and `v` (compare with the
last green run) — pure layout tests, then Pilot on a real run."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from flowtui.engine.records import NewStep
from flowtui.engine.states import StepStatus
from flowtui.store import RunStore
from flowtui.tui.app import FlowApp
from flowtui.tui.screens.compare import CompareScreen
from flowtui.tui.timeline_scale import GHOST, GHOST_CHAR, RUN, TimelineRow, axis_end, scale
from flowtui.tui.view import build_detail
from flowtui.tui.widgets.timeline import HEADER_LINES, TimelineView
from tests.tui.test_app import SIZE, header, run_status, select, until, write

T0 = 1_700_000_000.0


def test_the_ghost_shows_where_a_step_was_quicker_than_usual() -> None:
    quick = TimelineRow("quick", "succeeded", started_at=T0, ended_at=T0 + 2, usual=6.0)
    slow = TimelineRow("slow", "succeeded", started_at=T0, ended_at=T0 + 8, usual=2.0)
    new = TimelineRow("new", "succeeded", started_at=T0, ended_at=T0 + 2)
    q, s, n = scale([quick, slow, new], T0, T0 + 10, 10)
    assert q.text == "██" + GHOST_CHAR * 4 + "    "  # bar, then the rest of its usual time
    assert [kind for _, kind in q.runs] == [RUN, GHOST, ""]
    assert s.text == "█" * 8 + "  "  # slower: the ghost is hidden behind the bar
    assert GHOST_CHAR not in n.text  # no history, no ghost
    assert len(q.text) == len(s.text) == len(n.text) == 10


def test_a_live_axis_reaches_the_usual_end_of_running_steps() -> None:
    running = TimelineRow("build", "running", started_at=T0 + 10, usual=30.0)
    assert axis_end([running], T0 + 12, live=True) == T0 + 40
    assert axis_end([running], T0 + 12, live=False) == T0 + 12
    (bar,) = scale([running], T0, T0 + 12, 40, span_end=T0 + 40)
    assert bar.text.startswith(" " * 10 + "██" + GHOST_CHAR * 28)


async def test_timeline_flags_a_step_past_twice_its_usual_time() -> None:
    from tests.tui.test_timeline import TimelineApp

    rows = [
        TimelineRow("build", "running", started_at=T0, usual=1.0),
        TimelineRow("deploy", "pending", requires=("build",), usual=12.0),
    ]
    app = TimelineApp(rows, clock=lambda: T0 + 5)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        view = app.query_one(TimelineView)
        assert view.render_line(HEADER_LINES).text.rstrip().endswith("!5.0s")
        assert "pending · usually 12.0s" in view.render_line(HEADER_LINES + 1).text


def _history(db: Path) -> None:
    """Runs 1 and 2 of `eta`, green: a 0.1 s, b 0.01 s, c 30 s."""

    async def record() -> None:
        store = await RunStore.open(db)
        try:
            for n in (1, 2):
                start = T0 + n * 100
                steps = [
                    NewStep(name, "script", req, i, StepStatus.SUCCEEDED,
                            started_at=start + at, ended_at=start + at + took)
                    for i, (name, req, at, took) in enumerate(
                        [("a", [], 0, 0.1), ("b", ["a"], 0.1, 0.01), ("c", ["b"], 0.2, 30.0)]
                    )
                ]  # fmt: skip
                await store.create_run(workflow="eta", steps=steps)
        finally:
            await store.close()

    asyncio.run(record())
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE runs SET status='succeeded', started_at=created_at, ended_at=created_at"
        )


async def test_eta_slow_flag_pace_and_compare_on_a_real_run(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    go = tmp_path / "go"
    write(
        folder,
        "eta.yaml",
        f"""\
        name: eta
        steps:
          a: {{run: echo a}}
          b: {{requires: [a], run: 'while [ ! -f {go} ]; do sleep 0.05; done'}}
          c: {{requires: [b], run: echo c}}
        """,
    )
    db = tmp_path / "h.db"
    await asyncio.to_thread(_history, db)
    app = FlowApp(folder, db_path=db, watch=False, triggers=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await select(pilot, app, "eta")
        await pilot.press("r")
        # b usually takes 0.01 s and c 30 s: about 30 s left, then b past twice its time
        await until(pilot, lambda: "run #3" in header(app) and "ETA ~" in header(app))
        await until(pilot, lambda: "slow: b" in header(app))
        await pilot.press("t")
        view = app.query_one(TimelineView)
        await until(pilot, lambda: "usually 30.0s" in view.render_line(HEADER_LINES + 2).text)
        assert "!" in view.render_line(HEADER_LINES + 1).text
        go.touch()
        await until(pilot, lambda: run_status(app, 3) == "succeeded")
        await until(pilot, lambda: "slower than usual: b" in header(app))
        detail = await build_detail(app.history, await app.history.get_run(3), "b")
        assert detail is not None and detail.pace.startswith("slower than usual (")
        assert detail.pace.endswith("usually 0.01 s)")
        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen))
        assert isinstance(app.screen, CompareScreen)
        lines = app.screen.comparison.lines()
        assert "compared with run #2 (succeeded)" in lines[0]
        assert any(line.startswith("  Slower: b") for line in lines)
        assert any(line.startswith("  Faster: c") for line in lines)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, CompareScreen))
