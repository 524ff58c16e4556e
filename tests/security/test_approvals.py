"""Only an approver decides; each decision is recorded with who and when; the file is private.

The CLI's own refusal is tested in tests/cli/test_cli_e2e.py::test_non_approver_is_refused
and the file mode in tests/store/test_store_db.py; here: a forged decision written straight
into the database, `--as`, the dashboard, the record of a decision, and a hostile umask.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowtui.store import RunStore
from tests.cli.conftest import Cli

from .conftest import write

GATE = """\
name: gate
steps:
  approve: {{type: approval, approvers: [{who}]}}
  ship: {{requires: [approve], run: echo shipped}}
"""


async def _forge(db: Path, user: str) -> None:
    store = await RunStore.open(db)
    try:
        await store.add_command(1, "approve", step="approve", by=user, comment="trust me")
    finally:
        await store.close()


def test_a_decision_written_straight_into_the_database_is_refused_by_the_runner(
    cli: Cli, tmp_path: Path
) -> None:
    wf = write(tmp_path / "gate.yaml", GATE.format(who="alice"))
    runner = cli.start("run", str(wf))
    try:
        cli.wait_for(lambda: cli.step_status(1, "approve") == "held")
        asyncio.run(_forge(cli.db, "mallory"))
        cli.wait_for(lambda: cli.query("SELECT 1 FROM logs WHERE line LIKE '%mallory%'"))
        (line,) = cli.query("SELECT line FROM logs WHERE line LIKE '%mallory%'")
        assert (
            line[0] == "approve by mallory ignored: mallory is not an approver of approve (alice)"
        )
        assert cli.step_status(1, "approve") == "held"
        assert cli.query("SELECT COUNT(*) FROM approvals") == [(0,)]
        assert cli("cancel", "1").returncode == 0
        runner.communicate(timeout=20)
    finally:
        runner.kill()
    assert cli.step_status(1, "ship") == "pending"


def test_acting_as_an_approver_needs_a_trusted_wrapper(cli: Cli, tmp_path: Path) -> None:
    wf = write(tmp_path / "gate.yaml", GATE.format(who="alice"))
    runner = cli.start("run", str(wf))
    try:
        cli.wait_for(lambda: cli.step_status(1, "approve") == "held")
        refused = cli("approve", "1", "approve", "--as", "alice")
        assert refused.returncode == 1
        assert "acting as another user is not allowed" in refused.stderr
        assert cli.step_status(1, "approve") == "held"
        cli.env["FLOWTUI_TRUST_AS"] = "1"
        allowed = cli("approve", "1", "approve", "--as", "alice", "-m", "via the bot")
        assert allowed.returncode == 0, allowed.stderr
        runner.communicate(timeout=20)
    finally:
        runner.kill()
    assert runner.returncode == 0
    assert cli.query("SELECT approved, by_user, comment FROM approvals") == [
        (1, "alice", "via the bot")
    ]


def test_every_decision_is_recorded_with_who_and_when(cli: Cli, tmp_path: Path) -> None:
    me = getpass.getuser()
    wf = write(tmp_path / "gate.yaml", GATE.format(who=me))
    for run_id, verb in enumerate(("approve", "reject"), start=1):
        runner = cli.start("run", str(wf))
        try:
            cli.wait_for(lambda r=run_id: cli.step_status(r, "approve") == "held")
            before = time.time()
            decided = cli(verb, str(run_id), "approve", "-m", f"{verb} note")
            after = time.time()
            assert decided.returncode == 0, decided.stderr
            runner.communicate(timeout=20)
        finally:
            runner.kill()
        ((approved, by, comment, at),) = cli.query(
            "SELECT approved, by_user, comment, at FROM approvals WHERE run_id = ?", run_id
        )
        assert (approved, by, comment) == (int(verb == "approve"), me, f"{verb} note")
        assert before - 1 <= float(at) <= after + 1  # type: ignore[arg-type]
        show = cli("show", str(run_id))
        done = "approved" if verb == "approve" else "rejected"
        assert f"{done} by {me} at " in show.stdout and f"{verb} note" in show.stdout
    history = cli("history")
    assert me in history.stdout


async def test_the_dashboard_refuses_a_user_who_is_not_an_approver(tmp_path: Path) -> None:
    from flowtui.tui.app import FlowApp
    from flowtui.tui.screens.approval import ApprovalScreen
    from tests.tui.test_app import SIZE, Notes, db_rows, select, step_status, until

    folder = tmp_path / "workflows"
    folder.mkdir()
    write(folder / "gate.yaml", GATE.format(who="somebody-else"))
    app = FlowApp(folder, db_path=tmp_path / "dash.db", watch=False)
    notes = Notes()

    def prompted() -> bool:
        return any(isinstance(screen, ApprovalScreen) for screen in app.screen_stack)

    async with app.run_test(size=SIZE, message_hook=notes) as pilot:
        await app.ready.wait()
        await select(pilot, app, "gate")
        await pilot.press("r")
        await until(pilot, lambda: step_status(app, 1, "approve") == "held")
        await pilot.press("a")
        refusal = "may not approve approve (approvers: somebody-else)"
        await until(pilot, lambda: notes.matching(refusal))
        await pilot.pause()  # the key's action has ended: it refused instead of asking
        assert not prompted()
        await pilot.press("enter")  # had a prompt opened, this would send the decision
        await pilot.pause()
        assert not prompted()  # so nothing could send one: a decision goes through a prompt
        assert db_rows(app, "SELECT kind, by_user FROM commands") == []
        assert step_status(app, 1, "approve") == "held"
        assert app.store is not None
        assert await app.store.get_approvals(1) == []


def test_the_history_file_is_private_even_with_a_permissive_umask(tmp_path: Path) -> None:
    # the configured location ($FLOWTUI_DB) is created with its folders; a `--db` whose folder
    # does not exist is refused as a typo (tests/cli/test_trial_fixes.py)
    db = tmp_path / "fresh" / "dir" / "history.db"
    result = subprocess.run(
        [sys.executable, "-m", "flowtui", "history"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "FLOWTUI_DB": str(db)},
        preexec_fn=lambda: os.umask(0),  # the hostile umask is the point
    )
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    for side in db.parent.glob("history.db-*"):
        assert stat.S_IMODE(side.stat().st_mode) & 0o077 == 0, side


@pytest.fixture(autouse=True)
def _no_trust_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOWTUI_TRUST_AS", raising=False)
