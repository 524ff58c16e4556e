"""Cold start: the whole `flowtui run` process for a one-step workflow, beside doit.

    python benchmarks/cold_start.py [--repeat 10] [--peers-venv /tmp/benchpeers]

Prints the best and median wall time of: `python -c pass` (the interpreter alone),
`flowtui run one.yaml --quiet` (import, load, store, run, exit) and `doit` running one task,
plus the heavy modules a headless run imports (there should be none of textual, networkx,
httpx) and the CLI's own import time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BAR_SECONDS = 0.2
HEAVY = ("textual", "networkx", "httpx", "rich.console", "watchfiles")
# ... and what issue #18 made lazy: a one-step shell run needs none of them
HEAVY += ("flowtui.model.circleci.config", "flowtui.control", "statistics", "platformdirs")

PROBE = """
import sys, time
start = time.perf_counter()
from flowtui.cli.main import main
imported = time.perf_counter() - start
sys.argv = ["flowtui", "run", sys.argv[1], "--quiet", "--db", sys.argv[2]]
try:
    main()
except SystemExit:
    pass
heavy = [m for m in {heavy!r} if m in sys.modules]
print("PROBE", {{"import_s": imported, "heavy": heavy}})
"""


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
        probe = subprocess.run(
            [python, "-c", PROBE.format(heavy=HEAVY), str(wf), str(folder / "p.db")],
            capture_output=True,
            text=True,
            check=True,
        )
        line = next(x for x in probe.stdout.splitlines() if x.startswith("PROBE "))
        info = json.loads(line.removeprefix("PROBE ").replace("'", '"'))

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


if __name__ == "__main__":
    main()
