"""Team mode: what a step on a worker costs, how throughput grows with workers, and how soon
an approval reaches a remote step.

    python benchmarks/team.py [--steps 50] [--fan 24] [--repeat 3] [--unsandboxed]

Everything runs as the user runs it: a real PostgreSQL server (flowtui.store.pglocal) on
127.0.0.1, real `flowtui worker` and `flowtui run` processes, bytecode cached.  Figures:

- per step: a chain of `--steps` one-line steps, in the runner (SQLite history, then the
  PostgreSQL one) and on a worker (`runs_on:`), as ms per step of the run itself (from the
  history's start and end, so process start-up is not in it); beside it the floor of the
  queue: the same number of no-op procrastinate jobs deferred and awaited one after the
  other (a bare worker process, status polled every millisecond);
- throughput: `--fan` parallel steps of 0.2 s on 1, 2 and 3 workers, as steps per second
  and as a share of the ideal (workers / 0.2 s);
- approve → start: a run held at an approval, approved by `flowtui approve` from another
  process; the time from the decision's record to the remote step's "on worker" record.

Targets (issue #12): ≤ 5 ms extra per remote step, approve → start ≤ 0.5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from flowtui.store.pglocal import LocalServer

FLOWTUI = [sys.executable, "-m", "flowtui"]

FLOOR_WORKER = """
import asyncio, sys
import procrastinate
async def autocommit(conn):
    await conn.set_autocommit(True)
pool = {"configure": autocommit} if sys.argv[2] == "floor_flowtui" else {}
app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=sys.argv[1], **pool))
@app.task(name="noop")
async def noop() -> None:
    return None
async def main():
    async with app.open_async():
        print("ready", flush=True)
        await app.run_worker_async(queues=[sys.argv[2]], install_signal_handlers=True)
asyncio.run(main())
"""
# the queue's floor twice: procrastinate as it comes (its pool wraps each query in BEGIN …
# COMMIT), and as flowtui configures it (autocommit, as flowtui.worker.queue.POOL; written
# out here so that the script also measures commits from before it)
FLOORS = {"floor_default": "procrastinate no-op job", "floor_flowtui": "  same, flowtui's pool"}


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWTUI_", "PG"))}
    e.pop("PYTHONDONTWRITEBYTECODE", None)  # as users run it: bytecode cached
    return e


@contextmanager
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def start_worker(
    procs: list[subprocess.Popen[str]], url: str, folder: Path, name: str, queue: str
) -> None:
    proc = subprocess.Popen(
        [
            *FLOWTUI,
            "worker",
            "-Q",
            queue,
            "--name",
            name,
            "--workdir",
            str(folder / name),
            "--db",
            url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env(),
        start_new_session=True,
    )
    procs.append(proc)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "on queue(s)" in line:
            return
    raise RuntimeError(f"worker {name} did not start")


def run(db: str, workflow: Path) -> None:
    done = subprocess.run(
        [*FLOWTUI, "run", str(workflow), "-q", "--db", db],
        capture_output=True,
        text=True,
        env=env(),
    )
    if done.returncode != 0:
        raise RuntimeError(done.stdout + done.stderr)


def last_run_seconds(url: str) -> float:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT ended_at - started_at FROM runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert row is not None
    return float(row[0])


def cpu_seconds(pids: list[int]) -> float:
    """CPU time so far of this process's finished children (the runners and their steps),
    of the processes `pids` with their finished children (a worker and its steps; the
    PostgreSQL server: its postmaster, live backends and the ended ones it reaped)."""
    import resource

    import psutil

    ours = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = ours.ru_utime + ours.ru_stime
    for pid in pids:
        proc = psutil.Process(pid)
        for member in [proc, *proc.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                t = member.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
    return total


def sqlite_last_run_seconds(path: Path) -> float:
    import sqlite3

    with sqlite3.connect(path) as conn:
        row = conn.execute(
            "SELECT ended_at - started_at FROM runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
    return float(row[0])


def chain(folder: Path, name: str, steps: int, queue: str | None, sandbox: bool = True) -> Path:
    lines = [f"name: {name}", *([] if sandbox else ["sandbox: false"]), "steps:"]
    for i in range(steps):
        needs = f", requires: [s{i - 1}]" if i else ""
        where = f", runs_on: {queue}" if queue else ""
        lines.append(f"  s{i}: {{run: 'true'{needs}{where}}}")
    path = folder / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def fan(folder: Path, name: str, width: int, queue: str) -> Path:
    lines = [f"name: {name}", "steps:"]
    for i in range(width):
        lines.append(f"  s{i}: {{run: sleep 0.2, runs_on: {queue}}}")
    path = folder / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


async def floor_ms(url: str, jobs: int, queue: str) -> float:
    """Per job: defer a no-op procrastinate job and wait for it, one after the other."""
    import procrastinate
    from procrastinate.jobs import Status

    async def autocommit(conn: Any) -> None:
        await conn.set_autocommit(True)

    pool = {"configure": autocommit} if queue == "floor_flowtui" else {}
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url, **pool))
    async with app.open_async():
        deferrer = app.configure_task("noop", queue=queue)
        started = time.perf_counter()
        for _ in range(jobs):
            job_id = await deferrer.defer_async()
            while await app.job_manager.get_job_status_async(job_id) != Status.SUCCEEDED:
                await asyncio.sleep(0.001)
        return (time.perf_counter() - started) / jobs * 1000


def stretches(url: str) -> dict[str, float]:
    """Medians (ms) over the last run's remote steps of where each step's time goes, from
    the history's own timestamps: the runner's `running` (waiting for a worker) → the
    worker's `on worker` → the attempt's end → the runner's final status."""
    with psycopg.connect(url) as conn:
        run_id = conn.execute("SELECT MAX(id) FROM runs").fetchone()[0]  # type: ignore[index]
        rows = conn.execute(
            "SELECT step, status, message, at FROM events WHERE run_id = %s AND step IS NOT NULL"
            " ORDER BY id",
            (run_id,),
        ).fetchall()
        ended = dict(
            conn.execute(
                "SELECT step, ended_at FROM attempts WHERE run_id = %s", (run_id,)
            ).fetchall()
        )
    marks: dict[str, dict[str, float]] = {}
    for step, status, message, at in rows:
        mark = marks.setdefault(step, {})
        if status == "running" and str(message).startswith("on worker"):
            mark["on"] = at
        elif status == "running":
            mark.setdefault("waiting", at)
        elif status == "succeeded":
            mark["final"] = at
    spans: dict[str, list[float]] = {
        "waiting → on worker": [],
        "on worker → ended": [],
        "ended → final": [],
        "waiting → final": [],
    }
    for step, mark in marks.items():
        if {"waiting", "on", "final"} <= set(mark) and ended.get(step):
            spans["waiting → on worker"].append(mark["on"] - mark["waiting"])
            spans["on worker → ended"].append(ended[step] - mark["on"])
            spans["ended → final"].append(mark["final"] - ended[step])
            spans["waiting → final"].append(mark["final"] - mark["waiting"])
    return {k: statistics.median(v) * 1000 for k, v in spans.items() if v}


