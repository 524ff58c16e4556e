"""A power cut, simulated by copying the database file and its WAL in the middle of writes."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

from flowtui.engine.states import RunStatus, StepStatus
from flowtui.store import RunStore

from .conftest import flowtui_argv, spawn

LINES = 600
RUNS = 3

BUSY = """\
name: busy
steps:
  a:
    run: for i in $(seq 1 LINES); do echo "a $i"; [ $((i % 100)) = 0 ] && sleep 0.05; done; true
  b:
    run: for i in $(seq 1 LINES); do echo "b $i"; [ $((i % 100)) = 0 ] && sleep 0.05; done; true
  c:
    requires: [a, b]
    run: echo done
""".replace("LINES", str(LINES))


def _snapshot(db: Path, into: Path) -> None:
    """Copy the files as a power cut would leave them: the database, then the WAL.

    An open read transaction keeps a checkpoint from rewriting the pages of the database
    file this snapshot reads, and the WAL from being restarted, so the copy of the WAL ends
    in a prefix of whole frames plus, maybe, a torn one: what a disk holds after a cut.
    """
    into.mkdir()
    reader = sqlite3.connect(db, isolation_level=None, timeout=10)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # maybe no tables yet
        shutil.copyfile(db, into / db.name)
        wal = db.with_name(db.name + "-wal")
        if wal.exists():
            shutil.copyfile(wal, into / wal.name)
        reader.execute("COMMIT")
    finally:
        reader.close()


async def test_copies_taken_mid_write_are_consistent(
    tmp_path: Path, db_path: Path, reaper: list[int]
) -> None:
    flow = tmp_path / "busy.yaml"
    flow.write_text(BUSY)
    snapshots = tmp_path / "snapshots"
    snapshots.mkdir()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    copies: list[Path] = []

    async def run_all() -> None:
        for _ in range(RUNS):
            runner = spawn(flowtui_argv("run", str(flow), "-q", "--db", str(db_path)), reaper)
            out, err = await asyncio.to_thread(runner.communicate, timeout=60)
            assert runner.returncode == 0, out + err

    async with asyncio.timeout(90):
        runs = asyncio.create_task(run_all())
        while not runs.done():
            if db_path.exists():
                copy = snapshots / str(len(copies))
                await asyncio.to_thread(_snapshot, db_path, copy)
                copies.append(copy / db_path.name)
            await asyncio.sleep(0.03)
        await runs
    assert len(copies) > 20

    states: set[str] = set()
    for copy in copies:
        with sqlite3.connect(copy) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",), copy
        async with await RunStore.open(copy) as store:
            # the runners that wrote these copies are gone, as after a reboot
            interrupted = set(await store.recover_interrupted())
            for run in await store.list_runs(limit=100):
                steps = await store.get_steps(run.id)
                assert [s.name for s in steps] == ["a", "b", "c"]  # a run is created whole
                assert run.status.is_final, (copy, run)
                states.add(run.status)
                if run.id in interrupted:
                    assert run.status == RunStatus.INTERRUPTED
                    assert not any(s.status == StepStatus.RUNNING for s in steps)
                    continue
                assert run.status == RunStatus.SUCCEEDED, (copy, run)
                assert [s.status for s in steps] == [StepStatus.SUCCEEDED] * 3
                assert all(s.ended_at is not None for s in steps)
                logs = await store.get_logs(run.id, "a", limit=LINES + 10)
                assert [r.line for r in logs] == [f"a {i}" for i in range(1, LINES + 1)]
    # the copies caught runs both in flight and finished
    assert states == {RunStatus.INTERRUPTED, RunStatus.SUCCEEDED}
