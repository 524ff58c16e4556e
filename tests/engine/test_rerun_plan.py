"""A rerun from a step with a real runner and history: approval gates are reused only with
their decision on record, and the plan the preview shows is what the runner does."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flowtui.engine.plan import Action
from flowtui.engine.runner import Decision, RunError, RunnerOptions, plan_for_rerun
from flowtui.engine.states import RunStatus, StepStatus
from tests.harness import Harness as Env

GATE = """
name: gate
steps:
  plan: {run: 'echo "summary=1 change" >> "$FLOWTUI_OUTPUT"'}
  approve: {type: approval, requires: [plan]}
  apply: {requires: [approve], run: echo applied}
  report: {requires: [apply], run: echo reported}
"""


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    options = RunnerOptions(parallel=2, kill_grace=1.0, poll_interval=0.05)
    async with Env.open(tmp_path, options, folder=tmp_path / "wf") as env:
        yield env


async def _approved_run(env: Env) -> int:
    handle = await env.runner.submit(env.workflow(GATE))
    await env.wait_step(handle.run_id, "approve", StepStatus.HELD)
    assert env.runner.decide(handle.run_id, "approve", Decision(True, "alice", "ok")) is None
    assert await handle.wait() == RunStatus.SUCCEEDED
    await env.sink.flush()
    return handle.run_id


async def test_a_rerun_after_the_gate_reuses_its_recorded_approval(env: Env) -> None:
    first = await _approved_run(env)
    _run, _wf, plan = await plan_for_rerun(env.store, first, from_step="apply")
    assert {p.name: p.action for p in plan} == {
        "plan": Action.REUSE,
        "approve": Action.REUSE,
        "apply": Action.RUN,
        "report": Action.RUN,
    }
    handle = await env.runner.rerun(first, from_step="apply")
    assert await handle.wait() == RunStatus.SUCCEEDED  # not held: the approval came along
    await env.sink.flush()
    statuses = await env.statuses(handle.run_id)
    assert [statuses[n] for n in ("plan", "approve", "apply", "report")] == [
        StepStatus.REUSED,
        StepStatus.REUSED,
        StepStatus.SUCCEEDED,
        StepStatus.SUCCEEDED,
    ]
    # a rerun of that rerun still finds the approval, in the run it was given in
    _run, _wf, again = await plan_for_rerun(env.store, handle.run_id, from_step="report")
    assert {p.name: p.reason for p in again}["approve"] == f"reused from run {first}"


async def test_a_rerun_from_before_the_gate_asks_again(env: Env) -> None:
    first = await _approved_run(env)
    _run, _wf, plan = await plan_for_rerun(env.store, first, from_step="plan")
    assert {p.action for p in plan} == {Action.RUN}
    handle = await env.runner.rerun(first, from_step="plan")
    await env.wait_step(handle.run_id, "approve", StepStatus.HELD)
    env.runner.cancel(handle.run_id, by="test")
    assert await handle.wait() == RunStatus.CANCELLED


async def test_a_gate_with_no_approval_on_record_is_not_reused(env: Env) -> None:
    first = await _approved_run(env)
    # the step says succeeded but no decision is recorded (written by something else)
    with sqlite3.connect(env.store.location) as conn:
        conn.execute("DELETE FROM approvals WHERE run_id = ?", (first,))
    _run, _wf, plan = await plan_for_rerun(env.store, first, from_step="report")
    found = {p.name: (p.action, p.reason) for p in plan}
    assert found["approve"][0] == Action.RUN
    assert found["approve"][1].startswith(f"approval not on record in run {first}")
    assert found["plan"][0] == Action.REUSE


async def test_a_rerun_of_an_active_run_or_an_unknown_step_is_refused(env: Env) -> None:
    handle = await env.runner.submit(env.workflow(GATE))
    await env.wait_step(handle.run_id, "approve", StepStatus.HELD)
    with pytest.raises(RunError, match="is still held; cancel it first"):
        await plan_for_rerun(env.store, handle.run_id, from_step="apply")
    env.runner.cancel(handle.run_id, by="test")
    await handle.wait()
    await env.sink.flush()
    with pytest.raises(RunError, match="no step 'aply' in gate; steps: plan, approve"):
        await env.runner.rerun(handle.run_id, from_step="aply")
