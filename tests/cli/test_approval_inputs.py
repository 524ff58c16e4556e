"""Approvals that carry decisions, through real `python -m flowtui` processes: typed
inputs given with `approve --input`, refused when missing or ill-typed (the step stays
held), read by a later step as $STEPS_APPROVE_<NAME>; `required_approvals` and
`allow_self_approval`; `flowtui inbox`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from flowtui.engine.identity import current_user
from tests.cli.conftest import Cli

SHIP = """\
name: ship
steps:
  build:
    run: echo "artifact=app-$((40 + 2)).tar" >> "$FLOWTUI_OUTPUT"
  approve:
    type: approval
    requires: [build]
    message: Ship it?
    inputs:
      version: {type: string, required: true, description: the version to ship}
      target: {type: choice, options: [staging, production], default: staging}
      dry: {type: boolean, default: false}
  deploy:
    requires: [approve]
    run: |
      echo "version=$STEPS_APPROVE_VERSION target=$STEPS_APPROVE_TARGET dry=$STEPS_APPROVE_DRY"
      echo "artifact=$STEPS_BUILD_ARTIFACT"
"""

TWO_PEOPLE = """\
name: release
steps:
  gate:
    type: approval
    required_approvals: 2
    allow_self_approval: false
  after:
    requires: [gate]
    run: echo "approved by $STEPS_GATE_APPROVED_BY"
"""


def _held(cli: Cli, step: str) -> None:
    cli.wait_for(lambda: cli.step_status(1, step) == "held")


def _finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    return out


def test_inputs_are_checked_then_become_outputs_and_env(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "ship.yaml").write_text(SHIP)
    run = cli.start("run", "ship.yaml")
    _held(cli, "approve")

    missing = cli("approve", "1")
    assert missing.returncode == 1
    assert "missing required input version (string, required)" in missing.stderr
    wrong = cli("approve", "1", "approve", "--input", "version=1.4.2", "-i", "target=prod")
    assert "target must be one of staging, production, got 'prod'" in wrong.stderr
    unknown = cli("approve", "1", "--input", "version=1", "--input", "colour=red")
    assert "unknown input 'colour'" in unknown.stderr
    assert cli.step_status(1, "approve") == "held"  # refused: still waiting

    ok = cli("approve", "1", "--input", "version=1.4.2", "--input", "dry=yes")
    assert ok.returncode == 0, ok.stderr
    out = _finish(run)
    assert "version=1.4.2 target=staging dry=true" in out
    assert "artifact=app-42.tar" in out  # an indirect dependency's output too
    outputs = dict(cli.query("SELECT key, value FROM outputs WHERE step = 'approve'"))
    assert outputs == {
        "approved_by": current_user(),
        "comment": "",
        "version": "1.4.2",
        "target": "staging",
        "dry": "true",
    }
    recorded = cli.query("SELECT inputs FROM approvals WHERE step = 'approve'")
    assert json.loads(str(recorded[0][0]))["version"] == "1.4.2"
    shown = cli("show", "1").stdout
    assert "version=1.4.2" in shown


def test_an_output_is_never_run_as_script_text(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "ship.yaml").write_text(SHIP)
    run = cli.start("run", "ship.yaml")
    _held(cli, "approve")
    marker = tmp_path / "pwned"
    assert cli("approve", "1", "--input", f"version=$(touch {marker})").returncode == 0
    out = _finish(run)
    assert f"version=$(touch {marker})" in out
    assert not marker.exists()


def test_two_distinct_approvers_and_no_self_approval(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "release.yaml").write_text(TWO_PEOPLE)
    cli.env["FLOWTUI_TRUST_AS"] = "1"
    run = cli.start("run", "release.yaml")
    _held(cli, "gate")

    me = current_user()
    self_approval = cli("approve", "1")
    assert self_approval.returncode == 1
    assert f"{me} started this run and gate does not allow self-approval" in self_approval.stderr

    first = cli("approve", "1", "--as", "ann")
    assert first.returncode == 0, first.stderr
    assert "1 of 2 approvals" in first.stdout
    assert cli.step_status(1, "gate") == "held"
    inbox = cli("inbox").stdout
    assert "1 of 2 approvals (by ann)" in inbox and f"not {me} (started it)" in inbox
    # the gate's rules are shown while it is held ...
    assert "needs 2 approvals; self-approval not allowed" in cli("show", "1").stdout

    again = cli("approve", "1", "--as", "ann")
    assert "ann has already approved gate (1 of 2 approvals)" in again.stderr
    assert cli("approve", "1", "--as", "bob").returncode == 0
    assert "approved by ann, bob" in _finish(run)
    shown = cli("show", "1").stdout
    assert "approved by ann at" in shown and "approved by bob at" in shown
    # ... not under the approved gate, where they read as a refusal of the approval
    assert "self-approval not allowed" not in shown


def test_inbox_lists_held_steps_of_every_workflow(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "ship.yaml").write_text(SHIP)
    (tmp_path / "release.yaml").write_text(TWO_PEOPLE.replace("gate:", "gate:\n    timeout: 1h", 1))
    assert cli("inbox").stdout.strip() == "nothing waits for approval"
    first = cli.start("run", "ship.yaml")
    _held(cli, "approve")
    second = cli.start("run", "release.yaml")
    cli.wait_for(lambda: cli.step_status(2, "gate") == "held")

    text = cli("inbox").stdout.splitlines()
    header = "RUN WORKFLOW STEP MESSAGE HELD FOR TIME LEFT WHO MAY APPROVE"
    assert text[0].split() == header.split()
    assert text[1].startswith("#1") and "ship" in text[1] and "Ship it?" in text[1]
    assert (
        text[2].startswith("#2")
        and "release" in text[2]
        and ("1h00m" in text[2] or "59m" in text[2])
    )
    for proc in (first, second):
        proc.terminate()
        proc.communicate(timeout=30)


def test_the_runner_refuses_a_decision_written_around_the_checks(cli: Cli, tmp_path: Path) -> None:
    """A command put straight into the history (not through `flowtui approve`) is judged
    again by the runner: without the required input it is ignored and the step stays held."""
    import asyncio

    from flowtui.store import RunStore

    (tmp_path / "ship.yaml").write_text(SHIP)
    run = cli.start("run", "ship.yaml")
    _held(cli, "approve")

    async def send(inputs: dict[str, str]) -> None:
        store = await RunStore.open(cli.db)
        try:
            await store.add_command(1, "approve", step="approve", by="eve", inputs=inputs)
        finally:
            await store.close()

    asyncio.run(send({"target": "moon"}))
    ignored = "approve by eve ignored: not approving approve: missing required input version"
    cli.wait_for(lambda: cli.query("SELECT 1 FROM logs WHERE line LIKE ?", ignored + "%"))
    assert cli.step_status(1, "approve") == "held"
    asyncio.run(send({"version": "3"}))
    assert "version=3 target=staging" in _finish(run)
