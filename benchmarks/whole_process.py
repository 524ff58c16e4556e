"""Whole processes, as a user runs them: `flowtui run` beside doit, make and a bare floor (#18).

    python benchmarks/whole_process.py [--sizes 1,100,500,2000] [--repeat 5]
                                       [--width 10] [--parallel 2]
                                       [--peers-venv /tmp/benchpeers] [--flowtui CMD]
                                       [--baseline SRC] [--unsandboxed]

Every contender runs the same layered fan-out/fan-in DAG of N no-op steps (`run: "true"`,
width 10, every step of a layer requires every step of the layer before) as one whole
process, timed from spawn to exit:

- flowtui: `flowtui run --parallel 2 flow.yaml` (the console script beside this Python),
  history in a SQLite file (FLOWTUI_DB, one per size, kept across repeats as a user's is),
  output on a pipe;
- doit: `doit -n 2` (from --peers-venv, see benchmarks/README.md), its own dep file;
- make: `make -s -j2`, a recipe `@true` per step (make execs it without a shell);
- before (with --baseline SRC): `python -m flowtui run …` from another source tree (e.g.
  `git archive <commit> | tar -x -C SRC`) on PYTHONPATH, so a change is measured against
  the commit before it in the same run;
- unsandboxed (with --unsandboxed): the same workflow with `sandbox: false`, so the
  sandbox's share (a bwrap namespace per step) shows apart from the runner's own;
- floor: a bare asyncio spawner in a fresh Python: `asyncio.create_subprocess_exec("true")`
  per step with the same dependencies and parallelism, nothing stored.

Bytecode is cached (PYTHONDONTWRITEBYTECODE is removed from the children's environment and
every command runs once untimed first). Runs are interleaved (repeat → size → contender, the
contender order rotating each repeat) so a busy machine moves every column alike; each cell
is the median of --repeat runs. The 1-, 5- and 15-minute load averages are printed before and
after: this machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from overhead import Deps, layered_dag  # the same DAG as the engine-level benchmark

FLOOR = """
import asyncio, json, sys

async def main(deps, parallel):
    done = {name: asyncio.Event() for name in deps}
    slots = asyncio.Semaphore(parallel)

    async def one(name):
        for dep in deps[name]:
            await done[dep].wait()
        async with slots:
            proc = await asyncio.create_subprocess_exec("true")
            await proc.wait()
        done[name].set()

    await asyncio.gather(*(one(n) for n in deps))

with open(sys.argv[1]) as f:
    asyncio.run(main(json.load(f), int(sys.argv[2])))
