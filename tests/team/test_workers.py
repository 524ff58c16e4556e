"""Team mode with real processes: a PostgreSQL server, `flowtui worker`s and `flowtui run`.

Each worker and each runner is its own process on the shared history; the tests wait on
what they print and on the history, never on time.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from pathlib import Path

import psycopg

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
    run: echo "shipped $STEPS_BUILD_ARTIFACT on $FLOWTUI_WORKER"
"""


def test_two_workers_on_two_queues_and_a_local_step(team: Team) -> None:
    team.worker("w-east", "east")
    team.worker("w-west", "west")
    path = team.workflow("two-queues", TWO_QUEUES)
    proc, lines = team.start("run", str(path))
    # the runner's console shows the remote steps' lines as it shows its own
    lines.wait_for(r"build +│ built on w-east", timeout=60)
    # an output of a step it depends on (not directly), in its environment on the worker
    lines.wait_for(r"ship +│ shipped app-1 on w-west", timeout=60)
    assert proc.wait(timeout=60) == 0, "".join(lines.seen)
    shown = team.cli("show", "last", "--lines", "5")
    assert "built on w-east" in shown
    assert "shipped app-1 on w-west" in shown
    assert "checked here" in shown
    assert "artifact = app-1" in shown  # outputs written by a worker, read by the runner


def test_a_quiet_remote_steps_outcome_reaches_the_runner_in_its_announcement(
    team: Team,
) -> None:
    # steps that print nothing: their outcome (status, exit code, message, outputs) comes
    # with the NOTIFY of its commit, and the runner does not read it back
    team.worker("w-east", "east")
    path = team.workflow(
        "quiet",
        """
        name: quiet
        steps:
          make:
            runs_on: east
            run: echo "artifact=a-$FLOWTUI_RUN_ID" >> "$FLOWTUI_OUTPUT"
          use:
            requires: [make]
            when: steps.make.outputs.artifact == "a-1"
            run: echo "got $STEPS_MAKE_ARTIFACT"
          refuse:
            requires: [use]
            runs_on: east
            run: exit 3
        """,
    )
    proc, lines = team.start("run", str(path))
    assert proc.wait(timeout=60) == 1, "".join(lines.seen)
    shown = team.cli("show", "last", "--lines", "5")
    assert "got a-1" in shown and "artifact = a-1" in shown, shown
    with psycopg.connect(team.url) as conn:
        refused = conn.execute(
            "SELECT status, exit_code FROM steps WHERE run_id = 1 AND name = 'refuse'"
        ).fetchone()
    assert refused == ("failed", 3)


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
    assert "second try works" in shown and "(2 attempts)" in shown


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
    # its reaper stops what it left behind, so the retry cannot overlap with it
    until(lambda: not is_running(orphan), what="the dead worker's step to be stopped")
    team.worker("w-2", "east", env=fast)
    assert runner.wait(timeout=60) == 0, "".join(lines.seen)
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
    until(lambda: not is_running(orphan), what="the dead worker's step to be stopped")
    assert runner.wait(timeout=60) == 1, "".join(lines.seen)
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
              echo "west folder: $FLOWTUI_WORKSPACE"
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
    assert f"west folder: {team.folder / 'w-west' / 'workspaces' / '1'}" in logs


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


RUNS = 4


def test_a_chain_of_remote_steps_never_waits_for_a_poll(team: Team) -> None:
    # each step's job is deferred just as the worker finishes the one before: procrastinate
    # alone forgets a job announced while it fetches (and waits 5 s for its next poll)
    team.worker("w-east", "east")
    steps = ["name: chain", "steps:"]
    for i in range(40):
        needs = f", requires: [s{i - 1}]" if i else ""
        steps.append(f"  s{i}: {{runs_on: east, run: 'true'{needs}}}")
    path = team.workflow("chain", "\n".join(steps) + "\n")
    for _ in range(RUNS):
        proc, lines = team.start("run", str(path), "-q")
        assert proc.wait(timeout=120) == 0, "".join(lines.seen)
    waits = waits_for_a_worker(team.url)
    assert len(waits) == 40 * RUNS
    assert max(waits) < 1.0, sorted(waits)[-5:]


