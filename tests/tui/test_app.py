"""The dashboard driven by keys, on real runs of real workflow files (Pilot)."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import sqlite3
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.message import Message
from textual.notifications import Notify
from textual.pilot import Pilot
from textual.widgets import Static

from flowtui.tui.app import FlowApp
from flowtui.tui.screens.dialogs import ConfirmScreen, ParamsScreen
from flowtui.tui.widgets.dag_view import DagView
from flowtui.tui.widgets.workflow_list import WorkflowList
from tests.watching import aprobe_until_seen, probe_path, remove_probe

SIZE = (120, 40)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    wf = tmp_path / "workflows"
    wf.mkdir()
    write(
        wf,
        "gate.yaml",
        """
        name: gate
        steps:
          plan: {run: 'echo "summary=2 to add" >> "$FLOWTUI_OUTPUT"'}
          approve: {type: approval, requires: [plan]}
          apply: {requires: [approve], run: echo applied}
        """,
    )
    return wf


def db_rows(app: FlowApp, sql: str, *params: object) -> list[tuple[object, ...]]:
    assert app.store is not None
    with sqlite3.connect(app.store.path, timeout=10) as conn:
        return conn.execute(sql, params).fetchall()


async def until(pilot: Pilot, condition: Callable[[], object], timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await pilot.pause(0.05)


async def watcher_on(pilot: Pilot, app: FlowApp) -> None:
    """Return once the dashboard's folder watcher is on (see tests/watching.py): a probe
    workflow written until the list shows it, then deleted and seen gone."""
    table = app.query_one(WorkflowList)
    probe = str(probe_path(app.folder))

    def listed() -> bool:
        return any(key.value == probe for key in table.rows)

    await aprobe_until_seen(app.folder, listed, pilot.pause)
    remove_probe(app.folder)
    await until(pilot, lambda: not listed())


class Notes:
    """Every notification the app posts, captured as it is handled (pass as
    `run_test(message_hook=...)`); unlike the app's own list, none of them expire."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def __call__(self, message: Message) -> None:
        if isinstance(message, Notify):
            self.messages.append(str(message.notification.message))

    def matching(self, text: str) -> list[str]:
        return [m for m in self.messages if text in m]

    async def all_in(self, pilot: Pilot, app: FlowApp) -> None:
        """Return once every notification posted so far is captured: a marker posted now
        is handled after them (the app handles its messages in order)."""
        marker = f"-- notes marker {len(self.messages)} --"
        app.notify(marker)
        await until(pilot, lambda: marker in self.messages)


async def select(pilot: Pilot, app: FlowApp, name: str) -> None:
    table = app.query_one(WorkflowList)
    for index in range(table.row_count):
        table.move_cursor(row=index)
        await pilot.pause()
        entry = app.selected_entry
        if entry is not None and entry.name == name:
            return
    raise AssertionError(f"{name} not listed")


def header(app: FlowApp) -> str:
    return str(app.query_one("#run-header", Static).render())


def run_status(app: FlowApp, run_id: int) -> str | None:
    rows = db_rows(app, "SELECT status FROM runs WHERE id=?", run_id)
    return str(rows[0][0]) if rows else None


def step_status(app: FlowApp, run_id: int, step: str) -> str | None:
    rows = db_rows(app, "SELECT status FROM steps WHERE run_id=? AND name=?", run_id, step)
    return str(rows[0][0]) if rows else None


async def test_run_approve_with_comment_and_see_it_finish(folder: Path, tmp_path: Path) -> None:
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await select(pilot, app, "gate")
        await pilot.press("r")
        await until(pilot, lambda: step_status(app, 1, "approve") == "held")
        await until(pilot, lambda: "waiting: approve" in header(app))
        await pilot.press("a")
        await pilot.pause()
        await pilot.press(*"ship it", "enter")
        await until(pilot, lambda: run_status(app, 1) == "succeeded")
        approvals = db_rows(app, "SELECT approved, by_user, comment FROM approvals")
        assert approvals == [(1, getpass.getuser(), "ship it")]
        await until(pilot, lambda: "succeeded" in header(app))