def per_step(args: argparse.Namespace, server: LocalServer, folder: Path) -> None:
    url = server.create_database("per_step")
    n = args.steps
    boxed = not args.unsandboxed
    local = chain(folder, "local", n, None, boxed)
    remote = chain(folder, "remote", n, "bench", boxed)
    local_one = chain(folder, "local1", 1, None, boxed)
    remote_one = chain(folder, "remote1", 1, "bench", boxed)
    best: dict[str, float] = {}
    cpu: dict[str, list[float]] = {}
    spans: dict[str, list[float]] = {}
    with processes() as procs:
        start_worker(procs, url, folder, "w-bench", "bench")
        assert server.pid is not None
        counted = [procs[0].pid, server.pid]  # the worker and the database server

        def timed(label: str, workflow: Path, one: Path) -> None:
            # CPU per step at the margin: the N-step chain's less a 1-step chain's (the
            # processes' start-up, imports and connections are in both)
            before = cpu_seconds(counted)
            run(url, one)
            middle = cpu_seconds(counted)
            run(url, workflow)
            whole = cpu_seconds(counted) - middle
            cpu.setdefault(label, []).append((whole - (middle - before)) / (n - 1) * 1000)
            best[label] = min(best.get(label, 1e9), last_run_seconds(url))

        for queue in FLOORS:
            floor_proc = subprocess.Popen(
                [sys.executable, "-c", FLOOR_WORKER, url, queue],
                stdout=subprocess.PIPE,
                text=True,
                env=env(),
                start_new_session=True,
            )
            procs.append(floor_proc)
            assert floor_proc.stdout is not None
            floor_proc.stdout.readline()
        for _ in range(args.repeat):
            sqlite_db = folder / "h.db"
            run(str(sqlite_db), local)
            best["runner, SQLite"] = min(
                best.get("runner, SQLite", 1e9), sqlite_last_run_seconds(sqlite_db)
            )
            timed("runner, PostgreSQL", local, local_one)
            timed("worker (runs_on)", remote, remote_one)
            for stretch, ms in stretches(url).items():
                spans.setdefault(stretch, []).append(ms)
        floors = {
            queue: min(asyncio.run(floor_ms(url, n, queue)) for _ in range(args.repeat))
            for queue in FLOORS
        }
        floor = floors["floor_default"]
    sandbox = "sandbox: false" if args.unsandboxed else "sandbox on"
    print(f"\n## per step: a chain of {n} steps ({sandbox}), best of {args.repeat} (ms per step)")
    print(f"{'where the steps run':<28}{'ms/step':>10}")
    for label, seconds in best.items():
        print(f"{label:<28}{seconds / n * 1000:>10.1f}")
    for queue, label in FLOORS.items():
        print(f"{label:<28}{floors[queue]:>10.1f}   (the queue's own floor)")
    extra = (best["worker (runs_on)"] - best["runner, PostgreSQL"]) / n * 1000
    print(
        f"extra per remote step: {extra:.1f} ms (target ≤ 5 ms) → "
        f"{'met' if extra <= 5 else 'NOT met'}; ÷ queue floor: {extra / floor:.2f}x"
    )
    # CPU, not wall time: what the machine's other load moves least
    local_cpu = statistics.median(cpu["runner, PostgreSQL"])
    remote_cpu = statistics.median(cpu["worker (runs_on)"])
    print(
        f"CPU per step at the margin (runner + worker + PostgreSQL, median of {args.repeat}): "
        "local "
        f"{local_cpu:.1f} ms, remote {remote_cpu:.1f} ms → extra {remote_cpu - local_cpu:.1f} ms"
    )
    print("where a remote step's time goes (median per step; each repeat):")
    for stretch, values in spans.items():
        print(f"  {stretch:<24}" + "".join(f"{v:>8.1f}" for v in values) + " ms")


