"""`always` and `on_failure` steps, and handlers that themselves fail, hang or are cancelled."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from flowtui.engine.states import RunStatus, StepStatus
from flowtui.model.errors import WorkflowError
from flowtui.model.loader import load_workflow_text

from .conftest import Engine, wait_until


async def _statuses(engine: Engine, run_id: int) -> dict[str, tuple[StepStatus, str]]:
    await engine.sink.flush()
    return {s.name: (s.status, s.message) for s in await engine.store.get_steps(run_id)}


async def test_handlers_after_a_failure(engine: Engine) -> None:
    wf = engine.workflow(
        """\
name: failing
steps:
  build:
    run: exit 3
  deploy:
    requires: build
    run: echo never
  cleanup:
    requires: deploy        # never runs: the handler still does, once nothing else can
    always: true
    run: echo cleaned
  alert:
    requires: build
    on_failure: true
    run: echo "alerting on $FLOWTUI_RUN_ID"
"""
    )
    run_id, status = await engine.runner.run(wf)
    steps = await _statuses(engine, run_id)
    assert status == RunStatus.FAILED
    assert steps["build"][0] == StepStatus.FAILED
    assert steps["deploy"][0] == StepStatus.PENDING
    assert steps["cleanup"] == (StepStatus.SUCCEEDED, "cleaned")
    assert steps["alert"] == (StepStatus.SUCCEEDED, f"alerting on {run_id}")


async def test_handlers_after_a_success(engine: Engine) -> None:
    wf = engine.workflow(
        """\
name: passing
steps:
  build:
    run: echo built
  cleanup:
    requires: build
    always: true
    run: echo cleaned
  alert:
    requires: build
    on_failure: true
    run: echo never
"""
    )
    run_id, status = await engine.runner.run(wf)
    steps = await _statuses(engine, run_id)
    assert status == RunStatus.SUCCEEDED
    assert steps["cleanup"] == (StepStatus.SUCCEEDED, "cleaned")
    assert steps["alert"] == (StepStatus.SKIPPED, "on_failure: no step failed")


async def test_failing_and_hanging_handlers_still_finish_the_run(engine: Engine) -> None:
    wf = engine.workflow(
        """\
name: bad-handlers
steps:
  build:
    run: echo built
  broken-cleanup:
    requires: build
    always: true
    run: exit 4
  hanging-cleanup:
    requires: build
    always: true
    timeout: 300ms
    kill_grace: 200ms
    run: sleep 600
"""
    )
    async with asyncio.timeout(20):
        run_id, status = await engine.runner.run(wf)
    steps = await _statuses(engine, run_id)
    assert status == RunStatus.FAILED  # a handler's failure fails the run...
    assert steps["build"][0] == StepStatus.SUCCEEDED
    assert steps["broken-cleanup"] == (StepStatus.FAILED, "exit code 4")
    assert steps["hanging-cleanup"][0] == StepStatus.TIMED_OUT
    run = await engine.store.get_run(run_id)
    assert run is not None and run.ended_at is not None  # ...and the run still finishes


async def test_cancel_runs_handlers_and_a_second_cancel_stops_them(
    tmp_path: Path, engine: Engine
) -> None:
    ready, cleaning = tmp_path / "ready", tmp_path / "cleaning"
    watching = tmp_path / "watching"
    wf = engine.workflow(
        f"""\
name: cancelled
steps:
  watchdog:                 # a handler already running when the cancel comes
    always: true
    kill_grace: 200ms
    run: touch {watching}; sleep 600
  work:
    run: touch {ready}; sleep 600
  cleanup:
    requires: work
    always: true
    kill_grace: 200ms
    run: touch {cleaning}; sleep 600
  alert:
    requires: work
    on_failure: true
    run: echo "a step was cancelled"
"""
    )
    handle = await engine.runner.submit(wf)
    await wait_until(lambda: ready.exists() and watching.exists(), what="work to start")
    engine.runner.cancel(handle.run_id, by="tester")
    await wait_until(cleaning.exists, what="the always handler to start after the cancel")
    # wait until the store shows work cancelled and the on_failure handler (a quick echo)
    # done, before the second cancel could cut it short (events are written in batches)
    async with asyncio.timeout(10):
        while (steps := await _statuses(engine, handle.run_id))["work"][0] != (
            StepStatus.CANCELLED
        ) or steps["alert"][0] != StepStatus.SUCCEEDED:
            await asyncio.sleep(0.05)
    # handlers are not cut short by the first cancel
    assert steps["watchdog"][0] == steps["cleanup"][0] == StepStatus.RUNNING
    engine.runner.cancel(handle.run_id, by="tester")  # a second one stops it
    async with asyncio.timeout(10):
        status = await handle.wait()
    steps = await _statuses(engine, handle.run_id)
    assert status == RunStatus.CANCELLED
    assert steps["work"][0] == StepStatus.CANCELLED
    assert steps["cleanup"][0] == steps["watchdog"][0] == StepStatus.CANCELLED
    assert steps["alert"] == (StepStatus.SUCCEEDED, "a step was cancelled")


def test_loader_reads_handler_keys() -> None:
    wf = load_workflow_text(
        "name: w\nsteps:\n  a: {run: 'true'}\n"
        "  b: {run: 'true', requires: a, always: true, kill_grace: 2s}\n"
        "  c: {run: 'true', requires: a, on_failure: true}\n",
        "w.yaml",
    )
    a, b, c = wf.steps.values()
    assert (a.always, a.on_failure, a.kill_grace) == (False, False, None)
    assert (b.always, b.kill_grace) == (True, 2.0)
    assert c.on_failure and not c.always
    with pytest.raises(WorkflowError, match="always"):
        load_workflow_text("name: w\nsteps:\n  a: {run: 'true', always: 'yes please'}\n", "w.yaml")


def test_always_and_on_failure_together_are_refused_with_the_line() -> None:
    with pytest.raises(WorkflowError) as info:
        load_workflow_text(
            "name: w\nsteps:\n  a: {run: 'true'}\n"
            "  b:\n    run: 'true'\n    requires: a\n    always: true\n    on_failure: true\n",
            "w.yaml",
        )
    assert "w.yaml:8:5: error: step `b` sets both `always` and `on_failure`" in str(info.value)
