"""Loading a big workflow file, in process: this checkout beside another source tree.

    python benchmarks/workflow_load.py [--sizes 100,500,2000] [--repeat 20] [--rounds 3]
                                       [--baseline SRC]

The file is `overhead.py`'s layered DAG (`layered_dag(N, 10)` written by `write_workflow`:
steps like `s12: {run: 'true', requires: [s0, s1, …]}`).  Each source tree is timed in a
child process of its own (`--baseline SRC`: a tree holding a `flowtui/` package, e.g. from
`git archive <commit> flowtui | tar -x -C SRC`); the children alternate `--rounds` times
and each figure is the best of `--repeat` loads over all rounds, so a busy machine slows
both sides alike.  Columns:

- load: `load_workflow(path)`, the whole load (read, parse, validate, Workflow objects);
- parse: `parse_document(text)` alone (the YAML layer, positions kept);
- same: whether both trees built the same Workflow (its repr, hashed).

It is not named load.py: that one is the concurrent-runs benchmark.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def child(src: Path, files: list[Path], repeat: int) -> None:
    """Time the loads with the `flowtui` package of `src`; print one JSON line."""
    sys.path.insert(0, str(src))
    from flowtui.model import loader, yamlsafe

    if not Path(loader.__file__).resolve().is_relative_to(src.resolve()):
        raise SystemExit(f"flowtui was imported from {loader.__file__}, not from {src}")
    result: dict[str, dict[str, Any]] = {}
    for path in files:
        text = path.read_text()
        workflow = loader.load_workflow(path)  # warm: imports, caches, regexes
        result[str(path)] = {
            "load": best(functools.partial(loader.load_workflow, path), repeat),
            "parse": best(functools.partial(yamlsafe.parse_document, text, str(path)), repeat),
            "digest": hashlib.sha256(repr(workflow).encode()).hexdigest(),
        }
    print(json.dumps(result))


def best(action: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def run_child(src: Path, files: list[Path], repeat: int) -> dict[str, dict[str, Any]]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", str(src)]
    argv += ["--repeat", str(repeat), *map(str, files)]
    # from a neutral folder, so that `flowtui` is the one `--child` puts first on the path
    done = subprocess.run(argv, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if done.returncode != 0:
        raise SystemExit(f"timing {src} failed:\n{done.stderr[-3000:]}")
    found: dict[str, dict[str, Any]] = json.loads(done.stdout.splitlines()[-1])
    return found


def merge(into: dict[str, dict[str, Any]], more: dict[str, dict[str, Any]]) -> None:
    for file, figures in more.items():
        mine = into.setdefault(file, dict(figures))
        for key in ("load", "parse"):
            mine[key] = min(mine[key], figures[key])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="100,500,2000")
    parser.add_argument("--repeat", type=int, default=20, help="loads per child, best kept")
    parser.add_argument("--rounds", type=int, default=3, help="children per tree, alternating")
    parser.add_argument("--baseline", type=Path, help="another source tree, timed beside")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.files, args.repeat)
        return

    sys.path.insert(0, str(HERE))
    from overhead import layered_dag, write_workflow

    trees = {"this checkout": ROOT}
    if args.baseline:
        trees = {"before": args.baseline.resolve(), **trees}
    sizes = [int(n) for n in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for n in sizes:
            folder = Path(tmp) / f"n{n}"
            folder.mkdir()
            files.append(write_workflow(folder, layered_dag(n, 10)))
        figures: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in trees}
        for _ in range(args.rounds):
            for name, src in trees.items():
                merge(figures[name], run_child(src, files, args.repeat))
    print(f"best of {args.repeat} loads × {args.rounds} rounds, in process, ms")
    head = f"{'N':>6}"
    for name in trees:
        head += f" | {name + ' load':>20} | {'parse':>7} | {'µs/step':>7}"
    if args.baseline:
        head += " | load ÷ before | parse ÷ before | same Workflow"
    print(head)
    for n, path in zip(sizes, files, strict=True):
        line = f"{n:>6}"
        for name in trees:
            got = figures[name][str(path)]
            line += f" | {got['load'] * 1000:>20.1f} | {got['parse'] * 1000:>7.1f}"
            line += f" | {got['load'] * 1e6 / n:>7.1f}"
        if args.baseline:
            old, new = (figures[name][str(path)] for name in trees)
            line += f" | {new['load'] / old['load']:>13.2f}×"
            line += f" | {new['parse'] / old['parse']:>14.2f}×"
            line += f" | {'yes' if new['digest'] == old['digest'] else 'NO'}"
        print(line)


if __name__ == "__main__":
    main()
