"""Reload: saving a workflow file → the dashboard's list and DAG updated.

    python benchmarks/reload.py [--workflows 50] [--saves 5]

Opens the real FlowApp headless with its folder watcher on, then repeatedly rewrites the
selected workflow's file with one more step (and a new step count) and times the save until
both the workflow list row and the DAG show the new step.  The bar is 0.5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BAR_SECONDS = 0.5


def workflow_text(name: str, steps: int) -> str:
    lines = [f"name: {name}", "steps:"]
    for i in range(steps):
        req = f", requires: [s{i - 1}]" if i else ""
        lines.append(f"  s{i}: {{run: 'true'{req}}}")
    return "\n".join(lines) + "\n"


async def measure(folder: Path, db: Path, saves: int) -> list[float]:
    from flowtui.tui.app import FlowApp
    from flowtui.tui.widgets.dag_view import DagView
    from flowtui.tui.widgets.workflow_list import WorkflowList

    app = FlowApp(folder, db_path=db, watch=True, triggers=False)
    target = folder / "aa_target.yaml"
    times: list[float] = []
    async with app.run_test(size=(160, 50)) as pilot:
        await app.ready.wait()
        app.query_one(WorkflowList).move_cursor(row=0)
        await pilot.pause()
        entry = app.selected_entry
        assert entry is not None and entry.path == target, entry
        await pilot.pause(0.5)  # the watcher is up
        dag = app.query_one(DagView)
        for n in range(3, 3 + saves):
            start = time.perf_counter()
            target.write_text(workflow_text("aa_target", n))
            wanted = f"s{n - 1}"

            def updated(steps: int = n, name: str = wanted) -> bool:
                entry = app.selected_entry
                listed = entry is not None and entry.workflow is not None
                listed = listed and len(entry.workflow.steps) == steps  # type: ignore[union-attr]
                return listed and name in dag.node_names

            async with asyncio.timeout(10):
                while not updated():
                    await pilot.pause(0.005)
            await pilot.pause()  # and painted
            times.append(time.perf_counter() - start)
            await pilot.pause(0.3)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workflows", type=int, default=50)
    parser.add_argument("--saves", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "workflows"
        folder.mkdir()
        for i in range(args.workflows):
            (folder / f"wf{i:03d}.yaml").write_text(workflow_text(f"wf{i:03d}", 5))
        (folder / "aa_target.yaml").write_text(workflow_text("aa_target", 2))
        times = asyncio.run(measure(folder, Path(tmp) / "h.db", args.saves))
    worst, median = max(times), statistics.median(times)
    print(f"{args.workflows + 1} workflow files; {len(times)} saves of the selected workflow")
    print(f"{'save → list + DAG updated':<28} {'median':>8} {'worst':>8} {'bar':>6} {'÷bar':>6}")
    print(
        f"{'':<28} {median:>7.3f}s {worst:>7.3f}s {BAR_SECONDS:>5.1f}s {worst / BAR_SECONDS:>5.2f}x"
    )
    print("includes the watcher's 150 ms debounce (watchfiles) before the reload starts")


if __name__ == "__main__":
    main()
