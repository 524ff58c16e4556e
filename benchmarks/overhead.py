"""Orchestration overhead: flowtui vs a bare asyncio spawner on the same DAG.

    python benchmarks/overhead.py [--sizes 100,500] [--width 10] [--parallel 2]

Builds a layered fan-out/fan-in DAG of N no-op steps (`run: "true"`), runs it with the
real runner (history stored in a temporary SQLite file, every event persisted) and with a
naive asyncio loop that spawns the same processes with the same dependencies and
parallelism, and prints wall times and the per-step overhead.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flowtui.engine.bus import EventBus
from flowtui.engine.runner import Runner, RunnerOptions
from flowtui.model.loader import load_workflow
from flowtui.store.runstore import RunStore
from flowtui.store.sink import StoreSink


def layered_dag(n: int, width: int) -> dict[str, list[str]]:
    deps: dict[str, list[str]] = {}
    previous: list[str] = []
    index = 0
    while index < n:
        layer = [f"s{index + i}" for i in range(min(width, n - index))]
        for name in layer:
            deps[name] = list(previous)
        previous = layer
        index += len(layer)
    return deps


def write_workflow(folder: Path, deps: dict[str, list[str]]) -> Path:
    lines = ["name: bench", "steps:"]
    for name, requires in deps.items():
        req = ", ".join(requires)
        lines.append(f"  {name}: {{run: 'true', requires: [{req}]}}")
    path = folder / "bench.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


async def bare_asyncio(deps: dict[str, list[str]], parallel: int) -> float:
    done: dict[str, asyncio.Event] = {name: asyncio.Event() for name in deps}
    slots = asyncio.Semaphore(parallel)

    async def one(name: str) -> None:
        for dep in deps[name]:
            await done[dep].wait()
        async with slots:
            proc = await asyncio.create_subprocess_exec("bash", "-c", "true")
            await proc.wait()
        done[name].set()

    start = time.perf_counter()
    await asyncio.gather(*(one(n) for n in deps))
    return time.perf_counter() - start


async def flowtui_run(path: Path, folder: Path, parallel: int) -> float:
    store = await RunStore.open(folder / "bench.db")
    bus = EventBus()
    sink = StoreSink(store, bus)
    sink.start()
    runner = Runner(store, bus, RunnerOptions(parallel=parallel))
    await runner.start()
    workflow = load_workflow(path)
    start = time.perf_counter()
    _, status = await runner.run(workflow)
    await sink.flush()
    elapsed = time.perf_counter() - start
    assert status == "succeeded", status
    await runner.close()
    await sink.close()
    await store.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,500")
    parser.add_argument("--width", type=int, default=10)
    parser.add_argument("--parallel", type=int, default=2)
    args = parser.parse_args()
    print(f"{'steps':>6} {'asyncio floor':>14} {'flowtui':>9} {'ratio':>6} {'overhead/step':>14}")
    for n in (int(x) for x in args.sizes.split(",")):
        deps = layered_dag(n, args.width)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            path = write_workflow(folder, deps)
            floor = asyncio.run(bare_asyncio(deps, args.parallel))
            ours = asyncio.run(flowtui_run(path, folder, args.parallel))
        per_step = (ours - floor) / n * 1000
        print(f"{n:>6} {floor:>13.2f}s {ours:>8.2f}s {ours / floor:>5.2f}x {per_step:>11.2f} ms")


if __name__ == "__main__":
    main()
