"""The log view over a real history: a long log paged in by line id, and the live stream
meeting the tail load without a line twice or out of order."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Static

from flowtui.engine.events import StepLog
from flowtui.engine.logcap import omitted_line
from flowtui.store import RunStore
from flowtui.tui.app import FlowApp
from flowtui.tui.log_pages import LOG_TAIL, StoreLogPages
from flowtui.tui.widgets import log_view
from flowtui.tui.widgets.log_lines import LogLine, dropped_lines
from flowtui.tui.widgets.log_view import LogView
from flowtui.tui.widgets.workflow_list import WorkflowList
from tests.store.store_helpers import plan

SIZE = (120, 40)


async def until(pilot: Pilot, condition: Callable[[], object], timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await pilot.pause(0.02)


async def stored_log(path: Path, count: int, *, step: str = "long") -> tuple[RunStore, int]:
    store = await RunStore.open(path)
    run_id = await store.create_run(workflow="wf", steps=plan(step, "other"))
    now = time.time()
    for start in range(0, count, 10_000):
        await store.apply(
            [StepLog(run_id, step, 1, "stdout", f"line {i}", now + i / 1000)
             for i in range(start, min(count, start + 10_000))]
        )  # fmt: skip
    return store, run_id


class PagedApp(App[None]):
    """A log view opened the way the dashboard opens one: the tail, and pages to read."""

    def __init__(self, store: RunStore, run_id: int, step: str | None) -> None:
        super().__init__()
        self.pages = StoreLogPages(store, run_id, step)
        self.store = store

    def compose(self) -> ComposeResult:
        yield LogView()

    async def on_mount(self) -> None:
        view = self.query_one(LogView)
        tail = await self.pages.before(None, LOG_TAIL)
        older = await self.pages.count_before(tail[0].id)
        view.show("long", tail, pages=self.pages, older=older)
        view.body.focus()


def status(app: App[None]) -> str:
    return str(app.query_one("#log-status", Static).render())


def numbers(view: LogView) -> list[int]:
    return [int(text.split()[-1]) for text in view.lines]


def in_order(view: LogView) -> bool:
    ids = list(view.line_ids)
    return all(a < b for a, b in itertools.pairwise(ids))


async def test_a_20k_line_log_scrolls_back_to_its_first_line(tmp_path: Path) -> None:
    store, run_id = await stored_log(tmp_path / "h.db", 20_000)
    app = PagedApp(store, run_id, "long")
    try:
        async with app.run_test(size=SIZE) as pilot:
            view = app.query_one(LogView)
            await until(pilot, lambda: view.line_count == LOG_TAIL)
            assert numbers(view)[0] == 15_000 and view.follow
            assert "lines 15,001–20,000 of 20,000 · older lines not loaded" in status(app)
            # scrolling up near the top reads the page before, and keeps the same lines in view
            await pilot.press("pageup")
            assert not view.follow
            view.body.scroll_to(y=600, animate=False, immediate=True)
            await until(pilot, lambda: view.line_count == 2 * LOG_TAIL)
            assert view.lines[view.visible_range.start] == "line 15600"  # still on top
            assert "lines 10,001–20,000 of 20,000" in status(app) and in_order(view)
            await pilot.press("home")  # the first stored line, without reading all before it
            await until(pilot, lambda: view.lines[:1] == ["line 0"])
            await app.workers.wait_for_complete()
            assert view.visible_range.start == 0 and not view.follow
            assert view.line_count == log_view.PAGE_LINES and not view.at_newest
            assert "lines 1–5,000 of 5,000+ · newer lines not loaded" in status(app)
            await pilot.press("end")  # back to the newest lines, following
            await until(pilot, lambda: view.lines[-1:] == ["line 19999"] and view.at_newest)
            assert view.follow and numbers(view) == list(range(15_000, 20_000))
    finally:
        await store.close()


async def test_paging_through_a_capped_log_keeps_a_bounded_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scrolling from the last line to the first and back reads every line once per pass,
    in order, while the view never holds more than MAX_LINES."""
    monkeypatch.setattr(log_view, "PAGE_LINES", 500)
    monkeypatch.setattr(log_view, "MAX_LINES", 1_500)
    monkeypatch.setattr(log_view, "PAGE_MARGIN", 100)
    store, run_id = await stored_log(tmp_path / "h.db", 6_000)
    app = PagedApp(store, run_id, None)  # a whole run: lines of any step
    try:
        async with app.run_test(size=SIZE) as pilot:
            view = app.query_one(LogView)
            await until(pilot, lambda: view.line_count)
            seen_top: list[int] = []
            while view.older_count or numbers(view)[0] != 0:
                view.body.scroll_to(y=0, animate=False, immediate=True)
                await pilot.pause()
                await app.workers.wait_for_complete()
                await pilot.pause()
                assert view.line_count <= 1_500 and in_order(view)
                seen_top.append(numbers(view)[0])
                assert len(seen_top) < 50, "paging up never reached the first line"
            assert numbers(view)[:1] == [0] and not view.at_newest
            assert seen_top == sorted(seen_top, reverse=True)
            while not view.at_newest:
                view.body.scroll_end(animate=False, immediate=True)
                await pilot.pause()
                await app.workers.wait_for_complete()
                await pilot.pause()
                assert view.line_count <= 1_500 and in_order(view)
            assert numbers(view)[-1] == 5_999
            window = numbers(view)
            assert window == list(range(window[0], 6_000))
    finally:
        await store.close()


