"""Load: many concurrent runs, a flood of log lines, and the dashboard during the flood.

    python benchmarks/load.py [--runs 200] [--steps 20] [--chatty 50] [--rate 10000]
                              [--seconds 5] [--parallel 16] [--view logs|dag]

(a) `--runs` runs of a `--steps`-step workflow (layers of five, each step needing the whole
    layer before it) submitted at once to one Runner: real `bash` steps, a real SQLite file.
(b) one run of `--chatty` steps, each a Python printer writing `--rate` lines/s for
    `--seconds` s (fixed count, paced; its own clock says what rate it achieved).
(c) meanwhile, in this process, the real FlowApp (headless Pilot) on the same database and
    folder: `j`/`k` in the workflow list, timed from the press until the cursor moved and
    the screen was painted.

(a) and (b) run in a child process, so its peak RSS is the runner's own (getrusage). Every
row is counted: runs, steps, events, logs against what the workflows must produce; log
lines the per-step cap held back are counted from its omission markers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

LAYER_WIDTH = 5
LINE_PAD = "x" * 60  # lines of about 72 bytes, a typical log line
SAMPLE_SECONDS = 0.05
IDLE_KEYS = 10  # presses before the flood: the baseline
OMITTED_RE = re.compile(r"^… ([\d,]+) lines \([^)]*\) omitted …$")

PRINTER = """\
import json, sys, time
count, rate, stats = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
out = sys.stdout.buffer
pad = b"PAD"
wall, start, i = time.time(), time.monotonic(), 0
while i < count:
    due = min(count, int((time.monotonic() - start) * rate) + 1)
    if due > i:
        out.write(b"".join(b"line %d %s\\n" % (n, pad) for n in range(i, due)))
        out.flush()
        i = due
    else:
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
seconds = time.monotonic() - start
with open(stats, "w") as f:
    json.dump({"lines": count, "start": wall, "end": wall + seconds, "seconds": seconds}, f)
""".replace("PAD", LINE_PAD)


# -- workflow files -----------------------------------------------------------------------
def layered_workflow(folder: Path, steps: int) -> Path:
    """`steps` steps in layers of LAYER_WIDTH; each one prints one line."""
    lines = ["name: load", "steps:"]
    previous: list[str] = []
    layer: list[str] = []
    for i in range(steps):
        name = f"s{i:03d}"
        requires = f", requires: [{', '.join(previous)}]" if previous else ""
        lines.append(f"  {name}: {{run: 'echo {name} done'{requires}}}")
        layer.append(name)
        if len(layer) == LAYER_WIDTH:
            previous, layer = layer, []
    path = folder / "load.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def flood_workflow(folder: Path, chatty: int, rate: int, seconds: float) -> tuple[Path, Path]:
    """`chatty` independent printer steps; returns the file and the folder for their stats."""
    printer = folder / "printer.py"
    printer.write_text(PRINTER)
    stats = folder / "stats"
    stats.mkdir(exist_ok=True)
    count = int(rate * seconds)
    lines = ["name: flood", "steps:"]
    for i in range(chatty):
        argv = [sys.executable, str(printer), str(count), str(rate), str(stats / f"c{i:03d}")]
        lines.append(f"  c{i:03d}: {{run: {json.dumps('exec ' + shlex.join(argv))}}}")
    path = folder / "flood.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path, stats


# -- the runner process -------------------------------------------------------------------
class Sampler:
    """Samples RSS and the store writer's backlog while work runs."""

    def __init__(self, sink: Any) -> None:
        import psutil

        self.proc = psutil.Process()
        self.sink = sink
        self.base_rss = self.proc.memory_info().rss
        self.peak_rss = self.base_rss
        self.peak_backlog = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            self.peak_rss = max(self.peak_rss, self.proc.memory_info().rss)
            self.peak_backlog = max(self.peak_backlog, self.sink.backlog)
            await asyncio.sleep(SAMPLE_SECONDS)

    async def stop(self) -> dict[str, float]:
        if self._task is not None:
            self._task.cancel()
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {
            "base_rss_mb": self.base_rss / 2**20,
            "peak_rss_mb": max(self.peak_rss, peak_kib * 1024) / 2**20,
            "peak_backlog": float(self.peak_backlog),
        }


async def child(mode: str, workflow_path: Path, db: Path, count: int, parallel: int) -> None:
    from flowtui.engine.bus import EventBus
    from flowtui.engine.runner import RunnerOptions
    from flowtui.model.loader import load_workflow
    from flowtui.runtime import build_runner
    from flowtui.store.runstore import RunStore
    from flowtui.store.sink import StoreSink

    workflow = load_workflow(workflow_path)
    store = await RunStore.open(db)
    bus = EventBus()
    sink = StoreSink(store, bus)
    sink.start()
    runner = build_runner(store, bus, RunnerOptions(parallel=parallel))
    await runner.start()
    sampler = Sampler(sink)
    sampler.start()
    start = time.perf_counter()
    handles = [await runner.submit(workflow, trigger="load") for _ in range(count)]
    statuses = await asyncio.gather(*(h.wait() for h in handles))
    finished = time.perf_counter()
    await sink.flush()
    stored_at = time.time()
    flushed = time.perf_counter()
    result: dict[str, Any] = await sampler.stop()
    result.update(
        mode=mode,
        wall=finished - start,
        flushed=flushed - start,
        stored_at=stored_at,
        succeeded=sum(str(s) == "succeeded" for s in statuses),
        sink_errors=list(sink.errors),
        dropped=sink.dropped,
    )
    await runner.close()
    await sink.close()
    await store.close()
    print("RESULT " + json.dumps(result), flush=True)