"""


def write_all(folder: Path, deps: Deps) -> None:
    lines = ["name: bench", "steps:"]
    for name, requires in deps.items():
        lines.append(f"  {name}: {{run: 'true', requires: [{', '.join(requires)}]}}")
    (folder / "flow.yaml").write_text("\n".join(lines) + "\n")
    lines.insert(1, "sandbox: false")
    (folder / "flow-nosandbox.yaml").write_text("\n".join(lines) + "\n")
    make = [f".PHONY: all {' '.join(deps)}", f"all: {' '.join(deps)}"]
    for name, requires in deps.items():
        make += [f"{name}: {' '.join(requires)}", "\t@true"]
    (folder / "Makefile").write_text("\n".join(make) + "\n")
    (folder / "dodo.py").write_text(
        "import json\n"
        f"DEPS = json.loads({json.dumps(json.dumps(deps))})\n"
        "def task_s():\n"
        "    for name, requires in DEPS.items():\n"
        "        yield {'name': name, 'actions': ['true'], 'uptodate': [False],\n"
        "               'task_dep': ['s:' + r for r in requires], 'verbosity': 0}\n"
    )
    (folder / "deps.json").write_text(json.dumps(deps))
    (folder / "floor.py").write_text(FLOOR)


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"{argv[0]} exited {done.returncode}: {' | '.join(tail)}")
    return elapsed


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1,100,500,2000")
    parser.add_argument("--width", type=int, default=10)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--peers-venv", default=os.environ.get("BENCH_PEERS_VENV", "/tmp/benchpeers")
    )
    parser.add_argument(
        "--flowtui",
        help="the flowtui command (default: the console script beside this Python)",
    )
    parser.add_argument("--baseline", help="a flowtui source tree to time beside (as 'before')")
    parser.add_argument(
        "--unsandboxed",
        action="store_true",
        help="also time flowtui with `sandbox: false` (where the sandbox's time goes)",
    )
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    python = sys.executable
    script = Path(python).parent / "flowtui"
    flowtui = (
        args.flowtui.split()
        if args.flowtui
        else ([str(script)] if script.exists() else [python, "-m", "flowtui"])
    )
    doit = Path(args.peers_venv) / "bin" / "doit"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.pop("FLOWTUI_DB", None)

    with tempfile.TemporaryDirectory(prefix="flowtui-bench-") as tmp:
        folders: dict[int, Path] = {}
        for n in sizes:
            folders[n] = Path(tmp) / f"n{n}"
            folders[n].mkdir()
            write_all(folders[n], layered_dag(n, args.width))

        def command(kind: str, n: int) -> tuple[list[str], dict[str, str]]:
            folder = folders[n]
            if kind == "flowtui":
                own = {**env, "FLOWTUI_DB": str(folder / "history.db")}
                return [*flowtui, "run", "--parallel", str(args.parallel), "flow.yaml"], own
            if kind == "unsandboxed":
                own = {**env, "FLOWTUI_DB": str(folder / "unsandboxed.db")}
                argv = [*flowtui, "run", "--parallel", str(args.parallel)]
                return [*argv, "flow-nosandbox.yaml"], own
            if kind == "before":
                own = {**env, "FLOWTUI_DB": str(folder / "before.db")}
                own["PYTHONPATH"] = str(Path(args.baseline).resolve())
                argv = [python, "-m", "flowtui", "run", "--parallel", str(args.parallel)]
                return [*argv, "flow.yaml"], own
            if kind == "doit":
                argv = [str(doit), "-f", "dodo.py", "--db-file", str(folder / "doit.db")]
                return [*argv, "-n", str(args.parallel)], env
            if kind == "make":
                return ["make", "-s", f"-j{args.parallel}"], env
            return [python, "floor.py", "deps.json", str(args.parallel)], env

        kinds = ["flowtui", "doit", "make", "floor"]
        if args.unsandboxed:
            kinds.insert(1, "unsandboxed")
        if args.baseline:
            kinds.insert(1, "before")
        if not doit.exists():
            print(f"doit not found at {doit}: see benchmarks/README.md", file=sys.stderr)
            kinds.remove("doit")
        if shutil.which("make") is None:
            kinds.remove("make")
        for n in sizes:  # untimed: .pyc files, page cache, history schema
            for kind in kinds:
                timed(*command(kind, n), folders[n])

        print(f"load average before: {loadavg()}  ({os.cpu_count()} CPUs)")
        times: dict[tuple[str, int], list[float]] = {(k, n): [] for k in kinds for n in sizes}
        for r in range(args.repeat):
            order = kinds[r % len(kinds) :] + kinds[: r % len(kinds)]
            for n in sizes:
                for kind in order:
                    times[kind, n].append(timed(*command(kind, n), folders[n]))
        print(f"load average after:  {loadavg()}")

    med = {key: statistics.median(values) for key, values in times.items()}
    print(
        f"\nwidth {args.width}, --parallel {args.parallel}, "
        f"median of {args.repeat}, seconds per whole process"
    )
    header = f"{'runner':<13}" + "".join(f"{'N=' + str(n):>10}" for n in sizes)
    print(header)
    for kind in kinds:
        print(f"{kind:<13}" + "".join(f"{med[kind, n]:>10.3f}" for n in sizes))
    for peer in ("before", "unsandboxed", "doit", "floor"):
        if peer in kinds:
            ratios = "".join(f"{med['flowtui', n] / med[peer, n]:>9.2f}x" for n in sizes)
            print(f"{'÷' + peer:<13}" + ratios)
    if len(sizes) >= 2:
        lo, hi = sizes[-2], sizes[-1]
        marginal = "  ".join(
            f"{kind} {(med[kind, hi] - med[kind, lo]) / (hi - lo) * 1000:.2f}" for kind in kinds
        )
        print(f"marginal ms/step ({lo}→{hi}): {marginal}")


if __name__ == "__main__":
    main()
