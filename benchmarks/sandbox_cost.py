"""What the step sandbox costs per step: a chain of N `run: "true"` steps, whole `flowtui
run` process, under bwrap, under Landlock (FLOWTUI_BWRAP="") and with `sandbox: false`.

    python benchmarks/sandbox_cost.py [--steps 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WAYS = {"bwrap": ({}, True), "landlock": ({"FLOWTUI_BWRAP": ""}, True), "none": ({}, False)}


def chain(steps: int, sandboxed: bool) -> str:
    lines = ["name: chain", f"sandbox: {'true' if sandboxed else 'false'}", "steps:"]
    for i in range(steps):
        needs = f", requires: [s{i - 1}]" if i else ""
        lines.append(f'  s{i}: {{run: "true"{needs}}}')
    return "\n".join(lines) + "\n"


def once(folder: Path, steps: int, way: str) -> float:
    extra, sandboxed = WAYS[way]
    folder.mkdir(parents=True)
    wf = folder / f"{way}.yaml"
    wf.write_text(chain(steps, sandboxed))
    db = folder / "data" / "history.db"  # the history in a folder of its own
    db.parent.mkdir()
    env = {**os.environ, **extra, "FLOWTUI_DB": str(db), "NO_COLOR": "1"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "flowtui", "run", str(wf)], env=env, capture_output=True
    )
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{way}: flowtui run failed:\n{done.stderr.decode()}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    medians: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for way in WAYS:
            times = [once(Path(tmp) / f"{way}{i}", args.steps, way) for i in range(args.repeat)]
            medians[way] = statistics.median(times)
    print(f"{'way':<10} {'whole run':>10} {'per step':>10} {'extra/step':>11}")
    for way, took in medians.items():
        extra = (took - medians["none"]) / args.steps * 1000
        per = took / args.steps * 1000
        print(f"{way:<10} {took:>9.2f}s {per:>8.1f}ms {extra:>9.1f}ms")


if __name__ == "__main__":
    main()
