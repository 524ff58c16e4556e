"""Cancelling a step: SIGINT, SIGTERM, SIGKILL over its grace; nothing of it survives."""

from __future__ import annotations

import time
from pathlib import Path

from flowtui.engine.states import RunStatus, StepStatus
from tests.processes import group_members, is_running

from .conftest import Engine, wait_until

# A step that shrugs off SIGINT and SIGTERM (it only notes them), with a pipeline in the
# background and one process that escapes its process group with setsid.
STUBBORN = """\
name: stubborn
steps:
  work:
    kill_grace: 1s
    run: |
      trap 'echo INT >> {signals}' INT
      trap 'echo TERM >> {signals}' TERM
      sleep 600 | cat &
      setsid sleep 600 &
      echo $! > {escaped}
      touch {ready}
      while true; do sleep 0.05 || true; done
  after:
    requires: work
    run: echo never
  cleanup:
    requires: work
    always: true
    run: echo cleaned up
"""


async def test_cancel_escalates_and_leaves_nothing_behind(tmp_path: Path, engine: Engine) -> None:
    signals, escaped, ready = tmp_path / "signals", tmp_path / "escaped", tmp_path / "ready"
    wf = engine.workflow(STUBBORN.format(signals=signals, escaped=escaped, ready=ready))
    handle = await engine.runner.submit(wf)
    await wait_until(ready.exists, timeout=10, what="the step to start")
    await engine.sink.flush()
    work = {s.name: s for s in await engine.store.get_steps(handle.run_id)}["work"]
    assert work.pgid is not None
    group = group_members(work.pgid)
    assert len(group) >= 3  # bash, sleep, cat (+ the loop's sleep)
    runaway = int(escaped.read_text())
    assert is_running(runaway) and runaway not in group

    started = time.monotonic()
    assert engine.runner.cancel(handle.run_id, by="tester")
    status = await handle.wait()
    elapsed = time.monotonic() - started
    await engine.sink.flush()

    assert status == RunStatus.CANCELLED
    assert signals.read_text().split() == ["INT", "TERM"]  # in this order, then SIGKILL
    assert 0.9 < elapsed < 4.0  # the step's kill_grace (1 s), not the runner's 5 s
    assert [pid for pid in group if is_running(pid)] == []
    assert group_members(work.pgid) == []
    assert not is_running(runaway)

    steps = {s.name: s for s in await engine.store.get_steps(handle.run_id)}
    assert steps["work"].status == StepStatus.CANCELLED  # not failed
    assert steps["after"].status == StepStatus.PENDING
    assert (steps["cleanup"].status, steps["cleanup"].message) == (
        StepStatus.SUCCEEDED,
        "cleaned up",
    )
    lines = [rec.line for rec in await engine.store.get_logs(handle.run_id, "work")]
    assert "killed 1 process that left the step's process group" in lines
