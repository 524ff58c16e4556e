"""The rule that picks OSC 9, OSC 777 or the bell for the terminal, and the sequences written
(`flowtui/notify.py`, shared by the dashboard and `flowtui run --notify`)."""

from __future__ import annotations

import pytest

from flowtui.notify import Notifier, sequence, terminal_method


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