def start_child(mode: str, wf: Path, db: Path, count: int, parallel: int) -> subprocess.Popen[str]:
    argv = [sys.executable, __file__, "--child", mode, "--workflow", str(wf), "--db", str(db)]
    argv += ["--count", str(count), "--parallel", str(parallel)]
    # stderr to a file: a pipe nobody reads until the end could fill and stall the runner
    with open(db.with_suffix(".stderr"), "w") as err:
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, text=True)


def child_result(proc: subprocess.Popen[str], db: Path) -> dict[str, Any]:
    out, _ = proc.communicate()
    for line in out.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line.removeprefix("RESULT ")))
    err = db.with_suffix(".stderr").read_text()
    raise SystemExit(f"the runner process failed (exit {proc.returncode}):\n{err[-3000:]}")


# -- counting -----------------------------------------------------------------------------
def counts(db: Path, workflow: str) -> dict[str, int]:
    with sqlite3.connect(db, timeout=30) as conn:

        def one(sql: str) -> int:
            return int(conn.execute(sql, (workflow,)).fetchone()[0])

        runs = "SELECT id FROM runs WHERE workflow = ?"
        omitted = 0
        for (line,) in conn.execute(
            f"SELECT line FROM logs WHERE stream = 'system' AND run_id IN ({runs})", (workflow,)
        ):
            if match := OMITTED_RE.match(str(line)):
                omitted += int(match[1].replace(",", ""))
        return {
            "runs": one("SELECT COUNT(*) FROM runs WHERE workflow = ?"),
            "runs ok": one("SELECT COUNT(*) FROM runs WHERE workflow = ? AND status='succeeded'"),
            "steps": one(f"SELECT COUNT(*) FROM steps WHERE run_id IN ({runs})"),
            "steps ok": one(
                f"SELECT COUNT(*) FROM steps WHERE status='succeeded' AND run_id IN ({runs})"
            ),
            "events": one(f"SELECT COUNT(*) FROM events WHERE run_id IN ({runs})"),
            "stdout lines": one(
                f"SELECT COUNT(*) FROM logs WHERE stream = 'stdout' AND run_id IN ({runs})"
            ),
            "omitted": omitted,
            "other logs": one(
                f"SELECT COUNT(*) FROM logs WHERE stream != 'stdout' AND run_id IN ({runs})"
            ),
        }


def expected_rows(runs: int, steps: int, lines_per_step: int) -> dict[str, int]:
    # per run: queued, running, succeeded; per step: running, succeeded
    return {
        "runs": runs,
        "runs ok": runs,
        "steps": runs * steps,
        "steps ok": runs * steps,
        "events": runs * (3 + 2 * steps),
        "stdout lines": runs * steps * lines_per_step,
    }


# -- (a) concurrent runs ------------------------------------------------------------------
def bench_concurrent(folder: Path, runs: int, steps: int, parallel: int) -> list[str]:
    wf = layered_workflow(folder, steps)
    db = folder / "concurrent.db"
    res = child_result(start_child("concurrent", wf, db, runs, parallel), db)
    got = counts(db, "load")
    want = expected_rows(runs, steps, 1)
    rows = [
        f"(a) {runs} runs × {steps} steps at once, one Runner, -j {parallel}",
        row("wall time (all runs ended)", f"{res['wall']:.2f} s"),
        row("runs/s · steps/s", f"{runs / res['wall']:.1f} · {runs * steps / res['wall']:.0f}"),
    ]
    rows += [row(f"{k} stored / expected", check(got[k], v)) for k, v in want.items()]
    rows += rss_rows(res)
    return rows


