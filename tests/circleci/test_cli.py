"""`flowtui run/validate .circleci/config.yml` end to end, as real processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.circleci.conftest import config_path
from tests.cli.conftest import Cli


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def test_run_picks_a_workflow_and_honours_the_branch(cli: Cli, tmp_path: Path) -> None:
    db = str(cli.db)
    config = str(config_path("branch-level"))
    result = cli("run", config, "--workflow", "build-deploy", "--branch", "main", "--db", db)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Workflow: build-deploy" in result.stdout and "Status: succeeded" in result.stdout
    assert "deploy from" in result.stdout
    assert result.stderr.count("every job runs on this host: docker (cimg/base:2023.06)") == 1

    result = cli("run", config, "-w", "build-deploy", "--branch", "feature/x", "--db", db, "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "skipped" in result.stdout


def test_run_without_a_choice_lists_the_workflows(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", str(config_path("branch-level")), "--db", str(tmp_path / "ci.db"))
    assert result.returncode != 0
    assert "pick one with --workflow NAME: dev_stage_pre-prod, build-deploy" in result.stderr

    result = cli("run", str(config_path("branch-level")), "-w", "nope", "--db", "x.db")
    assert result.returncode != 0 and "no CircleCI workflow `nope`" in result.stderr


def test_workflow_option_is_refused_for_a_flowtui_file(cli: Cli, tmp_path: Path) -> None:
    own = tmp_path / "own.yaml"
    own.write_text("name: own\nsteps:\n  a: {run: echo}\n")
    result = cli("run", str(own), "--workflow", "x", "--db", str(tmp_path / "ci.db"))
    assert result.returncode != 0 and "not a CircleCI config" in result.stderr


def test_approval_from_a_second_terminal(cli: Cli, tmp_path: Path) -> None:
    db = str(cli.db)
    run = cli.start("run", str(config_path("approval")), "--db", db, "-q")
    try:
        cli.wait_for(
            lambda: cli.query("SELECT status FROM steps WHERE name = 'hold'") == [("held",)]
        )
        approved = cli("approve", "last", "hold", "-m", "looks good", "--db", db)
        assert approved.returncode == 0, approved.stderr
        out, err = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, out + err
    assert "Status: succeeded" in out and "approved by" in out


def test_validate_lists_workflows_and_unsupported_features(cli: Cli) -> None:
    result = cli("validate", str(config_path("features")))
    assert result.returncode == 0, result.stdout
    out = result.stdout
    assert "CircleCI workflows: features (5 jobs), second (1 job)" in out
    assert "note: orb `node` (circleci/node@5.1.0) is not available here" in out
    assert "`save_cache` is not supported" in out
    assert out.count("every job runs on this host") == 1


def test_validate_reports_a_broken_config_with_file_and_line(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / ".circleci" / "config.yml"
    path.parent.mkdir()
    path.write_text(
        "version: 2.1\njobs:\n  a: {steps: [{run: echo}]}\nworkflows:\n  w:\n    jobs: [b]\n"
    )
    result = cli("validate", str(path))
    assert result.returncode == 1
    assert f"{path}:6:12: error: workflow job `b` is not defined under `jobs:`" in result.stdout
