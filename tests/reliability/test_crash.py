"""The runner process is SIGKILLed while step 2 of 3 runs; the next start recovers."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

from flowtui.engine.states import RunStatus, StepStatus
from flowtui.store import RunStore
from tests.processes import group_members

from .conftest import alive, flowtui_argv, spawn, wait_until

# Lines printed at least this long before the kill must be in the history (docs/reliability.md).
FLUSHED_AFTER = 1.0
LINES = 200

WORKFLOW = """\
name: crashy
params:
  mark: {required: true}
steps:
  one:
    run: echo one done
  two:
    requires: one
    run: |
      if [ -e "$PARAM_MARK.rerun" ]; then echo "second time"; exit 0; fi
      for i in $(seq 1 LINES); do echo "line $i"; done
      sleep 600 | cat &
      touch "$PARAM_MARK"
      wait
  three:
    requires: two
    run: echo three done
""".replace("LINES", str(LINES))


async def test_sigkilled_runner_is_recovered_on_next_start(
    tmp_path: Path, db_path: Path, reaper: list[int]
) -> None:
    flow = tmp_path / "crashy.yaml"
    flow.write_text(WORKFLOW)
    mark = tmp_path / "mark"
    db = ["--db", str(db_path)]
    runner = spawn(flowtui_argv("run", str(flow), "-p", f"mark={mark}", "-q", *db), reaper)

    await wait_until(mark.exists, timeout=20, what="step two to print its lines")
    async with await RunStore.open(db_path) as store:
        run_id = await store.latest_run_id()
        assert run_id is not None
        await asyncio.sleep(FLUSHED_AFTER)  # the documented bound, not a guess
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=10)

        # the step's processes outlive the runner: an orphaned process group
        two = {s.name: s for s in await store.get_steps(run_id)}["two"]
        assert two.pid is not None and two.pgid is not None and two.proc_started is not None
        reaper.append(two.pgid)
        assert alive(two.pid, two.proc_started)

    # the next flowtui start (any command) recovers
    history = subprocess.run(
        flowtui_argv("history", *db), capture_output=True, text=True, timeout=30
    )
    assert history.returncode == 0, history.stderr
    assert f"run {run_id} was left by a runner that died" in history.stderr
    assert "interrupted" in history.stdout

    async with await RunStore.open(db_path) as store:
        run = await store.get_run(run_id)
        assert run is not None and run.status == RunStatus.INTERRUPTED
        steps = {s.name: s for s in await store.get_steps(run_id)}
        assert steps["one"].status == StepStatus.SUCCEEDED
        assert steps["two"].status == StepStatus.CANCELLED
        assert steps["two"].message == "interrupted: runner process died"
        assert steps["three"].status == StepStatus.PENDING
        lines = [rec.line for rec in await store.get_logs(run_id, "two")]
        assert [ln for ln in lines if ln.startswith("line ")] == [
            f"line {i}" for i in range(1, LINES + 1)
        ]
        # the orphan (found by pid + create time) and everything in its group is gone
        pgid = two.pgid
        await wait_until(lambda: not group_members(pgid), timeout=10, what="orphans to die")

    # rerun from failed: `one` is reused, `two` runs again
    (tmp_path / "mark.rerun").touch()
    rerun = subprocess.run(
        flowtui_argv("rerun", str(run_id), "--from-failed", *db),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    async with await RunStore.open(db_path) as store:
        new_id = await store.latest_run_id()
        assert new_id is not None and new_id != run_id
        steps = {s.name: s for s in await store.get_steps(new_id)}
        assert steps["one"].status == StepStatus.REUSED
        assert (steps["two"].status, steps["two"].message) == (StepStatus.SUCCEEDED, "second time")
        assert steps["three"].status == StepStatus.SUCCEEDED
        assert await store.get_logs(new_id, "one") == []  # step 1 did not run again
