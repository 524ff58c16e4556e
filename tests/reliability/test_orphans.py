"""Issue #17 item 3: recovery kills what is left of a step's group after its shell died.

The runner is SIGKILLed; the step's shell then dies of SIGPIPE at its next `echo` (its
pipe's reader is gone) while the `sleep 600 &` it started lives on in the step's process
group.  The next flowtui start must kill that member too, though the recorded leader pid is
gone.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from flowtui.engine.records import StepRecord
from flowtui.engine.states import RunStatus
from flowtui.store import RunStore
from tests.processes import group_members, is_running

from .conftest import flowtui_argv, spawn, wait_until

WORKFLOW = """\
name: leaky
params:
  mark: {required: true}
steps:
  loop:
    run: |
      sleep 600 &
      echo $! > "$PARAM_MARK.child"
      touch "$PARAM_MARK"
      while true; do echo tick; sleep 0.05; done
"""


async def test_recovery_kills_the_members_left_when_the_leader_died(
    tmp_path: Path, db_path: Path, reaper: list[int]
) -> None:
    flow = tmp_path / "leaky.yaml"
    flow.write_text(WORKFLOW)
    mark = tmp_path / "mark"
    db = ["--db", str(db_path)]
    runner = spawn(flowtui_argv("run", str(flow), "-p", f"mark={mark}", "-q", *db), reaper)
    await wait_until(mark.exists, timeout=20, what="the step to start its child")
    child = int((tmp_path / "mark.child").read_text())

    async with await RunStore.open(db_path) as store:
        run_id = await store.latest_run_id()
        assert run_id is not None
        step = await wait_for_pid(store, run_id)
    assert step.pgid is not None and step.pid is not None
    reaper.append(step.pgid)
    runner.send_signal(signal.SIGKILL)
    runner.wait(timeout=10)
    # the shell's next `echo tick` hits a pipe nobody reads: SIGPIPE ends it
    leader = step.pid
    await wait_until(lambda: not is_running(leader), timeout=10, what="the shell to die")
    assert is_running(child) and group_members(step.pgid) == [child]

    history = subprocess.run(
        flowtui_argv("history", *db), capture_output=True, text=True, timeout=30
    )
    assert history.returncode == 0, history.stderr
    assert f"run {run_id} was left by a runner that died" in history.stderr
    await wait_until(lambda: not is_running(child), timeout=10, what="the orphan to be killed")
    async with await RunStore.open(db_path) as store:
        run = await store.get_run(run_id)
        assert run is not None and run.status == RunStatus.INTERRUPTED


async def wait_for_pid(store: RunStore, run_id: int) -> StepRecord:
    async def recorded() -> bool:
        steps = await store.get_steps(run_id)
        return bool(steps and steps[0].pid is not None)

    await wait_until(recorded, timeout=10, what="the step's pid to be recorded")
    return (await store.get_steps(run_id))[0]