def throughput(args: argparse.Namespace, server: LocalServer, folder: Path) -> None:
    print(f"\n## throughput: {args.fan} parallel steps of 0.2 s on 1-3 workers")
    print(f"{'workers':<10}{'seconds':>10}{'steps/s':>10}{'÷ ideal':>10}")
    for workers in (1, 2, 3):
        url = server.create_database(f"fan_{workers}")
        workflow = fan(folder, f"fan{workers}", args.fan, "wide")
        with processes() as procs:
            for i in range(workers):
                start_worker(procs, url, folder, f"w{workers}-{i}", "wide")
            run(url, workflow)
            seconds = last_run_seconds(url)
        rate = args.fan / seconds
        ideal = workers / 0.2
        print(f"{workers:<10}{seconds:>10.2f}{rate:>10.1f}{rate / ideal:>10.2f}")


def approve_latency(args: argparse.Namespace, server: LocalServer, folder: Path) -> None:
    url = server.create_database("approve")
    workflow = folder / "gate.yaml"
    workflow.write_text(
        textwrap.dedent(
            """
            name: gate
            steps:
              gate: {type: approval}
              ship: {requires: [gate], runs_on: ship, run: 'true'}
            """
        )
    )
    latencies = []
    with processes() as procs:
        start_worker(procs, url, folder, "w-ship", "ship")
        for _ in range(max(3, args.repeat)):
            runner = subprocess.Popen(
                [*FLOWTUI, "run", str(workflow), "-q", "--db", url],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env(),
                start_new_session=True,
            )
            procs.append(runner)
            with psycopg.connect(url, autocommit=True) as conn:
                while True:
                    row = conn.execute(
                        "SELECT run_id FROM steps WHERE name = 'gate' AND status = 'held'"
                    ).fetchone()
                    if row:
                        break
                    time.sleep(0.01)
                run_id = int(row[0])
            subprocess.run(
                [*FLOWTUI, "approve", str(run_id), "--db", url],
                capture_output=True,
                env=env(),
                check=True,
            )
            runner.wait(timeout=60)
            with psycopg.connect(url) as conn:
                decided = conn.execute(
                    "SELECT at FROM approvals WHERE run_id = %s", (run_id,)
                ).fetchone()
                started = conn.execute(
                    "SELECT MIN(at) FROM events WHERE run_id = %s AND step = 'ship'"
                    " AND message LIKE 'on worker %%'",
                    (run_id,),
                ).fetchone()
            assert decided and started and started[0] is not None
            latencies.append(float(started[0]) - float(decided[0]))
    median, worst = statistics.median(latencies), max(latencies)
    print(f"\n## approve → remote step started ({len(latencies)} runs)")
    print(
        f"median {median * 1000:.0f} ms, worst {worst * 1000:.0f} ms (target ≤ 500 ms) → "
        f"{'met' if worst <= 0.5 else 'NOT met'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--fan", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--unsandboxed",
        action="store_true",
        help="per step: `sandbox: false` in every workflow (the worker's own cost, apart "
        "from the step's sandbox)",
    )
    parser.add_argument(
        "--only", choices=["per-step", "throughput", "approve"], help="one part only"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="flowtui-bench-team-") as tmp:
        folder = Path(tmp)
        with LocalServer.start(folder / "pg") as server:
            print(f"# team mode — PostgreSQL {server.bin_dir}, {os.cpu_count()} cores")
            parts = {"per-step": per_step, "throughput": throughput, "approve": approve_latency}
            for name, part in parts.items():
                if args.only in (None, name):
                    part(args, server, folder)


if __name__ == "__main__":
    main()
