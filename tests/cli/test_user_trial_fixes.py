"""Fixes from a new user's first try of the CLI (second Ctrl-C, history counts, logs...)."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flowtui.cli.main import main
from tests.cli.conftest import Cli
from tests.cli.test_live_footer import Terminal

STUBBORN = """
name: stubborn
steps:
  work: {run: "trap '' INT; echo working; sleep 30"}
  tidy: {requires: [work], always: true, run: "echo tidying; sleep 30"}
"""


def test_a_second_ctrl_c_records_the_run_cancelled_before_exiting(cli: Cli, tmp_path: Path) -> None:
    wf = tmp_path / "stubborn.yaml"
    wf.write_text(textwrap.dedent(STUBBORN))
    term = Terminal(cli, "run", str(wf), "--kill-grace", "1")
    term.wait_for(r"working")
    os.write(term.master, b"\x03")  # Ctrl-C, as the terminal sends it
    term.wait_for(r"tidying")
    os.write(term.master, b"\x03")
    code = term.finish()
    assert code == 1
    assert cli.query("SELECT status FROM runs") == [("cancelled",)]
    assert cli.step_status(1, "tidy") == "cancelled"
    assert "Status: cancelled" in term.screen, term.screen[-2000:]
    assert "Status: running" not in term.screen
    later = cli("history")
    assert "runner that died" not in later.stdout + later.stderr


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (("history", "-n", "0"), "argument --limit/-n: must be 1 or more, got 0"),
        (("history", "-n", "-5"), "argument --limit/-n: must be 1 or more, got -5"),
        (("triggers", "--limit", "0"), "argument --limit/-n: must be 1 or more, got 0"),
        (("history", "-n", "x"), "argument --limit/-n: a whole number is expected, got 'x'"),
    ],
)
def test_a_count_of_rows_is_1_or_more(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], said: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    assert exit_info.value.code == 2
    assert said in capsys.readouterr().err


def test_the_name_column_is_as_wide_as_the_steps_the_run_runs(cli: Cli, tmp_path: Path) -> None:
    wf = tmp_path / "only.yaml"
    wf.write_text(
        "name: only\nsteps:\n  build: {run: echo built}\n"
        "  publish-the-documentation-site: {requires: [build], run: echo published}\n"
    )
    result = cli("run", str(wf), "--only", "build")
    assert result.returncode == 0, result.stderr
    lines = [line[9:] for line in result.stdout.splitlines() if line[:2].isdigit()]
    assert lines[1:] == ["build ◐ running", "build │ built", "build ✓ succeeded — built"]


COLOURED = """
name: coloured
steps:
  a: {run: "printf '\\\\033[32mgreen\\\\033[0m\\\\n'"}
  test-python-3-11-and-more: {requires: [a], run: "printf 'hi\\\\a\\\\n'"}
