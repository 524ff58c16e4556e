"""Queued runs survive the death of the process that queued them: a service adopts them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from flowtui.engine.owner import Owner
from flowtui.engine.records import NewStep
from flowtui.engine.runner import RunnerOptions
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.store.runstore import RunStore
from tests.harness import engine_harness

WORKFLOW = """
name: serial
concurrency: 1
params: {nap: "0"}
steps:
  work: {run: 'sleep "$PARAM_NAP"; echo "slept $PARAM_NAP"'}
  after: {requires: [work], run: echo done}
"""

# A runner in its own process: one run sleeping, two queued behind `concurrency: 1`.
RUNNER = """
import asyncio, sys
from pathlib import Path
from flowtui.engine.bus import EventBus
from flowtui.engine.runner import RunnerOptions
from flowtui.runtime import build_runner
from flowtui.model.loader import load_workflow
from flowtui.store.runstore import RunStore
from flowtui.store.sink import StoreSink

async def main(db, path):
    store = await RunStore.open(db)
    bus = EventBus()
    sink = StoreSink(store, bus)
    sink.start()
    runner = build_runner(store, bus, RunnerOptions(poll_interval=0.05, heartbeat_interval=0.2))
    await runner.start()
    wf = load_workflow(path)
    ids = [(await runner.submit(wf, params={"nap": nap})).run_id for nap in ("600", "0", "0")]
    await sink.flush()
    print(*ids, flush=True)
    await asyncio.sleep(600)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def _child_env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[2])
    return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[RunStore]:
    async with await RunStore.open(tmp_path / "history.db") as opened:
        yield opened


async def _step_pid(store: RunStore, run_id: int, timeout: float = 20) -> int:
    async with asyncio.timeout(timeout):
        while True:
            steps = {s.name: s for s in await store.get_steps(run_id)}
            work = steps["work"]
            if work.status == StepStatus.RUNNING and work.pid is not None:
                return work.pid
            await asyncio.sleep(0.05)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_a_new_runner_adopts_queued_runs_of_a_killed_one(
    store: RunStore, tmp_path: Path
) -> None:
    path = tmp_path / "serial.yaml"
    path.write_text(textwrap.dedent(WORKFLOW))
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        str(store.path),
        str(path),
        stdout=asyncio.subprocess.PIPE,
        env=_child_env(),
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), 30)
        running, first_queued, second_queued = (int(x) for x in line.split())
        sleeper = await _step_pid(store, running)
        for run_id in (first_queued, second_queued):
            run = await store.get_run(run_id)
            assert run is not None and run.status == RunStatus.QUEUED
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGKILL)
        await child.wait()
    assert not _gone(sleeper)  # its step outlived it

    # the path changes after queueing: adoption reloads what the run recorded
    path.write_text("this is: [not a workflow")
    options = RunnerOptions(poll_interval=0.05, workspace_root=tmp_path / "ws")
    async with engine_harness(tmp_path, options, store=store) as engine:
        handles = await engine.runner.adopt_queued()
        assert [h.run_id for h in handles] == [first_queued, second_queued]
        results = await asyncio.wait_for(asyncio.gather(*(h.wait() for h in handles)), 30)
        assert results == [RunStatus.SUCCEEDED, RunStatus.SUCCEEDED]
        assert await engine.runner.adopt_queued() == []  # nothing left

    dead = await store.get_run(running)
    assert dead is not None and dead.status == RunStatus.INTERRUPTED
    async with asyncio.timeout(10):
        while not _gone(sleeper):  # recovery killed the orphaned step
            await asyncio.sleep(0.05)
    a, b = await store.get_run(first_queued), await store.get_run(second_queued)
    assert a is not None and b is not None
    assert a.ended_at is not None and b.started_at is not None
    assert b.started_at >= a.ended_at  # still one at a time, in order
    assert a.owner_pid == os.getpid() == b.owner_pid
    for run_id in (first_queued, second_queued):
        lines = [log.line for log in await store.get_logs(run_id)]
        assert "slept 0" in lines
        assert any(line.startswith(f"adopted by pid {os.getpid()}") for line in lines)
    # registered for good: a service that restarts finds what was queued meanwhile
    assert await store.adopter_registered()


