"""`flowtui run` attached to a terminal offers to approve at the hold: a real process on
a pseudo-terminal, answered as a person would type."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.cli.conftest import Cli
from tests.cli.test_approval_inputs import SHIP


class Terminal:
    """A process on a pty: what it printed so far, and typing into it."""

    def __init__(self, cli: Cli, *args: str) -> None:
        master, slave = pty.openpty()
        self.master = master
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flowtui", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**cli.env, "TERM": "dumb"},
            cwd=cli.cwd,
            close_fds=True,
        )
        os.close(slave)
        self.text = ""
        self.seen = ""  # everything printed so far

    def expect(self, needle: str, timeout: float = 30) -> None:
        """Read until `needle` has been printed after what was expected before."""
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            left = deadline - time.monotonic()
            assert left > 0, f"{needle!r} not printed; got:\n{self.text}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the process ended and closed the terminal
                    chunk = b""
                assert chunk, f"{needle!r} not printed before the end; got:\n{self.text}"
                self.text += chunk.decode(errors="replace")
                self.seen += chunk.decode(errors="replace")
        self.text = self.text.split(needle, 1)[1]

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def close(self) -> int:
        """Its exit status; a process still going after a failed expectation is killed."""
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        os.close(self.master)
        return code


def test_run_in_a_terminal_approves_at_the_hold(cli: Cli, tmp_path: Path) -> None:
    """Each input is judged as it is answered: an answer that cannot be taken is said with
    its reason and the same field asked again, so no answer lands in the next field."""
    (tmp_path / "ship.yaml").write_text(SHIP)
    term = Terminal(cli, "run", "ship.yaml")
    version = "version (string, required) — the version to ship >"
    target = "target (one of staging, production) [staging] >"
    dry = "dry (boolean) [false] >"
    try:
        term.expect("approve approve now as")
        term.type("y")
        term.expect(version)
        term.type("")  # a required input left out: refused, and asked again
        term.expect("missing required input version (string, required): answer again")
        term.expect(version)
        assert cli.step_status(1, "approve") == "held"
        term.type("1.5.0")
        term.expect(target)
        term.type("prod")
        term.expect("target must be one of staging, production, got 'prod': answer again")
        term.expect(target)
        term.type("production")
        term.expect(dry)
        term.type("maybe")
        term.expect("dry must be true or false, got 'maybe': answer again")
        term.expect(dry)
        term.type("yes")
        term.expect("version=1.5.0 target=production dry=true")
        term.expect("Status: succeeded")
    finally:
        code = term.close()
    assert code == 0
    assert "not approved" not in term.seen


def test_ctrl_d_at_an_input_leaves_the_step_held(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "ship.yaml").write_text(SHIP)
    term = Terminal(cli, "run", "ship.yaml")
    try:
        term.expect("approve approve now as")
        term.type("y")
        term.expect("version (string, required)")
        os.write(term.master, b"\x04")  # Ctrl-D: nobody here will answer
        term.expect("approve stays held: flowtui approve 1 approve")
        assert cli.step_status(1, "approve") == "held"
        assert cli("approve", "1", "--input", "version=2").returncode == 0
        term.expect("version=2 target=staging dry=false")
        term.expect("Status: succeeded")
    finally:
        code = term.close()
    assert code == 0


def test_enter_leaves_the_step_held_for_someone_else(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "ship.yaml").write_text(SHIP)
    term = Terminal(cli, "run", "ship.yaml")
    try:
        term.expect("approve approve now as")
        term.type("")
        term.expect("approve stays held: flowtui approve 1 approve")
        assert cli("approve", "1", "--input", "version=2").returncode == 0
        term.expect("Status: succeeded")
    finally:
        code = term.close()
    assert code == 0


def test_no_offer_to_the_person_who_may_not_approve(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "gate.yaml").write_text(
        "name: gate\nsteps:\n  gate: {type: approval, allow_self_approval: false}\n"
    )
    cli.env["FLOWTUI_TRUST_AS"] = "1"
    term = Terminal(cli, "run", "gate.yaml")
    try:
        term.expect("does not allow self-approval (allow_self_approval: false)")
        term.expect("approve elsewhere: flowtui approve 1 gate")
        assert cli("approve", "1", "--as", "ann").returncode == 0
        term.expect("Status: succeeded")
    finally:
        code = term.close()
    assert code == 0


def test_a_prompt_decided_elsewhere_is_withdrawn_before_the_next_line(
    cli: Cli, tmp_path: Path
) -> None:
    (tmp_path / "gate.yaml").write_text(
        "name: gate\nsteps:\n  gate: {type: approval}\n  after: {requires: [gate], run: 'true'}\n"
    )
    term = Terminal(cli, "run", "gate.yaml")
    try:
        term.expect("Enter: leave it held > ")
        assert cli("approve", "1", "gate").returncode == 0
        term.expect("Status: succeeded")
    finally:
        code = term.close()
    assert code == 0
    # the text printed after the question: the line cleared, the note, then the events
    after_prompt = term.seen.split("Enter: leave it held > ", 1)[1]
    assert after_prompt.startswith("\r\x1b[2Kgate was decided elsewhere\r\n"), after_prompt[:80]


TALK = """\
name: talk
steps:
  gate: {type: approval}
  talk:
    run: |
      echo first
      while [ ! -e go ]; do sleep 0.05; done
      echo second
"""


def test_output_while_the_question_waits_goes_above_it(cli: Cli, tmp_path: Path) -> None:
    """A line printed while the question waits does not land on its line: the question is
    cleared, the line printed, the question drawn again with what was typed so far (as a
    line editor does), and the answer typed around it is the whole of it."""
    (tmp_path / "talk.yaml").write_text(TALK)
    term = Terminal(cli, "run", "talk.yaml")
    question = "Enter: leave it held > "
    try:
        term.expect(question)
        if "first" not in term.seen:  # before or after the question was drawn: above it
            term.expect("first")  # either way
        os.write(term.master, b"yx\x7f")  # "y", then a typo erased
        term.expect(f"\r\x1b[2K{'approve gate now as'}")  # the erase redraws the line
        term.expect(f"{question}y")
        (tmp_path / "go").touch()  # the step (in the workflow's folder) prints its second line
        term.expect("second")
        term.expect(f"{question}y")  # drawn again after it, with the "y" typed
        term.type("es")
        term.expect("approving gate as")
        term.expect("Status: succeeded")
    finally:
        code = term.close()
    assert code == 0
    assert cli.step_status(1, "gate") == "succeeded"
    # every time the question is on the screen, what follows it on its line is typing (or
    # its clearing), never a line of the run's output
    for after in term.seen.split(question)[1:]:
        line = after.split("\r\n", 1)[0].split("\r\x1b[2K", 1)[0]
        assert line in ("", "y", "yx", "yes"), repr(after[:120])
    second = term.seen.index("second")
    assert term.seen.rindex("\r\x1b[2K", 0, second) > term.seen.rindex(question, 0, second)
