"""Real runs make only moves the transition table allows: nothing is refused on the way."""

from __future__ import annotations

import asyncio
from pathlib import Path

from flowtui.engine.execution import Decision
from flowtui.engine.runner import RunnerOptions
from flowtui.engine.states import RunStatus, StepStatus
from tests.harness import Harness

FLOW = """
name: busy
steps:
  flaky:
    run: test -f "$FLOWTUI_WORKSPACE/ok" || { touch "$FLOWTUI_WORKSPACE/ok"; exit 1; }
    retries: 1
    retry_delay: 0.05
  gate: {type: approval, requires: [flaky]}
  pick: {type: condition, requires: [gate], if: "1 == 1", then: [left], else: [right]}
  left: {run: "true", requires: [pick]}
  right: {run: "true", requires: [pick]}
  broken: {run: "exit 3", requires: [left]}
  cleanup: {run: "true", always: true, requires: [broken]}
"""


async def _refusals(env: Harness, run_id: int) -> list[str]:
    lines = [log.line for log in await env.store.get_logs(run_id) if log.stream == "system"]
    return [line for line in lines if line.startswith("ignored ")]


async def test_retries_approval_condition_failure_handlers_and_rerun(tmp_path: Path) -> None:
    options = RunnerOptions(poll_interval=0.05)
    async with Harness.open(tmp_path, options) as env:
        workflow = env.workflow(FLOW)
        handle = await env.runner.submit(workflow)
        await env.wait_step(handle.run_id, "gate", StepStatus.HELD)
        assert env.runner.decide(handle.run_id, "gate", Decision(True, "me", "")) is None
        assert await handle.wait() == RunStatus.FAILED
        await env.sink.flush()
        statuses = await env.statuses(handle.run_id)
        assert statuses["right"] == StepStatus.SKIPPED
        assert statuses["cleanup"] == StepStatus.SUCCEEDED
        assert await _refusals(env, handle.run_id) == []

        parent = handle.run_id
        for _ in range(2):  # a rerun of a rerun announces its reused steps again
            rerun = await env.runner.rerun(parent, from_failed=True)
            async with asyncio.timeout(30):
                assert await rerun.wait() == RunStatus.FAILED  # `broken` still fails
            await env.sink.flush()
            assert (await env.statuses(rerun.run_id))["gate"] == StepStatus.REUSED
            assert await _refusals(env, rerun.run_id) == []
            parent = rerun.run_id


async def test_a_gate_whose_status_was_forged_is_not_reused_by_a_rerun(tmp_path: Path) -> None:
    """A rerun reuses an approval only with a decision on record: a step status written
    straight into the history (by anything but a decision) does not open the gate."""
    gated = """
    name: gated
    steps:
      gate: {type: approval}
      after: {requires: [gate], run: echo shipped}
    """
    async with Harness.open(tmp_path, RunnerOptions(poll_interval=0.05)) as env:
        handle = await env.runner.submit(env.workflow(gated))
        await env.wait_step(handle.run_id, "gate", StepStatus.HELD)
        env.runner.decide(handle.run_id, "gate", Decision(False, "me", "no"))
        assert await handle.wait() == RunStatus.FAILED
        await env.sink.flush()
        async with env.store.db.transaction() as conn:  # the forgery
            await conn.execute(
                "UPDATE steps SET status = 'succeeded' WHERE run_id = ? AND name = 'gate'",
                (handle.run_id,),
            )
        rerun = await env.runner.rerun(handle.run_id, from_failed=True)
        await env.wait_step(rerun.run_id, "gate", StepStatus.HELD)  # asks again
        env.runner.cancel(rerun.run_id)
        await rerun.wait()
