"""Dashboard: first frame, history, memory and a log flood, in a headless Pilot run.

    python benchmarks/dashboard.py [--workflows 200] [--runs 100000] [--flood-seconds 5]

Generates `--workflows` workflow files and a history database with `--runs` finished runs
(5 steps each, bulk SQL inserts into a file built by RunStore's own schema), then opens the
real FlowApp headless and measures:

- first frame: from entering `run_test` to the app ready and the screen painted;
- history: pressing `h` on a workflow with ~500 runs until the table is filled and painted;
- memory: the process's RSS after that (Python + Textual + the app);
- log flood: a run whose 20 steps together print 5,000 lines/s for --flood-seconds; while it
  runs, key presses (`down`/`up` in the workflow list) are timed from the key event to the
  first painted frame that shows the moved cursor (key → screen) and to the first one whose
  header shows the newly selected workflow (key → details); afterwards every line must be in
  the store.

Keys are timed with `timed_key`, not `Pilot.press`/`pause`: those wait until the whole
process has used under 1 ms of CPU in 20 ms (up to 1 s per call), which never happens while
20 steps stream output, so they measured their own time-out (≈ 1 s per call) and added at
least 20 ms per call on a quiet process.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flowtui.store.runstore import RunStore

STEPS = ("checkout", "build", "test", "package", "deploy")
FLOOD_STEPS = 20
FLOOD_RATE = 5000  # lines/s over all steps
BARS = {"first frame": 1.5, "history": 0.1, "memory MB": 200, "key → screen": 0.1}
KEY_TIMEOUT = 30.0


class FrameClock:
    """Times of the frames the app paints (each compositor update handed to the driver)."""

    def __init__(self, app: Any) -> None:
        self.frames: list[float] = []
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if renderable is not None:
                self.frames.append(time.perf_counter())

        app._display = display

    async def painted_after(self, moment: float) -> float:
        """The time of the first frame painted after `moment` (waits for it)."""
        deadline = time.perf_counter() + KEY_TIMEOUT
        while time.perf_counter() < deadline:
            index = bisect.bisect_left(self.frames, moment)
            if index < len(self.frames):
                return self.frames[index]
            await asyncio.sleep(0.001)
        raise TimeoutError("no frame painted")


async def until(condition: Callable[[], bool]) -> float:
    """Wait until `condition()` holds; return when it was first seen true."""
    deadline = time.perf_counter() + KEY_TIMEOUT
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.001)
    return time.perf_counter()


async def timed_key(
    app: Any, clock: FrameClock, key: str, *conditions: Callable[[], bool]
) -> list[float]:
    """Send `key` as the terminal would; per condition, seconds until a frame painted after
    it held."""
    from textual import events

    begin = time.perf_counter()
    event = events.Key(key, None)
    event.set_sender(app)
    app._driver.send_message(event)
    latencies = []
    for condition in conditions:
        seen = await until(condition)
        latencies.append(await clock.painted_after(seen) - begin)
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
    start = time.perf_counter()
    async with app.run_test(size=(160, 50)) as pilot:
        await app.ready.wait()
        await pilot.pause()
        result["first frame"] = time.perf_counter() - start
        clock = FrameClock(app)
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
        assert app.runner is not None
        flood_start = time.perf_counter()
        # set when the run is submitted
        await timed_key(app, clock, "r", lambda: bool(app.view.pinned and app.view.run_id))
        run_id = app.view.run_id
        header = app.query_one("#run-header", Static)
        table.focus()  # `g` focused the DAG: the keys are meant for the list
        latencies: list[float] = []
        details: list[float] = []
        key, row = "down", 1
        while run_id in app.runner.active_run_ids:
            name = f"[b]{table.get_row_at(row)[1].plain}[/b]"
            screen, detail = await timed_key(
                app,
                clock,
                key,
                lambda row=row: table.cursor_row == row,
                lambda name=name: str(header.content).startswith(name),
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
        result["key → details median"] = statistics.median(details) if details else 0.0
        result["key → details max"] = max(details) if details else float("nan")
        result["keys pressed"] = float(len(latencies))
        result["flood run seconds"] = time.perf_counter() - flood_start
        result["flood lines stored"] = f"{stored:,} of {flood_lines:,}"
        result["memory MB (after flood)"] = psutil.Process().memory_info().rss / 2**20
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workflows", type=int, default=200)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--flood-seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "workflows"
        folder.mkdir()
        names = write_workflows(folder, args.workflows)
        flood_lines = write_flood(folder, args.flood_seconds)
        db = Path(tmp) / "history.db"
        start = time.perf_counter()
        fill_history(db, names, args.runs)
        generated = time.perf_counter() - start
        result = asyncio.run(measure(folder, db, flood_lines))
    print(
        f"{args.workflows} workflow files, {args.runs:,} stored runs "
        f"(generated in {generated:.1f}s); flood: {FLOOD_STEPS} steps, {FLOOD_RATE:,} lines/s"
    )
    print(f"{'measure':<26} {'value':>14} {'bar':>8} {'÷bar':>6}")
    for key, value in result.items():
        bar = BARS.get(key)
        shown = f"{value:.3f}" if isinstance(value, float) else value
        if bar is None:
            print(f"{key:<26} {shown:>14}")
        else:
            assert isinstance(value, float)
            print(f"{key:<26} {shown:>14} {bar:>8g} {value / bar:>5.2f}x")
    print("times in seconds; key → screen is the slowest press during the flood")


if __name__ == "__main__":
    main()
