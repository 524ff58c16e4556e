"""CircleCI configs run through the real Runner: order, approvals, branches, workspaces."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import textwrap
from pathlib import Path

from flowtui.engine.runner import Decision
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.model.loader import load_workflow
from tests.circleci.conftest import Env, load_example
from tests.processes import is_running


async def test_sequential_jobs_start_one_after_another(env: Env) -> None:
    run_id, status = await env.run(load_example("sequential"))
    assert status == RunStatus.SUCCEEDED
    steps = await env.steps(run_id)
    order = ["build", "test1", "test2", "deploy"]
    for before, after in itertools.pairwise(order):
        assert steps[before].ended_at <= steps[after].started_at, f"{after} before {before}"
    log = await env.log(run_id, "build", ("stdout", "system"))
    assert '── echo "building"' in log and "building" in log


async def test_fan_out_runs_the_acceptance_tests_together_then_deploys(env: Env) -> None:
    run_id, status = await env.run(load_example("fan-out-fan-in"))
    assert status == RunStatus.SUCCEEDED
    steps = await env.steps(run_id)
    tests = [steps[f"acceptance_test_{i}"] for i in range(1, 5)]
    assert all(steps["build"].ended_at <= t.started_at for t in tests)
    assert max(t.started_at for t in tests) < min(t.ended_at for t in tests), "no overlap"
    assert steps["deploy"].started_at >= max(t.ended_at for t in tests)


async def test_approval_job_holds_deploy_until_approved(env: Env) -> None:
    handle = await env.runner.submit(load_example("approval"))
    await env.wait_step(handle.run_id, "hold", StepStatus.HELD)
    statuses = await env.statuses(handle.run_id)
    assert statuses["test2"] == StepStatus.SUCCEEDED
    assert statuses["deploy"] == StepStatus.PENDING
    assert env.runner.decide(handle.run_id, "hold", Decision(True, "alice", "ship it")) is None
    async with asyncio.timeout(15):
        assert await handle.wait() == RunStatus.SUCCEEDED
    steps = await env.steps(handle.run_id)
    assert steps["deploy"].started_at >= steps["hold"].ended_at
    assert await env.log(handle.run_id, "deploy") == ["deployed"]


async def test_branch_level_jobs_run_only_on_their_branches(env: Env) -> None:
    workflow = load_example("branch-level", "dev_stage_pre-prod")
    run_id, status = await env.run(workflow, branch="user-alice")
    assert status == RunStatus.SUCCEEDED
    assert await env.statuses(run_id) == {
        "test_dev": StepStatus.SUCCEEDED,
        "test_stage": StepStatus.SKIPPED,
        "test_pre-prod": StepStatus.SKIPPED,
    }
    run_id, _ = await env.run(workflow, branch="pre-prod-2")
    statuses = await env.statuses(run_id)
    assert statuses["test_pre-prod"] == StepStatus.SUCCEEDED
    assert statuses["test_dev"] == StepStatus.SKIPPED


async def test_main_only_deploy_is_skipped_on_a_feature_branch(env: Env) -> None:
    workflow = load_example("branch-level", "build-deploy")
    run_id, _ = await env.run(workflow, branch="feature/x")
    assert (await env.statuses(run_id))["deploy"] == StepStatus.SKIPPED
    run_id, status = await env.run(workflow, branch="main")
    assert status == RunStatus.SUCCEEDED
    assert (await env.statuses(run_id))["deploy"] == StepStatus.SUCCEEDED


async def test_workspace_hands_a_file_from_one_job_to_the_next(env: Env) -> None:
    handed = Path("/tmp/workspace/echo-output")  # where the docs' example attaches it
    handed.unlink(missing_ok=True)
    run_id, status = await env.run(load_example("workspace"))
    assert status == RunStatus.SUCCEEDED, await env.log(run_id, "downstream", ("stderr",))
    assert "It worked!" in await env.log(run_id, "downstream")
    assert handed.read_text() == "Hello, world!\n"
    persisted = env.runner.workspace_for(run_id) / "circleci" / "echo-output"
    assert persisted.read_text() == "Hello, world!\n"


async def test_features_run_parameters_commands_matrix_and_when(env: Env) -> None:
    run_id, status = await env.run(load_example("features", "features"))
    assert status == RunStatus.FAILED  # `report` fails on purpose
    statuses = await env.statuses(run_id)
    assert statuses["report"] == StepStatus.FAILED
    assert all(statuses[n] == StepStatus.SUCCEEDED for n in statuses if n != "report")

    prepare = await env.log(run_id, "prepare", ("stdout", "system"))
    assert "hello base from-anchor carried" in prepare  # pipeline param, anchors, $BASH_ENV
    assert "then-step ran" in prepare and "unless-step ran" in prepare
    skipped = [line for line in prepare if ": skipped, " in line]
    assert len(skipped) == 2 and "save_cache" in skipped[0]
    assert "node/install-packages" in skipped[1] and "circleci/node@5.1.0" in skipped[1]

    said = (env.runner.workspace_for(run_id) / "said.txt").read_text().splitlines()
    assert said[0] == "said prepared"
    assert sorted(said[1:]) == ["test linux 3.11 job", "test linux 3.12 job", "test mac 3.12 job"]

    report = await env.log(run_id, "report", ("stdout", "system"))
    assert "cleanup ran" in report and "on_fail ran" in report and "must not run" not in report
    assert "── skipped after the failure: skipped (when: on_success)" in report
    steps = await env.steps(run_id)
    assert steps["report"].exit_code == 1 and "fails on purpose" in steps["report"].message

    # the host executor note: once in the whole run, in the first job's log
    notes = []
    for name in statuses:
        notes += [ln for ln in await env.log(run_id, name, ("system",)) if "this host" in ln]
    assert len(notes) == 1 and notes[0] in prepare


async def test_rerun_reloads_the_same_circleci_workflow(env: Env) -> None:
    run_id, status = await env.run(load_example("features", "second"))
    assert status == RunStatus.FAILED
    handle = await env.runner.rerun(run_id)
    async with asyncio.timeout(15):
        await handle.wait()
    run = await env.store.get_run(handle.run_id)
    assert run is not None and run.workflow == "second"
    assert list(await env.statuses(handle.run_id)) == ["report"]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


async def test_checkout_copies_the_working_tree(env: Env, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".circleci").mkdir(parents=True)
    (repo / "src").mkdir()
    (repo / "src" / "app.txt").write_text("committed\n")
    (repo / ".gitignore").write_text("*.log\n")
    (repo / ".circleci" / "config.yml").write_text(
        textwrap.dedent(
            """\
            version: 2.1
            jobs:
              build:
                working_directory: ~/repo
                steps:
                  - checkout
                  - run: cat src/app.txt new.txt; ls
                  - run: test ! -e debug.log && test ! -e .git
                  - run: test "$CIRCLE_WORKING_DIRECTORY" = "$HOME/repo" && pwd
            workflows:
              main: {jobs: [build]}
            """
        )
    )
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    (repo / "src" / "app.txt").write_text("changed, not committed\n")
    (repo / "new.txt").write_text("untracked\n")
    (repo / "debug.log").write_text("ignored\n")
    run_id, status = await env.run(load_workflow(repo / ".circleci" / "config.yml"))
    log = await env.log(run_id, "build")
    assert status == RunStatus.SUCCEEDED, log
    assert log[:2] == ["changed, not committed", "untracked"]
    assert log[-1].endswith("/home/repo")


async def test_cancel_stops_the_running_command_group(env: Env, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    config = tmp_path / "p" / ".circleci" / "config.yml"
    config.parent.mkdir(parents=True)
    config.write_text(
        textwrap.dedent(
            f"""\
            version: 2.1
            jobs:
              slow:
                steps:
                  - run:
                      background: true
                      command: sleep 60 & echo $! > {pid_file}.bg; wait
                  - run: sleep 60 & echo $! > {pid_file}; wait
            workflows:
              w: {{jobs: [slow]}}
            """
        )
    )
    handle = await env.runner.submit(load_workflow(config))
    files = [pid_file, Path(f"{pid_file}.bg")]
    async with asyncio.timeout(10):
        while not all(f.exists() and f.read_text().strip() for f in files):
            await asyncio.sleep(0.02)
    pids = [int(f.read_text()) for f in files]
    assert all(is_running(p) for p in pids)
    env.runner.cancel(handle.run_id, by="test")
    async with asyncio.timeout(10):
        assert await handle.wait() == RunStatus.CANCELLED
    assert not any(is_running(p) for p in pids)


async def test_circle_variables_and_a_failing_shell(env: Env, tmp_path: Path) -> None:
    config = tmp_path / "proj" / ".circleci" / "config.yml"
    config.parent.mkdir(parents=True)
    config.write_text(
        textwrap.dedent(
            """\
            version: 2.1
            jobs:
              vars:
                environment: {JOB_LEVEL: job}
                steps:
                  - run:
                      name: show
                      environment: {JOB_LEVEL: step}
                      command: |
                        echo "$CI $CIRCLECI $CIRCLE_JOB $CIRCLE_PROJECT_REPONAME $JOB_LEVEL"
                        echo "$CIRCLE_BRANCH"
                  - run: echo piped | cat
                  - run: false | cat
                  - run: echo never
            workflows:
              w: {jobs: [vars]}
            """
        )
    )
    run_id, status = await env.run(load_workflow(config), branch="release-1")
    assert status == RunStatus.FAILED
    log = await env.log(run_id, "vars")
    assert log[0] == "true true vars proj step"
    assert "never" not in log  # pipefail: `false | cat` fails the job
    assert (await env.steps(run_id))["vars"].message == "false | cat: exit code 1"
