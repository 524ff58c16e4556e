"""Run and step ids as OSC 8 links: on a real pseudo-terminal they are there, in a pipe they
are not, and a step cannot print a link of its own to anywhere else."""

from __future__ import annotations

import os
import pty
import re
import textwrap
from pathlib import Path

import pytest

from flowtui.cli.links import hyperlink, links_enabled, run_url, web_url
from flowtui.cli.visible import visible
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


def test_links_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a real pseudo-terminal: on by default, off with FLOWTUI_LINKS=0 or a TERM that
    prints unknown sequences; FLOWTUI_LINKS=1 forces them into a pipe."""
    master, slave = pty.openpty()
    reader, writer = os.pipe()
    with os.fdopen(slave, "w") as tty, os.fdopen(writer, "w") as pipe:
        monkeypatch.delenv("FLOWTUI_LINKS", raising=False)
        monkeypatch.setenv("TERM", "xterm-256color")
        monkeypatch.setenv("NO_COLOR", "1")  # not colour: links stay
        assert links_enabled(tty) and not links_enabled(pipe)
        for term in ("dumb", "linux", "screen"):
            monkeypatch.setenv("TERM", term)
            assert not links_enabled(tty)
        monkeypatch.setenv("TERM", "xterm-256color")
        monkeypatch.setenv("FLOWTUI_LINKS", "0")
        assert not links_enabled(tty)
        monkeypatch.setenv("FLOWTUI_LINKS", "1")
        assert links_enabled(pipe)
    os.close(master)
    os.close(reader)


def osc8(url: str, text: str = "x") -> str:
    return f"\x1b]8;id=1;{url}\x1b\\{text}\x1b]8;;\x1b\\"


@pytest.mark.parametrize(
    "url",
    [
        "flowtui://run/5",
        "flowtui://run/5/step/deploy",
        "flowtui://run/5/step/apply%20eu.v2-b_c",
        "http://127.0.0.1:8000/#run=5",
        "http://127.0.0.1:8000/#run=5&step=deploy",
    ],
)
def test_links_flowtui_makes_pass_through(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWTUI_WEB_URL", "http://127.0.0.1:8000")
    assert visible(osc8(url)) == osc8(url)


@pytest.mark.parametrize("web", ["", "http://127.0.0.1:8000/?token=s3cret"])
def test_every_step_name_links(web: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever a step is called (matrix names, `~`, accents), `run_url`'s link passes."""
    monkeypatch.setenv("FLOWTUI_WEB_URL", web)
    for step in ("deploy", "apply[region=eu west]", "a~b/c", "déployer", "x&step=y"):
        link = hyperlink("step", run_url(12, step))
        assert visible(link) == link, step


@pytest.mark.parametrize(
    "url",
    [
        # the userinfo trick: the host is evil.example
        "http://127.0.0.1:8000@evil.example/login",
        "http://127.0.0.1:8000.evil.example/#run=5",
        "http://127.0.0.1:8000/login",
        "http://127.0.0.1:8000/#run=5&step=x/../../evil",
        "http://127.0.0.1:8000/#run=5@evil.example",
        "flowtui://evil.example/",
        "flowtui://run/5/../../x",
        "flowtui://run/5?x=1",
        "flowtui://run/abc",
        "flowtui://run/5/step/a/b",
    ],
)
def test_a_step_cannot_link_anywhere_else(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWTUI_WEB_URL", "http://127.0.0.1:8000")
    shown = visible(osc8(url))
    assert "\x1b" not in shown and url in shown


@pytest.mark.parametrize(
    ("given", "base"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/"),
        ("http://127.0.0.1:8000/?token=s3cret", "http://127.0.0.1:8000/"),
        ("http://127.0.0.1:8000/?token=s3cret#run=4", "http://127.0.0.1:8000/"),
        ("https://ci.example:8443/flowtui?token=s3cret", "https://ci.example:8443/flowtui/"),
        ("http://ann:pw@ci.example/", "http://ci.example/"),
        (" http://[::1]:8000 ", "http://[::1]:8000/"),
        ("ftp://ci.example/", None),
        ("http://", None),
        ("", None),
    ],
)
def test_web_url_keeps_no_query(
    given: str, base: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A URL pasted from `flowtui web` (with its `?token=`) never ends up in a link."""
    monkeypatch.setenv("FLOWTUI_WEB_URL", given)
    assert web_url() == base
    if base is not None:
        assert run_url(4, "deploy") == f"{base}#run=4&step=deploy"
        assert "s3cret" not in run_url(4)