async def test_reject_fails_the_run(folder: Path, tmp_path: Path) -> None:
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await select(pilot, app, "gate")
        await pilot.press("r")
        await until(pilot, lambda: step_status(app, 1, "approve") == "held")
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("enter")
        await until(pilot, lambda: run_status(app, 1) == "failed")
        assert step_status(app, 1, "approve") == "rejected"
        assert step_status(app, 1, "apply") == "pending"


async def test_rerun_from_failed_reuses_succeeded_steps(folder: Path, tmp_path: Path) -> None:
    flag = tmp_path / "fixed"
    write(
        folder,
        "flaky.yaml",
        f"""
        name: flaky
        steps:
          build: {{run: echo built}}
          test: {{requires: [build], run: 'test -f {flag}'}}
        """,
    )
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await select(pilot, app, "flaky")
        await pilot.press("r")
        await until(pilot, lambda: run_status(app, 1) == "failed")
        await until(pilot, lambda: "failed" in header(app))
        flag.touch()
        await pilot.press("f")
        await until(pilot, lambda: run_status(app, 2) == "succeeded")
        assert step_status(app, 2, "build") == "reused"
        assert step_status(app, 2, "test") == "succeeded"
        await until(pilot, lambda: "rerun of #1" in header(app))
        await pilot.press("F")
        await until(pilot, lambda: run_status(app, 3) == "succeeded")
        assert step_status(app, 3, "build") == "succeeded"


async def test_cancel_asks_then_stops_the_run(folder: Path, tmp_path: Path) -> None:
    write(folder, "slow.yaml", "name: slow\nsteps:\n  wait: {run: sleep 600}\n")
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    notes = Notes()
    async with app.run_test(size=SIZE, message_hook=notes) as pilot:
        await app.ready.wait()
        await select(pilot, app, "slow")
        await pilot.press("r")
        await until(pilot, lambda: step_status(app, 1, "wait") == "running")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")  # changed my mind
        # the dialog hands its answer to a callback as it closes, and that callback has run
        # once the screen has handled what was queued (pause); a cancel it made is noted
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await pilot.pause()
        await notes.all_in(pilot, app)
        assert notes.matching("cancel") == [], notes.messages
        assert run_status(app, 1) == "running"
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: run_status(app, 1) == "cancelled")
        assert step_status(app, 1, "wait") == "cancelled"
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await pilot.pause()
        await notes.all_in(pilot, app)
        assert notes.matching("cancelling run") == ["cancelling run 1"], notes.messages
        assert notes.matching("already ended") == [], notes.messages


