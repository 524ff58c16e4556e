"""Environments through real `python -m flowtui` processes: `run --env` hands the
environment's variables and (masked) secrets to the steps, a protected environment holds
the run at its approval gate (`approve`, `inbox`), a second run in the same environment
queues behind the first, `history --env`, `envs` (release, run, approver) and `promote`
(the release run's params, FLOWTUI_RELEASE)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from flowtui.engine.identity import current_user
from tests.cli.conftest import Cli
from tests.cli.test_json_output import doc_examples, same_keys

ENVIRONMENTS = """\
environments:
  staging:
    variables: {TARGET: staging.local}
    secrets: {DEPLOY_TOKEN: {env: STAGING_TOKEN}}
  production:
    variables: {TARGET: prod.local}
    protection: {approvers: [%s], timeout: 10m}
    promote_from: staging
"""

DEPLOY = """\
name: deploy
release: steps.build.outputs.version
params:
  version: {default: "1.0"}
steps:
  build:
    run: echo "version=$PARAM_VERSION" >> "$FLOWTUI_OUTPUT"
  ship:
    requires: [build]
    run: |
      echo "ship $PARAM_VERSION to $TARGET in $FLOWTUI_ENVIRONMENT token=${DEPLOY_TOKEN:-none}"
      echo "release=${FLOWTUI_RELEASE:-none} from=${FLOWTUI_PROMOTED_FROM:-none}"
"""


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "environments.yaml").write_text(ENVIRONMENTS % current_user())
    (folder / "deploy.yaml").write_text(DEPLOY)
    return folder


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    return out


def test_validate_names_bad_environments_by_line(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "environments.yaml").write_text(
        "environments:\n"
        "  staging:\n"
        "    varibles: {A: b}\n"
        "  production:\n"
        "    promote_from: stagin\n"
        "    protection: {approvers: [x], timeout: soon}\n"
    )
    (folder / "w.yaml").write_text(
        "name: w\nrelease: steps.bild.outputs.v\nsteps:\n  build:\n    run: 'true'\n"
        "report:\n  github: {repo: nope, token: abc}\n  gitea: {}\n"
        "triggers:\n  - webhook: {environment: qa}\n"
    )
    proc = cli("validate", str(folder))
    assert proc.returncode == 1
    out = proc.stdout + proc.stderr
    envs = str(folder / "environments.yaml")
    assert f"{envs}:3:5: error: unknown key `varibles` in environment `staging`" in out
    assert "did you mean `variables`" in out
    assert f"{envs}:4:3: error: environment `production`: `promote_from` names an unknown" in out
    assert f"{envs}:6:" in out and "timeout" in out
    assert "w.yaml:2:10: error: `release` names an unknown step `bild`" in out
    assert "w.yaml:7:18: error: `repo` must be owner/name" in out
    assert "w.yaml:7:31: error: `report.github.token` must be `{env: VARIABLE}`" in out
    assert "w.yaml:8:3: error: unknown key `gitea` in `report`" in out
    assert "w.yaml:10:5: error: the `webhook` trigger names an unknown environment 'qa'" in out
    # the folder's environments file is not taken for a workflow
    assert "environments.yaml: " not in out.replace(f"{envs}:", "")


def test_environments_from_run_to_promotion(cli: Cli, tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    cli.env["STAGING_TOKEN"] = "s3cret-staging-token"
    dirs = ("--dir", str(folder))

    unknown = cli("run", "deploy", "--env", "prod", *dirs)
    assert unknown.returncode != 0
    assert "deploy has no environment `prod` (known: production, staging)" in unknown.stderr

    # staging: variables and the secret reach the steps; the secret is masked
    out = _ok(cli("run", "deploy", "--env", "staging", "-p", "version=2.0", *dirs))
    assert "ship 2.0 to staging.local in staging token=***" in out
    assert "s3cret" not in out
    logs = _ok(cli("logs", "1"))
    assert "token=***" in logs and "s3cret" not in logs

    # production is protected: the run holds at its gate before any step; a second run
    # in production queues behind it (one at a time per workflow and environment)
    first = cli.start("promote", "deploy", "--to", "production", *dirs)
    cli.wait_for(lambda: cli.step_status(2, "approve-production") == "held")
    assert cli.step_status(2, "build") == "pending"
    second = cli.start("run", "deploy", "--env", "production", "-p", "version=9", *dirs)
    cli.wait_for(lambda: cli.query("SELECT status FROM runs WHERE id = 3") == [("queued",)])
    inbox = json.loads(_ok(cli("inbox", "--json")))
    assert [(i["run_id"], i["step"]) for i in inbox] == [(2, "approve-production")]
    assert inbox[0]["approvers"] == [current_user()]
    _ok(cli("approve", "2", "approve-production"))
    out = _finish(first)
    assert "ship 2.0 to prod.local in production token=none" in out
    assert "release=2.0 from=staging" in out
    cli.wait_for(lambda: cli.step_status(3, "approve-production") == "held")
    _ok(cli("reject", "3", "approve-production"))
    assert second.wait(timeout=60) != 0

    history = json.loads(_ok(cli("history", "--env", "production", "--json")))
    assert [(r["id"], r["environment"], r["trigger"]) for r in history] == [
        (3, "production", "manual"),
        (2, "production", "promote"),
    ]

    envs = json.loads(_ok(cli("envs", "--json", *dirs)))
    for shown in envs:  # the shape docs/json.md documents
        same_keys(json.loads(doc_examples()["envs"])[0], shown)
    same_keys(json.loads(doc_examples()["history"])[0], history[0])
    by_env = {e["environment"]: e for e in envs}
    assert by_env["staging"]["release"] == "2.0"
    assert by_env["production"]["status"] == "failed"  # run 3, rejected
    assert by_env["production"]["release"] == "2.0"  # still run 2's
    assert by_env["production"]["release_run_id"] == 2
    assert by_env["production"]["approved_by"] == [current_user()]
    text = _ok(cli("envs", *dirs))
    assert "production" in text and "#2" in text

    # a rerun of the promotion keeps its environment (and gate) and what it promoted
    rerun = cli.start("rerun", "2", "--from-start")
    cli.wait_for(lambda: cli.step_status(4, "approve-production") == "held")
    _ok(cli("approve", "4", "approve-production"))
    assert "release=2.0 from=staging" in _finish(rerun)

    none = cli("promote", "deploy", "--to", "staging", *dirs)
    assert none.returncode != 0 and "has no `promote_from`" in none.stderr
