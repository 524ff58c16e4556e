"""Load: many concurrent runs and a flood of log lines through one runner, every row counted.

A scaled-down `benchmarks/load.py`: real bash/python step processes, a real SQLite file,
a second connection reading like a dashboard meanwhile.
"""

from __future__ import annotations

import asyncio
import sqlite3
import textwrap
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from flowtui.engine.bus import EventBus
from flowtui.engine.events import StepLog
from flowtui.engine.process import DRAIN_TIMEOUT, PIPE_LINGER
from flowtui.engine.records import NewStep
from flowtui.engine.runner import Runner, RunnerOptions
from flowtui.engine.states import RunStatus
from flowtui.model.loader import load_workflow
from flowtui.model.workflow import Workflow
from flowtui.runtime import build_runner
from flowtui.store import RunStore
from flowtui.store.sink import MAX_BACKLOG, StoreSink

RUNS, STEPS = 30, 10
CHATTY, LINES, WIDTH = 5, 20_000, 400  # 100,000 lines, about 40 MB of text
# what output readers may add past MAX_BACKLOG: one 64 KiB chunk each (stdout and stderr)
# before they wait, and then what the pipes and stream buffers held when the printers exited
READER_SLACK = CHATTY * 2 * 4 * (64 * 1024 // WIDTH)
MAX_RSS_GROWTH_MB = 30  # all lines held: about 50 MB; the bounded backlog: under 20


class Load:
    def __init__(self, folder: Path, store: RunStore, sink: StoreSink, runner: Runner) -> None:
        self.folder = folder
        self.store = store
        self.sink = sink
        self.runner = runner

    def workflow(self, name: str, text: str) -> Workflow:
        path = self.folder / f"{name}.yaml"
        path.write_text(textwrap.dedent(text))
        return load_workflow(path)

    async def count(self, sql: str, *params: object) -> int:
        row = await self.store.db.fetchone(sql, params)
        assert row is not None
        return int(row[0])


@pytest.fixture
async def load(tmp_path: Path, db_path: Path) -> AsyncIterator[Load]:
    store = await RunStore.open(db_path)
    bus = EventBus()
    sink = StoreSink(store, bus)
    sink.start()
    runner = build_runner(store, bus, RunnerOptions(parallel=8, poll_interval=0.05))
    await runner.start()
    try:
        yield Load(tmp_path, store, sink, runner)
    finally:
        await runner.cancel_all(timeout=10)
        await runner.close()
        await sink.close()
        await store.close()


def layered(steps: int) -> str:
    """Layers of five steps, each needing the whole layer before it; each prints one line."""
    lines = ["name: layered", "steps:"]
    previous: list[str] = []
    layer: list[str] = []
    for i in range(steps):
        name = f"s{i:02d}"
        requires = f", requires: [{', '.join(previous)}]" if previous else ""
        lines.append(f"  {name}: {{run: 'echo \"$FLOWTUI_RUN_ID {name}\"'{requires}}}")
        layer.append(name)
        if len(layer) == 5:
            previous, layer = layer, []
    return "\n".join(lines) + "\n"


FLOOD = "name: flood\nsteps:\n" + "".join(
    f"""\
  c{i}:
    shell: python
    run: |
      import sys
      pad = "x" * {WIDTH - 12}
      sys.stdout.writelines(f"c{i} {{n:06d}} {{pad}}\\n" for n in range({LINES}))
"""
    for i in range(CHATTY)
)


class Watch:
    """Samples the runner's RSS and the store writer's backlog; reads like a dashboard."""

    def __init__(self, load: Load, reader: RunStore) -> None:
        self.load = load
        self.reader = reader
        self.proc = psutil.Process()
        self.base_rss = self.proc.memory_info().rss
        self.peak_rss = self.base_rss
        self.peak_backlog = 0
        self.reads = 0
        self.errors: list[str] = []

    async def loop(self) -> None:
        while True:
            self.peak_rss = max(self.peak_rss, self.proc.memory_info().rss)
            self.peak_backlog = max(self.peak_backlog, self.load.sink.backlog)
            try:  # what the dashboard polls: new events, a run's steps, its log tail
                await self.reader.last_event_id()
                runs = await self.reader.list_runs(limit=5)
                for run in runs[:1]:
                    await self.reader.get_steps(run.id)
                    await self.reader.tail_logs(run.id, limit=200)
                self.reads += 1
            except Exception as exc:
                self.errors.append(repr(exc))
            await asyncio.sleep(0.02)


async def test_concurrent_runs_and_a_log_flood_lose_no_row_in_bounded_memory(
    load: Load, db_path: Path
) -> None:
    layered_wf = load.workflow("layered", layered(STEPS))
    flood_wf = load.workflow("flood", FLOOD)
    reader = await RunStore.open(db_path)
    watch = Watch(load, reader)
    watcher = asyncio.create_task(watch.loop())
    try:
        handles = [await load.runner.submit(layered_wf) for _ in range(RUNS)]
        handles.append(await load.runner.submit(flood_wf))
        async with asyncio.timeout(60):
            statuses = await asyncio.gather(*(h.wait() for h in handles))
            await load.sink.flush()
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await reader.close()

    assert statuses == [RunStatus.SUCCEEDED] * (RUNS + 1)
    assert load.sink.errors == [] and load.sink.dropped == 0
    assert watch.errors == [] and watch.reads > 0
    count = load.count
    assert await count("SELECT COUNT(*) FROM runs WHERE status = 'succeeded'") == RUNS + 1
    assert await count("SELECT COUNT(*) FROM steps WHERE status = 'succeeded'") == (
        RUNS * STEPS + CHATTY
    )
    # per run: queued, running, succeeded; per step: running, succeeded — nothing twice
    assert await count("SELECT COUNT(*) FROM events") == (
        (RUNS + 1) * 3 + (RUNS * STEPS + CHATTY) * 2
    )
    # every layered step's one line, in its own run; distinct, so nothing doubled either
    assert (
        await count(
            "SELECT COUNT(DISTINCT l.run_id || ' ' || l.line) FROM logs l JOIN runs r"
            " ON r.id = l.run_id WHERE r.workflow = 'layered' AND l.stream = 'stdout'"
            " AND l.line = l.run_id || ' ' || l.step"
        )
        == RUNS * STEPS
    )
    flood_id = handles[-1].run_id
    assert (
        await count(
            "SELECT COUNT(DISTINCT line) FROM logs WHERE run_id = ? AND stream = 'stdout'"
            " AND substr(line, 1, 2) = step",
            flood_id,
        )
        == CHATTY * LINES
    )
    assert await count("SELECT COUNT(*) FROM logs WHERE stream != 'stdout'") == 0
    assert await count("SELECT COUNT(*) FROM logs WHERE line LIKE '%locked%'") == 0
    # each step's lines were stored in the order printed
    for i in range(CHATTY):
        rows = await load.store.db.fetchall(
            "SELECT line FROM logs WHERE run_id = ? AND step = ? ORDER BY id", (flood_id, f"c{i}")
        )
        assert [int(r["line"].split()[1]) for r in rows] == list(range(LINES))

    # the printers outran the writer: the readers waited for room instead of queueing all
    assert watch.peak_backlog <= MAX_BACKLOG + READER_SLACK, watch.peak_backlog
    growth_mb = (watch.peak_rss - watch.base_rss) / 2**20
    assert growth_mb < MAX_RSS_GROWTH_MB, f"RSS grew {growth_mb:.0f} MB"


BURST = """\
name: burst
steps:
  burst:
    shell: python
    run: |
      import pathlib, sys, time
      pathlib.Path("ready").touch()
      while not pathlib.Path("go").exists():
          time.sleep(0.01)
      sys.stdout.writelines(f"b {n:06d} {'x' * 90}\\n" for n in range(1500))
      pathlib.Path("printed").touch()
"""


def hold_write_lock(path: Path, locked: threading.Event, release: threading.Event) -> None:
    """Another process's long write transaction, as `BEGIN IMMEDIATE` on its own connection."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(30)
        conn.execute("ROLLBACK")
    finally:
        conn.close()


async def test_output_left_in_the_pipe_at_exit_is_stored_while_the_writer_is_behind(
    load: Load, db_path: Path
) -> None:
    """A step that exits while its reader waits for room: what its pipe holds is still read.

    The store writer is stalled by another connection's write lock with a full backlog, so
    the reader is held back; the 150 kB the step printed sit in its pipe when it exits.
    Once the step has exited the reader must drain it at once, before the readers' drain
    timeout, not wait for the writer (which would cost those lines).
    """
    wf = load.workflow("burst", BURST)
    filler_run = await load.store.create_run(
        workflow="filler", steps=[NewStep("fill", "script", [], 0)]
    )
    handle = await load.runner.submit(wf)
    signals = load.folder  # a script step runs in its workflow file's folder
    async with asyncio.timeout(15):
        while not (signals / "ready").exists():
            await asyncio.sleep(0.01)
    locked, release = threading.Event(), threading.Event()
    holder = asyncio.create_task(asyncio.to_thread(hold_write_lock, db_path, locked, release))
    try:
        await asyncio.to_thread(locked.wait, 10)
        now = time.time()
        for n in range(MAX_BACKLOG + 5000):
            load.runner.bus.publish(StepLog(filler_run, "fill", 1, "stdout", f"f {n}", now))
        assert load.sink.backlog >= MAX_BACKLOG
        (signals / "go").touch()
        async with asyncio.timeout(15):
            while not (signals / "printed").exists():
                await asyncio.sleep(0.01)
        # the step exits now; keep the writer stalled past the readers' whole drain time
        await asyncio.sleep(PIPE_LINGER + DRAIN_TIMEOUT + 0.5)
        assert load.sink.backlog >= MAX_BACKLOG // 2  # still stalled: the reader got no room
    finally:
        release.set()
        await holder
    async with asyncio.timeout(30):
        assert await handle.wait() == RunStatus.SUCCEEDED
        await load.sink.flush()
    assert load.sink.errors == [] and load.sink.dropped == 0
    rows = await load.store.db.fetchall(
        "SELECT line FROM logs WHERE run_id = ? AND step = 'burst' ORDER BY id", (handle.run_id,)
    )
    assert [int(r["line"].split()[1]) for r in rows] == list(range(1500))
    assert await load.count("SELECT COUNT(*) FROM logs WHERE run_id = ?", filler_run) == (
        MAX_BACKLOG + 5000
    )
