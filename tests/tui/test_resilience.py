"""The dashboard survives a history that fails under it: an error toast, never a closed app.

Each failure is a real exception raised by the store's own method (replaced for a moment on
the live store); the app must report it and keep drawing once the store answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.message import Message
from textual.notifications import Notify
from textual.pilot import Pilot

from flowtui.store.runstore import RunStore
from flowtui.tui.app import FlowApp
from flowtui.tui.bridge import HistoryChanged

SIZE = (120, 40)


class Notes:
    """Every notification, as it is handled (none expire)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []  # (title, message)

    def __call__(self, message: Message) -> None:
        if isinstance(message, Notify):
            note = message.notification
            self.seen.append((note.title, str(note.message)))

    def titled(self, title: str) -> list[str]:
        return [text for t, text in self.seen if t == title]


async def until(pilot: Pilot[None], condition: Callable[[], object], timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await pilot.pause(0.05)


class Broken:
    """Makes `store.NAME` raise `error` until `fix()`; counts the calls that failed."""

    def __init__(self, store: RunStore, name: str, error: Exception) -> None:
        self.store, self.name, self.error = store, name, error
        self.calls = 0
        self.original = getattr(store, name)

        async def failing(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            raise self.error

        setattr(store, name, failing)

    def fix(self) -> None:
        setattr(self.store, self.name, self.original)


@contextlib.asynccontextmanager
async def dashboard(
    folder: Path, tmp_path: Path
) -> AsyncIterator[tuple[FlowApp, Pilot[None], Notes]]:
    """A started dashboard on `folder` with its notifications captured."""
    notes = Notes()
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False, triggers=False)
    async with app.run_test(size=SIZE, message_hook=notes) as pilot:
        await app.ready.wait()
        yield app, pilot, notes


def shows_success(app: FlowApp) -> bool:
    return "succeeded" in app.query_one("#run-header").render().plain


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    wf = tmp_path / "workflows"
    wf.mkdir()
    (wf / "hello.yaml").write_text(
        textwrap.dedent(
            """
            name: hello
            steps:
              greet: {run: echo hi}
            """
        )
    )
    return wf


async def test_a_failing_redraw_is_reported_and_the_next_one_works(
    folder: Path, tmp_path: Path
) -> None:
    async with dashboard(folder, tmp_path) as (app, pilot, notes):
        assert app.store is not None
        broken = Broken(app.store, "newest_runs", sqlite3.OperationalError("disk I/O error"))
        app.post_message(HistoryChanged({"hello"}))
        await until(pilot, lambda: notes.titled("refresh failed"))
        assert "OperationalError: disk I/O error" in notes.titled("refresh failed")[0]
        assert broken.calls >= 1 and app.is_running

        broken.fix()  # the store answers again: the next change is drawn
        await pilot.press("r")
        await until(pilot, lambda: shows_success(app))
        assert app.is_running


async def test_a_failing_action_is_a_toast(folder: Path, tmp_path: Path) -> None:
    async with dashboard(folder, tmp_path) as (app, pilot, notes):
        assert app.store is not None
        await pilot.press("r")
        await until(pilot, lambda: app.view.run_id is not None)
        Broken(app.store, "get_run", sqlite3.OperationalError("database is locked"))
        await pilot.press("c")
        await until(pilot, lambda: notes.titled("cancel run failed"))
        assert notes.titled("cancel run failed") == ["OperationalError: database is locked"]
        assert app.is_running


async def test_an_unreadable_history_is_reported_by_the_poller(
    folder: Path, tmp_path: Path
) -> None:
    async with dashboard(folder, tmp_path) as (app, pilot, notes):
        assert app.store is not None
        broken = Broken(app.store, "last_event_id", sqlite3.OperationalError("no such table"))
        await until(pilot, lambda: any("history unavailable" in m for _, m in notes.seen))
        broken.fix()
        calls = broken.calls
        await pilot.press("r")  # the poller kept going: later changes still arrive
        await until(pilot, lambda: shows_success(app))
        assert calls >= 1 and app.is_running


async def test_a_crashed_bridge_is_restarted(folder: Path, tmp_path: Path) -> None:
    """A long-lived worker that dies is reported and started again."""
    async with dashboard(folder, tmp_path) as (app, pilot, notes):
        assert app.bridge is not None
        original = app.bridge.poll_history
        crashes = 0

        async def crash_once() -> None:
            nonlocal crashes
            if crashes == 0:
                crashes += 1
                raise RuntimeError("poller bug")
            await original()

        app.bridge.poll_history = crash_once  # type: ignore[method-assign]
        app.workers.cancel_group(app, "poll")
        app.run_poll()
        await until(pilot, lambda: notes.titled("poll failed"))
        assert notes.titled("poll failed") == ["RuntimeError: poller bug"]
        await until(pilot, lambda: any(w.group == "poll" and w.is_running for w in app.workers))
        assert app.is_running
