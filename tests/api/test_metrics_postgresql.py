"""The metrics' queries on a PostgreSQL history (the real-process test uses SQLite)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from flowtui.api.metrics import metrics_text
from flowtui.engine.runner import RunnerOptions
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.store import RunStore
from flowtui.store.triggerstore import TriggerStore
from tests.harness import Harness

OPTIONS = RunnerOptions(parallel=2, kill_grace=1.0, poll_interval=0.05, heartbeat_interval=0.5)


async def test_metrics_read_a_postgresql_history(tmp_path: Path, pg_url: str) -> None:
    store = await RunStore.open(pg_url)
    try:
        async with Harness.open(tmp_path, OPTIONS, store=store) as env:
            done = env.workflow("name: done\nsteps:\n  a: {run: echo hi}\n", "done.yaml")
            gate = env.workflow("name: gate\nsteps:\n  g: {type: approval}\n", "gate.yaml")
            assert (await env.run(done))[1] == RunStatus.SUCCEEDED
            held = await env.runner.submit(gate)
            await env.wait_step(held.run_id, "g", StepStatus.HELD)
            await TriggerStore(store.db).record("done", "webhook", "rejected", "bad signature")
            body, content_type = await metrics_text(store)
            env.runner.cancel(held.run_id, by="test")
            assert await held.wait() == RunStatus.CANCELLED
    finally:
        await store.close()
    assert content_type.startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }
    assert samples[("flowtui_runs_total", (("status", "succeeded"), ("workflow", "done")))] == 1
    key = (("step", "a"), ("workflow", "done"))
    assert samples[("flowtui_step_duration_seconds_count", key)] == 1
    assert samples[("flowtui_runs_running", ())] == 1
    assert samples[("flowtui_steps_held", ())] == 1
    assert samples[("flowtui_runs_queued", ())] == 0
    outcome = (("kind", "webhook"), ("outcome", "rejected"))
    assert samples[("flowtui_trigger_events_total", outcome)] == 1