"""


def test_logs_align_long_names_and_drop_colours_in_a_pipe(cli: Cli, tmp_path: Path) -> None:
    wf = tmp_path / "coloured.yaml"
    wf.write_text(textwrap.dedent(COLOURED))
    assert cli("run", str(wf), "-q").returncode == 0
    piped = cli("logs", "1").stdout.splitlines()
    assert piped == [
        "a                         │ green",
        "test-python-3-11-and-more │ hi␇",  # other control characters: still shown
    ]
    raw = cli("logs", "1", "--raw").stdout
    assert "\x1b[32mgreen\x1b[0m" in raw and "hi\a" in raw
    term = Terminal(cli, "logs", "1")  # a person at a terminal sees the step's colours
    assert term.finish() == 0
    assert "\x1b[32mgreen\x1b[0m" in term.raw


def test_approving_twice_says_who_approved_and_when(cli: Cli, tmp_path: Path) -> None:
    done = tmp_path / "done"
    wf = tmp_path / "gated.yaml"
    wf.write_text(
        "name: gated\nsteps:\n  gate: {type: approval}\n"
        f"  apply: {{requires: [gate], run: 'until [ -e {done} ]; do sleep 0.05; done'}}\n"
    )
    run = cli.start("run", str(wf))
    cli.wait_for(lambda: cli.step_status(1, "gate") == "held")
    assert cli("approve", "1", "gate").returncode == 0
    cli.wait_for(lambda: cli.step_status(1, "apply") == "running")
    again = cli("approve", "1", "gate")
    who = cli.query("SELECT by_user FROM approvals")[0][0]
    assert again.returncode != 0
    assert re.search(
        rf"step gate of run 1 was already approved by {who} at \d\d:\d\d:\d\d$",
        again.stderr.strip(),
    ), again.stderr
    unknown = cli("approve", "1", "nope")
    assert "run 1 has no step 'nope'" in unknown.stderr
    done.touch()
    assert run.wait(timeout=30) == 0


def test_sigterm_says_so_not_the_terminal(cli: Cli, tmp_path: Path) -> None:
    wf = tmp_path / "slow.yaml"
    wf.write_text("name: slow\nsteps:\n  wait: {run: 'echo waiting; sleep 30'}\n")
    run = cli.start("run", str(wf))  # as `timeout 5 flowtui run ...` would end it
    cli.wait_for(lambda: cli.query("SELECT 1 FROM logs WHERE line = 'waiting'"))
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=30)
    assert run.returncode == 1
    assert "cancelling run (SIGTERM: a `timeout` command or kill)" in err
    assert "interrupted from the terminal" not in out + err + cli("show", "1").stdout
    assert cli.query("SELECT status FROM runs") == [("cancelled",)]
    assert "stopped by SIGTERM" in cli("show", "1").stdout + cli("logs", "1").stdout


def test_a_run_ended_by_the_timeout_command_says_it_timed_out(cli: Cli, tmp_path: Path) -> None:
    wf = tmp_path / "slow.yaml"
    wf.write_text("name: slow\nsteps:\n  wait: {run: 'echo waiting; sleep 30'}\n")
    run = subprocess.Popen(
        ["timeout", "60", sys.executable, "-m", "flowtui", "run", str(wf)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli.env,
        cwd=cli.cwd,
    )
    cli.wait_for(lambda: cli.query("SELECT 1 FROM logs WHERE line = 'waiting'"))
    # what `timeout` does when its time is up (sent here, not waited for: no timed test)
    children = Path(f"/proc/{run.pid}/task/{run.pid}/children").read_text().split()
    os.kill(int(children[0]), signal.SIGTERM)
    _, err = run.communicate(timeout=30)
    assert "cancelling run (timed out: SIGTERM from `timeout`)" in err, err
    assert "timed out: the `timeout` command it runs under sent SIGTERM" in cli("logs", "1").stdout
    assert cli.query("SELECT status FROM runs") == [("cancelled",)]


def test_a_promotion_keeps_one_name_column(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    sample = Path(__file__).parents[2] / "sample_workflows" / "environment-promotion.yaml"
    (folder / "environment-promotion.yaml").write_text(sample.read_text())
    dirs = ("--dir", str(folder))
    assert cli("run", "environment-promotion", "--env", "dev", "-q", *dirs).returncode == 0
    promoted = cli("promote", "environment-promotion", "--to", "test", *dirs)  # no gate
    assert promoted.returncode == 0, promoted.stderr
    lines = [line[9:] for line in promoted.stdout.splitlines() if line[:2].isdigit()]
    build = [line for line in lines if line.startswith("build ")]
    # the column is as wide as smoke_test, the longest step this run runs, from the start
    assert build and all(line[:11] == "build      " and line[11] != " " for line in build), lines


def test_a_third_ctrl_c_quits_at_once_when_the_history_is_stuck(cli: Cli, tmp_path: Path) -> None:
    """The run's end cannot be written (another process holds the history's write lock):
    two Ctrl-C wait for it, the third leaves at once (130, saying what that means), its
    step killed; the next command, the lock gone, marks the run interrupted."""
    wf = tmp_path / "slow.yaml"
    wf.write_text("name: slow\nsteps:\n  work: {run: 'echo working; sleep 60'}\n")
    term = Terminal(cli, "run", str(wf))
    term.wait_for(r"working")
    cli.wait_for(lambda: cli.query("SELECT pgid FROM steps")[0][0] is not None)
    pgid = cli.query("SELECT pgid FROM steps")[0][0]
    assert isinstance(pgid, int)
    lock = sqlite3.connect(cli.db, timeout=10, isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")  # every write of the runner now waits
        for said in (r"cancelling run", r"cancelling clean-up steps too"):
            os.write(term.master, b"\x03")
            term.wait_for(said)
        # its step is gone and the run over in this process, its end not yet written: the
        # third Ctrl-C still quits at once (CI once pressed it here and waited)
        term.wait_for(r"work ⊘ cancelled")
        os.write(term.master, b"\x03")
        term.wait_for(r"quitting at once: run 1's steps are killed")
        assert term.finish(timeout=20) == 130
    finally:
        lock.execute("ROLLBACK")
        lock.close()

    def group_gone() -> bool:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        return False

    cli.wait_for(group_gone, timeout=10)
    later = cli("history")
    assert "run 1 was left by a runner that died: marked interrupted" in later.stderr
    assert cli.query("SELECT status FROM runs") == [("interrupted",)]
