"""`flowtui shell RUN STEP`: a real shell in the step's folder with the step's environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import Cli

WORKFLOW = """\
name: shelly
params:
  version: {default: "1.0"}
secrets:
  TOKEN: {env: SHELLY_TOKEN}
steps:
  build:
    run: |
      echo built > "$FLOWTUI_WORKSPACE/artifact"
      echo "tag=v$PARAM_VERSION" >> "$FLOWTUI_OUTPUT"
  deploy:
    requires: [build]
    cwd: sub
    matrix: {region: [eu, us]}
    run: |
      echo "later=yes" >> "$FLOWTUI_OUTPUT"
      [ "$MATRIX_REGION" = us ] || exit 9
  after:
    requires: ["deploy"]
    run: "true"
"""
SECRET = "s3cr3t-value-42"


def _failed_run(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "wf").mkdir()
    (tmp_path / "wf" / "sub").mkdir()
    (tmp_path / "wf" / "shelly.yaml").write_text(WORKFLOW)
    cli.env["SHELLY_TOKEN"] = SECRET
    done = cli("run", "wf/shelly.yaml", "-q", "-p", "version=2.5")
    assert done.returncode == 1, done.stdout + done.stderr  # deploy[region=eu] exits 9


def _env(stdout: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)


def test_a_command_runs_in_the_steps_folder_with_its_environment(cli: Cli, tmp_path: Path) -> None:
    _failed_run(cli, tmp_path)
    done = cli(
        "shell",
        "1",
        "deploy[region=eu]",
        "-c",
        'pwd; env; cat "$FLOWTUI_WORKSPACE/artifact"; exit 9',
    )
    assert done.returncode == 9  # the command's own status: "reproduced"
    env = _env(done.stdout)
    assert done.stdout.splitlines()[0] == str((tmp_path / "wf" / "sub").resolve())
    assert env["PARAM_VERSION"] == "2.5"
    assert env["MATRIX_REGION"] == "eu"
    assert env["FLOWTUI_RUN_ID"] == "1"
    assert env["FLOWTUI_STEP"] == "deploy[region=eu]"
    assert env["FLOWTUI_WORKFLOW"] == "shelly"
    assert env["STEPS_BUILD_TAG"] == "v2.5"  # what it could see: build's outputs
    assert "STEPS_DEPLOY_REGION_US_LATER" not in env  # a sibling's outputs it could not
    assert "built" in done.stdout  # the run's workspace, as the step had it
    assert "TOKEN" not in env  # no secrets unless asked
    assert "FLOWTUI_DB" not in env
    assert done.stderr == ""


def test_secrets_only_when_asked_and_never_stored_or_printed(cli: Cli, tmp_path: Path) -> None:
    _failed_run(cli, tmp_path)
    done = cli("shell", "1", "after", "--with-secrets", "-c", '[ "$TOKEN" = "$SHELLY_TOKEN" ]')
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert SECRET.encode() not in cli.db.read_bytes()
    del cli.env["SHELLY_TOKEN"]
    missing = cli("shell", "1", "after", "--with-secrets", "-c", "true")
    assert missing.returncode == 1
    assert "secret TOKEN: the environment variable SHELLY_TOKEN is not set" in missing.stderr
    assert cli("shell", "1", "after", "-c", "true").returncode == 0  # without: no need


def test_without_c_it_opens_SHELL_interactively_and_says_where(cli: Cli, tmp_path: Path) -> None:
    _failed_run(cli, tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "flowtui", "shell", "1", "build"],
        input='echo "step=$FLOWTUI_STEP"\nexit 4\n',
        capture_output=True,
        text=True,
        env={**cli.env, "SHELL": "/bin/sh"},
        cwd=cli.cwd,
        timeout=60,
    )
    assert proc.returncode == 4
    assert "step=build" in proc.stdout
    assert proc.stderr.startswith("flowtui shell: run 1 (shelly), step build, in ")


def test_an_unknown_step_or_a_bare_matrix_name_says_what_to_pick(cli: Cli, tmp_path: Path) -> None:
    _failed_run(cli, tmp_path)
    bare = cli("shell", "1", "deploy", "-c", "true")
    assert bare.returncode == 1
    assert "pick a copy: deploy[region=eu], deploy[region=us]" in bare.stderr
    unknown = cli("shell", "1", "nope", "-c", "true")
    assert "run 1 has no step 'nope'; steps: build, deploy[region=eu]" in unknown.stderr
    assert "not found" in cli("shell", "7", "build", "-c", "true").stderr
