"""`flowtui rerun --from STEP` and `--dry-run` on run and rerun, as real processes."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli.conftest import Cli

WORKFLOW = """\
name: shipit
steps:
  build:
    run: |
      echo built > "$FLOWTUI_WORKSPACE/artifact"
      echo "version=1.$RANDOM" >> "$FLOWTUI_OUTPUT"
  test:
    requires: [build]
    matrix: {py: ["3.11", "3.12"]}
    run: grep -q built "$FLOWTUI_WORKSPACE/artifact"
  deploy:
    requires: [test]
    run: |
      grep -q built "$FLOWTUI_WORKSPACE/artifact"
      echo deployed >> "$FLOWTUI_WORKSPACE/deploys"
  announce:
    requires: [deploy]
    when: params.loud == "yes"
    run: echo loud
  docs:
    requires: [build]
    run: echo docs
  prod_only:
    requires: [build]
    branches: {only: [main]}
    run: echo prod
params:
  loud: {default: "no"}
"""


def _plan(stdout: str) -> dict[str, tuple[str, str]]:
    """step → (action, reason) from a printed plan."""
    found = {}
    for line in stdout.splitlines():
        if m := re.match(r"  (run|reuse|skip)\s+(\S+)\s*(.*)$", line):
            found[m[2]] = (m[1], m[3])
    return found


def _statuses(cli: Cli, run_id: int) -> dict[str, str]:
    rows = cli.query("SELECT name, status FROM steps WHERE run_id=?", run_id)
    return {str(n): str(s) for n, s in rows}


def _first_run(cli: Cli, tmp_path: Path) -> Path:
    path = tmp_path / "shipit.yaml"
    path.write_text(WORKFLOW)
    done = cli("run", str(path), "-q", "--branch", "main")
    assert done.returncode == 0, done.stderr + done.stdout
    return path


def test_rerun_from_a_step_of_a_succeeded_run_reruns_it_and_its_dependants_only(
    cli: Cli, tmp_path: Path
) -> None:
    _first_run(cli, tmp_path)
    build_output = cli.query("SELECT value FROM outputs WHERE run_id=1 AND step='build'")
    done = cli("rerun", "1", "--from", "deploy", "-q")
    assert done.returncode == 0, done.stderr + done.stdout
    statuses = _statuses(cli, 2)
    assert statuses == {
        "build": "reused",
        "test[py=3.11]": "reused",
        "test[py=3.12]": "reused",
        "deploy": "succeeded",  # it found build's artifact: the workspace came along
        "announce": "skipped",
        "docs": "reused",
        "prod_only": "reused",
    }
    # build's outputs are carried over, not made again
    assert cli.query("SELECT value FROM outputs WHERE run_id=2 AND step='build'") == build_output
    deploys = cli.query("SELECT rerun_mode, parent_run_id FROM runs WHERE id=2")
    assert deploys == [("from deploy", 1)]
    shown = cli("show", "2", "--lines", "0")
    assert "Rerun (from deploy) of run 1" in shown.stdout


def test_rerun_from_a_matrix_steps_name_reruns_every_copy(cli: Cli, tmp_path: Path) -> None:
    _first_run(cli, tmp_path)
    done = cli("rerun", "1", "--from", "test", "-q")
    assert done.returncode == 0, done.stderr
    statuses = _statuses(cli, 2)
    assert statuses["test[py=3.11]"] == statuses["test[py=3.12]"] == "succeeded"
    assert statuses["deploy"] == "succeeded"
    assert statuses["build"] == statuses["docs"] == "reused"


def test_rerun_dry_run_prints_the_plan_the_rerun_then_follows(cli: Cli, tmp_path: Path) -> None:
    _first_run(cli, tmp_path)
    preview = cli("rerun", "1", "--from", "deploy", "--dry-run")
    assert preview.returncode == 0, preview.stderr
    assert "plan for a rerun of run 1 (shipit) from deploy: 2 to run, 5 reused" in preview.stdout
    assert "nothing started (--dry-run)" in preview.stdout
    plan = _plan(preview.stdout)
    assert plan["deploy"] == ("run", "rerun from here")
    assert plan["announce"][0] == "run"
    assert "depends on deploy" in plan["announce"][1]
    assert "decided when it runs" in plan["announce"][1]
    assert plan["build"] == ("reuse", "reused from run 1")
    assert cli.query("SELECT count(*) FROM runs") == [(1,)]  # nothing started

    cli("rerun", "1", "--from", "deploy", "-q")
    for step, status in _statuses(cli, 2).items():
        assert (plan[step][0] == "reuse") == (status == "reused"), step


def test_run_dry_run_says_what_would_run_and_what_is_skipped_and_why(
    cli: Cli, tmp_path: Path
) -> None:
    path = tmp_path / "shipit.yaml"
    path.write_text(WORKFLOW)
    preview = cli("run", str(path), "--dry-run", "--branch", "feature/x")
    assert preview.returncode == 0, preview.stderr
    assert "plan for a run of shipit (branch feature/x): 6 to run, 1 skipped" in preview.stdout
    plan = _plan(preview.stdout)
    assert plan["test[py=3.11]"] == ("run", "matrix copy of test (py=3.11)")
    assert plan["announce"] == ("run", 'when: params.loud == "yes" (decided when it runs)')
    assert plan["prod_only"] == ("skip", "branch feature/x not in only: [main]")
    assert not cli.db.exists() or cli.query("SELECT count(*) FROM runs") == [(0,)]


def test_run_dry_run_names_a_condition_not_yet_known_and_refuses_bad_params(
    cli: Cli, tmp_path: Path
) -> None:
    path = tmp_path / "cond.yaml"
    path.write_text(
        "name: cond\nsteps:\n  check:\n    type: condition\n    if: params.go == 'y'\n"
        "    then: [yes_step]\n    else: [no_step]\n  yes_step: {run: echo y}\n"
        "  no_step: {run: echo n}\nparams:\n  go: {default: y}\n"
    )
    plan = _plan(cli("run", str(path), "--dry-run").stdout)
    assert plan["yes_step"] == ("run", "only if condition check is true (not yet known)")
    assert plan["no_step"] == ("run", "only if condition check is false (not yet known)")
    bad = cli("run", str(path), "--dry-run", "-p", "nope=1")
    assert bad.returncode == 1
    assert "unknown param(s) nope" in bad.stderr
    path.write_text(path.read_text().replace("name: cond\n", "name: cond\nstatus: draft\n"))
    draft = cli("run", str(path), "--dry-run")
    assert draft.returncode == 1
    assert "cond is a draft" in draft.stderr


def test_a_rerun_reuses_a_decided_condition_and_skips_its_other_branch(
    cli: Cli, tmp_path: Path
) -> None:
    path = tmp_path / "cond.yaml"
    path.write_text(
        "name: cond\nsteps:\n  check:\n    type: condition\n    if: params.go == 'y'\n"
        "    then: [yes_step]\n    else: [no_step]\n  yes_step: {run: echo y}\n"
        "  no_step: {run: echo n}\n  after: {requires: [yes_step], run: echo after}\n"
        "params:\n  go: {default: y}\n"
    )
    assert cli("run", str(path), "-q").returncode == 0
    plan = _plan(cli("rerun", "1", "--from", "yes_step", "--dry-run").stdout)
    assert plan["check"] == ("reuse", "reused from run 1")
    assert plan["no_step"] == ("skip", "condition check was true")
    assert plan["after"] == ("run", "depends on yes_step")


def test_rerun_from_an_unknown_step_names_the_steps(cli: Cli, tmp_path: Path) -> None:
    _first_run(cli, tmp_path)
    for extra in ([], ["--dry-run"]):
        done = cli("rerun", "1", "--from", "deplyo", *extra)
        assert done.returncode == 1
        assert "no step 'deplyo' in shipit; steps: build, test, deploy" in done.stderr
    assert cli.query("SELECT count(*) FROM runs") == [(1,)]


def test_rerun_dry_run_from_failed_with_nothing_failed_says_so(cli: Cli, tmp_path: Path) -> None:
    _first_run(cli, tmp_path)
    done = cli("rerun", "1", "--dry-run")
    assert done.returncode == 1
    assert "nothing to rerun" in done.stderr
    whole = _plan(cli("rerun", "1", "--from-start", "--dry-run").stdout)
    assert {action for action, _ in whole.values()} == {"run"}
