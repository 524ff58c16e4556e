"""`flowtui serve` stopped or killed mid-queue loses nothing.

Real `flowtui serve` processes on one SQLite file, fed by signed webhooks; the workflow
allows one run at a time, and its step waits for a gate file, so one run runs while two
wait.  SIGKILL: the next serve interrupts the running run (killing the step process it
left) and runs the queue in FIFO order.  SIGTERM: the running run is cancelled, the queued
ones stay queued until the next serve adopts them.  A serve that keeps running adopts the
queue of another that died beside it.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from flowtui.runtime import ADOPT_INTERVAL
from flowtui.triggers.signatures import sign

SECRET = "restart-test-secret"
FINAL = ("succeeded", "failed", "cancelled", "interrupted")

WORKFLOW = """\
name: queue
concurrency: 1
triggers: [webhook]
params: {{n: "0"}}
env: {{GATE: "{gate}"}}
steps:
  work: {{run: 'while [ ! -e "$GATE" ]; do sleep 0.05; done; echo "run $PARAM_N"'}}
"""


class Serve:
    """One `flowtui serve` process; its stdout is read line by line on a thread."""

    def __init__(self, folder: Path, db: Path) -> None:
        env = {"PATH": "/usr/bin:/bin", "FLOWTUI_WEBHOOK_SECRET": SECRET, "NO_COLOR": "1"}
        env.update({k: v for k, v in os.environ.items() if k in ("PYTHONPATH", "HOME")})
        argv = [sys.executable, "-m", "flowtui", "serve", str(folder), "--db", str(db)]
        self.proc = subprocess.Popen(
            [*argv, "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=folder.parent,
            start_new_session=True,  # a SIGKILL hits the service only, like a crash
        )
        self.seen: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        stream = self.proc.stdout
        assert stream is not None
        threading.Thread(target=lambda: [self._lines.put(x) for x in stream], daemon=True).start()
        self.port = int(self.wait_for(r"webhooks on http://127\.0\.0\.1:(\d+)").group(1))

    def wait_for(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        checked = 0
        while True:
            for line in self.seen[checked:]:
                if found := re.search(pattern, line):
                    return found
            checked = len(self.seen)
            if time.monotonic() > deadline:
                raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(self.seen)}")
            try:
                self.seen.append(self._lines.get(timeout=0.1))
            except queue.Empty:
                continue

    def post(self, delivery: str, n: int) -> tuple[int, dict[str, object]]:
        data = json.dumps({"n": str(n)}).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(SECRET, data),
            "X-Flowtui-Delivery": delivery,
        }
        url = f"http://127.0.0.1:{self.port}/hooks/queue"
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def stop(self, sig: signal.Signals) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)


Site = tuple[Path, Path, Path, Callable[[], Serve]]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """(workflows folder, db, gate file, start a serve); every serve is killed at the end."""
    folder = tmp_path / "workflows"
    folder.mkdir()
    gate = tmp_path / "gate"
    (folder / "queue.yaml").write_text(WORKFLOW.format(gate=gate))
    db = tmp_path / "history.db"
    started: list[Serve] = []

    def start() -> Serve:
        started.append(Serve(folder, db))
        return started[-1]

    try:
        yield folder, db, gate, start
    finally:
        for serve in started:
            if serve.proc.poll() is None:
                os.killpg(serve.proc.pid, signal.SIGKILL)
            serve.proc.wait(timeout=10)
        gate.touch()  # a step process left behind by a failed test ends on its own


def query(db: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(db, timeout=10) as conn:
        return conn.execute(sql, args).fetchall()


def status(db: Path, run_id: object) -> str:
    return str(query(db, "SELECT status FROM runs WHERE id = ?", run_id)[0][0])


def wait_for(predicate: Callable[[], object], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def wait_status(db: Path, run_id: object, wanted: str, timeout: float = 20) -> None:
    def reached() -> bool:
        now = status(db, run_id)
        assert now == wanted or now not in FINAL, f"run {run_id} is {now}, not {wanted}"
        return now == wanted

    wait_for(reached, f"run {run_id} to be {wanted}", timeout)


def step_pid(db: Path, run_id: int) -> int:
    rows: list[tuple[object, ...]] = []

    def recorded() -> bool:
        rows[:] = query(db, "SELECT pid FROM steps WHERE run_id = ? AND pid IS NOT NULL", run_id)
        return bool(rows)

    wait_for(recorded, f"the step process of run {run_id}")
    return int(str(rows[0][0]))


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def start_three(serve: Serve, db: Path) -> tuple[list[int], int]:
    """Three signed deliveries: run 1 running (its step pid returned), runs 2 and 3 queued."""
    runs = []
    for n in (1, 2, 3):
        code, body = serve.post(f"delivery-{n}", n)
        assert code == 202, body
        runs.append(int(str(body["run_id"])))
    wait_status(db, runs[0], "running")
    pid = step_pid(db, runs[0])
    wait_for(lambda: "queued: queue allows 1" in logs(db, runs[2]), "run 3 to queue")
    assert [status(db, r) for r in runs[1:]] == ["queued", "queued"]
    return runs, pid


def logs(db: Path, run_id: int) -> str:
    return "\n".join(str(r[0]) for r in query(db, "SELECT line FROM logs WHERE run_id = ?", run_id))


def assert_fifo_success(db: Path, first: int, second: int) -> None:
    wait_status(db, first, "succeeded")
    wait_status(db, second, "succeeded")
    rows = query(db, "SELECT id, started_at, ended_at FROM runs WHERE id IN (?, ?)", first, second)
    times = {int(str(r[0])): (float(str(r[1])), float(str(r[2]))) for r in rows}
    assert times[first][1] <= times[second][0], "concurrency 1: the older run first, alone"


def assert_accounted(db: Path, runs: list[int]) -> None:
    """Each delivery started exactly one run; nothing else started one."""
    ids = [int(str(r[0])) for r in query(db, "SELECT id FROM runs WHERE workflow = 'queue'")]
    assert sorted(ids) == runs
    fired = query(
        db,
        "SELECT run_id FROM trigger_events WHERE workflow = 'queue' AND outcome = 'fired'"
        " ORDER BY id",
    )
    assert [int(str(r[0])) for r in fired] == runs
    deliveries = query(db, "SELECT delivery_id FROM webhook_deliveries ORDER BY delivery_id")
    assert [r[0] for r in deliveries] == ["delivery-1", "delivery-2", "delivery-3"]


def test_a_killed_serve_loses_no_queued_run(
    site: Site,
) -> None:
    _, db, gate, start = site
    first = start()
    runs, orphan = start_three(first, db)

    first.stop(signal.SIGKILL)
    assert alive(orphan), "the step process outlives its killed service"
    assert status(db, runs[0]) == "running"

    second = start()
    second.wait_for(rf"adopted queued run {runs[1]}\b")
    second.wait_for(rf"adopted queued run {runs[2]}\b")
    wait_status(db, runs[0], "interrupted")
    wait_for(lambda: not alive(orphan), "the orphaned step process to be killed")
    step = query(db, "SELECT status, message FROM steps WHERE run_id = ?", runs[0])
    assert step == [("cancelled", "interrupted: runner process died")]

    # the sender retries a delivery it never saw answered: not a second run
    code, body = second.post("delivery-2", 2)
    assert (code, body.get("status")) == (200, "duplicate"), body
    wait_status(db, runs[1], "running")
    assert status(db, runs[2]) == "queued"

    gate.touch()
    assert_fifo_success(db, runs[1], runs[2])
    assert "run 2" in logs(db, runs[1]) and "run 3" in logs(db, runs[2])
    assert_accounted(db, runs)
    assert second.stop(signal.SIGTERM) == 0


def test_sigterm_cancels_the_running_run_and_leaves_the_queue_for_the_next_serve(
    site: Site,
) -> None:
    folder, db, gate, start = site
    first = start()
    runs, step_process = start_three(first, db)

    assert first.stop(signal.SIGTERM) == 0
    first.wait_for(rf"left 2 queued run\(s\) for the next flowtui serve: {runs[1]}, {runs[2]}")
    assert status(db, runs[0]) == "cancelled"
    assert not alive(step_process)
    assert [status(db, r) for r in runs[1:]] == ["queued", "queued"]
    assert "left queued: flowtui serve (pid" in logs(db, runs[1])

    # any flowtui command checks for dead runners: it must not interrupt the waiting queue
    history = subprocess.run(
        [sys.executable, "-m", "flowtui", "history", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=folder.parent,
    )
    assert history.returncode == 0, history.stderr
    assert [status(db, r) for r in runs[1:]] == ["queued", "queued"]

    gate.touch()
    second = start()
    second.wait_for(rf"adopted queued run {runs[2]}\b")
    assert_fifo_success(db, runs[1], runs[2])
    assert_accounted(db, runs)
    assert second.stop(signal.SIGTERM) == 0


def test_a_running_serve_adopts_the_queue_of_one_that_died_beside_it(
    site: Site,
) -> None:
    _, db, gate, start = site
    survivor = start()
    doomed = start()
    runs, orphan = start_three(doomed, db)

    doomed.stop(signal.SIGKILL)
    killed_at = time.monotonic()
    survivor.wait_for(rf"adopted queued run {runs[2]}\b", timeout=ADOPT_INTERVAL + 10)
    assert time.monotonic() - killed_at < ADOPT_INTERVAL + 5
    wait_status(db, runs[0], "interrupted")
    wait_for(lambda: not alive(orphan), "the orphaned step process to be killed")

    gate.touch()
    assert_fifo_success(db, runs[1], runs[2])
    assert_accounted(db, runs)
    assert survivor.stop(signal.SIGTERM) == 0
