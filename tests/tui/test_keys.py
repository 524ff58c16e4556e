"""The dashboard's keys as a user meets them: footer, help, palette, focus, `/`, Esc, the
confirm dialogs and quitting (Pilot, real runs of real workflow files)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from textual.app import App
from textual.widgets import Button, Input, Static, Tab
from textual.widgets._footer import FooterKey

from flowtui.tui.app import FlowApp
from flowtui.tui.screens.approval import ApprovalScreen
from flowtui.tui.screens.dialogs import ConfirmScreen, HelpScreen
from flowtui.tui.widgets.command_line import CommandLine
from flowtui.tui.widgets.footer import KeyFooter
from flowtui.tui.widgets.workflow_list import WorkflowList
from tests.tui.test_app import Notes, header, run_status, select, step_status, until, write

SIZES = [(80, 24), (120, 40)]


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
          approve: {type: approval, requires: [plan]}
          apply: {requires: [approve], run: echo applied}
        """,
    )
    write(wf, "other.yaml", "name: other\nsteps:\n  a: {run: echo hi}\n")
    write(wf, "slow.yaml", "name: slow\nsteps:\n  wait: {run: sleep 600}\n")
    return wf


def footer_keys(app: FlowApp) -> list[str]:
    return [key.key for key in app.query_one(KeyFooter).query(FooterKey)]


def log_title(app: FlowApp) -> str:
    return str(app.query_one("#log-title", Static).render())


@pytest.mark.parametrize("size", SIZES)
async def test_help_and_quit_stay_in_the_footer_and_no_key_is_cut(
    folder: Path, tmp_path: Path, size: tuple[int, int]
) -> None:
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=size) as pilot:
        await app.ready.wait()
        for keys in ([], ["g"], ["l"], ["h"]):
            await pilot.press(*keys)
            await pilot.pause()
            shown = footer_keys(app)
            assert "question_mark" in shown and "q" in shown, (keys, shown)
            assert "r" in shown and "a" in shown, (keys, shown)
            # every key ends inside the footer: none is cut at the right edge
            footer = app.query_one(KeyFooter)
            right = max(k.region.right for k in footer.query(FooterKey))
            assert right <= size[0], (keys, shown)


def help_text(app: App[None]) -> str:
    """The help overlay's text as drawn at its width (a grid per section)."""
    static = app.screen.query_one("VerticalScroll Static", Static)
    out = io.StringIO()
    Console(file=out, width=static.size.width, color_system=None).print(static.content)
    return out.getvalue()


async def test_help_lists_every_key_from_the_bindings(folder: Path, tmp_path: Path) -> None:
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.ready.wait()
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = help_text(app)
        lines = [line.split() for line in text.splitlines()]
        firsts = {words[0] for words in lines if words}
        # the DAG's compact mode, the log's match keys and end, Esc, Tab, the command line
        for key in ("m", "n", "N", "G", "esc", "tab", ":", "/", "?", "q", "r", "a", "del"):
            assert key in firsts or key.lower() in firsts, (key, text)
        assert ":approve RUN [STEP]" in text and ":theme NAME" in text
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen))


def test_palette_names_keys_readably_and_says_each_thing_once(folder: Path, tmp_path: Path) -> None:
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)

    async def go() -> None:
        async with app.run_test(size=(120, 40)):
            await app.ready.wait()
            commands = list(app.get_system_commands(app.screen))
            ours = {c.title: c.help for c in commands if c.help.startswith("key ")}
            assert ours["Filter"].startswith("key / · Filter workflows"), ours
            assert ours["Help"].startswith("key ? · "), ours
            assert ours["Command"].startswith("key : · "), ours
            for command in commands:
                assert command.title != command.help, command
                for raw in ("slash", "question_mark", "colon"):
                    assert raw not in command.title + command.help, command
            titles = [c.title for c in commands]
            assert len(titles) == len(set(titles)), titles

    import asyncio

    asyncio.run(go())


async def test_the_panel_with_the_keys_is_marked(folder: Path, tmp_path: Path) -> None:
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.ready.wait()
        accent = app.current_theme.accent
        left = app.query_one("#left")
        tab = app.query_one("#tabs Tab.-active", Tab)
        assert isinstance(app.focused, WorkflowList)
        assert left.styles.border_right[1].hex.lower() == str(accent).lower()
        assert tab.styles.color.hex.lower() != str(accent).lower()
        await pilot.press("g")
        await pilot.pause()
        assert app.focused is not None and app.focused.id == "dag-view"
        assert left.styles.border_right[1].hex.lower() != str(accent).lower()
        assert tab.styles.color.hex.lower() == str(accent).lower()
        # tab moves the keys back to the list (the tab strip is no stop: g t l h switch)
        await pilot.press("tab")
        await pilot.pause()
        assert isinstance(app.focused, WorkflowList)


async def test_slash_searches_the_log_when_the_logs_are_shown(folder: Path, tmp_path: Path) -> None:
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.ready.wait()
        await pilot.press("l", "shift+tab")  # the Logs tab shown, the list has the keys
        await pilot.pause()
        assert isinstance(app.focused, WorkflowList)
        await pilot.press("slash")
        await pilot.pause()
        assert app.focused is not None and app.focused.id == "log-search"
        assert not app.query_one("#filter", Input).has_class("-visible")
        await pilot.press("escape", "g", "shift+tab", "slash")
        await pilot.pause()
        assert app.focused is app.query_one("#filter", Input)


