"""`flowtui graph`: a number is a run id unless a file of that name exists, and
`--workflow NAME` means the workflow even when its name looks like a run id."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Cli


def test_a_workflow_named_like_a_run_id_is_reached_with_workflow(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    (cli.cwd / "workflows").mkdir()
    (cli.cwd / "workflows" / "y.yaml").write_text(
        "name: '2024'\nsteps:\n  a: {run: 'true'}\n  b: {requires: [a], run: 'true'}\n"
    )
    as_run = cli("graph", "2024")  # read as a run (there is none): the error says the way
    assert as_run.returncode == 1 and "use --workflow 2024" in as_run.stderr, as_run.stderr
    named = cli("graph", "--workflow", "2024", "--compact")
    assert named.returncode == 0, named.stderr
    assert [line.split()[:3] for line in named.stdout.splitlines()] == [
        ["L1", "·", "a"],
        ["L2", "·", "b"],
    ]
    neither = cli("graph")
    assert neither.returncode != 0 and "--workflow NAME" in neither.stderr
    both = cli("graph", "2024", "--workflow", "2024")
    assert both.returncode != 0 and "one of them" in both.stderr
