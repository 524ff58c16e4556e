"""Team mode, A/B: what a remote step costs under two code trees, alternately.

    python benchmarks/team_ab.py [--steps 100] [--rounds 6] ROOT [ROOT ...]

Each ROOT is a folder holding a `flowtui` package (a checkout, or `git archive COMMIT
flowtui | tar -x -C ROOT`); its worker and runners run with `PYTHONPATH=ROOT`.  One
PostgreSQL server; per round and per root a fresh database and worker, a 1-step and an
N-step remote chain (CPU at the margin: the difference, runner + worker + server) and an
N-step local chain (the "extra" is remote − local of the same round, which the machine's
load moves less than either).  Prints each round, then medians, with the legs of a remote
step (`team.stretches`).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))
import team

from flowtui.store.pglocal import LocalServer


def cpu(pid: int) -> float:
    proc = psutil.Process(pid)
    total = 0.0
    for member in [proc, *proc.children(recursive=True)]:
        try:
            t = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def runners_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("roots", nargs="+")
    args = parser.parse_args()
    args.roots = [str(Path(r).absolute()) for r in args.roots]
    n = args.steps
    found: dict[str, dict[str, list[float]]] = {r: {} for r in args.roots}
    legs: dict[str, list[dict[str, float]]] = {r: [] for r in args.roots}
    with tempfile.TemporaryDirectory(prefix="flowtui-bench-ab-") as tmp:
        folder = Path(tmp)
        # `python -m flowtui` puts its working folder first on sys.path, before PYTHONPATH:
        # run from a checkout, every root would measure that checkout's package
        os.chdir(folder)
        with LocalServer.start(folder / "pg") as server:
            remote = team.chain(folder, "remote", n, "bench")
            one = team.chain(folder, "remote1", 1, "bench")
            local = team.chain(folder, "local", n, None)
            for k in range(args.rounds):
                for i, root in enumerate(args.roots):
                    os.environ["PYTHONPATH"] = root
                    url = server.create_database(f"ab_{k}_{i}")
                    with team.processes() as procs:
                        team.start_worker(procs, url, folder, f"w{k}-{i}", "bench")
                        pids = [procs[0].pid, server.pid or 0]
                        team.run(url, one)  # warm
                        s0 = [*map(cpu, pids), runners_cpu()]
                        team.run(url, one)
                        s1 = [*map(cpu, pids), runners_cpu()]
                        team.run(url, remote)
                        s2 = [*map(cpu, pids), runners_cpu()]
                        wall = team.last_run_seconds(url) / n * 1000
                        legs[root].append(team.stretches(url))
                        team.run(url, local)
                        local_wall = team.last_run_seconds(url) / n * 1000
                    parts = [
                        ((c - b) - (b - a)) / (n - 1) * 1000
                        for a, b, c in zip(s0, s1, s2, strict=True)
                    ]
                    row = {
                        "remote": wall,
                        "extra": wall - local_wall,
                        "cpu": sum(parts),
                        "worker": parts[0],
                        "postgresql": parts[1],
                        "runner": parts[2],
                    }
                    for key, value in row.items():
                        found[root].setdefault(key, []).append(value)
                    print(
                        f"{root:<30} "
                        + "  ".join(f"{key} {value:5.1f}" for key, value in row.items()),
                        flush=True,
                    )
    print(f"\nmedians of {args.rounds} rounds (ms per step)")
    for root in args.roots:
        print(
            f"{root:<30} "
            + "  ".join(f"{k} {statistics.median(v):5.1f}" for k, v in found[root].items())
        )
        for leg in legs[root][0]:
            values = [x[leg] for x in legs[root] if leg in x]
            print(f"    {leg:<24}{statistics.median(values):6.2f}")


if __name__ == "__main__":
    main()
