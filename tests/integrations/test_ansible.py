"""The ansible step, running real ansible-playbook against localhost (connection: local)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from flowtui.engine.executors.ansible import build_argv
from flowtui.engine.executors.toolrun import find_program
from flowtui.engine.states import RunStatus, StepStatus
from tests.integrations.conftest import FIXTURES, Env

pytestmark = pytest.mark.skipif(
    find_program("ansible-playbook", os.environ) is None, reason="ansible-core is in the dev extra"
)
ANSIBLE = FIXTURES / "ansible"


def _workflow(env: Env, out: Path, extra: str = "", **vars: object) -> str:
    extra_vars = json.dumps({"out_dir": str(out), "greeting": "hello", **vars})
    return f"""
        name: configure
        steps:
          conf:
            type: ansible
            playbook: {ANSIBLE / "site.yml"}
            inventory: {ANSIBLE / "inventory.ini"}
            extra_vars: {extra_vars}
            {extra}
        """


async def test_playbook_runs_and_summarises_counts(env: Env, tmp_path: Path) -> None:
    out = tmp_path / "out"
    # a value full of shell syntax arrives intact: it travels only as a JSON file
    greeting = "hi $(touch pwned) 'q' \"x\" ; `id`"
    wf = env.workflow(_workflow(env, out, greeting=greeting))
    done = await env.run(wf)
    assert done.status == RunStatus.SUCCEEDED, done.log_text("conf")
    step = done.steps["conf"]
    assert step.status == StepStatus.SUCCEEDED
    # per host: folder (run_once, alpha only), copy, debug; the fail task skipped
    assert step.message == "ok=5 changed=3 unreachable=0 failed=0 skipped=2 rescued=0 ignored=0"
    outputs = done.outputs["conf"]
    assert outputs["ok"] == "5" and outputs["changed"] == "3" and outputs["failed"] == "0"
    assert outputs["hosts"] == "alpha,beta"
    assert (out / "alpha.txt").read_text() == greeting + "\n"
    assert not (env.folder / "pwned").exists() and not (tmp_path / "pwned").exists()
    log = done.log_text("conf")
    assert "PLAY RECAP" in log  # Ansible's own output still streams to the step log
    assert "alpha says hi" in log
    assert "\x1b[" not in log

    # a dry run limited to one host, into another folder: it reports, and writes nothing
    dry_out = tmp_path / "dry"
    dry = env.workflow(_workflow(env, dry_out, extra="check: true\n            limit: alpha"))
    done = await env.run(dry)
    assert done.status == RunStatus.SUCCEEDED, done.log_text("conf")
    assert done.steps["conf"].message.endswith("(check mode)")
    assert done.outputs["conf"]["hosts"] == "alpha"
    assert not dry_out.exists()


async def test_host_failure_names_host_task_and_message(env: Env, tmp_path: Path) -> None:
    wf = env.workflow(_workflow(env, tmp_path / "out", fail_on=["beta"]))
    done = await env.run(wf)
    assert done.status == RunStatus.FAILED
    step = done.steps["conf"]
    assert step.status == StepStatus.FAILED
    assert step.exit_code == 2
    assert "failed=1" in step.message
    assert "beta: Fail where asked failed: refusing on beta" in step.message
    assert ("system", "FAILED beta: Fail where asked failed: refusing on beta") in done.logs["conf"]
    assert done.outputs["conf"]["failed"] == "1"


async def test_missing_playbook_and_syntax_error(env: Env, tmp_path: Path) -> None:
    bad = env.folder / "broken.yml"
    bad.write_text("- hosts: all\n  tasks:\n    - name: x\n      no_such_module_anywhere: {}\n")
    wf = env.workflow(
        """
        name: broken
        steps:
          gone: {type: ansible, playbook: nothing-here.yml}
          bad: {type: ansible, playbook: broken.yml, inventory: "localhost,"}
        """
    )
    done = await env.run(wf)
    assert done.steps["gone"].message.startswith("playbook not found: ")
    assert done.steps["bad"].status == StepStatus.FAILED
    assert done.steps["bad"].message.startswith("ansible-playbook failed (exit code ")
    assert "no_such_module_anywhere" in done.log_text("bad")


def test_argv_is_a_list_with_every_option(tmp_path: Path) -> None:
    spec = {
        "playbook": "site.yml",
        "inventory": ["a.ini", "b.ini"],
        "limit": "web*",
        "check": True,
        "diff": True,
        "tags": ["x", "y"],
        "skip_tags": "z",
    }
    argv = build_argv("ansible-playbook", spec, tmp_path / "vars.json")
    assert argv == [
        "ansible-playbook",
        "site.yml",
        "-i",
        "a.ini",
        "-i",
        "b.ini",
        "-e",
        f"@{tmp_path / 'vars.json'}",
        "--limit",
        "web*",
        "--check",
        "--diff",
        "--tags",
        "x,y",
        "--skip-tags",
        "z",
    ]
