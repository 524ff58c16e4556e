"""`flowtui show` of a queued run: when it was queued and what it waits for (a queued run
has no start time; its turn comes in order within its workflow or concurrency group)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.cli.conftest import Cli

ONE_AT_A_TIME = """
name: one-at-a-time
concurrency: 1
steps:
  gate: {type: approval}
"""


def test_a_queued_run_says_what_it_waits_for(cli: Cli, tmp_path: Path) -> None:
    wf = tmp_path / "one.yaml"
    wf.write_text(textwrap.dedent(ONE_AT_A_TIME))
    procs = [cli.start("run", str(wf))]
    cli.wait_for(lambda: cli.step_status(1, "gate") == "held")
    procs += [cli.start("run", str(wf)) for _ in range(2)]

    def queued() -> bool:
        rows = cli.query("SELECT id FROM runs WHERE status = 'queued' ORDER BY id")
        return [r[0] for r in rows] == [2, 3]

    try:
        cli.wait_for(queued)
        shown = cli("show", "3")
        assert shown.returncode == 0, shown.stderr
        assert "Started:" not in shown.stdout
        assert "waits for #1 (held), then #2 (queued) of workflow one-at-a-time" in shown.stdout
        assert "Queued: " in shown.stdout
        second = cli("show", "2").stdout
        assert "waits for #1 (held) of workflow one-at-a-time" in second
        assert "#3" not in second  # a later run does not go first
        # the held run has started: its start time as before
        assert "Started: " in cli("show", "1").stdout
    finally:
        for run_id in ("3", "2", "1"):
            cli("cancel", run_id)
        for proc in procs:
            proc.communicate(timeout=30)
