"""`flowtui run` ends its process without the interpreter's teardown, only when nothing is
left for it (flowtui/cli/quickexit.py, issue #18)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

PROGRAM = """
import atexit, sys, threading
from flowtui.cli.quickexit import leave

class Torn:
    def __del__(self):
        print("torn down", flush=True)

kept = Torn()  # freed by the interpreter's teardown only
atexit.register(print, "atexit handler")
print("buffered", end="")
done = threading.Event()
if sys.argv[1] == "thread":  # until leave has returned
    threading.Thread(target=done.wait).start()
print(" returned", leave(3))
done.set()
"""


def run(mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, timeout=60
    )


def test_it_runs_the_handlers_flushes_and_exits_with_the_code() -> None:
    done = run("plain")
    assert done.returncode == 3
    assert done.stdout == "bufferedatexit handler\n"  # flushed, handlers run, no teardown


def test_with_a_thread_still_running_it_leaves_the_exit_to_the_interpreter() -> None:
    done = run("thread")
    assert done.returncode == 0
    assert done.stdout.splitlines() == ["buffered returned 3", "atexit handler", "torn down"]


def test_a_run_process_exits_with_its_status_and_its_history_complete(tmp_path: Path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "name: q\nsandbox: false\nsteps:\n  a: {run: 'echo hi'}\n  b: {run: 'exit 4'}\n"
    )
    db = tmp_path / "h.db"
    done = subprocess.run(
        [sys.executable, "-m", "flowtui", "run", str(flow), "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "Status: failed" in done.stdout  # the summary, printed last, is all there
    with sqlite3.connect(db) as conn:
        steps = dict(conn.execute("SELECT name, status FROM steps").fetchall())
        (run_status,) = conn.execute("SELECT status FROM runs").fetchone()
        lines = [row[0] for row in conn.execute("SELECT line FROM logs")]
    assert steps == {"a": "succeeded", "b": "failed"}
    assert run_status == "failed"
    assert "hi" in lines