async def test_quitting_cancels_and_records_the_runs_it_started(
    folder: Path, tmp_path: Path
) -> None:
    """A run left behind by a closed dashboard is `cancelled`, not later `interrupted`."""
    write(folder, "slow.yaml", "name: slow\nsteps:\n  wait: {run: sleep 600}\n")
    db = tmp_path / "h.db"
    app = FlowApp(folder, db_path=db, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await select(pilot, app, "slow")
        await pilot.press("r")
        await until(pilot, lambda: step_status(app, 1, "wait") == "running")
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT status FROM runs WHERE id = 1").fetchall()
        steps = conn.execute("SELECT status FROM steps WHERE run_id = 1").fetchall()
    assert rows == [("cancelled",)]
    assert steps == [("cancelled",)]


async def test_live_reload_updates_the_dag_and_survives_a_broken_file(
    folder: Path, tmp_path: Path
) -> None:
    path = folder / "gate.yaml"
    app = FlowApp(folder, db_path=tmp_path / "h.db")
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await select(pilot, app, "gate")
        dag = app.query_one(DagView)
        await until(pilot, lambda: set(dag.node_names) == {"plan", "approve", "apply"})
        await watcher_on(pilot, app)
        path.write_text(path.read_text() + "  notify: {requires: [apply], run: echo done}\n")
        await until(pilot, lambda: "notify" in dag.node_names, timeout=5)

        path.write_text(path.read_text().replace("requires: [apply]", "requires: [aply]"))
        banner = app.query_one("#banner", Static)
        await until(pilot, lambda: banner.has_class("-visible"), timeout=5)
        assert f"{path}:" in str(banner.render())
        assert "aply" in str(banner.render())
        assert "notify" in dag.node_names, "the last good version stays"
        await pilot.press("r")  # still runnable
        await until(pilot, lambda: step_status(app, 1, "approve") == "held")

        path.write_text(path.read_text().replace("requires: [aply]", "requires: [apply]"))
        await until(pilot, lambda: not banner.has_class("-visible"), timeout=5)

        write(folder, "new.yaml", "name: brand-new\nsteps:\n  a: {run: 'true'}\n")
        table = app.query_one(WorkflowList)
        await until(pilot, lambda: table.row_count == 2, timeout=5)
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("y")
        await until(pilot, lambda: run_status(app, 1) == "cancelled")


async def test_filter_pause_duplicate_delete_history_and_help(folder: Path, tmp_path: Path) -> None:
    write(folder, "other.yaml", "name: other\nsteps:\n  a: {run: echo hi}\n")
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        table = app.query_one(WorkflowList)
        assert table.row_count == 2
        await pilot.press("slash", *"oth")
        await until(pilot, lambda: table.row_count == 1)
        await pilot.press("escape")
        await until(pilot, lambda: table.row_count == 2)

        await select(pilot, app, "other")
        await pilot.press("p")
        await until(
            pilot, lambda: db_rows(app, "SELECT paused FROM workflows WHERE name='other'") == [(1,)]
        )
        await pilot.press("p")
        await until(
            pilot, lambda: db_rows(app, "SELECT paused FROM workflows WHERE name='other'") == [(0,)]
        )

        await pilot.press("r")
        await until(pilot, lambda: run_status(app, 1) == "succeeded")
        await pilot.press("r")
        await until(pilot, lambda: run_status(app, 2) == "succeeded")
        await pilot.press("h")
        from flowtui.tui.widgets.run_history import RunHistory

        history = app.query_one(RunHistory)
        await until(pilot, lambda: history.row_count == 2)
        await pilot.press("down", "enter")  # the older run
        await until(pilot, lambda: app.view.run_id == 1 and "run #1" in header(app))

        await pilot.press("shift+tab")
        await select(pilot, app, "other")
        await pilot.press("d")
        await until(pilot, lambda: (folder / "other-copy.yaml").exists())
        assert "name: other-copy" in (folder / "other-copy.yaml").read_text()
        await until(pilot, lambda: table.row_count == 3)
        # the copy is selected: Delete next removes the copy, never the original
        await until(pilot, lambda: app.selected_entry is not None)
        await until(pilot, lambda: app.selected_entry.name == "other-copy")  # type: ignore[union-attr]
        await pilot.press("delete")
        await pilot.pause()
        await pilot.press("y")
        await until(pilot, lambda: not (folder / "other-copy.yaml").exists())
        await until(pilot, lambda: table.row_count == 2)

        await pilot.press("question_mark")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "HelpScreen"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.__class__.__name__ != "HelpScreen"


async def test_a_run_owned_by_another_process_shows_up(folder: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    db = tmp_path / "h.db"
    app = FlowApp(folder, db_path=db, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await select(pilot, app, "gate")
        env = {**os.environ, "FLOWTUI_DB": str(db)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "flowtui", "run", str(folder / "gate.yaml"), "-q"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            await until(pilot, lambda: "waiting: approve" in header(app))
            await pilot.press("a")
            await pilot.pause()
            await pilot.press("enter")
            await until(pilot, lambda: run_status(app, 1) == "succeeded")
            assert await asyncio.to_thread(proc.wait, 20) == 0
        finally:
            proc.kill()


async def test_params_prompt_editor_tabs_and_quit(folder: Path, tmp_path: Path) -> None:
    import sys

    write(
        folder,
        "release.yaml",
        """
        name: release
        params:
          version: {required: true, description: the version to ship}
        steps:
          show: {run: 'echo "shipping $PARAM_VERSION"'}
        """,
    )
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import sys\n"
        "path = sys.argv[1]\n"
        "text = open(path).read()\n"
        "open(path, 'w').write(text + '  after: {requires: [show], run: echo after}\\n')\n"
    )
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await select(pilot, app, "release")
        await pilot.press("r")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "ParamsScreen"
        await pilot.press("enter")  # required and empty: refused, the dialog stays
        await pilot.pause()
        assert app.screen.__class__.__name__ == "ParamsScreen"
        assert "version is required" in str(app.screen.query_one("#params-error", Static).render())
        await pilot.press(*"2.0.1", "enter")
        await until(pilot, lambda: run_status(app, 1) == "succeeded")
        (params,) = db_rows(app, "SELECT params FROM runs WHERE id=1")[0]
        assert json.loads(str(params)) == {"version": "2.0.1"}

        for key, pane in (("t", "timeline"), ("l", "logs"), ("g", "dag"), ("h", "history")):
            await pilot.press(key)
            await pilot.pause()
            assert app.query_one("#tabs").active == pane  # type: ignore[attr-defined]

        await pilot.press("shift+tab")
        await select(pilot, app, "release")
        os.environ["EDITOR"] = f"{sys.executable} {editor}"
        try:
            await pilot.press("e")

            def reloaded() -> bool:
                entry = app.selected_entry
                return (
                    entry is not None
                    and entry.workflow is not None
                    and ("after" in entry.workflow.steps)
                )

            await until(pilot, reloaded, timeout=5)
            # the last run ran the file before the edit: drawn on its own graph, and said
            await until(pilot, lambda: "an earlier version of the file" in header(app))
            assert "after" not in app.query_one(DagView).node_names
        finally:
            del os.environ["EDITOR"]
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_the_log_catches_up_with_lines_printed_while_its_tab_was_hidden(
    folder: Path, tmp_path: Path
) -> None:
    from flowtui.tui.widgets.log_view import LogView

    go = tmp_path / "go"
    write(
        folder,
        "talk.yaml",
        f"""
        name: talk
        steps:
          talk:
            run: |
              for i in $(seq 1 300); do echo "early $i"; done
              while [ ! -e {go} ]; do sleep 0.05; done
              for i in $(seq 1 200); do echo "late $i"; done
        """,
    )
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await select(pilot, app, "talk")
        await pilot.press("r")
        await until(
            pilot,
            lambda: len(db_rows(app, "SELECT 1 FROM logs WHERE line LIKE 'early %'")) == 300,
        )
        await pilot.press("l")  # every early line, printed while the DAG tab was shown
        view = app.query_one(LogView)
        await until(pilot, lambda: sum(line.endswith("early 300") for line in view.lines) == 1)
        go.touch()  # and the later ones, live, in order
        await until(pilot, lambda: run_status(app, 1) == "succeeded")
        await until(pilot, lambda: any(line.endswith("late 200") for line in view.lines))
        texts = [line.split()[-2:] for line in view.lines if "early" in line or "late" in line]
        assert texts == [["early", str(i)] for i in range(1, 301)] + [
            ["late", str(i)] for i in range(1, 201)
        ]


async def test_history_shows_each_runs_branch(folder: Path, tmp_path: Path) -> None:
    from flowtui.tui.widgets.run_history import RunHistory

    write(
        folder,
        "br.yaml",
        """
        name: br
        params: {branch: {default: feature/x}}
        steps:
          only_main: {run: echo main, branches: {only: [main]}}
          always: {run: echo any}
        """,
    )
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await select(pilot, app, "br")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ParamsScreen))
        await pilot.press("enter")
        await until(pilot, lambda: run_status(app, 1) == "succeeded")
        assert step_status(app, 1, "only_main") == "skipped"
        await pilot.press("h")
        table = app.query_one(RunHistory)
        await until(pilot, lambda: table.row_count == 1)
        assert str(table.get_cell("1", "branch")) == "feature/x"


async def test_a_key_typed_right_after_moving_acts_on_the_highlighted_workflow(
    folder: Path, tmp_path: Path
) -> None:
    # `Down Down r` typed at once: the run is of the row the cursor is on, not of the row
    # the view showed before the highlight message arrived
    for name in ("alpha", "beta", "gamma"):
        write(folder, f"{name}.yaml", f"name: {name}\nsteps:\n  one: {{run: echo {name}}}\n")
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await select(pilot, app, "alpha")
        table = app.query_one(WorkflowList)
        # as keys typed faster than the highlight messages are handled: no turn between
        table.action_cursor_down()
        table.action_cursor_down()
        await app.run_action("run")
        await until(pilot, lambda: run_status(app, 1) == "succeeded")
        assert db_rows(app, "SELECT workflow FROM runs") == [("gamma",)]
