"""Team mode with real processes: a PostgreSQL server, `flowtui worker`s and `flowtui run`.

Each worker and each runner is its own process on the shared history; the tests wait on
what they print and on the history, never on time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from flowtui.store.pglocal import LocalServer
from tests.processes import is_running
from tests.team.teamkit import FLOWTUI, Team, _env, long_step, sleeper, until

TWO_QUEUES = """
name: two-queues
steps:
  build:
    runs_on: east
    run: |
      echo "built on $FLOWTUI_WORKER"
      echo "artifact=app-$FLOWTUI_RUN_ID" >> "$FLOWTUI_OUTPUT"
  check:
    requires: [build]
    when: steps.build.outputs.artifact != ""
    run: echo "checked here"
  ship:
    requires: [check]
    runs_on: west
    run: echo "shipped on $FLOWTUI_WORKER"
"""


def test_two_workers_on_two_queues_and_a_local_step(team: Team) -> None:
    team.worker("w-east", "east")
    team.worker("w-west", "west")
    path = team.workflow("two-queues", TWO_QUEUES)
    proc, lines = team.start("run", str(path))
    # the runner's console shows the remote steps' lines as it shows its own
    lines.wait_for(r"build +│ built on w-east", timeout=60)
    lines.wait_for(r"ship +│ shipped on w-west", timeout=60)
    assert proc.wait(timeout=60) == 0, "".join(lines.seen)
    shown = team.cli("show", "last", "--lines", "5")
    assert "built on w-east" in shown
    assert "shipped on w-west" in shown
    assert "checked here" in shown
    assert "artifact = app-1" in shown  # outputs written by a worker, read by the runner


def test_a_queue_without_a_worker_says_so_until_one_comes(team: Team) -> None:
    path = team.workflow(
        "lonely",
        """
        name: lonely
        steps:
          job: {runs_on: north, run: echo "done on $FLOWTUI_WORKER"}
        """,
    )
    proc, lines = team.start("run", str(path))
    lines.wait_for(r"job .*waiting for a worker on queue north", timeout=30)
    until(lambda: "waiting for a worker on queue north" in team.cli("show", "last"))
    team.worker("w-north", "north")
    assert proc.wait(timeout=60) == 0, "".join(lines.seen)
    assert "done on w-north" in team.cli("show", "last")


def test_cancel_kills_the_remote_process_group(team: Team) -> None:
    _, worker_lines = team.worker("w-east", "east")
    path, pidfile = long_step(team, "slow", "east")
    proc, _ = team.start("run", str(path))
    child = sleeper(pidfile)
    assert is_running(child)
    out = team.cli("cancel", "last")
    assert "cancelled" in out, out
    until(lambda: not is_running(child), what="the remote process to be killed")
    worker_lines.wait_for(r"wait #1: aborted")
    assert proc.wait(timeout=30) == 1
    shown = team.cli("show", "last")
    assert "cancelled" in shown and "aborted on worker w-east" in shown


def test_retries_and_secrets_happen_on_the_worker(team: Team) -> None:
    # the secret lives only in the worker's environment
    team.worker("w-east", "east", env=_env(DEPLOY_TOKEN="s3cr3t-t0ken"))
    marker = team.folder / "tried"
    path = team.workflow(
        "flaky",
        f"""
        name: flaky
        secrets:
          TOKEN: {{env: DEPLOY_TOKEN}}
        steps:
          deploy:
            runs_on: east
            retries: 1
            retry_delay: 0.1
            run: |
              echo "token is $TOKEN"
              if [ ! -f {marker} ]; then touch {marker}; echo first try fails; exit 3; fi
              echo second try works
        """,
    )
    proc, lines = team.start("run", str(path))
    assert proc.wait(timeout=60) == 0, "".join(lines.seen)
    shown = team.cli("show", "last", "--lines", "10")
    assert "token is ***" in shown and "s3cr3t" not in shown
    assert "second try works" in shown and "attempt 2" in shown


def test_runs_on_without_team_mode_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "remote.yaml"
    path.write_text("name: remote\nsteps:\n  job: {runs_on: east, run: echo hi}\n")
    done = subprocess.run(
        [*FLOWTUI, "run", str(path), "--db", str(tmp_path / "h.db")],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert done.returncode == 1
    assert "runs_on: east needs team mode" in done.stderr
    assert "flowtui worker --queue east" in done.stderr


def test_a_worker_needs_a_postgresql_history(tmp_path: Path) -> None:
    done = subprocess.run(
        [*FLOWTUI, "worker", "--queue", "east", "--db", str(tmp_path / "h.db")],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert done.returncode == 1
    assert "a worker needs the team's PostgreSQL history" in done.stderr


def test_sigterm_stops_a_worker_and_its_step_within_the_grace(team: Team) -> None:
    proc, worker_lines = team.worker("w-east", "east")
    path, pidfile = long_step(team, "long", "east")
    runner, lines = team.start("run", str(path))
    child = sleeper(pidfile)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, "".join(worker_lines.seen)
    assert time.monotonic() - started < 25
    until(lambda: not is_running(child), what="the step to be stopped")
    # the runner is told: the step fails (its worker went away) instead of hanging
    assert runner.wait(timeout=30) == 1, "".join(lines.seen)


LOST_AFTER = "3"  # seconds without a heartbeat: a lost worker (30 by default)


def test_a_killed_worker_is_lost_and_the_retry_runs_elsewhere(team: Team) -> None:
    fast = _env(FLOWTUI_WORKER_LOST_AFTER=LOST_AFTER)
    first, _ = team.worker("w-1", "east", env=fast)
    pidfile = team.folder / "pid"
    path = team.workflow(
        "survivor",
        f"""
        name: survivor
        steps:
          job:
            runs_on: east
            retries: 1
            retry_delay: 0.1
            run: |
              if [ ! -f {pidfile} ]; then
                sleep 300 &
                echo $! > {pidfile}
                wait
              fi
              echo "done on $FLOWTUI_WORKER"
        """,
    )
    runner, lines = team.start("run", str(path), env=fast)
    orphan = sleeper(pidfile)
    os.killpg(first.pid, signal.SIGKILL)  # the worker, not its step (its own group)
    first.wait()
    team.worker("w-2", "east", env=fast)
    try:
        assert runner.wait(timeout=60) == 0, "".join(lines.seen)
    finally:
        os.kill(orphan, signal.SIGKILL)  # what the killed worker left behind on "its" host
    shown = team.cli("show", "last", "--lines", "20")
    assert "done on w-2" in shown
    logs = team.cli("logs", "last")
    assert "attempt 1 of 2 failed (worker w-1 lost: no heartbeat for 3 s)" in logs


def test_a_killed_worker_fails_its_step_and_the_run_goes_on(team: Team) -> None:
    fast = _env(FLOWTUI_WORKER_LOST_AFTER=LOST_AFTER)
    worker, _ = team.worker("w-east", "east", env=fast)
    pidfile = team.folder / "pid"
    path = team.workflow(
        "doomed",
        f"""
        name: doomed
        steps:
          job:
            runs_on: east
            run: |
              sleep 300 &
              echo $! > {pidfile}
              wait
          other: {{run: echo "independent step ran"}}
          after: {{requires: [job], run: echo never}}
        """,
    )
    runner, lines = team.start("run", str(path), env=fast)
    orphan = sleeper(pidfile)
    started = time.monotonic()
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    try:
        assert runner.wait(timeout=60) == 1, "".join(lines.seen)
    finally:
        os.kill(orphan, signal.SIGKILL)
    assert time.monotonic() - started < 30
    shown = team.cli("show", "last")
    assert "worker w-east lost: no heartbeat for 3 s" in shown
    assert "independent step ran" in shown
    assert "never" not in shown.replace("not run", "")


def test_a_database_restart_mid_run_loses_nothing(team: Team, pg_server: LocalServer) -> None:
    team.worker("w-east", "east")
    gate = team.folder / "go"
    path = team.workflow(
        "restart",
        f"""
        name: restart
        steps:
          remote:
            runs_on: east
            run: |
              for i in 1 2 3; do echo "remote before $i"; done
              while [ ! -f {gate} ]; do sleep 0.05; done
              for i in 1 2 3; do echo "remote after $i"; done
          local:
            run: |
              for i in 1 2 3; do echo "local before $i"; done
              while [ ! -f {gate} ]; do sleep 0.05; done
              for i in 1 2 3; do echo "local after $i"; done
          last: {{requires: [remote, local], run: echo "last step"}}
        """,
    )
    runner, lines = team.start("run", str(path))
    until(lambda: "remote before 3" in team.cli("logs", "last"), what="both steps to print")
    until(lambda: "local before 3" in team.cli("logs", "last"), what="the local step")
    pg_server.restart()  # every connection of every process is cut
    gate.touch()  # the steps print while (or just after) the server comes back
    assert runner.wait(timeout=90) == 0, "".join(lines.seen)
    logs = team.cli("logs", "last")
    for side in ("remote", "local"):
        for when in ("before", "after"):
            for i in (1, 2, 3):
                assert f"{side} {when} {i}" in logs, logs
    assert "last step" in logs


def test_a_workspace_file_is_handed_between_machines(team: Team) -> None:
    team.worker("w-east", "east")
    team.worker("w-west", "west")
    path = team.workflow(
        "handoff",
        """
        name: handoff
        steps:
          make:
            runs_on: east
            run: |
              mkdir -p "$FLOWTUI_WORKSPACE/dist"
              echo "built by $FLOWTUI_WORKER" > "$FLOWTUI_WORKSPACE/dist/app.txt"
              echo "scratch" > "$FLOWTUI_WORKSPACE/tmp.txt"
          tidy:
            requires: [make]
            run: |
              cat "$FLOWTUI_WORKSPACE/dist/app.txt"
              rm "$FLOWTUI_WORKSPACE/tmp.txt"
              echo "checked here" >> "$FLOWTUI_WORKSPACE/dist/app.txt"
          ship:
            requires: [tidy]
            runs_on: west
            run: |
              echo "west sees: $(cat "$FLOWTUI_WORKSPACE/dist/app.txt" | tr '\\n' '|')"
              test ! -e "$FLOWTUI_WORKSPACE/tmp.txt" && echo "tmp is gone"
        """,
    )
    proc, lines = team.start("run", str(path))
    assert proc.wait(timeout=60) == 0, "".join(lines.seen)
    logs = team.cli("logs", "last")
    assert "built by w-east" in logs  # the local step read the east worker's file
    assert "west sees: built by w-east|checked here|" in logs
    assert "tmp is gone" in logs
    # each machine has a folder of its own: nothing relies on a shared filesystem
    assert (team.folder / "w-west" / "workspaces" / "1" / "dist" / "app.txt").is_file()
    assert not (team.folder / "w-west" / "workspaces" / "1" / "tmp.txt").exists()


def test_a_workspace_over_the_cap_fails_the_step_clearly(team: Team) -> None:
    capped = _env(FLOWTUI_WORKSPACE_MAX="64k")
    team.worker("w-east", "east", env=capped)
    path = team.workflow(
        "huge",
        """
        name: huge
        steps:
          make:
            runs_on: east
            run: head -c 1000000 /dev/urandom > "$FLOWTUI_WORKSPACE/blob"
        """,
    )
    proc, lines = team.start("run", str(path), env=capped)
    assert proc.wait(timeout=60) == 1, "".join(lines.seen)
    shown = team.cli("show", "last")
    assert "over the 64.0 kB that can be handed to other machines" in shown, shown


def test_a_dead_runners_remote_step_is_stopped_by_its_worker(team: Team) -> None:
    _, worker_lines = team.worker("w-east", "east")
    path, pidfile = long_step(team, "orphan", "east")
    runner, _ = team.start("run", str(path))
    child = sleeper(pidfile)
    os.killpg(runner.pid, signal.SIGKILL)  # the runner dies; its step goes on over there
    runner.wait()
    # the next flowtui command sees the runner is gone and marks the run interrupted ...
    assert "was left by a runner that died" in team.cli("history")
    # ... and the worker, seeing its step's run is over, stops the step
    until(lambda: not is_running(child), what="the worker to stop the orphaned step")
    worker_lines.wait_for(r"wait #1: failed")
    assert "stopped on worker w-east: run 1 is interrupted" in team.cli("logs", "last")


def test_a_worker_step_cannot_read_another_runs_workspace(team: Team) -> None:
    # the worker's --workdir holds every run's workspace on that machine: a step sees its own
    workdir = team.folder / "w-east"
    team.worker("w-east", "east")
    path = team.workflow(
        "peek",
        f"""
        name: peek
        steps:
          peek:
            runs_on: east
            run: |
              echo "run $FLOWTUI_RUN_ID" > "$FLOWTUI_WORKSPACE/mine.txt"
              cat "$FLOWTUI_WORKSPACE/mine.txt"
              other={workdir}/workspaces/1/mine.txt
              if cat "$other"; then echo other seen; else echo other hidden; fi
        """,
    )
    for _ in range(2):
        proc, lines = team.start("run", str(path))
        assert proc.wait(timeout=60) == 0, "".join(lines.seen)
    logs = team.cli("logs", "2")
    assert "run 2" in logs and "other hidden" in logs and "other seen" not in logs
    assert (workdir / "workspaces" / "1" / "mine.txt").read_text() == "run 1\n"
