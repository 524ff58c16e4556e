"""`flowtui run` on a terminal keeps a live footer under the event lines; in a pipe it does
not. The terminal is a real pseudo-terminal (`pty`) around a real `python -m flowtui`."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import textwrap
import time
from pathlib import Path

from tests.cli.conftest import Cli

GATED = """
name: gated
steps:
  plan: {run: "echo planning; sleep 2.5; echo planned"}
  gate: {type: approval, requires: [plan]}
  apply: {requires: [gate], run: echo applied}
"""
# CSI sequences and OSC 8 links (a person sees the link's text only)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\]8;[^\x1b]*\x1b\\")


def _own_terminal() -> None:
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """A process on a pseudo-terminal of 120x30; `screen` is all it wrote, ANSI removed."""

    def __init__(self, cli: Cli, *args: str) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flowtui", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**cli.env, "TERM": "xterm-256color"},
            cwd=cli.cwd,
            # a session of its own with this terminal as its controlling one: closing the
            # terminal hangs up (SIGHUP) what runs in that session, as a closed ssh does
            preexec_fn=_own_terminal,
        )
        os.close(slave)
        self.master = master
        self.raw = ""

    @property
    def screen(self) -> str:
        return ANSI.sub("", self.raw)

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # the process closed the terminal
            return False
        self.raw += data.decode(errors="replace")
        return bool(data)

    def wait_for(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if found := re.search(pattern, self.screen):
                return found
            if not self._read(0.1):
                break
        raise AssertionError(f"no {pattern!r} on the terminal:\n{self.screen[-3000:]}")

    def type_line(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def finish(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._read(0.1):
            if self.proc.poll() is not None and not select.select([self.master], [], [], 0)[0]:
                break
        os.close(self.master)
        return self.proc.wait(timeout)


def test_live_footer_on_a_terminal_none_in_a_pipe(cli: Cli, tmp_path: Path) -> None:
    wf = tmp_path / "gated.yaml"
    wf.write_text(textwrap.dedent(GATED))

    # in a pipe: the event lines only, no footer; its success gives the usual duration
    piped = cli.start("run", str(wf))
    cli.wait_for(lambda: cli.step_status(1, "gate") == "held")
    assert cli("approve", "1").returncode == 0
    out, _ = piped.communicate(timeout=30)
    assert piped.returncode == 0
    assert "planned" in out and "steps" not in out and "\x1b" not in out

    term = Terminal(cli, "run", str(wf))
    # the bar with steps done/total, the running step with its elapsed time, the ETA
    term.wait_for(r"0/3 steps · \d+(\.\d)?s elapsed · ETA \S+ \(usually \S+\)")
    term.wait_for(r"◐ plan \d+(\.\d)?s")
    # events scroll above the footer
    term.wait_for(r"plan\s+│ planning")
    # at the hold the terminal asks (the footer steps aside while it does); Enter leaves
    # the step held, and the footer comes back with it and the command that approves it
    term.wait_for(r"approve gate now as \S+\? \[y\]es, \[r\]eject, Enter: leave it held >")
    term.type_line("")
    term.wait_for(r"gate stays held: flowtui approve 2 gate")
    term.wait_for(r"1/3 steps")
    term.wait_for(r"⏸ gate waits: flowtui approve 2 gate")
    assert cli("approve", "2").returncode == 0
    term.wait_for(r"apply\s+│ applied")
    assert term.finish() == 0
    assert "Status: succeeded" in term.screen
    assert term.screen.rstrip().endswith("Triggered by: manual (" + cli_user(cli) + ")")

    # --quiet on a terminal: no footer either
    quiet = Terminal(cli, "run", str(wf), "--quiet")
    quiet.wait_for(r"approve: flowtui approve 3 gate")
    assert cli("approve", "3").returncode == 0
    assert quiet.finish() == 0
    assert "steps ·" not in quiet.screen


def test_ctrl_c_under_the_footer_cancels_then_stops_waiting(cli: Cli, tmp_path: Path) -> None:
    wf = tmp_path / "gated.yaml"
    wf.write_text(textwrap.dedent(GATED.replace("echo applied", "sleep 60")))
    term = Terminal(cli, "run", str(wf))
    term.wait_for(r"approve gate now as \S+\?")  # the footer stepped aside for the question
    term.proc.send_signal(signal.SIGINT)
    term.wait_for(r"cancelling run \(press Ctrl-C again to stop its clean-up steps too\)")
    assert term.finish() == 1
    assert "Status: cancelled" in term.screen
    assert "already reaped" not in term.screen
    assert "gate was decided elsewhere" in term.screen  # the cancel ended the question
    assert cli.query("SELECT status FROM runs WHERE id = 1") == [("cancelled",)]


def cli_user(cli: Cli) -> str:
    return str(cli.query("SELECT triggered_by FROM runs WHERE id = 2")[0][0])


def test_attach_shows_the_footer_and_ctrl_c_detaches(cli: Cli, tmp_path: Path) -> None:
    cli.env["XDG_DATA_HOME"] = str(tmp_path / "data")
    wf = tmp_path / "gated.yaml"
    wf.write_text(textwrap.dedent(GATED))
    assert cli("run", str(wf), "--detach").stdout == "1\n"
    term = Terminal(cli, "attach", "1")
    term.wait_for(r"plan\s+│ planned")
    term.wait_for(r"1/3 steps · \d+(\.\d)?s elapsed · no ETA yet")
    term.wait_for(r"⏸ gate waits: flowtui approve 1 gate")
    term.proc.send_signal(signal.SIGINT)
    term.wait_for(r"detached from run 1; it goes on")
    assert term.finish() == 130
    assert cli.step_status(1, "gate") == "held"
    assert cli("cancel", "1").returncode == 0


def test_a_detached_run_survives_its_terminal(cli: Cli, tmp_path: Path) -> None:
    cli.env["XDG_DATA_HOME"] = str(tmp_path / "data")
    wf = tmp_path / "gated.yaml"
    wf.write_text(textwrap.dedent(GATED))
    term = Terminal(cli, "run", str(wf), "--detach")
    term.wait_for(r"flowtui attach 1")
    assert term.finish() == 0
    cli.wait_for(lambda: cli.step_status(1, "gate") == "held")
    # the terminal is gone (closed by `finish`); the run still takes its approval
    assert cli("approve", "1").returncode == 0
    cli.wait_for(lambda: cli.query("SELECT status FROM runs WHERE id = 1") == [("succeeded",)])