# -- the store side -----------------------------------------------------------------------
def _dead_owner() -> Owner:
    proc = subprocess.Popen(["true"])
    started = psutil.Process(proc.pid).create_time()
    proc.wait()
    return Owner(Owner.current().host, proc.pid, started)


def _plan() -> list[NewStep]:
    return [NewStep("x", "script", [], 0)]


async def test_queued_runs_wait_for_an_adopter_only_while_one_is_registered(
    store: RunStore,
) -> None:
    dead = _dead_owner()
    queued = await store.create_run(workflow="wf", steps=_plan(), owner=dead)
    running = await store.create_run(workflow="wf", steps=_plan(), owner=dead)
    assert await store.try_start_run(running, None)

    adopter = Owner(Owner.current().host, os.getpid(), Owner.current().started)
    await store.register_adopter(adopter)
    assert await store.recover_interrupted() == [running]
    run = await store.get_run(queued)
    assert run is not None and run.status == RunStatus.QUEUED
    assert [r.id for r in await store.orphaned_queued()] == [queued]

    # without an adopter the old rule holds: the dead runner's queued run is interrupted
    await store.unregister_adopter(adopter)
    assert await store.recover_interrupted() == [queued]


async def test_only_one_adopter_claims_a_run(store: RunStore) -> None:
    dead = _dead_owner()
    run_id = await store.create_run(workflow="wf", steps=_plan(), owner=dead)
    (record,) = await store.orphaned_queued()
    others = [await RunStore.open(store.path) for _ in range(3)]
    try:
        claimants = [Owner("host-a", 1, 1.0), Owner("host-b", 2, 2.0), Owner("host-c", 3, 3.0)]
        wins = await asyncio.gather(
            *(s.claim_queued(record, me) for s, me in zip(others, claimants, strict=True))
        )
    finally:
        for other in others:
            await other.close()
    assert sorted(wins) == [False, False, True]
    run = await store.get_run(run_id)
    winner = claimants[wins.index(True)]
    assert run is not None and (run.owner_host, run.owner_pid) == (winner.host, winner.pid)
    assert await store.orphaned_queued(me=winner) == []


async def test_an_orphaned_queued_run_does_not_block_the_queue(store: RunStore) -> None:
    orphan = await store.create_run(workflow="wf", steps=_plan(), owner=_dead_owner())
    newer = await store.create_run(workflow="wf", steps=_plan(), owner=Owner.current())
    assert await store.try_start_run(newer, 1)
    # ...and it can be cancelled although no runner is left to take a command
    assert not await store.cancel_orphaned_queued(newer, "me")  # running, and not orphaned
    assert await store.cancel_orphaned_queued(orphan, "me")
    run = await store.get_run(orphan)
    assert run is not None and run.status == RunStatus.CANCELLED
    assert run.message == "cancelled by me while queued"
    assert [e.status for e in await store.get_events(orphan)] == ["queued", "cancelled"]


async def test_a_run_the_loader_declines_stays_queued_for_later(
    store: RunStore, tmp_path: Path
) -> None:
    source = 'name: later\nsteps:\n  a: {type: condition, if: "1 == 1"}\n'
    run_id = await store.create_run(
        workflow="later",
        steps=[NewStep("a", "condition", [], 0)],
        definition={"source": source},
        owner=_dead_owner(),
        branch="main",
    )
    options = RunnerOptions(workspace_root=tmp_path / "ws")
    async with engine_harness(tmp_path, options, store=store) as engine:
        runner = engine.runner
        assert await runner.adopt_queued(lambda run: None) == []
        assert await runner.adopt_queued(lambda run: None) == []
        run = await store.get_run(run_id)
        assert run is not None and run.status == RunStatus.QUEUED
        declined = [log.line for log in await store.get_logs(run_id) if "not adopted" in log.line]
        assert declined == [f"not adopted by pid {os.getpid()}: the loader declined it"]

        (handle,) = await runner.adopt_queued()  # the default loader: the recorded source
        assert await handle.wait() == RunStatus.SUCCEEDED
    run = await store.get_run(run_id)
    assert run is not None and run.branch == "main" and run.status == RunStatus.SUCCEEDED
