"""Notifications that reach the person: a desktop notification asked of the terminal (OSC 9 or
OSC 777), or its bell. Shared by the dashboard (written through Textual's driver:
`flowtui/tui/notify.py`) and `flowtui run --notify` (`flowtui/cli/notifying.py`); no Textual here.

Which one the terminal gets (`terminal_method`, docs/notifications.md), first rule that matches:

1. `$FLOWTUI_NOTIFY` = `osc9`, `osc777` or `bell`: that one (for a terminal not listed here);
2. inside tmux or screen (`$TMUX`, `$STY`, `TERM=screen*|tmux*`): the bell — they swallow the
   OSC sequences (tmux only passes them on with `allow-passthrough`) but forward the bell;
3. iTerm2 (`TERM_PROGRAM=iTerm.app`), kitty (`TERM=xterm-kitty` or `$KITTY_WINDOW_ID`) and
   Windows Terminal (`$WT_SESSION`): OSC 9, `ESC ] 9 ; text BEL`;
4. WezTerm, Ghostty (`TERM_PROGRAM`), foot and rxvt-unicode (`TERM=foot*|rxvt-unicode*`):
   OSC 777, `ESC ] 777 ; notify ; title ; body BEL`, which has a title;
5. any other terminal: the bell (an unknown OSC could be shown as text by some terminals).

Text from steps reaches these sequences (a run's failure message), so control characters are
removed from it and `;` in the title (OSC 777's field separator) is replaced.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Method = Literal["osc9", "osc777", "bell"]
METHODS: tuple[Method, ...] = ("osc9", "osc777", "bell")
BEL = "\a"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_LIMIT = 240  # some terminals drop long notifications; the dashboard has the whole text


def terminal_method(env: Mapping[str, str] | None = None) -> Method:
    """How this terminal is asked for a notification (the rule in the module's docstring)."""
    env = os.environ if env is None else env
    forced = env.get("FLOWTUI_NOTIFY", "").strip().lower()
    if forced in METHODS:
        return forced
    term = env.get("TERM", "")
    program = env.get("TERM_PROGRAM", "")
    if env.get("TMUX") or env.get("STY") or term.startswith(("screen", "tmux")):
        return "bell"
    if program == "iTerm.app" or term == "xterm-kitty" or "KITTY_WINDOW_ID" in env:
        return "osc9"
    if "WT_SESSION" in env:
        return "osc9"
    if program in ("WezTerm", "ghostty") or term.startswith(("foot", "rxvt-unicode")):
        return "osc777"
    return "bell"


def clean(text: str) -> str:
    text = _CONTROL.sub(" ", text).strip()
    return text if len(text) <= _LIMIT else text[: _LIMIT - 1] + "…"


def sequence(method: Method, title: str, body: str) -> str:
    """What is written to the terminal to notify `title: body` by `method`."""
    if method == "osc9":
        return f"\x1b]9;{clean(f'{title}: {body}')}{BEL}"
    if method == "osc777":
        return f"\x1b]777;notify;{clean(title).replace(';', ',')};{clean(body)}{BEL}"
    return BEL


@dataclass(frozen=True, slots=True)
class Notifier:
    """What the dashboard does when a step is held or a run ends: nothing (the default), the
    bell (`--bell`), or a desktop notification through the terminal (`--notify`, `notify =
    true` in the config file), whose method is chosen once, at start."""

    mode: Literal["off", "bell", "desktop"] = "off"
    method: Method = "bell"

    @classmethod
    def chosen(cls, *, bell: bool, notify: bool, env: Mapping[str, str] | None = None) -> Notifier:
        if notify:
            return cls("desktop", terminal_method(env))
        return cls("bell" if bell else "off")

    def sequence(self, title: str, body: str) -> str:
        """The bytes for the terminal, "" when notifications are off."""
        if self.mode == "off":
            return ""
        if self.mode == "bell":
            return BEL
        return sequence(self.method, title, body)


__all__ = ["METHODS", "Method", "Notifier", "clean", "sequence", "terminal_method"]
