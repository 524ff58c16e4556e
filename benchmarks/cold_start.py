"""Cold start: the whole `flowtui run` process for a one-step workflow, beside doit.

    python benchmarks/cold_start.py [--repeat 10] [--peers-venv /tmp/benchpeers]

Prints the best and median wall time of: `python -c pass` (the interpreter alone),
`flowtui run one.yaml --quiet` (import, load, store, run, exit) and `doit` running one task,
plus the heavy modules a headless run imports (there should be none of textual, networkx,
httpx), the CLI's own import time, and where a one-step run's time goes (interpreter,
imports, workflow load, history, the step, closing, exit: an instrumented run's marks).
"""

from __future__ import annotations

import argparse
import ast
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BAR_SECONDS = 0.2
HEAVY = ("textual", "networkx", "httpx", "rich.console", "watchfiles")
# ... and what issue #18 made lazy: a one-step shell run needs none of them
HEAVY += ("flowtui.model.circleci.config", "flowtui.control", "statistics", "platformdirs")

PROBE = """
import atexit, gc, sys, time
born = time.time()
born_cpu = time.process_time()
gc.disable()  # as flowtui/cli/gcpolicy.py starts a flowtui process
start = time.perf_counter()
from flowtui.cli.main import main
imported = time.perf_counter() - start
marks = {{}}
cpu = {{}}
def mark(name):
    marks.setdefault(name, time.time())
    cpu.setdefault(name, time.process_time())
import flowtui.cli.commands, flowtui.runtime
from flowtui.engine.runner import Runner
from flowtui.runtime import Runtime
from flowtui.store.runstore import RunStore
mark("imported")
def around(owner, name, before, after):
    inner = getattr(owner, name)
    async def timed(*args, **kwargs):
        mark(before)
        result = await inner(*args, **kwargs)
        mark(after)
        return result
    setattr(owner, name, timed)
inner_open = RunStore.open.__func__
async def opened(cls, *args, **kwargs):
    mark("open")
    return await inner_open(cls, *args, **kwargs)
RunStore.open = classmethod(opened)
around(Runner, "submit", "submit", "submitted")
around(Runtime, "stop", "stop", "stopped")
around(RunStore, "close", "close", "closed")
def report():
    mark("exiting")
    heavy = [m for m in {heavy!r} if m in sys.modules]
    print("PROBE", {{"import_s": imported, "heavy": heavy, "born": born, "marks": marks,
                     "cpu": cpu, "born_cpu": born_cpu}}, flush=True)
atexit.register(report)  # `flowtui run` ends its process in main (flowtui/cli/quickexit.py)
sys.argv = ["flowtui", "run", sys.argv[1], "--quiet", "--db", sys.argv[2]]
main()
"""
# where a one-step run's time goes, between the probe's marks (wall clock)
PHASES = (
    ("interpreter start", "spawned", "born"),
    ("imports (CLI, engine, store)", "born", "imported"),
    ("arguments, workflow load", "imported", "open"),
    ("history opened, run created", "open", "submitted"),
    ("the step (sandboxed)", "submitted", "stop"),
    ("runner stopped, history closed", "stop", "closed"),
    ("exit", "closed", "ended"),
)


def wall(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def series(argv: list[str], cwd: Path, repeat: int) -> list[float]:
    wall(argv, cwd)  # warm the page cache and .pyc files
    return [wall(argv, cwd) for _ in range(repeat)]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--peers-venv", default=os.environ.get("BENCH_PEERS_VENV"))
    args = parser.parse_args()
    python = sys.executable
    flowtui = [python, "-m", "flowtui"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        wf = folder / "one.yaml"
        wf.write_text("name: one\nsteps:\n  hello: {run: 'true'}\n")
        (folder / "dodo.py").write_text(
            "def task_hello():\n    return {'actions': ['true'], 'uptodate': [False]}\n"
        )
        rows: list[tuple[str, list[float] | None]] = [
            ("python -c pass", series([python, "-c", "pass"], folder, args.repeat)),
            (
                "flowtui run (1 step)",
                series(
                    [*flowtui, "run", str(wf), "--quiet", "--db", str(folder / "h.db")],
                    folder,
                    args.repeat,
                ),
            ),
        ]
        doit = Path(args.peers_venv) / "bin" / "doit" if args.peers_venv else None
        if doit is not None and doit.exists():
            cmd = [str(doit), "--db-file", str(folder / "doit.db")]
            rows.append(("doit (1 task)", series(cmd, folder, args.repeat)))
        else:
            rows.append(("doit (1 task)", None))
        probes = [probe(python, wf, folder / "p.db") for _ in range(args.repeat)]
        info = probes[0]

    print(f"{'command':<22} {'best':>7} {'median':>7}")
    for label, times in rows:
        if times is None:
            print(f"{label:<22} {'not installed':>15}")
            continue
        print(f"{label:<22} {min(times):>6.3f}s {statistics.median(times):>6.3f}s")
    ours = min(dict(rows)["flowtui run (1 step)"] or [0.0])
    print(f"bar: flowtui run ≤ {BAR_SECONDS:.2f}s → {'met' if ours <= BAR_SECONDS else 'NOT met'}")
    print(f"flowtui.cli.main import: {info['import_s'] * 1000:.0f} ms")
    print(f"heavy modules imported by a headless run: {', '.join(info['heavy']) or 'none'}")
    print("where a one-step run's time goes (median of the probes, ms; CPU: the process's")
    print("threads, not its children — steadier than wall time on a busy machine):")
    print(f"  {'':<32} {'wall':>6} {'CPU':>6}")
    for label, first, then in PHASES:
        spans = [(p["marks"][then] - p["marks"][first]) * 1000 for p in probes]
        if first in probes[0]["cpu"] and then in probes[0]["cpu"]:
            cpus = [(p["cpu"][then] - p["cpu"][first]) * 1000 for p in probes]
            used = f"{statistics.median(cpus):6.1f}"
        else:
            used = f"{'':>6}"
        print(f"  {label:<32} {statistics.median(spans):6.1f} {used}")
    total = [(p["marks"]["ended"] - p["marks"]["spawned"]) * 1000 for p in probes]
    print(f"  {'total':<32} {statistics.median(total):6.1f}")


def probe(python: str, wf: Path, db: Path) -> dict[str, Any]:
    """One instrumented `flowtui run`: its marks (wall clock) from spawn to exit."""
    spawned = time.time()
    done = subprocess.run(
        [python, "-c", PROBE.format(heavy=HEAVY), str(wf), str(db)],
        cwd=wf.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    ended = time.time()
    line = next(x for x in done.stdout.splitlines() if x.startswith("PROBE "))
    info: dict[str, Any] = ast.literal_eval(line.removeprefix("PROBE "))
    info["marks"].update(spawned=spawned, born=info["born"], ended=ended)
    info["cpu"].update(spawned=0.0, born=info["born_cpu"])  # the process's CPU starts at 0
    return info


if __name__ == "__main__":
    main()
