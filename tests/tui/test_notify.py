"""The dashboard's notifications: `notify = true` in its config, and a real dashboard on a real
pseudo-terminal writing them when a step is held and a run ends (the rule that picks OSC 9,
OSC 777 or the bell: tests/test_notify.py)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from flowtui.tui.config import load_config
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
