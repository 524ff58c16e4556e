"""Liveness is a heartbeat from its own thread; a finished run is never brought back."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from flowtui.engine.states import RunStatus
from flowtui.store import RunStore
from flowtui.store.transitions import interrupt_run
from tests.processes import group_members

from .conftest import RUNNER_CHILD, spawn, wait_until

STALE = 1.0  # the stale limit used here: 10 beats of the child's 0.1 s heartbeat

WAITING_STEP = """\
name: waits
steps:
  wait-for-go:
    run: |
      while [ ! -e "{go}" ]; do sleep 0.05; done
      echo went
"""


def _start_child(
    tmp_path: Path, db_path: Path, reaper: list[int], block: float = 0
) -> tuple[subprocess.Popen[str], Path, int]:
    go = tmp_path / "go"
    flow = tmp_path / "waits.yaml"
    flow.write_text(WAITING_STEP.format(go=go))
    argv = [sys.executable, str(RUNNER_CHILD), str(db_path), str(flow)]
    child = spawn([*argv, str(block)] if block else argv, reaper)
    assert child.stdout is not None
    first = child.stdout.readline()
    assert first.startswith("running "), first + (child.stderr.read() if child.stderr else "")
    return child, go, int(first.split()[1])


def _freeze_between_writes(pid: int, db_path: Path) -> None:
    """SIGSTOP `pid` at a moment it holds no write lock on the history.  A process frozen in
    the middle of a write transaction (its heartbeat beats every 0.1 s here) blocks every
    other writer of a SQLite file until it is killed: that is SQLite's locking, not what
    this test is about, so such a moment is let go and the freeze taken again."""
    for _ in range(50):
        os.kill(pid, signal.SIGSTOP)
        probe = sqlite3.connect(db_path, timeout=0)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.rollback()
            return
        except sqlite3.OperationalError:  # locked: it stopped mid-write
            os.kill(pid, signal.SIGCONT)
        finally:
            probe.close()
    raise AssertionError("the runner held the history's write lock at every try")


def _finish(child: subprocess.Popen[str]) -> str:
    out, err = child.communicate(timeout=20)
    assert child.returncode == 0, err
    return out


async def test_busy_event_loop_is_not_declared_dead(
    tmp_path: Path, db_path: Path, reaper: list[int]
) -> None:
    block = 3 * STALE
    child, go, run_id = _start_child(tmp_path, db_path, reaper, block=block)
    assert child.stdout is not None and child.stdout.readline() == "blocking\n"
    async with await RunStore.open(db_path) as store:
        until = time.monotonic() + block - 0.3
        looks = 0
        while time.monotonic() < until:  # other processes keep checking, as the CLI does
            assert await store.recover_interrupted(stale_after=STALE) == []
            looks += 1
            await asyncio.sleep(0.1)
        assert looks > 10
        go.touch()
        assert "final succeeded" in _finish(child)
        run = await store.get_run(run_id)
        assert run is not None and run.status == RunStatus.SUCCEEDED


async def test_frozen_runner_is_interrupted_and_stays_interrupted(
    tmp_path: Path, db_path: Path, reaper: list[int]
) -> None:
    child, go, run_id = _start_child(tmp_path, db_path, reaper)
    _freeze_between_writes(child.pid, db_path)  # frozen: no heartbeat thread either
    try:
        async with await RunStore.open(db_path) as store:

            async def declared() -> bool:
                return await store.recover_interrupted(stale_after=STALE) == [run_id]

            await wait_until(declared, timeout=10, what="the frozen runner to be declared dead")
    finally:
        os.kill(child.pid, signal.SIGCONT)
    go.touch()
    _finish(child)  # it wakes up, finishes its run as it sees it, and exits
    async with await RunStore.open(db_path) as store:
        run = await store.get_run(run_id)
        assert run is not None and run.status == RunStatus.INTERRUPTED  # not resurrected
        lines = [rec.line for rec in await store.get_logs(run_id)]
        assert any(f"run {run_id} is already interrupted" in line for line in lines), lines


async def test_runner_stops_a_run_taken_away_from_it(
    tmp_path: Path, db_path: Path, reaper: list[int]
) -> None:
    child, _go, run_id = _start_child(tmp_path, db_path, reaper)
    async with await RunStore.open(db_path) as store:
        (step,) = await store.get_steps(run_id)
        assert step.pgid is not None
        # as a recovering process on another host would: it can mark, not kill
        async with store.db.transaction():
            await store.db.run_in_connection(interrupt_run, run_id, child.pid, time.time())
        out = _finish(child)  # the step waits for `go` forever: only the runner can stop it
        assert "final cancelled" in out
        pgid = step.pgid
        await wait_until(lambda: not group_members(pgid), timeout=5, what="the step to stop")
        run = await store.get_run(run_id)
        assert run is not None and run.status == RunStatus.INTERRUPTED
        lines = [rec.line for rec in await store.get_logs(run_id)]
        assert any("another flowtui process marked this run interrupted" in ln for ln in lines)
        assert any("ignored run status cancelled" in ln for ln in lines), lines
