from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psutil
import pytest

from flowtui.engine.events import StepProcess, StepStatusChanged
from flowtui.engine.owner import Owner, kill_orphan_group, process_matches
from flowtui.engine.process import create_time_now
from flowtui.engine.records import NewStep
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.store import RunStore

from .store_helpers import plan
from .test_store_multiprocess import _child_env

# A runner process: claims a run, starts a step in its own session, records it, then idles.
RUNNER = """
import asyncio, os, subprocess, sys
import psutil
from flowtui.engine.events import StepProcess, StepStatusChanged
from flowtui.engine.states import StepStatus
from flowtui.engine.owner import Owner
from flowtui.engine.records import NewStep
from flowtui.store import RunStore

async def main(path):
    async with await RunStore.open(path) as store:
        steps = [NewStep("job", "script", [], 0), NewStep("later", "script", ["job"], 1)]
        run_id = await store.create_run(workflow="wf", steps=steps, owner=Owner.current())
        assert await store.try_start_run(run_id, None)
        proc = subprocess.Popen(["sleep", "600"], start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        created = psutil.Process(proc.pid).create_time()
        await store.apply([
            StepStatusChanged(run_id, "job", StepStatus.RUNNING, 1.0, attempt=1),
            StepProcess(run_id, "job", 1, proc.pid, os.getpgid(proc.pid), created),
        ])
    print(run_id, proc.pid, flush=True)
    await asyncio.sleep(600)

asyncio.run(main(sys.argv[1]))
"""


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not _gone(pid):
            await asyncio.sleep(0.02)


@pytest.fixture
def spawned() -> Iterator[list[int]]:
    """Pids to SIGKILL at the end, whatever happened."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def sleeper() -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start `sleep 600` in its own session; all are killed and reaped at the end."""
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        procs.append(subprocess.Popen(["sleep", "600"], start_new_session=True))
        return procs[-1]

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


