"""Dashboard: first frame, history, memory and a log flood, in a headless Pilot run.

    python benchmarks/dashboard.py [--workflows 200] [--runs 100000] [--flood-seconds 5]
                                   [--baseline SRC] [--repeat 1] [--keep DIR]

Generates `--workflows` workflow files and a history database with `--runs` finished runs
(5 steps each, bulk SQL inserts into a file built by RunStore's own schema), then opens the
real FlowApp headless and measures:

- first frame: from entering `run_test` to the first painted frame that shows every
  workflow's name in the list (its rows' last results may still be coming); "first frame
  CPU" is the process's CPU time (all threads) until then, steadier than the wall time on a
  busy machine;
- list filled: ... to the first painted frame whose list shows every row's last result;
- ready: ... until `app.ready` is seen set (the list filled, the app idle enough to see it);
- history: pressing `h` on a workflow with ~500 runs until the table is filled and painted;
- memory: the process's RSS after that (Python + Textual + the app);
- log flood: a run whose 20 steps together print 5,000 lines/s for --flood-seconds; while it
  runs, key presses (`down`/`up` in the workflow list) are timed from the key event to the
  first painted frame that shows the moved cursor (key → screen) and to the first one whose
  header shows the newly selected workflow (key → details); afterwards every line must be in
  the store.  "key → screen CPU": the main thread's CPU time over the same span — the
  loop's own work behind the key, which a busy machine does not inflate (the rest of the
  wall time is waiting for a core).  "flood CPU": the process's CPU time from the run's
  start to its end (engine, store writes and dashboard: what is left of the loop is what
  keys get).

With `--baseline SRC` (another source tree, e.g. `git archive <commit> | tar -x -C SRC`)
each measurement runs in a child Python with that tree or this one on PYTHONPATH, against
the same files and history, alternating `--repeat` times; medians are printed side by side.

Keys are timed with `timed_key`, not `Pilot.press`/`pause`: those wait until the whole
process has used under 1 ms of CPU in 20 ms (up to 1 s per call), which never happens while
20 steps stream output, so they measured their own time-out (≈ 1 s per call) and added at
least 20 ms per call on a quiet process.  What a key is waited for is checked as each frame
is painted (`FrameClock`), not polled on the loop being measured.

`--keep DIR` keeps the generated files and history for the next runs (the history grows by
one flood run per measurement).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

# the source tree to measure: this one, or a --baseline's (set for the child)
sys.path.insert(0, os.environ.get("FLOWTUI_BENCH_SRC") or str(Path(__file__).parent.parent))

from flowtui.store.runstore import RunStore

ROOT = Path(__file__).resolve().parent.parent

STEPS = ("checkout", "build", "test", "package", "deploy")
FLOOD_STEPS = 20
FLOOD_RATE = 5000  # lines/s over all steps
BARS = {"first frame": 0.5, "history": 0.1, "memory MB": 200, "key → screen": 0.05}
KEY_TIMEOUT = 30.0


class FrameClock:
    """Times of the frames the app paints (each compositor update handed to the driver).

    Conditions are checked as each frame is handed over (nothing runs between the render
    and that), so a condition's time is the first frame that shows it, found without
    polling: a 1 ms poll on the app's own loop was ~1,000 extra wake-ups a second, on the
    loop being measured, and could skip the frame that first showed the change."""

    def __init__(self, app: Any) -> None:
        self.frames: list[float] = []
        # name → (condition, time of the first frame painted while it held)
        self.watched: dict[str, tuple[Callable[[], bool], float | None]] = {}
        self.waiting: list[tuple[Callable[[], bool], asyncio.Future[float]]] = []
        self.cpu: dict[str, float] = {}  # name → the process's CPU seconds at that frame
        # a `frame_where` future → the main thread's CPU seconds when its frame was painted
        self.thread_cpu: dict[asyncio.Future[float], float] = {}
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if renderable is not None:
                now = time.perf_counter()
                self.frames.append(now)
                for name, (condition, seen) in self.watched.items():
                    if seen is None and _holds(condition):
                        self.watched[name] = (condition, now)
                        self.cpu[name] = time.process_time()
                for condition, future in list(self.waiting):
                    if not future.done() and _holds(condition):
                        future.set_result(now)
                        self.thread_cpu[future] = time.thread_time()
                        self.waiting.remove((condition, future))

        app._display = display

    def watch(self, name: str, condition: Callable[[], bool]) -> None:
        """Note the first frame painted while `condition()` holds (see `first`)."""
        self.watched[name] = (condition, None)

    async def first(self, name: str) -> float:
        """The time of the first frame painted while `name`'s condition held (waits)."""
        condition, seen = self.watched[name]
        if seen is not None:
            return seen
        return await self.next_frame_where(condition)

    def frame_where(self, condition: Callable[[], bool]) -> asyncio.Future[float]:
        """The time of the next frame painted while `condition()` holds (a future)."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting.append((condition, future))
        return future

    async def next_frame_where(self, condition: Callable[[], bool]) -> float:
        try:
            return await asyncio.wait_for(self.frame_where(condition), KEY_TIMEOUT)
        except TimeoutError:
            raise TimeoutError("no frame painted with the condition") from None


def _holds(condition: Callable[[], bool]) -> bool:
    try:
        return condition()
    except Exception:  # the widgets are not composed yet
        return False


async def timed_key(
    app: Any,
    clock: FrameClock,
    key: str,
    *conditions: Callable[[], bool],
    cpu: list[float] | None = None,
) -> list[float]:
    """Send `key` as the terminal would; per condition, seconds until the first frame
    painted while it held.  `cpu`: gets the main thread's CPU seconds from the key to the
    first condition's frame (the loop's work in between, whatever else the machine does)."""
    from textual import events

    futures = [clock.frame_where(condition) for condition in conditions]
    begin, begin_cpu = time.perf_counter(), time.thread_time()
    event = events.Key(key, None)
    event.set_sender(app)
    app._driver.send_message(event)
    latencies = []
    for future in futures:
        try:
            latencies.append(await asyncio.wait_for(future, KEY_TIMEOUT) - begin)
        except TimeoutError:
            raise TimeoutError(f"no frame painted after {key!r}") from None
    if cpu is not None:
        cpu.append(clock.thread_cpu[futures[0]] - begin_cpu)
    for future in futures:
        clock.thread_cpu.pop(future, None)
    return latencies


def write_workflows(folder: Path, count: int) -> list[str]:
    names = [f"wf{i:03d}" for i in range(count)]
    for name in names:
        lines = [f"name: {name}", "steps:"]
        previous = ""
        for step in STEPS:
            req = f", requires: [{previous}]" if previous else ""
            lines.append(f"  {step}: {{run: 'true'{req}}}")
            previous = step
        (folder / f"{name}.yaml").write_text("\n".join(lines) + "\n")
    return names


def write_flood(folder: Path, seconds: float) -> int:
    per_step = int(FLOOD_RATE / FLOOD_STEPS * seconds)
    pause = FLOOD_STEPS / FLOOD_RATE
    script = (
        "import sys, time\n"
        f"start = time.monotonic()\n"
        f"for i in range({per_step}):\n"
        "    print(f'line {i} ' + 'x' * 60, flush=True)\n"
        f"    time.sleep(max(0.0, start + (i + 1) * {pause} - time.monotonic()))\n"
    )
    lines = ["name: aaflood", "steps:"]
    for i in range(FLOOD_STEPS):
        lines.append(f"  s{i:02d}:")
        lines.append("    shell: python")
        lines.append(f"    run: {json.dumps(script)}")
    (folder / "aaflood.yaml").write_text("\n".join(lines) + "\n")
    return per_step * FLOOD_STEPS


async def create_schema(path: Path) -> None:
    store = await RunStore.open(path)
    await store.close()


def fill_history(path: Path, names: list[str], runs: int) -> None:
    asyncio.run(create_schema(path))
    rng = random.Random(7)
    conn = sqlite3.connect(path)
    now = time.time() - runs * 60
    run_rows, step_rows, event_rows = [], [], []
    for run_id in range(1, runs + 1):
        workflow = names[run_id % len(names)]
        start = now + run_id * 60
        status = "failed" if rng.random() < 0.1 else "succeeded"
        run_rows.append((run_id, workflow, status, start, start, start + 30, "{}"))
        for pos, step in enumerate(STEPS):
            s = start + pos * 6
            st = "failed" if status == "failed" and pos == 4 else "succeeded"
            step_rows.append((run_id, step, pos, "script", st, 1, s, s + 5))
        event_rows.append((run_id, "run", status, start + 30))
    conn.executemany(
        """INSERT INTO runs (id, workflow, status, created_at, started_at, ended_at, definition)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        run_rows,
    )
    conn.executemany(
        """INSERT INTO steps (run_id, name, position, type, status, attempt, started_at, ended_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
        step_rows,
    )
    conn.executemany(
        "INSERT INTO events (run_id, kind, status, attempt, at) VALUES (?, ?, ?, 0, ?)",
        event_rows,
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


async def measure(folder: Path, db: Path, flood_lines: int) -> dict[str, float | str]:
    from textual.widgets import Static

    from flowtui.tui.app import FlowApp
    from flowtui.tui.widgets.run_history import RunHistory
    from flowtui.tui.widgets.workflow_list import WorkflowList

    result: dict[str, float | str] = {}
    app = FlowApp(folder, db_path=db, watch=False, triggers=False, parallel=FLOOD_STEPS)
    clock = FrameClock(app)
    workflows = len(list(folder.glob("*.yaml")))

    def names_shown() -> bool:
        return app.query_one(WorkflowList).row_count == workflows

    def list_filled() -> bool:
        # the last row's last result (every workflow of the history has runs)
        rows = app.query_one(WorkflowList)
        last = rows.get_row_at(workflows - 1)[2].plain if names_shown() else ""
        return last not in ("", "…", "never run")

    clock.watch("first frame", names_shown)
    clock.watch("list filled", list_filled)
    start, cpu_start = time.perf_counter(), time.process_time()
    async with app.run_test(size=(160, 50)) as pilot:
        result["first frame"] = await clock.first("first frame") - start
        # the work before it, whatever else the machine does (all threads of the process)
        result["first frame CPU"] = clock.cpu["first frame"] - cpu_start
        result["list filled"] = await clock.first("list filled") - start
        await app.ready.wait()
        result["ready"] = time.perf_counter() - start
        await pilot.pause()
        table = app.query_one(WorkflowList)
        table.move_cursor(row=1)  # a workflow with history (row 0 is the flood workflow)
        await pilot.pause()
        await app.refresh_view()
        history = app.query_one(RunHistory)
        (result["history"],) = await timed_key(app, clock, "h", lambda: history.row_count > 0)
        await pilot.pause()
        result["history rows"] = float(history.row_count)
        result["memory MB"] = psutil.Process().memory_info().rss / 2**20

        table.move_cursor(row=0)
        await pilot.pause()
        entry = app.selected_entry
        assert entry is not None and entry.name == "aaflood", entry
        await pilot.press("g")
        await pilot.pause()
        # `g` focused the DAG: the keys are meant for the list.  Moved before the flood (a
        # focus change restyles the screen, ~0.1 s that was counted in the first key)
        table.focus()
        await pilot.pause()
        assert app.runner is not None
        flood_start, flood_cpu = time.perf_counter(), time.process_time()
        # set when the run is submitted
        await timed_key(app, clock, "r", lambda: bool(app.view.pinned and app.view.run_id))
        run_id = app.view.run_id
        header = app.query_one("#run-header", Static)
        latencies: list[float] = []
        details: list[float] = []
        key_cpu: list[float] = []  # the main thread's CPU from each key to its frame
        key, row = "down", 1
        while run_id in app.runner.active_run_ids:
            name = f"[b]{table.get_row_at(row)[1].plain}[/b]"
            screen, detail = await timed_key(
                app,
                clock,
                key,
                lambda row=row: table.cursor_row == row,
                lambda name=name: str(header.content).startswith(name),
                cpu=key_cpu,
            )
            latencies.append(screen)
            details.append(detail)
            key, row = ("up", 0) if key == "down" else ("down", 1)
            await asyncio.sleep(0.2)
        assert app.sink is not None and app.store is not None
        await app.sink.flush()
        row = await app.store.db.fetchone(
            "SELECT COUNT(*) AS n FROM logs WHERE run_id = ? AND stream = 'stdout'", (run_id,)
        )
        stored = int(row["n"]) if row else 0
        result["key → screen"] = max(latencies) if latencies else float("nan")
        result["key → screen median"] = statistics.median(latencies) if latencies else 0.0
        # the loop's own work behind each key (the rest of its wait is for the CPU)
        result["key → screen CPU max"] = max(key_cpu) if key_cpu else float("nan")
        result["key → screen CPU median"] = statistics.median(key_cpu) if key_cpu else 0.0
        result["key → details median"] = statistics.median(details) if details else 0.0
        result["key → details max"] = max(details) if details else float("nan")
        result["keys pressed"] = float(len(latencies))
        result["flood run seconds"] = time.perf_counter() - flood_start
        # the dashboard's and the engine's work for the flood (the less, the more room keys have)
        result["flood CPU"] = time.process_time() - flood_cpu
        result["flood lines stored"] = f"{stored:,} of {flood_lines:,}"
        result["memory MB (after flood)"] = psutil.Process().memory_info().rss / 2**20
    return result


def measure_in_child(src: Path, folder: Path, db: Path, flood_lines: int) -> dict[str, Any]:
    """One `measure` in a fresh Python with `src` on PYTHONPATH (its result as JSON)."""
    env = {**os.environ, "PYTHONPATH": str(src), "FLOWTUI_BENCH_SRC": str(src)}
    argv = [sys.executable, __file__, "--measure", str(folder), str(db), str(flood_lines)]
    out = subprocess.run(argv, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"measuring {src} failed:\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout.splitlines()[-1])
    return result


def print_table(columns: dict[str, list[dict[str, Any]]]) -> None:
    """One column per source tree: the median of its measurements (text: the last)."""
    keys = list(next(iter(columns.values()))[0])
    heads = "".join(f"{name:>18}" for name in columns)
    print(f"{'measure':<26}{heads} {'bar':>8} {'÷bar':>6}")
    for key in keys:
        cells = []
        for results in columns.values():
            values = [r[key] for r in results if key in r]
            if values and all(isinstance(v, float) for v in values):
                cells.append(statistics.median(values))
            else:
                cells.append(values[-1] if values else "")
        shown = "".join(f"{c:>18.3f}" if isinstance(c, float) else f"{c:>18}" for c in cells)
        bar = BARS.get(key)
        ratio = f" {bar:>8g} {cells[0] / bar:>5.2f}x" if bar and isinstance(cells[0], float) else ""
        print(f"{key:<26}{shown}{ratio}")


def main() -> None:
    if sys.argv[1:2] == ["--measure"]:  # a child of --baseline
        folder, db, lines = sys.argv[2:5]
        print(json.dumps(asyncio.run(measure(Path(folder), Path(db), int(lines)))))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workflows", type=int, default=200)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--flood-seconds", type=float, default=5.0)
    parser.add_argument("--baseline", type=Path, help="a flowtui source tree to measure beside")
    parser.add_argument("--repeat", type=int, default=1, help="measurements of each tree")
    parser.add_argument(
        "--keep",
        type=Path,
        help="a folder for the workflow files and history: made once, reused by later runs"
        " with the same --workflows/--runs/--flood-seconds (1,000,000 runs take ~1 min)",
    )
    args = parser.parse_args()
    columns: dict[str, list[dict[str, Any]]] = {"this": []}
    if args.baseline:
        columns["baseline"] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        if args.keep:
            base = args.keep / f"w{args.workflows}-r{args.runs}-f{args.flood_seconds:g}"
        folder = base / "workflows"
        db = base / "history.db"
        generated = 0.0
        if not (base / "done").exists():
            folder.mkdir(parents=True, exist_ok=True)
            db.unlink(missing_ok=True)
            names = write_workflows(folder, args.workflows)
            write_flood(folder, args.flood_seconds)
            start = time.perf_counter()
            fill_history(db, names, args.runs)
            generated = time.perf_counter() - start
            (base / "done").touch()
        flood_lines = write_flood(folder, args.flood_seconds)
        loads = [os.getloadavg()]
        for _ in range(args.repeat):
            if args.baseline:
                for name, src in (("baseline", args.baseline.resolve()), ("this", ROOT)):
                    columns[name].append(measure_in_child(src, folder, db, flood_lines))
                    loads.append(os.getloadavg())
            else:
                columns["this"].append(asyncio.run(measure(folder, db, flood_lines)))
                loads.append(os.getloadavg())
    print(
        f"{args.workflows} workflow files, {args.runs:,} stored runs "
        f"(generated in {generated:.1f}s); flood: {FLOOD_STEPS} steps, {FLOOD_RATE:,} lines/s"
    )
    print_table(columns)
    print("times in seconds (medians); key → screen is the slowest press during the flood")
    for name, results in columns.items():
        for key in ("first frame", "list filled", "key → screen", "key → screen CPU max"):
            each = ", ".join(f"{r[key]:.3f}" for r in results)
            print(f"{name} {key}, each measurement: {each}")
    shown = ", ".join(f"{one:.2f}" for one, _, _ in loads)
    print(f"load average (1 min) before and after each measurement: {shown}")


if __name__ == "__main__":
    main()
