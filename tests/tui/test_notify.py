"""Notifications through the terminal: the rule that picks OSC 9, OSC 777 or the bell, and a
real dashboard on a real pseudo-terminal writing them when a step is held and a run ends."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from flowtui.tui.config import load_config
from flowtui.tui.notify import Notifier, sequence, terminal_method
from tests.cli.conftest import Cli
from tests.cli.test_live_footer import Terminal

GATED = """
name: gated
triggers: [manual]
steps:
  plan: {run: echo planned}
  gate: {type: approval, requires: [plan]}
  apply: {requires: [gate], run: echo applied}
"""


@pytest.mark.parametrize(
    ("env", "method"),
    [
        ({"TERM_PROGRAM": "iTerm.app", "TERM": "xterm-256color"}, "osc9"),
        ({"TERM": "xterm-kitty"}, "osc9"),
        ({"KITTY_WINDOW_ID": "1", "TERM": "xterm-256color"}, "osc9"),
        ({"WT_SESSION": "abc", "TERM": "xterm-256color"}, "osc9"),
        ({"TERM_PROGRAM": "WezTerm", "TERM": "xterm-256color"}, "osc777"),
        ({"TERM_PROGRAM": "ghostty", "TERM": "xterm-ghostty"}, "osc777"),
        ({"TERM": "foot"}, "osc777"),
        ({"TERM": "rxvt-unicode-256color"}, "osc777"),
        ({"TERM": "xterm-256color"}, "bell"),  # unknown: an OSC could show as text
        ({"TERM_PROGRAM": "textual", "TERM": "xterm-256color"}, "bell"),  # `flowtui web`
        ({"TERM_PROGRAM": "iTerm.app", "TMUX": "/tmp/tmux-0/default,1,0"}, "bell"),
        ({"TERM": "screen-256color", "KITTY_WINDOW_ID": "1"}, "bell"),
        ({"TERM": "xterm-256color", "FLOWTUI_NOTIFY": "osc777"}, "osc777"),
        ({"TERM_PROGRAM": "iTerm.app", "FLOWTUI_NOTIFY": "BELL"}, "bell"),
    ],
)
def test_the_terminal_decides_how_it_is_notified(env: dict[str, str], method: str) -> None:
    assert terminal_method(env) == method


def test_sequences_carry_no_control_characters_from_step_text() -> None:
    body = "deploy failed: \x1b]0;owned\x07 bye\x9c"
    assert sequence("osc9", "flowtui: run failed", body) == (
        "\x1b]9;flowtui: run failed: deploy failed:  ]0;owned  bye\x07"
    )
    assert sequence("osc777", "a;b", "x\ny") == "\x1b]777;notify;a,b;x y\x07"
    assert sequence("bell", "t", "b") == "\x07"
    assert len(sequence("osc9", "t", "x" * 1000)) < 260
    # --bell alone rings; nothing asked: nothing written
    assert Notifier.chosen(bell=True, notify=False).sequence("t", "b") == "\x07"
    assert Notifier.chosen(bell=False, notify=False).sequence("t", "b") == ""
    wez = Notifier.chosen(bell=True, notify=True, env={"TERM_PROGRAM": "WezTerm"})
    assert wez.sequence("t", "b") == "\x1b]777;notify;t;b\x07"


def test_config_notify_is_a_boolean(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("notify = true\n")
    assert load_config(path).notify is True
    path.write_text('theme = "flowtui-light"\nnotify = "yes"\n')
    config = load_config(path)
    assert config.notify is False
    assert config.problems == (f"{path}:2: notify: should be true or false (no quotes)",)


def test_the_dashboard_notifies_through_a_real_terminal(tmp_path: Path) -> None:
    """`notify = true` in the config, WezTerm: OSC 777 when the gate is held (the run started
    by `r`) and when the run, approved from another process, ends."""
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "gated.yaml").write_text(textwrap.dedent(GATED))
    (tmp_path / "flowtui").mkdir()
    (tmp_path / "flowtui" / "config.toml").write_text("notify = true\n")
    cli = Cli(tmp_path)
    cli.env = {**cli.env, "XDG_CONFIG_HOME": str(tmp_path), "TERM_PROGRAM": "WezTerm"}
    for name in ("TMUX", "STY", "FLOWTUI_NOTIFY", "KITTY_WINDOW_ID", "WT_SESSION"):
        cli.env.pop(name, None)
    term = Terminal(cli, "dashboard", str(folder), "--no-triggers")
    try:
        term.wait_for(r"gated")
        os.write(term.master, b"r")
        term.wait_for(r"\x1b\]777;notify;flowtui: approval needed;gate of run 1 waits")
        assert cli("approve", "1").returncode == 0
        term.wait_for(r"\x1b\]777;notify;flowtui: run succeeded;gated run 1 succeeded\x07")
        assert "\x1b]9;" not in term.raw
        os.write(term.master, b"q")
        assert term.finish() == 0
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
            term.proc.wait()
