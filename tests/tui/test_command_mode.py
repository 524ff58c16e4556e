"""The `:` command line: commands, completion, and the words for a wrong command (Pilot,
real runs of real workflow files)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from flowtui.tui.app import FlowApp
from flowtui.tui.commands import CommandError, parse
from flowtui.tui.config import load_config
from flowtui.tui.screens.approval import ApprovalScreen
from flowtui.tui.screens.dialogs import ConfirmScreen
from flowtui.tui.widgets.command_line import CommandLine
from tests.tui.test_app import Notes, run_status, step_status, until, write


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
          plan: {run: echo planned}
          check: {type: approval, requires: [plan]}
          verify: {type: approval, requires: [plan]}
          apply: {requires: [check, verify], run: echo applied}
        """,
    )
    write(wf, "other.yaml", "name: other\nsteps:\n  a: {run: 'false'}\n")
    write(wf, "slow.yaml", "name: slow\nsteps:\n  wait: {run: sleep 600}\n")
    return wf


def test_parse_names_what_is_wrong() -> None:
    assert parse("approve 12 deploy").run_id == 12
    assert parse(":rerun #3").args == ("#3",)
    assert parse("quit").name == "q"
    for text, words in [
        ("", "type a command"),
        ("frobnicate", "unknown command :frobnicate"),
        ("approve", "RUN missing"),
        ("approve abc", "'abc' is not a run id"),
        ("rerun 1 2", "too many words"),
    ]:
        with pytest.raises(CommandError, match=words):
            parse(text)


async def type_command(pilot: Pilot[None], app: FlowApp, text: str) -> None:
    await pilot.press("colon")
    await until(pilot, lambda: app.focused is app.query_one(CommandLine))
    await pilot.press(*text, "enter")


async def test_commands_act_like_their_keys(folder: Path, tmp_path: Path) -> None:
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    notes = Notes()
    async with app.run_test(size=(120, 40), message_hook=notes) as pilot:
        await app.ready.wait()
        await type_command(pilot, app, "run gate")
        await until(pilot, lambda: step_status(app, 1, "verify") == "held")
        await until(pilot, lambda: step_status(app, 1, "check") == "held")
        # the command line closed and gave the keys back
        assert not app.query_one(CommandLine).has_class("-open")
        await type_command(pilot, app, "approve 1")  # two held: says which to pick
        await notes.all_in(pilot, app)
        assert notes.matching("several steps waiting for approval: check, verify"), notes.messages
        await type_command(pilot, app, "approve 1 check")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await pilot.press("enter")
        await until(pilot, lambda: step_status(app, 1, "check") == "succeeded")
        await type_command(pilot, app, "reject #1 verify")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await pilot.press("enter")
        await until(pilot, lambda: run_status(app, 1) == "failed")

        await type_command(pilot, app, "run other")
        await until(pilot, lambda: run_status(app, 2) == "failed")
        await type_command(pilot, app, "rerun 2")
        await until(pilot, lambda: run_status(app, 3) == "failed")

        await type_command(pilot, app, "run slow")
        await until(pilot, lambda: step_status(app, 4, "wait") == "running")
        await type_command(pilot, app, "cancel 4")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: run_status(app, 4) == "cancelled")

        await type_command(pilot, app, "theme flowtui-light")
        await until(pilot, lambda: app.theme == "flowtui-light")
        await type_command(pilot, app, "theme nope")
        await type_command(pilot, app, "run nope")
        await type_command(pilot, app, "launch")
        await notes.all_in(pilot, app)
        await type_command(pilot, app, "run oth")
        await notes.all_in(pilot, app)
        assert notes.matching("no theme 'nope' (known:"), notes.messages
        assert notes.matching("no workflow 'nope' (known: gate, other, slow)"), notes.messages
        assert notes.matching("no workflow 'oth'; did you mean other?"), notes.messages
        assert notes.matching("unknown command :launch — known: run, approve"), notes.messages

        await type_command(pilot, app, "q")
        await until(pilot, lambda: not app.is_running)


async def test_completion_of_commands_workflows_runs_steps_and_themes(
    folder: Path, tmp_path: Path
) -> None:
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.ready.wait()
        line = app.query_one(CommandLine)

        async def completes(typed: str, expected: str) -> None:
            line.value = ""
            await pilot.press(*typed)
            await pilot.pause()
            await pilot.press("tab")
            await until(pilot, lambda: line.value == expected, timeout=5)

        await pilot.press("colon")
        await completes("ru", "run")
        await completes("run ot", "run other")
        await completes("the", "theme")
        await completes("theme flowtui-l", "theme flowtui-light")
        await pilot.press("enter")
        await until(pilot, lambda: app.theme == "flowtui-light")
        await type_command(pilot, app, "run gate")
        await until(pilot, lambda: step_status(app, 1, "check") == "held")
        await pilot.press("colon")
        await completes("approve ", "approve 1")
        await completes("approve 1 ve", "approve 1 verify")
        await pilot.press("escape")
        assert not line.has_class("-open") and line.value == ""
        assert app.focused is not line and not isinstance(app.focused, Input)


async def test_theme_command_is_remembered(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False, config=load_config())
    async with app.run_test(size=(80, 24)) as pilot:
        await app.ready.wait()
        await type_command(pilot, app, "theme flowtui-high-contrast")
        await until(pilot, lambda: load_config().theme == "flowtui-high-contrast")