def test_jobs_queued_before_the_worker_listens_run_one_after_another(team: Team) -> None:
    # a worker skips the fetch after a job when every job announced to it is taken: jobs
    # queued before it listened were never announced, and must not wait for its 5 s poll
    path = team.workflow(
        "early",
        "name: early\nsteps:\n"
        + "".join(f"  s{i}: {{runs_on: dawn, run: 'true'}}\n" for i in range(4)),
    )
    proc, lines = team.start("run", str(path), "-q")
    until(lambda: len(waiting_steps(team.url, "dawn")) == 4, what="four queued jobs")
    team.worker("w-dawn", "dawn")
    assert proc.wait(timeout=60) == 0, "".join(lines.seen)
    with psycopg.connect(team.url) as conn:
        starts = sorted(
            float(r[0])
            for r in conn.execute(
                "SELECT at FROM events WHERE message = 'on worker w-dawn'"
            ).fetchall()
        )
    assert len(starts) == 4
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert max(gaps) < 2.5, gaps  # a poll would be 5 s


def waiting_steps(url: str, queue: str) -> list[str]:
    """The steps that said they wait for a worker on `queue` (none before the history is)."""
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass('events')").fetchone() == (None,):
            return []
        rows = conn.execute(
            "SELECT step FROM events WHERE message = %s",
            (f"waiting for a worker on queue {queue}",),
        ).fetchall()
    return [str(r[0]) for r in rows]


