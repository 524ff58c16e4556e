"""Run and step ids as OSC 8 links: on a real pseudo-terminal they are there, in a pipe they
are not, and a step cannot print a link of its own to anywhere else."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from tests.cli.conftest import Cli
from tests.cli.test_live_footer import Terminal

FORGER = """
name: forger
steps:
  greet:
    run: printf 'click \\033]8;;https://evil.example/\\033\\\\here\\033]8;;\\033\\\\\\n'
"""
LINK = "\x1b]8;id=\\d+;{url}\x1b\\\\{text}\x1b]8;;\x1b\\\\"


def test_links_on_a_terminal_none_in_a_pipe(cli: Cli, tmp_path: Path) -> None:
    wf = tmp_path / "forger.yaml"
    wf.write_text(textwrap.dedent(FORGER))

    piped = cli("run", str(wf))
    assert piped.returncode == 0, piped.stderr
    assert "\x1b]8;" not in piped.stdout and "click ␛]8;;https://evil.example/" in piped.stdout

    term = Terminal(cli, "run", str(wf))
    term.wait_for("Triggered by")
    assert term.finish() == 0
    raw = term.raw
    # the run in its first line and the summary, the step in its lines and the summary
    assert re.search(LINK.format(url="flowtui://run/2", text="run 2"), raw)
    assert re.search(LINK.format(url="flowtui://run/2", text="2"), raw)
    assert len(re.findall(LINK.format(url="flowtui://run/2/step/greet", text="greet"), raw)) >= 3
    # the step's own link is shown, not obeyed
    assert "https://evil.example" in raw and "\x1b]8;;https://evil.example" not in raw

    # where `flowtui web` is: links open it; `history` links its run ids
    cli.env["FLOWTUI_WEB_URL"] = "http://127.0.0.1:8000/"
    history = Terminal(cli, "history")
    history.wait_for("#1")
    assert history.finish() == 0
    assert re.search(
        LINK.format(url=re.escape("http://127.0.0.1:8000/#run=2"), text="#2"), history.raw
    )
    assert "RUN  WORKFLOW" in history.screen  # the columns line up as without links
    assert "\x1b]8;" not in cli("history").stdout

    cli.env["FLOWTUI_LINKS"] = "0"  # turned off on a terminal
    off = Terminal(cli, "logs", "1")
    off.wait_for("click")
    assert off.finish() == 0
    assert "\x1b]8;id=" not in off.raw
