"""On PostgreSQL, commands reach runners and new events reach dashboards at once (LISTEN/
NOTIFY), not at the next poll: here the polls are 60 s apart, so only a wake-up passes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from flowtui.engine.events import StepLog
from flowtui.engine.runner import RunnerOptions
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.store import RunStore
from tests.harness import Harness

GATE = """
name: gate
steps:
  gate: {type: approval}
  after: {requires: [gate], run: echo done}
"""


async def test_an_approval_from_another_connection_wakes_the_runner(
    pg_url: str, tmp_path: Path
) -> None:
    slow = RunnerOptions(poll_interval=60, workspace_root=tmp_path / "ws")
    async with (
        await RunStore.open(pg_url) as store,
        await RunStore.open(pg_url) as other,
        Harness.open(tmp_path, slow, store=store) as env,
    ):
        handle = await env.runner.submit(env.workflow(GATE))
        await env.wait_step(handle.run_id, "gate", StepStatus.HELD)
        await other.add_command(handle.run_id, "approve", step="gate", by="someone")
        async with asyncio.timeout(10):  # a poll would come after 60 s
            assert await handle.wait() == RunStatus.SUCCEEDED


async def test_events_written_elsewhere_wake_a_waiting_reader(pg_url: str) -> None:
    async with await RunStore.open(pg_url) as reader, await RunStore.open(pg_url) as writer:
        run_id = await writer.create_run(workflow="wf", steps=[])
        await reader.wait_for_events(0.01)  # the listener is up
        waiting = asyncio.create_task(reader.wait_for_events(60))
        await asyncio.sleep(0)  # it notes the count it waits to change before we write
        await writer.apply([StepLog(run_id, "", 0, "system", "hello", 1.0)])
        async with asyncio.timeout(10):
            await waiting
