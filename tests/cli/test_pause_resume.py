"""`flowtui pause/resume`, drafts, `--branch` and concurrency groups from the command line."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.cli.conftest import Cli


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def workflows(tmp_path: Path) -> Path:
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(
        folder / "nightly.yaml",
        """
        name: nightly
        triggers: [manual, {cron: "0 3 * * *"}]
        steps:
          build: {run: echo built}
          ship: {requires: [build], run: echo shipped, branches: {only: [main]}}
        """,
    )
    write(
        folder / "sketch.yaml",
        """
        name: sketch
        status: draft
        steps:
          try: {run: echo trying}
        """,
    )
    return folder


def list_status(cli: Cli, folder: Path) -> dict[str, str]:
    result = cli("list", str(folder))
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    return {row[0]: row[1] for row in rows}


def test_pause_and_resume_are_persisted_and_listed(cli: Cli, tmp_path: Path) -> None:
    folder = workflows(tmp_path)
    assert list_status(cli, folder) == {"nightly": "active", "sketch": "draft"}

    paused = cli("pause", "nightly", "--dir", str(folder))
    assert paused.returncode == 0, paused.stderr
    assert "paused nightly: its triggers are ignored" in paused.stdout
    assert cli.query("SELECT paused FROM workflows WHERE name = 'nightly'") == [(1,)]
    assert list_status(cli, folder)["nightly"] == "paused"
    assert "already" in cli("pause", "nightly", "--dir", str(folder)).stdout

    # a paused workflow still runs when a person asks
    ran = cli("run", "nightly", "--dir", str(folder), "-q", "--branch", "main")
    assert ran.returncode == 0, ran.stderr

    resumed = cli("resume", str(folder / "nightly.yaml"))  # a file works as well as a name
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed nightly: its triggers start runs again" in resumed.stdout
    assert cli.query("SELECT paused FROM workflows WHERE name = 'nightly'") == [(0,)]
    assert list_status(cli, folder)["nightly"] == "active"


def test_pausing_a_draft_says_its_file_keeps_it_off(cli: Cli, tmp_path: Path) -> None:
    folder = workflows(tmp_path)
    result = cli("pause", "sketch", "--dir", str(folder))
    assert result.returncode == 0
    assert "status: draft" in result.stderr
    assert list_status(cli, folder)["sketch"] == "draft"


def test_unknown_workflow_is_an_error(cli: Cli, tmp_path: Path) -> None:
    folder = workflows(tmp_path)
    result = cli("resume", "nope", "--dir", str(folder))
    assert result.returncode == 1
    assert result.stderr.startswith("flowtui: error:")
    assert cli.query("SELECT name FROM workflows WHERE name = 'nope'") == []


def test_a_draft_does_not_run(cli: Cli, tmp_path: Path) -> None:
    folder = workflows(tmp_path)
    result = cli("run", "sketch", "--dir", str(folder))
    assert result.returncode == 1
    assert "workflow sketch is a draft; set status: active" in result.stderr
    assert cli.query("SELECT COUNT(*) FROM runs") == [(0,)]


def test_branch_flag_filters_steps_and_is_shown(cli: Cli, tmp_path: Path) -> None:
    folder = workflows(tmp_path)
    result = cli("run", "nightly", "--dir", str(folder), "--branch", "feature/x")
    assert result.returncode == 0, result.stderr
    assert cli.step_status(1, "ship") == "skipped"
    show = cli("show", "last")
    assert "Branch: feature/x" in show.stdout
    assert "branch feature/x not in only: [main]" in show.stdout
    history = cli("history")
    header, row = history.stdout.splitlines()[:2]
    assert header.split()[-1] == "BRANCH" and row.split()[-1] == "feature/x"


def test_validate_warns_when_a_group_disagrees(cli: Cli, tmp_path: Path) -> None:
    for name, limit in (("a", 1), ("b", 3)):
        write(
            tmp_path / f"{name}.yaml",
            f"""
            name: {name}
            concurrency_group: deploys
            concurrency: {limit}
            steps:
              x: {{run: echo}}
            """,
        )
    result = cli("validate", str(tmp_path))
    assert result.returncode == 0, result.stdout
    assert (
        "concurrency group deploys: its workflows disagree on `concurrency` (a: 1, b: 3); "
        "the smallest, 1, applies to the whole group"
    ) in result.stdout