@pytest.fixture
async def dead_runner(
    store: RunStore, target: str | Path, spawned: list[int]
) -> AsyncIterator[tuple[int, int]]:
    """(run id, orphan step pid) of a runner process that was SIGKILLed mid-step."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        RUNNER,
        str(target),
        stdout=asyncio.subprocess.PIPE,
        env=_child_env(),
    )
    spawned.append(child.pid)
    assert child.stdout is not None
    async with asyncio.timeout(20):
        line = await child.stdout.readline()
    run_id, orphan = (int(x) for x in line.split())
    spawned.append(orphan)
    child.kill()
    await child.wait()
    yield run_id, orphan


async def test_dead_runner_is_interrupted_and_orphans_killed(
    store: RunStore,
    dead_runner: tuple[int, int],
    sleeper: Callable[[], subprocess.Popen[bytes]],
) -> None:
    dead_run, orphan = dead_runner
    assert not _gone(orphan)  # the step outlived its runner

    # a recorded pid that now belongs to someone else (other create time) must survive
    stranger = sleeper()
    stranger_run = await store.create_run(
        workflow="wf", steps=plan("x"), owner=Owner(Owner.current().host, 0x7FFFFFF0, 1.0)
    )
    await store.apply(
        [
            StepStatusChanged(stranger_run, "x", StepStatus.RUNNING, 1.0, attempt=1),
            StepProcess(
                stranger_run,
                "x",
                1,
                stranger.pid,
                stranger.pid,
                psutil.Process(stranger.pid).create_time() - 1000,
            ),
        ]
    )

    # a live runner with a fresh heartbeat, and an unclaimed queued run: both left alone
    live = sleeper()
    live_owner = Owner(Owner.current().host, live.pid, psutil.Process(live.pid).create_time())
    live_run = await store.create_run(workflow="wf", steps=plan("x"), owner=live_owner)
    await store.heartbeat([live_run], live_owner)
    unclaimed = await store.create_run(workflow="wf", steps=plan("x"))
    mine = await store.create_run(workflow="wf", steps=plan("x"), owner=Owner.current())

    started = time.monotonic()
    interrupted = await store.recover_interrupted(stale_after=60)
    assert sorted(interrupted) == sorted([dead_run, stranger_run])
    assert time.monotonic() - started < 2.5  # SIGTERM sufficed: no full grace wait

    run = await store.get_run(dead_run)
    assert run is not None and run.status == RunStatus.INTERRUPTED
    assert run.ended_at is not None and "died" in run.message
    assert str(run.owner_pid) in run.message
    job, later = await store.get_steps(dead_run)
    assert (job.status, job.message) == (StepStatus.CANCELLED, "interrupted: runner process died")
    assert job.ended_at is not None
    assert later.status == StepStatus.PENDING
    (attempt,) = await store.get_attempts(dead_run)
    assert attempt.status == StepStatus.CANCELLED and attempt.ended_at is not None
    audit = [(e.step, e.status) for e in await store.get_events(dead_run)]
    # the steps end before the run: once a run is over, none of its steps may move
    assert audit[-2:] == [("job", "cancelled"), (None, "interrupted")]

    await _wait_gone(orphan)
    assert stranger.poll() is None and not _gone(stranger.pid)  # not ours to kill
    for rid in (live_run, unclaimed, mine):
        r = await store.get_run(rid)
        assert r is not None and r.status == RunStatus.QUEUED

    assert await store.recover_interrupted(stale_after=60) == []  # idempotent


async def test_stale_heartbeat_means_dead(
    store: RunStore, sleeper: Callable[[], subprocess.Popen[bytes]]
) -> None:
    elsewhere = Owner("some-other-host.invalid", 4321, 1.0)
    remote = await store.create_run(workflow="wf", steps=plan("x"), owner=elsewhere)
    await store.heartbeat([remote], elsewhere)
    # liveness of a process on another host can only be judged by its heartbeat
    assert await store.recover_interrupted(stale_after=60) == []
    await asyncio.sleep(0.05)
    assert await store.recover_interrupted(stale_after=0.01) == [remote]

    # a live local process whose heartbeat stopped (hung) counts as dead too
    hung = sleeper()
    owner = Owner(Owner.current().host, hung.pid, psutil.Process(hung.pid).create_time())
    run_id = await store.create_run(workflow="wf", steps=plan("x"), owner=owner)
    assert await store.recover_interrupted(stale_after=60) == []
    await asyncio.sleep(0.05)
    assert await store.recover_interrupted(stale_after=0.01) == [run_id]


async def test_reused_pid_is_not_alive(
    store: RunStore, sleeper: Callable[[], subprocess.Popen[bytes]]
) -> None:
    proc = sleeper()
    # the pid runs, but it is not the process that claimed the run (other create time)
    impostor = Owner(Owner.current().host, proc.pid, psutil.Process(proc.pid).create_time() - 50)
    run_id = await store.create_run(workflow="wf", steps=plan("x"), owner=impostor)
    await store.heartbeat([run_id], impostor)
    assert await store.recover_interrupted(stale_after=60) == [run_id]


@pytest.mark.parametrize("target", ["sqlite"], indirect=True)  # traces SQLite's BEGIN
async def test_recheck_under_lock_spares_a_run_that_finished(
    store: RunStore, db_path: Path, dead_runner: tuple[int, int]
) -> None:
    dead_run, orphan = dead_runner
    # another process finishes the run between our look and our write: nothing to do
    other = await RunStore.open(db_path)
    try:
        held = asyncio.Event()
        release = asyncio.Event()

        async def finish_it() -> None:
            async with other.db.transaction() as conn:
                held.set()
                await release.wait()
                await conn.execute("UPDATE runs SET status = 'failed' WHERE id = ?", (dead_run,))

        finisher = asyncio.create_task(finish_it())
        await held.wait()
        loop = asyncio.get_running_loop()
        locking = asyncio.Event()

        def trace(sql: str) -> None:  # on the connection's thread, as each statement starts
            if sql.strip().upper() == "BEGIN IMMEDIATE":
                loop.call_soon_threadsafe(locking.set)

        await store.db.conn.set_trace_callback(trace)
        recovery = asyncio.create_task(store.recover_interrupted(stale_after=60))
        await asyncio.wait_for(locking.wait(), 10)  # its first look is made; it waits for the lock
        release.set()
        await finisher
        assert await recovery == []
        await store.db.conn.set_trace_callback(None)
    finally:
        await other.close()
    run = await store.get_run(dead_run)
    assert run is not None and run.status == RunStatus.FAILED
    assert not _gone(orphan)


def test_new_step_defaults() -> None:
    step = NewStep("a", "script", [], 0)
    assert step.status == StepStatus.PENDING and step.outputs == {} and step.reused_from is None


def test_process_matches_checks_create_time(
    sleeper: Callable[[], subprocess.Popen[bytes]],
) -> None:
    proc = sleeper()
    created = psutil.Process(proc.pid).create_time()
    assert process_matches(proc.pid, created)
    assert not process_matches(proc.pid, created - 100)  # same pid, another process
    proc.kill()
    proc.wait(timeout=5)
    assert not process_matches(proc.pid, created)


async def test_kill_orphan_group_only_kills_the_recorded_process(
    sleeper: Callable[[], subprocess.Popen[bytes]],
) -> None:
    proc = sleeper()
    created = psutil.Process(proc.pid).create_time()
    assert not await kill_orphan_group(proc.pid, proc.pid, created - 100, grace=0.5)
    assert proc.poll() is None
    assert await kill_orphan_group(proc.pid, proc.pid, created, grace=0.5)
    assert proc.wait(timeout=2) == -signal.SIGTERM


async def test_an_orphan_recorded_with_the_spawn_clock_is_still_killed(
    sleeper: Callable[[], subprocess.Popen[bytes]],
) -> None:
    """The runner records a step's start from the boot clock just before the spawn; on a
    busy machine the spawn takes a while, and the orphan must still be recognised."""
    started = create_time_now()
    assert started is not None
    time.sleep(0.05)  # a slow spawn
    proc = sleeper()
    assert await kill_orphan_group(proc.pid, proc.pid, started, grace=0.5)
    assert proc.wait(timeout=2) == -signal.SIGTERM
