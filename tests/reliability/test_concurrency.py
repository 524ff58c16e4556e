"""Two runner processes, readers and a cancelled writer on one database file."""

from __future__ import annotations

import asyncio
import contextlib
import random
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from flowtui.engine.bus import EventBus
from flowtui.engine.events import StepLog
from flowtui.engine.records import NewStep
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.store import RunStore
from flowtui.store.sink import StoreSink

from .conftest import flowtui_argv, spawn

LINES = 4000
ROWS_PER_TX = 20

CHATTY = """\
name: chatty
steps:
  left:
    run: for i in $(seq 1 LINES); do echo "left $i"; done
  right:
    run: for i in $(seq 1 LINES); do echo "right $i"; done
""".replace("LINES", str(LINES))


async def _cancelled_writers(store: RunStore, rounds: int) -> tuple[int, list[str], list[str]]:
    """Transactions of ROWS_PER_TX log rows, each cancelled at a random point (or not).

    Returns (the run id written to, names of the transactions that committed, names of
    those cancelled only once their COMMIT was sent: these may or may not have committed).
    """
    names = [f"tx{i}" for i in range(rounds)]
    run_id = await store.create_run(
        workflow="writer", steps=[NewStep(n, "script", [], i) for i, n in enumerate(names)]
    )
    committed: list[str] = []
    at_commit: list[str] = []
    rng = random.Random(6)

    async def write(name: str, started: asyncio.Event) -> None:
        async with store.db.transaction() as conn:
            started.set()
            for i in range(ROWS_PER_TX):
                await conn.execute(
                    "INSERT INTO logs (run_id, step, attempt, stream, line, at)"
                    " VALUES (?, ?, 1, 'stdout', ?, 0)",
                    (run_id, name, f"{name} {i}"),
                )
            at_commit.append(name)
        committed.append(name)

    for name in names:
        started = asyncio.Event()
        task = asyncio.create_task(write(name, started))
        await started.wait()
        await asyncio.sleep(rng.choice([0, 0, 0.001, 0.003, 0.01]))
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return run_id, committed, [n for n in at_commit if n not in committed]


