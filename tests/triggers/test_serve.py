"""`flowtui serve` as a real process: a signed webhook starts a run that succeeds, a file
added while it runs is picked up, SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from flowtui.triggers.signatures import sign
from tests.processes import Lines
from tests.watching import PROBE, probe_until_seen, remove_probe

SECRET = "serve-test-secret"
FINAL = ("succeeded", "failed", "cancelled", "interrupted")


def serve_watching(lines: Lines, folder: Path) -> None:
    """Return once `flowtui serve`'s watch on `folder` is on (see tests/watching.py)."""
    start = len(lines.seen)

    def loaded(wait: float) -> bool:
        try:
            lines.wait_for(rf"loaded {PROBE} \(", timeout=wait, since=start)
        except AssertionError:
            return False
        return True

    probe_until_seen(folder, loaded)
    remove_probe(folder)
    lines.wait_for(rf"removed {PROBE}\.yaml", since=start)


def post(
    port: int, workflow: str, payload: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, object]]:
    data = json.dumps(payload).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/hooks/{workflow}",
        data=data,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(SECRET, data),
            **(headers or {}),
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def run_status(db: Path, run_id: object) -> str | None:
    try:
        with sqlite3.connect(db, timeout=10) as conn:
            row = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
    except sqlite3.OperationalError:
        return None
    return str(row[0]) if row else None


def wait_status(db: Path, run_id: object, wanted: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while (status := run_status(db, run_id)) != wanted:
        assert status not in FINAL, f"run {run_id} is {status}, not {wanted}"
        assert time.monotonic() < deadline, f"run {run_id} is still {status}"
        time.sleep(0.05)


HOOK = """\
name: {name}
triggers: [webhook]
params: {{who: nobody}}
steps:
  greet: {{run: 'echo "hello $PARAM_WHO" > "$FLOWTUI_WORKSPACE/out.txt"'}}
"""


@pytest.fixture
def serve(tmp_path: Path) -> tuple[subprocess.Popen[str], Lines, Path, Path]:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "hello.yaml").write_text(HOOK.format(name="hello"))
    db = tmp_path / "history.db"
    env = {"PATH": "/usr/bin:/bin", "FLOWTUI_WEBHOOK_SECRET": SECRET, "NO_COLOR": "1"}
    env.update({k: v for k, v in os.environ.items() if k in ("PYTHONPATH", "HOME")})
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowtui", "serve", str(folder), "--db", str(db), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        yield proc, Lines(proc), folder, db
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_serve_runs_a_signed_hook_and_stops_on_sigterm(
    serve: tuple[subprocess.Popen[str], Lines, Path, Path],
) -> None:
    proc, lines, folder, db = serve
    port = int(lines.wait_for(r"webhooks on http://127\.0\.0\.1:(\d+)").group(1))
    status, body = post(port, "hello", {"who": "world"})
    assert status == 202, body
    wait_status(db, body["run_id"], "succeeded")
    lines.wait_for(rf"hello: webhook fired run {body['run_id']}")
    lines.wait_for(rf"hello: run {body['run_id']} succeeded")
    workspace = db.parent / "workspaces" / str(body["run_id"])
    assert (workspace / "out.txt").read_text() == "hello world\n"

    status, body = post(port, "hello", {"who": "x", "nope": "y"})
    assert status == 422 and "nope" in str(body["error"])

    # a file added while serving is picked up without a restart
    serve_watching(lines, folder)
    (folder / "later.yaml").write_text(HOOK.format(name="later"))
    lines.wait_for(r"loaded later")
    status, body = post(port, "later", {})
    assert status == 202, body
    wait_status(db, body["run_id"], "succeeded")

    # a run still going when the service stops is cancelled and recorded so
    (folder / "slow.yaml").write_text(
        "name: slow\ntriggers: [webhook]\nsteps:\n  wait: {run: 'sleep 60'}\n"
    )
    lines.wait_for(r"loaded slow")
    status, slow = post(port, "slow", {})
    assert status == 202, slow
    wait_status(db, slow["run_id"], "running")

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    lines.wait_for("stopping")
    assert run_status(db, slow["run_id"]) == "cancelled"

    shown = subprocess.run(
        [sys.executable, "-m", "flowtui", "triggers", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert shown.returncode == 0, shown.stderr
    assert "hello: webhook fired run 1" in shown.stdout
    assert "hello: webhook trigger rejected: unknown param(s) nope" in shown.stdout


def test_sigterm_while_the_folder_loads_stops_cleanly(tmp_path: Path) -> None:
    """The first load (Python files take up to their timeout each) is inside the service's
    try, under its signal handlers: SIGTERM then stops it cleanly, before it serves."""
    folder = tmp_path / "workflows"
    folder.mkdir()
    started = folder / "evaluating"
    (folder / "slow.py").write_text(
        "# a flowtui.workflows file that never finishes declaring\n"
        f"open({str(started)!r}, 'w').close()\n"
        "import threading\nthreading.Event().wait()\n"
    )
    env = {"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "FLOWTUI_PY_WORKFLOW_TIMEOUT": "3"}
    env.update({k: v for k, v in os.environ.items() if k in ("PYTHONPATH", "HOME")})
    db = tmp_path / "history.db"
    argv = ["serve", str(folder), "--db", str(db), "--no-webhooks"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowtui", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        lines = Lines(proc)
        deadline = time.monotonic() + 20
        while not started.exists():
            assert proc.poll() is None, "".join(lines.seen)
            assert time.monotonic() < deadline, "the Python file was never evaluated"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, "".join(lines.seen)
        lines.wait_for("stopping")
        assert not any("serving" in line for line in lines.seen)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_a_failed_folder_watch_is_reported_and_started_again(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from flowtui.cli.serve import _keep_watching

    calls: list[int] = []

    async def main() -> None:
        stop = asyncio.Event()

        async def watch() -> None:
            calls.append(len(calls))
            if len(calls) == 1:
                raise RuntimeError("the watch broke")
            stop.set()

        await asyncio.wait_for(_keep_watching(watch, stop, delay=0), timeout=10)

    asyncio.run(main())
    assert calls == [0, 1]
    err = capsys.readouterr().err
    assert "reloading workflow files failed (RuntimeError: the watch broke)" in err
    assert "watching the folder again" in err
