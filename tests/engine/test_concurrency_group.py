"""`concurrency_group`: workflows sharing one limit and one FIFO queue; `concurrency: N`."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from flowtui.engine.execution import Decision
from flowtui.engine.runner import RunHandle, RunnerOptions
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.model.loader import load_workflow_text
from flowtui.model.workflow import Workflow
from tests.harness import Harness


def gated(name: str, *, group: str | None = None, concurrency: int | None = None) -> Workflow:
    """A workflow whose run holds at an approval until the test approves it."""
    head = f"name: {name}\n"
    if group:
        head += f"concurrency_group: {group}\n"
    if concurrency:
        head += f"concurrency: {concurrency}\n"
    return load_workflow_text(
        head
        + textwrap.dedent(
            """
            steps:
              gate: {type: approval}
              after: {type: condition, if: "1 == 1", requires: [gate]}
            """
        )
    )


class Env(Harness):
    async def status(self, handle: RunHandle) -> RunStatus:
        await self.sink.flush()
        run = await self.store.get_run(handle.run_id)
        assert run is not None
        return run.status

    async def until(self, check: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            while not await check():
                await asyncio.sleep(0.02)

    async def held(self, handle: RunHandle) -> None:
        async def check() -> bool:
            await self.sink.flush()
            steps = {s.name: s.status for s in await self.store.get_steps(handle.run_id)}
            return steps.get("gate") == StepStatus.HELD

        await self.until(check)

    async def release(self, handle: RunHandle) -> None:
        await self.held(handle)
        assert self.runner.decide(handle.run_id, "gate", Decision(True, "tester", "")) is None
        assert await handle.wait() == RunStatus.SUCCEEDED


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    options = RunnerOptions(poll_interval=0.05, workspace_root=tmp_path / "ws")
    async with Env.open(tmp_path, options) as env:
        yield env


async def test_a_group_shares_one_limit_in_fifo_order_across_workflows(env: Env) -> None:
    build = gated("build", group="deploys", concurrency=1)
    deploy = gated("deploy", group="deploys", concurrency=1)
    first = await env.runner.submit(build)
    await env.held(first)
    second = await env.runner.submit(deploy)  # another workflow, same group: waits
    third = await env.runner.submit(build)
    loner = await env.runner.submit(gated("loner", concurrency=1))  # no group: not held up
    await env.held(loner)
    assert await env.status(second) == RunStatus.QUEUED
    assert await env.status(third) == RunStatus.QUEUED

    await env.release(first)
    await env.held(second)  # the older queued run goes first, whichever workflow it is
    assert await env.status(third) == RunStatus.QUEUED
    await env.release(second)
    await env.release(third)
    await env.release(loner)

    run = await env.store.get_run(second.run_id)
    assert run is not None and run.concurrency_group == "deploys"
    lone = await env.store.get_run(loner.run_id)
    assert lone is not None and lone.concurrency_group is None
    logs = [log.line for log in await env.store.get_logs(third.run_id)]
    assert any("queued: concurrency group deploys allows" in line for line in logs)


async def test_the_smallest_limit_in_a_group_wins(env: Env) -> None:
    wide = gated("wide", group="g", concurrency=3)
    narrow = gated("narrow", group="g", concurrency=1)
    a = await env.runner.submit(wide)
    b = await env.runner.submit(wide)
    await env.held(a)
    await env.held(b)  # only `wide` so far: its limit of 3 applies
    c = await env.runner.submit(narrow)  # narrow says 1, and 2 already run: waits
    d = await env.runner.submit(wide)  # behind c in the queue, and the group limit is 1
    await env.release(a)
    assert await env.status(c) == RunStatus.QUEUED  # b still holds the only slot
    await env.release(b)
    await env.held(c)
    assert await env.status(d) == RunStatus.QUEUED
    await env.release(c)
    await env.release(d)


async def test_a_group_without_concurrency_runs_one_at_a_time(env: Env) -> None:
    a = await env.runner.submit(gated("x", group="serial"))
    b = await env.runner.submit(gated("y", group="serial"))
    await env.held(a)
    assert await env.status(b) == RunStatus.QUEUED
    await env.release(a)
    await env.release(b)


async def test_a_third_run_waits_behind_concurrency_2_and_starts_by_itself(env: Env) -> None:
    wf = gated("pair", concurrency=2)
    a, b, c = [await env.runner.submit(wf) for _ in range(3)]
    await env.held(a)
    await env.held(b)
    assert await env.status(c) == RunStatus.QUEUED
    await env.release(b)  # nobody tells c: it notices the free slot
    await env.held(c)
    await env.release(a)
    await env.release(c)