def waits_for_a_worker(url: str) -> list[float]:
    """Per remote step: seconds from the runner's `waiting for a worker` to `on worker`."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """SELECT w.run_id, w.step, MIN(o.at) - MIN(w.at)
                 FROM events w JOIN events o ON o.run_id = w.run_id AND o.step = w.step
                WHERE w.message LIKE 'waiting for a worker%%' AND o.message LIKE 'on worker%%'
                GROUP BY w.run_id, w.step"""
        ).fetchall()
    return [float(r[2]) for r in rows]


def test_runners_use_the_lost_limit_each_worker_announces(team: Team) -> None:
    # the worker beats every 10 s (its limit: 30 s); a runner set to 1 s must not count it
    # lost between two beats: the worker's own limit applies to its jobs
    team.worker("w-east", "east")
    path = team.workflow(
        "patient",
        """
        name: patient
        steps:
          job: {runs_on: east, run: "sleep 4; echo done on $FLOWTUI_WORKER"}
        """,
    )
    runner, lines = team.start("run", str(path), env=_env(FLOWTUI_WORKER_LOST_AFTER="1"))
    assert runner.wait(timeout=60) == 0, "".join(lines.seen)
    assert "done on w-east" in team.cli("logs", "last")


def test_a_worker_back_from_a_partition_stops_the_step_it_lost(team: Team) -> None:
    fast = _env(FLOWTUI_WORKER_LOST_AFTER=LOST_AFTER)
    worker, worker_lines = team.worker("w-east", "east", env=fast)
    path, pidfile = long_step(team, "partitioned", "east")
    runner, lines = team.start("run", str(path))  # the runner's own limit: 30 s
    child = sleeper(pidfile)
    os.kill(worker.pid, signal.SIGSTOP)  # silent, as if cut off; its step goes on
    try:
        # counted lost after the 3 s it announced, not the runner's 30 s
        assert runner.wait(timeout=25) == 1, "".join(lines.seen)
        assert is_running(child)
    finally:
        os.kill(worker.pid, signal.SIGCONT)  # back: the job was failed meanwhile
    until(lambda: not is_running(child), what="the worker to stop the step it lost")
    worker_lines.wait_for(r"stopped on worker w-east: its job was failed")
    shown = team.cli("show", "last")
    assert "worker w-east lost: no heartbeat for 3 s" in shown, shown
    logs = team.cli("logs", "last")
    assert "stopped on worker w-east: its job was failed" in logs, logs
    assert "not recorded" not in shown


def test_a_cancel_while_the_job_is_queued_leaves_no_job(team: Team) -> None:
    import psycopg

    team.worker("w-other", "other")  # installs the job queue; takes nothing of `east`
    path = team.workflow("blocked", "name: blocked\nsteps:\n  job: {runs_on: east, run: 'true'}\n")
    with psycopg.connect(team.url) as blocker:  # queueing a job waits behind this lock
        blocker.execute("LOCK TABLE procrastinate_jobs IN EXCLUSIVE MODE")
        runner, lines = team.start("run", str(path))
        until(
            lambda: "waiting for a worker on queue east" in team.cli("show", "last"),
            what="the runner to queue the job",
        )
        cancel, _ = team.start("cancel", "last")  # waits for the run to stop
        until(lambda: command_taken(team.url), what="the runner to take the cancel")
        blocker.rollback()  # the job lands now, after the cancel
    assert runner.wait(timeout=60) == 1, "".join(lines.seen)
    assert cancel.wait(timeout=30) == 0
    with psycopg.connect(team.url) as conn:
        jobs = conn.execute("SELECT status FROM procrastinate_jobs").fetchall()
    assert [status for (status,) in jobs] == ["cancelled"]


def command_taken(url: str) -> bool:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT taken_at FROM commands").fetchone()
    return row is not None and row[0] is not None


def test_a_rerun_carries_its_parents_workspace_to_workers(team: Team) -> None:
    team.worker("w-east", "east")
    team.worker("w-west", "west")
    fixed = team.folder / "fixed"
    path = team.workflow(
        "rerun",
        f"""
        name: rerun
        steps:
          make:
            runs_on: east
            run: echo "made in run $FLOWTUI_RUN_ID" > "$FLOWTUI_WORKSPACE/app.txt"
          ship:
            requires: [make]
            runs_on: west
            run: |
              echo "west sees: $(cat "$FLOWTUI_WORKSPACE/app.txt")"
              test -f {fixed}
        """,
    )
    proc, lines = team.start("run", str(path))
    assert proc.wait(timeout=60) == 1, "".join(lines.seen)
    fixed.touch()
    proc, lines = team.start("rerun", "last")  # `make` is reused: it does not run again
    assert proc.wait(timeout=60) == 0, "".join(lines.seen)
    logs = team.cli("logs", "2")
    assert "west sees: made in run 1" in logs, logs


def test_finished_runs_leave_no_workspace_behind(team: Team) -> None:
    worker, _ = team.worker("w-east", "east")
    ok = team.workflow(
        "ok", "name: ok\nsteps:\n  make: {runs_on: east, run: echo 1 > $FLOWTUI_WORKSPACE/f}\n"
    )
    bad = team.workflow(
        "bad",
        "name: bad\nsteps:\n"
        "  make: {runs_on: east, run: 'echo 1 > $FLOWTUI_WORKSPACE/f; exit 1'}\n",
    )
    for path, code in ((ok, 0), (bad, 1)):
        proc, lines = team.start("run", str(path))
        assert proc.wait(timeout=60) == code, "".join(lines.seen)
    # a succeeded run's deltas go; a failed one keeps them for a rerun from its failures
    assert deltas_of(team.url) == {2: 1}
    folders = team.folder / "w-east" / "workspaces"
    assert sorted(p.name for p in folders.iterdir()) == ["1", "2"]
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    # a worker on that folder removes what serves no run any more
    team.worker("w-east", "east")
    until(lambda: not any(folders.iterdir()), what="the finished runs' folders to go")


def deltas_of(url: str) -> dict[int, int]:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT run_id, COUNT(*) FROM workspace_deltas GROUP BY run_id"
        ).fetchall()
    return {int(r[0]): int(r[1]) for r in rows}


def test_a_workers_on_worker_outlasts_the_runners_late_waiting(team: Team) -> None:
    # the runner queues the job without waiting for its "waiting for a worker" to be
    # written, so that record may land after the worker's "on worker": the worker's stays
    team.worker("w-east", "east")
    path, pidfile = long_step(team, "late", "east")
    team.start("run", str(path))
    sleeper(pidfile)
    until(lambda: len(waits_for_a_worker(team.url)) == 1, what="the runner's record")
    assert "on worker w-east" in team.cli("show", "last")
    assert "cancelled" in team.cli("cancel", "last")


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


def test_a_run_in_an_environment_brings_its_variables_and_secrets_to_the_worker(
    team: Team,
) -> None:
    # the environment's secret, like any, comes from the worker's own environment
    team.worker("w-env", "envq", env=_env(PROD_DEPLOY_TOKEN="pr0d-t0ken-value"))
    path = team.workflow(
        "envdeploy",
        """
        name: envdeploy
        environments:
          prod:
            variables: {TARGET: prod.internal}
            secrets: {TOKEN: {env: PROD_DEPLOY_TOKEN}}
        steps:
          deploy:
            runs_on: envq
            run: echo "deploy to $TARGET in $FLOWTUI_ENVIRONMENT with ${TOKEN:+a token} $TOKEN"
        """,
    )
    proc, lines = team.start("run", str(path), "--env", "prod")
    assert proc.wait(timeout=60) == 0, "".join(lines.seen)
    shown = team.cli("show", "last", "--lines", "10")
    assert "deploy to prod.internal in prod with a token ***" in shown
    assert "pr0d" not in shown
