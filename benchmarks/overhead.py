"""Orchestration overhead: flowtui beside a bare asyncio floor and peer tools, same DAG.

    python benchmarks/overhead.py [--sizes 100,500,2000] [--width 10] [--parallel 2]
                                  [--peers-venv /tmp/benchpeers] [--repeat 3]

Builds a layered fan-out/fan-in DAG of N no-op steps (`run: "true"`, every step of a layer
requires every step of the layer before) and runs it, each contender in a fresh process:

- floor: a bare asyncio loop spawning `bash -c true` with the same dependencies and
  parallelism (the naive spawner: asyncio's default child watcher, no pipes);
- flowtui: the real Runner from submit to the last event committed, history stored in a
  SQLite file with every event and log line (the workflow is loaded beforehand; its load
  time is its own column);
- flowtui cli: the whole `flowtui run --quiet` process, start to exit;
- make -j2, doit -n 2, Snakemake -j 2 and Prefect 3 (tasks with wait_for on a 2-thread
  runner), each as a whole command; peers are found on PATH or in --peers-venv and show
  "not installed" otherwise.  Snakemake and Prefect are capped (--slow-max) because they
  take seconds per hundred steps.

Each time is the best of --repeat runs; ratios are to the floor and to make from the same
invocation, so a busy machine moves both sides.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

Deps = dict[str, list[str]]


def layered_dag(n: int, width: int) -> Deps:
    deps: Deps = {}
    previous: list[str] = []
    index = 0
    while index < n:
        layer = [f"s{index + i}" for i in range(min(width, n - index))]
        for name in layer:
            deps[name] = list(previous)
        previous = layer
        index += len(layer)
    return deps


# -- writing the same graph for each tool ---------------------------------------------------


def write_workflow(folder: Path, deps: Deps) -> Path:
    lines = ["name: bench", "steps:"]
    for name, requires in deps.items():
        lines.append(f"  {name}: {{run: 'true', requires: [{', '.join(requires)}]}}")
    path = folder / "bench.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_makefile(folder: Path, deps: Deps) -> Path:
    lines = [f".PHONY: all {' '.join(deps)}", f"all: {' '.join(deps)}"]
    for name, requires in deps.items():
        lines += [f"{name}: {' '.join(requires)}", "\t@true"]
    path = folder / "Makefile"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_dodo(folder: Path, deps: Deps) -> Path:
    path = folder / "dodo.py"
    path.write_text(
        "import json\n"
        f"DEPS = json.loads({json.dumps(json.dumps(deps))})\n"
        "def task_s():\n"
        "    for name, requires in DEPS.items():\n"
        "        yield {'name': name, 'actions': ['true'], 'uptodate': [False],\n"
        "               'task_dep': ['s:' + r for r in requires], 'verbosity': 0}\n"
    )
    return path


def write_snakefile(folder: Path, deps: Deps) -> Path:
    lines = ["rule all:", f"    input: {', '.join(repr('out/' + n) for n in deps)}"]
    for name, requires in deps.items():
        lines += [f"rule {name}:"]
        if requires:
            lines += [f"    input: {', '.join(repr('out/' + r) for r in requires)}"]
        lines += [f"    output: 'out/{name}'", "    shell: 'true; touch {output}'"]
    path = folder / "Snakefile"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_prefect_flow(folder: Path, deps: Deps, parallel: int) -> Path:
    path = folder / "prefect_bench.py"
    path.write_text(
        "import json, subprocess, time\n"
        "from prefect import flow, task\n"
        "from prefect.task_runners import ThreadPoolTaskRunner\n"
        f"DEPS = json.loads({json.dumps(json.dumps(deps))})\n"
        "@task\n"
        "def step(name):\n"
        "    subprocess.run(['bash', '-c', 'true'], check=True)\n"
        f"@flow(task_runner=ThreadPoolTaskRunner(max_workers={parallel}), log_prints=False)\n"
        "def bench():\n"
        "    futures = {}\n"
        "    for name, requires in DEPS.items():\n"
        "        futures[name] = step.with_options(name=name).submit(\n"
        "            name, wait_for=[futures[r] for r in requires])\n"
        "    for f in futures.values():\n"
        "        f.result()\n"
        "if __name__ == '__main__':\n"
        "    bench()\n"
    )
    return path


# -- contenders that run inside a fresh python ---------------------------------------------


async def bare_asyncio(deps: Deps, parallel: int) -> float:
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


async def flowtui_engine(folder: Path, deps: Deps, parallel: int) -> dict[str, float]:
    from flowtui.engine.bus import EventBus
    from flowtui.engine.runner import RunnerOptions
    from flowtui.model.loader import load_workflow
    from flowtui.runtime import build_runner
    from flowtui.store.runstore import RunStore
    from flowtui.store.sink import StoreSink

    path = write_workflow(folder, deps)
    start = time.perf_counter()
    workflow = load_workflow(path)
    load = time.perf_counter() - start
    store = await RunStore.open(folder / "bench.db")
    bus = EventBus()
    sink = StoreSink(store, bus)
    sink.start()
    runner = build_runner(store, bus, RunnerOptions(parallel=parallel))
    await runner.start()
    start = time.perf_counter()
    _, status = await runner.run(workflow)
    await sink.flush()
    elapsed = time.perf_counter() - start
    if status != "succeeded" or sink.dropped:
        raise SystemExit(f"flowtui run {status}, {sink.dropped} events dropped")
    await runner.close()
    await sink.close()
    await store.close()
    return {"run": elapsed, "load": load}


def child_main(kind: str, n: int, width: int, parallel: int) -> None:
    deps = layered_dag(n, width)
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "floor":
            result = {"run": asyncio.run(bare_asyncio(deps, parallel))}
        else:
            result = asyncio.run(flowtui_engine(Path(tmp), deps, parallel))
    print(json.dumps(result))


# -- timing whole commands --------------------------------------------------------------------


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{argv[0]} exited {done.returncode}: {' | '.join(tail)}")
    return elapsed


def find_tool(name: str, venv: Path | None) -> str | None:
    if venv is not None and (venv / "bin" / name).exists():
        return str(venv / "bin" / name)
    return shutil.which(name)


def best(fn: Callable[[], float], repeat: int) -> float:
    return min(fn() for _ in range(repeat))


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.venv: Path | None = Path(args.peers_venv) if args.peers_venv else None
        self.python = sys.executable

    def child(self, kind: str, n: int) -> dict[str, float]:
        a = self.args
        argv = [self.python, __file__, "--child", kind, "--sizes", str(n)]
        argv += ["--width", str(a.width), "--parallel", str(a.parallel)]
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    def measure(self, n: int) -> dict[str, float | str]:
        a = self.args
        deps = layered_dag(n, a.width)
        row: dict[str, float | str] = {}
        row["floor"] = best(lambda: self.child("floor", n)["run"], a.repeat)
        engine = [self.child("flowtui", n) for _ in range(a.repeat)]
        row["flowtui"] = min(r["run"] for r in engine)
        row["load"] = min(r["load"] for r in engine)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            wf = write_workflow(folder, deps)
            cli = [sys.executable, "-m", "flowtui", "run", str(wf), "--quiet"]
            cli += ["--parallel", str(a.parallel), "--db", str(folder / "cli.db")]
            row["cli"] = best(lambda: timed(cli, folder), a.repeat)
            write_makefile(folder, deps)
            row["make"] = best(lambda: timed(["make", "-s", f"-j{a.parallel}"], folder), a.repeat)
            row["doit"] = self.peer("doit", n, folder, deps, self.run_doit)
            row["snakemake"] = self.peer("snakemake", n, folder, deps, self.run_snakemake)
            row["prefect"] = self.peer("prefect", n, folder, deps, self.run_prefect)
        return row

    def peer(
        self, tool: str, n: int, folder: Path, deps: Deps, run: Callable[[str, Path, Deps], float]
    ) -> float | str:
        exe = find_tool(tool, self.venv)
        if exe is None:
            return "not installed"
        if tool in ("snakemake", "prefect") and n > self.args.slow_max:
            return "capped"
        try:
            repeat = self.args.repeat if tool == "doit" else 1
            return best(lambda: run(exe, folder, deps), repeat)
        except RuntimeError as exc:
            print(f"  {tool}: {exc}", file=sys.stderr)
            return "error"

    def run_doit(self, exe: str, folder: Path, deps: Deps) -> float:
        write_dodo(folder, deps)
        argv = [exe, "-f", "dodo.py", "--db-file", str(folder / "doit.db")]
        return timed([*argv, "-n", str(self.args.parallel)], folder)

    def run_snakemake(self, exe: str, folder: Path, deps: Deps) -> float:
        write_snakefile(folder, deps)
        shutil.rmtree(folder / "out", ignore_errors=True)
        return timed([exe, "-j", str(self.args.parallel), "--quiet", "all"], folder)

    def run_prefect(self, exe: str, folder: Path, deps: Deps) -> float:
        path = write_prefect_flow(folder, deps, self.args.parallel)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env["PREFECT_HOME"] = str(folder / "prefect-home")  # ephemeral, server-less
        python = str(Path(exe).parent / "python")
        return timed([python, str(path)], folder, env)


def fmt(value: float | str) -> str:
    return f"{value:.2f}s" if isinstance(value, float) else value


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="100,500,2000")
    parser.add_argument("--width", type=int, default=10)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--peers-venv", default=os.environ.get("BENCH_PEERS_VENV"))
    parser.add_argument("--slow-max", type=int, default=500, help="cap for Snakemake/Prefect")
    parser.add_argument("--child", choices=("floor", "flowtui"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    if args.child:
        child_main(args.child, sizes[0], args.width, args.parallel)
        return
    bench = Bench(args)
    print(f"width {args.width}, --parallel {args.parallel}, best of {args.repeat}")
    cols = ("floor", "flowtui", "load", "cli", "make", "doit", "snakemake", "prefect")
    header = f"{'steps':>6} " + " ".join(f"{c:>13}" for c in cols)
    print(header + f" {'÷floor':>7} {'÷make':>6} {'ms/step':>8}")
    for n in sizes:
        row = bench.measure(n)
        floor, ours, make = row["floor"], row["flowtui"], row["make"]
        assert isinstance(floor, float) and isinstance(ours, float) and isinstance(make, float)
        cells = " ".join(f"{fmt(row[c]):>13}" for c in cols)
        per_step = (ours - floor) / n * 1000
        print(f"{n:>6} {cells} {ours / floor:>6.2f}x {ours / make:>5.2f}x {per_step:>8.2f}")
    print(
        "flowtui = engine from submit to last event committed (history in SQLite); "
        "load = YAML load; cli = whole `flowtui run --quiet` process; "
        "ms/step = (flowtui - floor) / steps"
    )


if __name__ == "__main__":
    main()