# -- (b) + (c) the flood and the dashboard -------------------------------------------------
def bench_flood(
    folder: Path, chatty: int, rate: int, seconds: float, view: str, dashboard: bool
) -> list[str]:
    wf, stats = flood_workflow(folder, chatty, rate, seconds)
    db = folder / "flood.db"
    asyncio.run(create_schema(db))
    per_step = int(rate * seconds)
    idle: list[float] = []
    keys: list[float] = []
    if dashboard:
        idle, keys, res = asyncio.run(press_keys_during(wf, folder, db, view, chatty))
    else:
        res = child_result(start_child("flood", wf, db, 1, chatty), db)
    got = counts(db, "flood")
    printed = [json.loads(p.read_text()) for p in sorted(stats.iterdir())]
    first = min(p["start"] for p in printed)
    last = max(p["end"] for p in printed)
    total = sum(p["lines"] for p in printed)
    slowest = min(p["lines"] / p["seconds"] for p in printed)
    accounted = got["stdout lines"] + got["omitted"]
    rows = [
        f"(b) {chatty} steps × {rate:,} lines/s × {seconds:g} s ({per_step * chatty:,} lines)",
        row("achieved, all printers", f"{total / (last - first):,.0f} lines/s"),
        row("achieved, slowest printer", f"{slowest:,.0f} lines/s (asked {rate:,})"),
        row("printing took", f"{last - first:.2f} s (asked {seconds:g})"),
        row("lines stored / printed", check(got["stdout lines"], total)),
        row("… + lines the cap omitted", check(accounted, total)),
        row("steps succeeded", check(got["steps ok"], chatty)),
        row("sink lag (last printed → stored)", f"{res['stored_at'] - last:.2f} s"),
        row("store throughput", f"{total / (res['stored_at'] - first):,.0f} lines/s"),
    ]
    rows += rss_rows(res)
    if dashboard:
        rows.append(f"(c) dashboard ({view} tab) during the flood: j/k → cursor moved + painted")
        rows.append(row("idle: p50 / p95 / max", percentiles(idle)))
        rows.append(row(f"flood ({len(keys)} keys): p50 / p95 / max", percentiles(keys)))
    return rows


async def create_schema(db: Path) -> None:
    from flowtui.store.runstore import RunStore

    store = await RunStore.open(db)
    await store.close()


async def press_keys_during(
    wf: Path, folder: Path, db: Path, view: str, chatty: int
) -> tuple[list[float], list[float], dict[str, Any]]:
    """Open the dashboard, start the flood, press keys until it ends: latencies, result."""
    from flowtui.tui.app import FlowApp
    from flowtui.tui.widgets.workflow_list import WorkflowList

    app = FlowApp(folder, db_path=db, watch=False, triggers=False)
    latencies: list[float] = []
    async with app.run_test(size=(160, 50)) as pilot:
        await app.ready.wait()
        await pilot.pause()
        table = app.query_one(WorkflowList)
        table.focus()
        await pilot.press("g" if view == "dag" else "l")
        idle = [await timed_move(pilot, table, "jk"[i % 2]) for i in range(IDLE_KEYS)]
        proc = start_child("flood", wf, db, 1, chatty)
        with sqlite3.connect(db, timeout=30) as conn:  # wait until the flood is under way
            while (
                proc.poll() is None
                and not conn.execute(
                    "SELECT 1 FROM logs WHERE stream = 'stdout' LIMIT 1"
                ).fetchone()
            ):
                await pilot.pause(0.05)
        while proc.poll() is None:
            latencies.append(await timed_move(pilot, table, "jk"[len(latencies) % 2]))
            await pilot.pause(0.1)
    return idle, latencies, await asyncio.to_thread(child_result, proc, db)


async def timed_move(pilot: Any, table: Any, key: str) -> float:
    """Seconds from pressing `key` until the cursor moved and the screen was painted."""
    before = table.cursor_row
    begin = time.perf_counter()
    await pilot.press(key)
    while table.cursor_row == before:
        await pilot.pause(0)
    await pilot.pause()
    return time.perf_counter() - begin


# -- output -------------------------------------------------------------------------------
def row(label: str, value: str) -> str:
    return f"    {label:<34} {value}"


def percentiles(times: list[float]) -> str:
    if not times:
        return "no keys pressed"
    p95 = sorted(times)[max(0, round(0.95 * len(times)) - 1)]
    return f"{statistics.median(times) * 1000:.0f} / {p95 * 1000:.0f} / {max(times) * 1000:.0f} ms"


def check(got: int, want: int) -> str:
    return f"{got:,} / {want:,}  {'ok' if got == want else 'MISMATCH'}"


def rss_rows(res: dict[str, Any]) -> list[str]:
    lines = [
        row("runner RSS start → peak", f"{res['base_rss_mb']:.0f} → {res['peak_rss_mb']:.0f} MB"),
        row("peak store-writer backlog", f"{res['peak_backlog']:,.0f} events"),
    ]
    problems = [*res["sink_errors"], *(["dropped"] if res["dropped"] else [])]
    lines.append(row("store errors", "none" if not problems else "; ".join(problems)[:200]))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--chatty", type=int, default=50)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--parallel", type=int, default=16, help="steps at a time in (a)")
    parser.add_argument("--view", choices=("logs", "dag"), default="logs")
    parser.add_argument("--no-dashboard", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--workflow", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        wf, db = Path(args.workflow), Path(args.db)
        asyncio.run(child(args.child, wf, db, args.count, args.parallel))
        return
    print(f"{os.cpu_count()} cores; times are wall clock")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for line in bench_concurrent(folder, args.runs, args.steps, args.parallel):
            print(line, flush=True)
        flood = bench_flood(
            folder, args.chatty, args.rate, args.seconds, args.view, not args.no_dashboard
        )
        for line in flood:
            print(line)


if __name__ == "__main__":
    main()
