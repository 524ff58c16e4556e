"""`/metrics` is computed from the history at scrape time: runs, held steps and trigger
events written by *other* processes on the database show up in the next scrape."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from flowtui.store import RunStore
from flowtui.store.triggerstore import TriggerStore
from tests.api.conftest import Served, serve_env

GATED = """\
name: gated-cli
steps:
  plan: {run: echo planned}
  approve: {type: approval, requires: [plan]}
"""


def scrape(served: Served) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = served.client("reader").get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_scrape(served: Served, name: str, wanted: float, **labels: str) -> None:
    deadline = time.monotonic() + 20
    while (got := value(scrape(served), name, **labels)) != wanted:
        assert time.monotonic() < deadline, f"{name}{labels} is {got}, not {wanted}"
        time.sleep(0.05)


def test_metrics_need_a_read_token(quick_server: Served) -> None:
    assert quick_server.client(None).get("/metrics").status_code == 401
    assert quick_server.client("reader").get("/metrics").status_code == 200


async def record_trigger_event(db: Path) -> None:
    store = await RunStore.open(db)
    try:
        await TriggerStore(store.db).record("quick", "cron", "fired", "12:00")
    finally:
        await store.close()


def test_runs_of_other_processes_count(quick_server: Served, tmp_path: Path) -> None:
    before = scrape(quick_server)
    finished = value(before, "flowtui_runs_total", workflow="quick", status="succeeded")
    steps = value(before, "flowtui_step_duration_seconds_count", workflow="quick", step="greet")
    assert finished >= 1 and steps >= 1
    assert (
        value(
            before,
            "flowtui_step_duration_seconds_bucket",
            workflow="quick",
            step="greet",
            le="+Inf",
        )
        == steps
    )

    # another process, `flowtui run`, on the same history
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "flowtui",
            "run",
            str(quick_server.folder / "quick.yaml"),
            "--db",
            str(quick_server.db),
        ],
        capture_output=True,
        text=True,
        env=serve_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    after = scrape(quick_server)
    assert value(after, "flowtui_runs_total", workflow="quick", status="succeeded") == finished + 1
    assert (
        value(after, "flowtui_step_duration_seconds_count", workflow="quick", step="greet")
        == steps + 1
    )
    assert value(after, "flowtui_runs_running") == 0 and value(after, "flowtui_runs_queued") == 0

    cron = value(after, "flowtui_trigger_events_total", kind="cron", outcome="fired")
    asyncio.run(record_trigger_event(quick_server.db))
    wait_scrape(
        quick_server, "flowtui_trigger_events_total", cron + 1, kind="cron", outcome="fired"
    )

    # a run of another process waiting for approval: running, one held step
    (tmp_path / "gated.yaml").write_text(GATED)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flowtui",
            "run",
            str(tmp_path / "gated.yaml"),
            "--db",
            str(quick_server.db),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=serve_env(),
    )
    try:
        wait_scrape(quick_server, "flowtui_steps_held", 1)
        assert value(scrape(quick_server), "flowtui_runs_running") == 1
        held = quick_server.client("reader").get("/api/v1/runs", params={"status": "held"}).json()
        run_id = held["runs"][0]["id"]
        cancel = quick_server.client("runner").post(f"/api/v1/runs/{run_id}/cancel")
        assert cancel.json() == {"id": run_id, "status": "asked"}  # its runner is the other process
        assert proc.wait(timeout=30) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    final = scrape(quick_server)
    assert value(final, "flowtui_runs_total", workflow="gated-cli", status="cancelled") == 1
    assert value(final, "flowtui_steps_held") == 0 and value(final, "flowtui_runs_running") == 0
