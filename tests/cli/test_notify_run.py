"""`flowtui run --notify` on a real pseudo-terminal: the terminal is asked for a desktop
notification when the gate is held and when the run ends; in a pipe nothing is written."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from tests.cli.conftest import Cli
from tests.cli.test_live_footer import Terminal

GATED = """
name: gated
steps:
  plan: {run: echo planned}
  gate: {type: approval, requires: [plan]}
  apply: {requires: [gate], run: exit 3}
"""


def test_run_notify_on_a_terminal_only(cli: Cli, tmp_path: Path) -> None:
    wf = tmp_path / "gated.yaml"
    wf.write_text(textwrap.dedent(GATED))
    cli.env.pop("TMUX", None)
    cli.env.pop("STY", None)
    cli.env["FLOWTUI_NOTIFY"] = "osc9"  # as iTerm2, kitty or Windows Terminal get it

    term = Terminal(cli, "run", str(wf), "--notify")
    # the command as it works in another terminal: the step and the history named
    term.wait_for(
        r"\x1b\]9;flowtui: approval needed: gate of run 1 waits: flowtui approve 1 gate "
        + re.escape(f"--db {cli.db}")
        + r"\x07"
    )
    term.wait_for(r"approve gate now as \S+\?")
    term.type_line("y")
    term.wait_for(r"\x1b\]9;flowtui: run failed: gated run 1 failed: apply failed[^\x07]*\x07")
    assert term.finish() == 1

    piped = cli.start("run", str(wf), "--notify")
    cli.wait_for(lambda: cli.step_status(2, "gate") == "held")
    assert cli("approve", "2").returncode == 0
    out, _ = piped.communicate(timeout=30)
    assert piped.returncode == 1 and "\x1b" not in out