async def test_two_runners_readers_and_a_cancelled_writer(
    tmp_path: Path, db_path: Path, reaper: list[int]
) -> None:
    flow = tmp_path / "chatty.yaml"
    flow.write_text(CHATTY)
    db = ["--db", str(db_path)]
    async with await RunStore.open(db_path) as store:
        runners = [spawn(flowtui_argv("run", str(flow), "-q", *db), reaper) for _ in range(2)]

        readers_stderr: list[str] = []

        async def cli_reader() -> None:  # `flowtui history` in a loop, as a user would
            while any(r.poll() is None for r in runners):
                done = await asyncio.to_thread(
                    subprocess.run,
                    flowtui_argv("history", *db),
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                assert done.returncode == 0, done.stderr
                readers_stderr.append(done.stderr)

        async def dashboard_reader() -> None:  # the dashboard's queries, in this process
            while any(r.poll() is None for r in runners):
                for run in await store.list_runs(limit=20):
                    await store.get_steps(run.id)
                    await store.tail_logs(run.id, limit=200)
                await store.last_event_id()
                await asyncio.sleep(0.01)

        async with asyncio.timeout(60):
            results = await asyncio.gather(
                cli_reader(),
                dashboard_reader(),
                _cancelled_writers(store, 40),
                *(asyncio.to_thread(r.communicate, timeout=60) for r in runners),
            )
        writer_run, committed, ambiguous = results[2]
        outputs = results[3:]

        for runner, (out, err) in zip(runners, outputs, strict=True):
            assert runner.returncode == 0, out + err
            assert "locked" not in err.lower() and "warning" not in err.lower(), err
        assert not any("locked" in e.lower() for e in readers_stderr)

        runs = await store.list_runs("chatty")
        assert len(runs) == 2
        for run in runs:
            assert run.status == RunStatus.SUCCEEDED
            steps = await store.get_steps(run.id)
            assert [s.status for s in steps] == [StepStatus.SUCCEEDED] * 2
            for side in ("left", "right"):
                lines = [r.line for r in await store.get_logs(run.id, side, limit=LINES + 10)]
                assert lines == [f"{side} {i}" for i in range(1, LINES + 1)]  # none lost

        # a transaction cancelled mid-way left nothing, a committed one all its rows, and
        # none is ever half there (a cancel landing on COMMIT itself may go either way)
        assert 0 < len(committed) < 40  # both outcomes happened
        total = 0
        for step in await store.get_steps(writer_run):
            rows = len(await store.get_logs(writer_run, step.name))
            total += rows
            if step.name in committed:
                assert rows == ROWS_PER_TX, step.name
            elif step.name in ambiguous:
                assert rows in (0, ROWS_PER_TX), step.name
            else:
                assert rows == 0, step.name
        row = await store.db.fetchone("SELECT COUNT(*) FROM logs WHERE run_id = ?", (writer_run,))
        assert row is not None and row[0] == total
        check = await store.db.fetchone("PRAGMA integrity_check")
        assert check is not None and check[0] == "ok"


async def _cancel_during_commit(
    store: RunStore, target: Callable[[], asyncio.Task[object] | None]
) -> threading.Event:
    """Arm a fault: the next COMMIT on the store's connection is held (on aiosqlite's thread,
    in SQLite's trace callback) until `target()` has been cancelled from the loop, so the
    cancel lands while COMMIT is executing.  Returns an event set once it fired."""
    loop = asyncio.get_running_loop()
    fired = threading.Event()

    def cancel(delivered: threading.Event) -> None:
        task = target()
        assert task is not None
        task.cancel()
        loop.call_soon(delivered.set)  # after the task's await has seen the cancel

    def trace(sql: str) -> None:
        if fired.is_set() or sql.strip().upper() != "COMMIT":
            return
        fired.set()
        delivered = threading.Event()
        loop.call_soon_threadsafe(cancel, delivered)
        delivered.wait(timeout=10)

    await store.db.conn.set_trace_callback(trace)
    return fired


async def _log_count(store: RunStore, run_id: int) -> int:
    row = await store.db.fetchone("SELECT COUNT(*) FROM logs WHERE run_id = ?", (run_id,))
    assert row is not None
    return int(row[0])


async def test_a_cancel_during_commit_keeps_the_rows_once_and_the_connection_usable(
    db_path: Path,
) -> None:
    async with await RunStore.open(db_path) as store:
        run_id = await store.create_run(workflow="w", steps=[NewStep("s", "script", [], 0)])

        async def write() -> None:
            async with store.db.transaction() as conn:
                await conn.executemany(
                    "INSERT INTO logs (run_id, step, attempt, stream, line, at)"
                    " VALUES (?, 's', 1, 'stdout', ?, 0)",
                    [(run_id, f"line {i}") for i in range(ROWS_PER_TX)],
                )

        task: asyncio.Task[None] | None = None
        fired = await _cancel_during_commit(store, lambda: task)
        task = asyncio.create_task(write())
        with pytest.raises(asyncio.CancelledError):
            await task
        assert fired.is_set()
        # committed (COMMIT had started), and only once; the caller was told "cancelled"
        assert await _log_count(store, run_id) == ROWS_PER_TX
        # no transaction left open: the next write commits and is seen by another connection
        await store.apply([StepLog(run_id, "s", 1, "stdout", "after", time.time())])
        async with await RunStore.open(db_path) as other:
            assert await _log_count(other, run_id) == ROWS_PER_TX + 1


async def test_a_store_writer_cancelled_during_commit_never_writes_its_batch_twice(
    db_path: Path,
) -> None:
    """The StoreSink retries failed batches, but never one whose write was cancelled."""
    async with await RunStore.open(db_path) as store:
        run_id = await store.create_run(workflow="w", steps=[NewStep("s", "script", [], 0)])
        bus = EventBus()
        sink = StoreSink(store, bus)
        sink.start()
        writer = next(t for t in asyncio.all_tasks() if t.get_name() == "flowtui-store-sink")
        fired = await _cancel_during_commit(store, lambda: writer)
        for i in range(50):
            bus.publish(StepLog(run_id, "s", 1, "stdout", f"line {i}", time.time()))
        await asyncio.wait([writer], timeout=10)
        assert fired.is_set() and writer.cancelled()
        with contextlib.suppress(RuntimeError):  # it reports the batch as not written
            await sink.close()
        assert await _log_count(store, run_id) == 50
        assert sink.dropped == 0
