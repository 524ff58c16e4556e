"""Store: log ingestion rate into SQLite through the real sink, and the size on disk.

    python benchmarks/store_ingest.py [--lines 1000000] [--steps 20] [--width 80]

Publishes `--lines` StepLog events (lines of `--width` characters spread over `--steps`
steps) on the bus as fast as a loop can, with the StoreSink batching them into the history
file, then checks every line is stored.  Prints lines/s end to end (publish to committed),
the file size per million lines, and a bare `executemany` into the same schema as the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flowtui.engine.bus import EventBus
from flowtui.engine.events import StepLog
from flowtui.engine.records import NewStep
from flowtui.store.runstore import RunStore
from flowtui.store.sink import StoreSink


def db_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


async def through_sink(folder: Path, lines: int, steps: int, width: int) -> tuple[float, int]:
    path = folder / "sink.db"
    store = await RunStore.open(path)
    names = [f"step{i}" for i in range(steps)]
    run_id = await store.create_run(
        workflow="ingest",
        steps=[
            NewStep(name=n, type="script", requires=[], position=i) for i, n in enumerate(names)
        ],
    )
    bus = EventBus()
    sink = StoreSink(store, bus)
    sink.start()
    text = "x" * (width - 12)
    start = time.perf_counter()
    for i in range(lines):
        bus.publish(StepLog(run_id, names[i % steps], 1, "stdout", f"{i:>10} {text}", time.time()))
        if i % 5000 == 0:
            await asyncio.sleep(0)  # let the writer run, as a live run's loop would
    await sink.close()
    elapsed = time.perf_counter() - start
    stored = await store.db.fetchone("SELECT COUNT(*) AS n FROM logs WHERE run_id = ?", (run_id,))
    assert stored is not None and stored["n"] == lines, (stored and stored["n"], lines)
    assert not sink.dropped
    await store.close()
    return elapsed, db_bytes(path)


async def create_schema(path: Path) -> None:
    store = await RunStore.open(path)
    await store.close()


def bare_executemany(folder: Path, lines: int, steps: int, width: int) -> float:
    """The floor: one executemany per 2000 rows on a plain sqlite3 connection, same table."""
    path = folder / "bare.db"
    asyncio.run(create_schema(path))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")  # what the store uses
    conn.execute("INSERT INTO runs (workflow, status, created_at) VALUES ('bare', 'running', 0)")
    conn.commit()
    text = "x" * (width - 12)
    start = time.perf_counter()
    batch = []
    for i in range(lines):
        batch.append((1, f"step{i % steps}", 1, "stdout", f"{i:>10} {text}", time.time()))
        if len(batch) == 2000:
            conn.executemany(
                "INSERT INTO logs (run_id, step, attempt, stream, line, at) VALUES (?,?,?,?,?,?)",
                batch,
            )
            conn.commit()
            batch = []
    if batch:
        conn.executemany(
            "INSERT INTO logs (run_id, step, attempt, stream, line, at) VALUES (?,?,?,?,?,?)",
            batch,
        )
        conn.commit()
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--width", type=int, default=80)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ours, size = asyncio.run(through_sink(folder, args.lines, args.steps, args.width))
        floor = bare_executemany(folder, args.lines, args.steps, args.width)
    n = args.lines
    print(f"{n:,} lines of {args.width} chars over {args.steps} steps")
    print(f"{'path':<34} {'seconds':>8} {'lines/s':>10}")
    print(f"{'bare sqlite3 executemany (floor)':<34} {floor:>8.2f} {n / floor:>10,.0f}")
    print(f"{'flowtui bus → StoreSink → SQLite':<34} {ours:>8.2f} {n / ours:>10,.0f}")
    print(f"ratio to floor: {ours / floor:.2f}x; every line stored: yes")
    print(f"size on disk: {size / n * 1e6 / 2**20:.0f} MiB per million lines (db + wal)")


if __name__ == "__main__":
    main()