def test_dropped_lines_adds_up_the_cap_markers() -> None:
    markers = [omitted_line(1_234, 10_000), "not a marker", omitted_line(5, 10)]
    assert dropped_lines(markers) == 1_239


# -- the dashboard, on a real run -------------------------------------------------------


async def test_opening_the_log_while_lines_pour_in_shows_each_line_once(tmp_path: Path) -> None:
    """`l` pressed while a step writes fast: the tail load and the live stream (the bridge's
    polls) meet at the tail's last line id, so no line shows twice or out of order."""
    folder = tmp_path / "workflows"
    folder.mkdir()
    total = 40_000
    writer = tmp_path / "writer.py"
    writer.write_text(
        textwrap.dedent(
            f"""
            import sys, time
            for i in range(1, {total + 1}):
                print(f"n {{i}}")
                if i > 8_000 and i % 100 == 0:  # a burst, then a steady stream
                    sys.stdout.flush()
                    time.sleep(0.01)
            """
        )
    )
    (folder / "fast.yaml").write_text(
        f"name: fast\nsteps:\n  talk: {{run: '{sys.executable} {writer}'}}\n"
    )
    db = tmp_path / "h.db"

    def stored() -> int:
        with sqlite3.connect(db, timeout=10) as conn:
            return int(
                conn.execute("SELECT COUNT(*) FROM logs WHERE stream='stdout'").fetchone()[0]
            )

    app = FlowApp(folder, db_path=db, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        app.query_one(WorkflowList).focus()
        await pilot.press("r")
        await until(pilot, lambda: stored() > LOG_TAIL + 2_000)
        assert stored() < total, "the step finished before the log was opened"

        async def bridge_polls() -> None:
            # what the bridge asks for as lines arrive, racing the load the tab starts
            while True:
                app.request_logs()
                await asyncio.sleep(0.001)

        polls = asyncio.create_task(bridge_polls())
        try:
            await pilot.press("l")
            view = app.query_one(LogView)
            await until(pilot, lambda: view.lines[-1:] == [f"n {total}"], timeout=60)
        finally:
            polls.cancel()
        await pilot.pause()
        shown = numbers(view)
        assert shown == list(range(shown[0], total + 1))
        assert in_order(view)
        assert shown[0] > 1 and view.older_count == shown[0] - 1


async def test_the_log_says_how_many_lines_the_cap_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWTUI_MAX_LOG_LINES", "100")
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "loud.yaml").write_text(
        "name: loud\nsteps:\n  loud: {run: 'for i in $(seq 1 500); do echo \"x $i\"; done'}\n"
    )
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        app.query_one(WorkflowList).focus()
        await pilot.press("r")
        view = app.query_one(LogView)
        await pilot.press("l")
        await until(pilot, lambda: "log cap dropped 400" in status(app))
        assert view.lines[-1] == "x 500"
        # a marker that arrives live, after the log was opened, counts too (once)
        marker = omitted_line(7, 70)
        view.append([LogLine(marker, "system", "loud", id=view.last_id + 1)] * 2)
        assert "log cap dropped 407" in status(app)