async def test_escape_after_a_filter_keeps_the_selection_and_the_log_follows_it(
    folder: Path, tmp_path: Path
) -> None:
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.ready.wait()
        await select(pilot, app, "other")
        await pilot.press("r")
        await until(pilot, lambda: run_status(app, 1) == "succeeded")
        await pilot.press("l")
        await until(pilot, lambda: "run #1" in log_title(app))
        await pilot.press("g", "shift+tab", "slash", *"slo", "enter", "escape")
        await until(pilot, lambda: app.query_one(WorkflowList).row_count == 3)
        await pilot.pause()
        entry = app.selected_entry
        assert entry is not None and entry.name == "slow"
        await until(pilot, lambda: "slow" in header(app) and "never run" in header(app))
        await pilot.press("l")
        # the log pane shows the selection too: no run, not other's run #1
        await until(pilot, lambda: "run #1" not in log_title(app))
        assert "no run" in log_title(app)


async def test_approve_after_filter_and_run(folder: Path, tmp_path: Path) -> None:
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    notes = Notes()
    async with app.run_test(size=(120, 40), message_hook=notes) as pilot:
        await app.ready.wait()
        await pilot.press("slash", *"gat", "enter", "r")
        await until(pilot, lambda: step_status(app, 1, "approve") == "held")
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await pilot.press("enter")
        await until(pilot, lambda: run_status(app, 1) == "succeeded")
        # nothing held any more: `a` says so instead of doing nothing
        await pilot.press("a")
        await pilot.pause()
        await notes.all_in(pilot, app)
        assert notes.matching("run 1 has already ended"), notes.messages


async def test_quit_with_runs_going_asks_and_names_them(folder: Path, tmp_path: Path) -> None:
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.ready.wait()
        await select(pilot, app, "slow")
        await pilot.press("r")
        await until(pilot, lambda: step_status(app, 1, "wait") == "running")
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        question = str(app.screen.query_one(".title", Static).render())
        assert "#1 slow" in question, question
        assert app.screen.focused is not None and app.screen.focused.id == "no"
        await pilot.press("enter")  # the harmless button has the focus
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert app.is_running and run_status(app, 1) == "running"
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: not app.is_running)
    assert run_status(app, 1) == "cancelled"


async def test_quit_without_runs_going_does_not_ask(folder: Path, tmp_path: Path) -> None:
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.ready.wait()
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running)


async def test_cancel_dialog_focuses_the_harmless_button(folder: Path, tmp_path: Path) -> None:
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.ready.wait()
        await select(pilot, app, "slow")
        await pilot.press("r")
        await until(pilot, lambda: step_status(app, 1, "wait") == "running")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        focused = app.screen.focused
        assert isinstance(focused, Button) and focused.id == "no"
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await pilot.pause()
        assert run_status(app, 1) == "running"


async def test_delete_asks_whole_keeps_focus_harmless_and_selects_the_next_file(
    folder: Path, tmp_path: Path
) -> None:
    write(folder, "zzz-last.yaml", "name: zzz-last\nsteps:\n  a: {run: echo hi}\n")
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.ready.wait()
        await select(pilot, app, "other")
        await pilot.press("delete")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("slash", "colon")  # the dialog's, not the dashboard's
        await pilot.pause()
        assert not app.query_one("#filter", Input).has_class("-visible")
        assert not app.query_one(CommandLine).has_class("-open")
        focused = app.screen.focused
        assert isinstance(focused, Button) and focused.id == "no"
        # the whole question is on screen at 80x24, its end included
        assert "stays." in app.export_screenshot()
        await pilot.press("enter")  # keeps the file
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert (folder / "other.yaml").exists()
        await pilot.press("delete")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: not (folder / "other.yaml").exists())
        table = app.query_one(WorkflowList)
        await until(pilot, lambda: table.row_count == 3)
        await pilot.pause()
        entry = app.selected_entry
        assert entry is not None and entry.name == "slow", entry


def burst(app: FlowApp, keys: str) -> None:
    """Keys as a fast typist or a paste sends them: all queued before the first is handled
    (`pilot.press` waits after each key and would hide a key landing in the wrong place)."""
    from textual import events

    names = {"/": "slash", ":": "colon", "\r": "enter", " ": "space"}
    for char in keys:
        key = names.get(char, char)
        app.post_message(events.Key(key, None if char == "\r" else char))


async def test_keys_typed_ahead_of_a_slash_and_enter_land_where_meant(
    folder: Path, tmp_path: Path
) -> None:
    """`/gat⏎r` typed at once: `gat` filters the list, `r` runs gate (before: `r` was typed
    into the filter and `a` after it too — a held run that `a` did not approve, silently)."""
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.ready.wait()
        burst(app, "/gat\rr")
        await until(pilot, lambda: step_status(app, 1, "approve") == "held")
        assert app.query_one("#filter", Input).value == "gat"
        burst(app, "a")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ApprovalScreen))
        burst(app, ":run other\rj")
        await until(pilot, lambda: run_status(app, 2) == "succeeded")
        assert isinstance(app.focused, WorkflowList)


async def test_file_keys_without_a_file_say_why(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    app = FlowApp(empty, db_path=tmp_path / "h.db", watch=False)
    notes = Notes()
    async with app.run_test(size=(80, 24), message_hook=notes) as pilot:
        await app.ready.wait()
        await pilot.press("d", "e", "delete", "p", "r", "a", "c")
        await notes.all_in(pilot, app)
        for text in (
            "select a workflow file to duplicate",
            "select a workflow file to edit",
            "select a workflow file to delete",
            "select a workflow that loads to pause it",
            "select a workflow that loads",
            "no run shown",
        ):
            assert notes.matching(text), (text, notes.messages)
