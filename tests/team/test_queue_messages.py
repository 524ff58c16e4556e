"""What flowtui says about `runs_on:` queues nobody serves, as real processes: the worker
command it prints works as typed, and a step no worker took says so when its time is up."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from flowtui.cli.main import build_parser
from tests.team.teamkit import FLOWTUI, Team, _env

SAMPLE = Path(__file__).resolve().parents[2] / "sample_workflows" / "team" / "deploy.yaml"


def test_the_worker_command_for_two_queues_works_as_printed(tmp_path: Path) -> None:
    """The bundled team sample on SQLite names the worker it needs as `flowtui worker`
    takes it: `--queue east --queue west`, not `--queue east, west`."""
    done = subprocess.run(
        [*FLOWTUI, "run", str(SAMPLE), "--db", str(tmp_path / "h.db")],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert done.returncode == 1
    assert "runs_on: east, west needs team mode" in done.stderr
    printed = re.search(r"`(flowtui worker [^`]*)`", done.stderr)
    assert printed is not None, done.stderr
    assert printed.group(1) == "flowtui worker --queue east --queue west"
    args = build_parser().parse_args(shlex.split(printed.group(1))[1:])
    assert args.queue == ["east", "west"]


def test_a_step_no_worker_takes_says_so_when_its_time_is_up(team: Team) -> None:
    path = team.workflow(
        "gpu",
        """
        name: gpu
        steps:
          train: {runs_on: gpu, timeout: 1s, run: echo trained}
        """,
    )
    proc, lines = team.start("run", str(path))
    assert proc.wait(timeout=60) == 1, "".join(lines.seen)
    shown = team.cli("show", "last")
    assert "no worker on queue gpu took it within 1s" in shown, shown
    assert "timed out after" not in shown
