"""Issue 16 at run time: `flowtui run` on a config with orbs, as a real process."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.circleci.conftest import config_path
from tests.cli.conftest import Cli


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def summary(stdout: str) -> dict[str, str]:
    """{step: "succeeded"/"skipped"/...} from the summary `flowtui run` prints at the end."""
    rows = re.findall(r"^\s*\d+\. (\S+)\s+\S+ (\w+)", stdout, re.MULTILINE)
    return dict(rows)


def test_an_orb_job_is_skipped_naming_the_orb_and_the_rest_runs(cli: Cli) -> None:
    config = str(config_path("orbs-run"))
    result = cli("run", config, "--branch", "main")
    assert result.returncode == 0, result.stdout + result.stderr
    assert summary(result.stdout) == {
        "build": "succeeded",
        "unit": "skipped",  # node/test: the orb is not saved here
        "greeter/hello": "succeeded",  # from .circleci/orbs/acme/greeter.yml
        "all-checked": "succeeded",  # no-op; one of its requirements ran
        "after-unit": "skipped",  # its only requirement did not run
        "publish": "skipped",  # tags only
        "announce": "succeeded",  # requires build (ran) and publish (filtered out)
        "release-notes": "skipped",  # its only requirement, publish, was filtered out
    }
    assert "unit          ↷ skipped — orb `node` (circleci/node@5.1.0) is not available" in (
        result.stdout
    )
    assert "hello flowtui from the saved orb" in result.stdout
    assert "ran build on main no tag" in result.stdout
    assert "node/install-packages: skipped, orb command" in result.stdout
    assert "Status: succeeded" in result.stdout


def test_a_run_for_a_tag_runs_only_the_jobs_whose_tag_filter_lets_it_through(cli: Cli) -> None:
    result = cli("run", str(config_path("orbs-run")), "--tag", "v1.0", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    ran = {name for name, status in summary(result.stdout).items() if status == "succeeded"}
    assert ran == {"publish", "release-notes"}
    assert "ran publish on no branch v1.0" in result.stdout  # CIRCLE_TAG, no CIRCLE_BRANCH
    assert "tag v1.0: the job has no `tags` filter" in result.stdout

    other = cli("run", str(config_path("orbs-run")), "--tag", "nightly", "-q")
    assert other.returncode == 0 and "publish" not in {
        n for n, s in summary(other.stdout).items() if s == "succeeded"
    }
    both = cli("run", str(config_path("orbs-run")), "--tag", "v1", "--branch", "main")
    assert both.returncode != 0 and "give --branch or --tag, not both" in both.stderr


def test_orbs_dir_points_at_saved_orb_sources_elsewhere(cli: Cli, tmp_path: Path) -> None:
    saved = tmp_path / "orbs" / "circleci" / "node.yml"
    saved.parent.mkdir(parents=True)
    saved.write_text(
        "jobs:\n  test:\n    steps:\n      - run: echo node tests from the orbs dir\n"
        "commands:\n  install-packages:\n    steps: [{run: echo installed}]\n"
    )
    result = cli(
        "run", str(config_path("orbs-run")), "-b", "main", "--orbs-dir", str(tmp_path / "orbs")
    )
    assert result.returncode == 0, result.stdout + result.stderr
    statuses = summary(result.stdout)
    assert statuses["unit"] == "succeeded" and statuses["after-unit"] == "succeeded"
    assert "node tests from the orbs dir" in result.stdout
    # the saved acme/greeter orb is not in that folder: now it is the one skipped
    assert statuses["greeter/hello"] == "skipped"

    rerun = cli("rerun", "last", "--from-start", "-q")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert summary(rerun.stdout)["unit"] == "succeeded"  # the rerun used the same orbs dir


def test_a_workflow_offered_only_with_a_parameter_runs_with_it(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / ".circleci" / "config.yml"
    config.parent.mkdir()
    config.write_text(
        "version: 2.1\n"
        "parameters: {go: {type: boolean, default: false}}\n"
        "jobs:\n  a: {steps: [{run: echo went}]}\n"
        "workflows:\n  only-when-go:\n    when: << pipeline.parameters.go >>\n"
        "    jobs: [a]\n"
    )
    refused = cli("run", str(config))
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "the config has no workflow that runs" in refused.stderr
    went = cli("run", str(config), "-p", "go=true")
    assert went.returncode == 0, went.stdout + went.stderr
    assert "went" in went.stdout and "Status: succeeded" in went.stdout
    checked = cli("validate", str(config))
    assert checked.returncode == 0, checked.stdout
    assert "no workflow runs" in checked.stdout
    assert "workflow `only-when-go` does not run: its `when` condition is false" in checked.stdout


def test_runs_of_a_serial_group_wait_for_each_other(cli: Cli, tmp_path: Path) -> None:
    release = tmp_path / "release"
    config = tmp_path / ".circleci" / "config.yml"
    config.parent.mkdir()
    config.write_text(
        "version: 2.1\n"
        "jobs:\n  deploy:\n    steps:\n"
        f"      - run: while [ ! -e {release} ]; do sleep 0.05; done\n"
        "workflows:\n  w:\n    jobs:\n"
        "      - deploy: {serial-group: << pipeline.project.slug >>/deploy}\n"
    )
    first = cli.start("run", str(config), "-b", "main", "-q")
    second = None
    try:
        cli.wait_for(lambda: cli.step_status(1, "deploy") == "running")
        second = cli.start("run", str(config), "-b", "main", "-q")
        cli.wait_for(lambda: cli.query("SELECT status FROM runs WHERE id=2"))
        queued = cli.query("SELECT status FROM runs WHERE id=2")[0][0]
        assert queued == "queued"  # the first run holds the group
        release.touch()
        _, err1 = first.communicate(timeout=30)
        out2, err2 = second.communicate(timeout=30)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert first.returncode == 0 and second.returncode == 0, err1 + err2
    assert f"concurrency group circleci-serial:local/{tmp_path.name}/deploy" in out2 + err2
