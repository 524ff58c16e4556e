"""The terraform/tofu step, against a stand-in binary that speaks Terraform's -json UI.

tests/fixtures/fake_terraform/terraform replays the machine-readable output format; the
recorded-*.jsonl files next to it were captured from the real Terraform 1.11.4 and keep
the parser honest about that format.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from flowtui.engine.executors.terraform import UiStream, apply_summary, plan_summary
from flowtui.engine.states import RunStatus, StepStatus
from tests.integrations.conftest import FIXTURES, Env

FAKE = FIXTURES / "fake_terraform"
CONFIG = {
    "variables": {"region": {}, "size": {"default": "small"}, "note": {"default": ""}},
    "resources": {
        "terraform_data.web": "web-${var.region}-${var.size}",
        "terraform_data.db": "db-${var.region}",
    },
    "outputs": {"url": "https://${var.region}.example", "note": "${var.note}"},
}


@pytest.fixture
def infra(env: Env) -> Path:
    folder = env.folder / "infra"
    folder.mkdir()
    (folder / "main.fake.json").write_text(json.dumps(CONFIG))
    return folder


def _calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


async def test_plan_then_apply_exactly_that_plan(env: Env, infra: Path, tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    note = 'it\'s $(rm -rf ~) "quoted"'
    wf = env.workflow(
        f"""
        name: infra
        env: {{PATH: "{FAKE}{os.pathsep}{os.environ["PATH"]}", FAKE_TERRAFORM_LOG: "{log}"}}
        steps:
          plan:
            type: terraform
            dir: infra
            workspace: staging
            vars: {{region: eu, note: {json.dumps(note)}}}
          apply:
            type: terraform
            requires: [plan]
            action: apply
            dir: infra
            workspace: staging
            plan: plan
          replan:
            type: terraform
            requires: [apply]
            dir: infra
            workspace: staging
            vars: {{region: eu, note: {json.dumps(note)}}}
        """
    )
    done = await env.run(wf)
    assert done.status == RunStatus.SUCCEEDED, done.log_text("plan") + done.log_text("apply")

    plan = done.steps["plan"]
    assert plan.message == "2 to add, 0 to change, 0 to destroy"
    assert plan.exit_code == 2  # -detailed-exitcode: changes present
    out = done.outputs["plan"]
    workspace = env.runner.workspace_for(done.run_id)
    assert out["plan_path"] == str(workspace / "terraform" / "plan.tfplan")
    assert len(out["plan_sha256"]) == 64
    assert (out["add"], out["change"], out["destroy"], out["has_changes"]) == (
        "2",
        "0",
        "0",
        "true",
    )
    plan_log = done.log_text("plan")
    assert "terraform_data.web: Plan to create" in plan_log
    assert "  + terraform_data.web (create)" in plan_log  # from `show -json`

    apply = done.steps["apply"]
    assert apply.message == "2 added, 0 changed, 0 destroyed"
    assert done.outputs["apply"]["output_url"] == "https://eu.example"
    assert done.outputs["apply"]["output_note"] == note  # intact: it went through a JSON file
    assert "saved by `plan`" in done.log_text("apply")

    assert done.steps["replan"].message == "no changes"
    assert done.steps["replan"].exit_code == 0
    assert done.outputs["replan"]["has_changes"] == "false"

    calls = _calls(log)
    assert {c["workspace"] for c in calls} == {"staging"}
    assert (infra / "terraform.tfstate.d" / "staging" / "fake-state.json").is_file()
    plans = [c["argv"] for c in calls if c["argv"][0] == "plan"]
    assert all(any(a.endswith(".tfvars.json") for a in argv) for argv in plans)
    assert not any(note in arg for c in calls for arg in c["argv"])  # never spliced
    [apply_argv] = [c["argv"] for c in calls if c["argv"][0] == "apply"]
    assert apply_argv == ["apply", "-json", "-input=false", out["plan_path"]]


async def test_apply_refuses_a_plan_file_changed_after_plan(env: Env, infra: Path) -> None:
    wf = env.workflow(
        f"""
        name: tamper
        env: {{PATH: "{FAKE}{os.pathsep}{os.environ["PATH"]}"}}
        steps:
          plan: {{type: terraform, dir: infra, vars: {{region: us}}}}
          tamper:
            requires: [plan]
            run: echo ' ' >> "$FLOWTUI_WORKSPACE/terraform/plan.tfplan"
          apply: {{type: terraform, requires: [tamper], action: apply, dir: infra, plan: plan}}
        """
    )
    done = await env.run(wf)
    assert done.steps["plan"].status == StepStatus.SUCCEEDED
    apply = done.steps["apply"]
    assert apply.status == StepStatus.FAILED
    assert apply.message.startswith("refusing to apply: plan.tfplan changed since `plan` saved")
    assert not (infra / "fake-state.json").exists()  # nothing was applied


async def test_apply_without_a_recorded_plan_is_refused(env: Env, infra: Path) -> None:
    wf = env.workflow(
        f"""
        name: noplan
        env: {{PATH: "{FAKE}{os.pathsep}{os.environ["PATH"]}"}}
        steps:
          apply: {{type: terraform, action: apply, dir: infra, plan: plan}}
        """
    )
    done = await env.run(wf)
    assert done.steps["apply"].message.startswith("no saved plan from step `plan`")


async def test_diagnostics_fail_the_step_with_their_summary(env: Env, infra: Path) -> None:
    wf = env.workflow(
        f"""
        name: novars
        env: {{PATH: "{FAKE}{os.pathsep}{os.environ["PATH"]}"}}
        steps:
          plan: {{type: terraform, dir: infra}}
        """
    )
    done = await env.run(wf)
    step = done.steps["plan"]
    assert step.status == StepStatus.FAILED
    assert step.exit_code == 1
    assert step.message == "plan failed: No value for required variable (main.fake.json:1)"
    assert ("stderr", "Error: No value for required variable") in done.logs["plan"]
    assert 'input variable "region" is not set' in done.log_text("plan")


async def test_direct_apply_then_destroy(env: Env, infra: Path) -> None:
    wf = env.workflow(
        f"""
        name: updown
        env: {{PATH: "{FAKE}{os.pathsep}{os.environ["PATH"]}"}}
        steps:
          up: {{type: terraform, action: apply, dir: infra, vars: {{region: us, note: n}}}}
          down:
            type: terraform
            requires: [up]
            action: destroy
            dir: infra
            vars: {{region: us, note: n}}
        """
    )
    done = await env.run(wf)
    assert done.status == RunStatus.SUCCEEDED, done.log_text("up") + done.log_text("down")
    assert done.steps["up"].message == "2 added, 0 changed, 0 destroyed"
    assert done.steps["down"].message == "2 destroyed"
    state = json.loads((infra / "fake-state.json").read_text())
    assert state["resources"] == {}


async def test_missing_binary_and_binary_option(env: Env, infra: Path) -> None:
    wf = env.workflow(
        f"""
        name: bins
        env: {{PATH: "{env.folder / "empty"}"}}
        steps:
          tf: {{type: terraform, dir: infra}}
          tofu: {{type: tofu, dir: infra}}
          custom:
            type: tofu
            dir: infra
            binary: {FAKE / "terraform"}
            vars: {{region: eu}}
            env: {{PATH: "{os.environ["PATH"]}"}}  # for its `#!/usr/bin/env python3`
        """
    )
    done = await env.run(wf)
    assert done.steps["tf"].message == "terraform not found on PATH (install it or set binary:)"
    assert done.steps["tofu"].message == "tofu not found on PATH (install it or set binary:)"
    assert done.steps["custom"].status == StepStatus.SUCCEEDED, done.log_text("custom")
    assert done.steps["custom"].message == "2 to add, 0 to change, 0 to destroy"


async def test_cancel_interrupts_terraform_first(env: Env, infra: Path, tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    wf = env.workflow(
        f"""
        name: slow
        env:
          PATH: "{FAKE}{os.pathsep}{os.environ["PATH"]}"
          FAKE_TERRAFORM_LOG: "{log}"
          FAKE_TERRAFORM_SLOW: "30"
        steps:
          up: {{type: terraform, action: apply, dir: infra, vars: {{region: us}}}}
        """
    )
    handle = await env.runner.submit(wf)
    async with asyncio.timeout(10):
        while not any(
            "Creating..." in e.line for e in await env.store.get_logs(handle.run_id, "up")
        ):
            await env.sink.flush()
            await asyncio.sleep(0.05)
    assert env.runner.cancel(handle.run_id, by="dave")
    async with asyncio.timeout(10):
        assert await handle.wait() == RunStatus.CANCELLED
    assert {"signal": "SIGINT"} in _calls(log)  # a graceful stop, not a kill


def _replay(name: str) -> tuple[UiStream, list[tuple[str, list[str]]]]:
    ui = UiStream()
    shown = []
    for line in (FAKE / name).read_text().splitlines():
        parsed = ui.feed(line)
        assert parsed is not None, line
        shown.append(parsed)
    return ui, shown


def test_parser_reads_output_recorded_from_real_terraform() -> None:
    ui, shown = _replay("recorded-plan-1.11.4.jsonl")
    assert (
        ui.changes is not None and plan_summary(ui.changes) == "2 to add, 0 to change, 0 to destroy"
    )
    assert ui.operation == "plan"
    assert ("stdout", ["terraform_data.a: Plan to create"]) in shown

    ui, _ = _replay("recorded-apply-1.11.4.jsonl")
    assert ui.changes is not None
    assert apply_summary(ui.changes, ui.operation) == "2 added, 0 changed, 0 destroyed"
    assert ui.outputs["region"]["value"] == "eu"

    ui, shown = _replay("recorded-error-1.11.4.jsonl")
    assert ui.errors == ["No value for required variable (main.tf:1)"]
    assert shown[-1][0] == "stderr"
    assert UiStream().feed("not json at all") is None
