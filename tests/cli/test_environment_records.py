"""What a run records of its environment, through real `python -m flowtui` processes: a
rerun binds the environment as the run recorded it (variables, protection), not today's
`environments.yaml`; `envs` names the gate's approvers apart from the workflow's own
approvals, and follows a rerun's reused gate back to who approved it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from flowtui.engine.identity import current_user
from tests.cli.conftest import Cli

ENVIRONMENTS = """\
environments:
  production:
    variables: {TARGET: prod.local}
    protection: {approvers: [%s]}
"""

CHANGED = """\
environments:
  production:
    variables: {TARGET: changed.local}
"""

DEPLOY = """\
name: deploy
steps:
  check:
    type: approval
    message: smoke tests look fine?
  ship:
    requires: [check]
    run: echo "ship to $TARGET in $FLOWTUI_ENVIRONMENT"
"""


def _finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    return out


def _approve(cli: Cli, run_id: int, step: str, *extra: str) -> None:
    cli.wait_for(lambda: cli.step_status(run_id, step) == "held")
    proc = cli("approve", str(run_id), step, *extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_rerun_binds_the_recorded_environment_and_envs_names_the_gates_approvers(
    cli: Cli, tmp_path: Path
) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "environments.yaml").write_text(ENVIRONMENTS % current_user())
    (folder / "deploy.yaml").write_text(DEPLOY)
    cli.env["FLOWTUI_TRUST_AS"] = "1"  # carol approves the workflow's own step
    dirs = ("--dir", str(folder))
    me = current_user()

    first = cli.start("run", "deploy", "--env", "production", *dirs)
    _approve(cli, 1, "approve-production")
    _approve(cli, 1, "check", "--as", "carol")
    assert "ship to prod.local in production" in _finish(first)
    envs = json.loads(cli("envs", "--json", *dirs).stdout)
    assert [(e["approved_by"], e["other_approvals"]) for e in envs] == [
        ([me], [{"step": "check", "by": "carol"}])
    ]
    table = cli("envs", *dirs).stdout
    assert me in table and "carol" not in table

    # the file changes (another target, no protection): a rerun keeps what run 1 recorded
    (folder / "environments.yaml").write_text(CHANGED)
    again = cli.start("rerun", "1", "--from-start")
    _approve(cli, 2, "approve-production")  # the recorded protection still holds it
    _approve(cli, 2, "check", "--as", "carol")
    assert "ship to prod.local in production" in _finish(again)
    definition = json.loads(str(cli.query("SELECT definition FROM runs WHERE id = 2")[0][0]))
    assert definition["environment"]["variables"] == {"TARGET": "prod.local"}

    # a rerun that reuses the gate: its approvers are those of the run it reused it from
    out = cli("rerun", "2", "--from", "ship")
    assert out.returncode == 0 and "ship to prod.local" in out.stdout, out.stderr
    assert cli.step_status(3, "approve-production") == "reused"
    envs = json.loads(cli("envs", "--json", *dirs).stdout)
    assert [(e["release_run_id"], e["approved_by"], e["other_approvals"]) for e in envs] == [
        (3, [me], [])
    ]
