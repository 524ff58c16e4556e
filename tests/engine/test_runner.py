"""The runner against a real SQLite file, real subprocesses and real timing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from flowtui.engine.events import RunStatusChanged, StepStatusChanged
from flowtui.engine.runner import Decision, RunError, RunnerOptions
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.model.loader import load_workflow
from flowtui.model.workflow import Workflow
from flowtui.store.runstore import RunStore
from tests.harness import Harness as Env
from tests.processes import group_members


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    folder = tmp_path / "wf"

    def resolve(ref: str, parent: Workflow) -> Workflow:
        return load_workflow(folder / ref)

    options = RunnerOptions(parallel=4, kill_grace=1.0, poll_interval=0.05, heartbeat_interval=0.5)
    async with Env.open(tmp_path, options, folder=folder, resolve=resolve) as env:
        yield env


async def test_fan_out_runs_in_parallel_and_fan_in_waits(env: Env) -> None:
    wf = env.workflow(
        """
        name: fan
        steps:
          build: {run: echo built}
          test_a: {requires: [build], run: sleep 0.6}
          test_b: {requires: [build], run: sleep 0.6}
          deploy: {requires: [test_a, test_b], run: echo deployed}
        """
    )
    run_id, status = await env.run(wf)
    assert status == RunStatus.SUCCEEDED
    await env.sink.flush()
    steps = {s.name: s for s in await env.store.get_steps(run_id)}
    a, b, d = steps["test_a"], steps["test_b"], steps["deploy"]
    assert a.started_at < b.ended_at and b.started_at < a.ended_at, "tests did not overlap"
    assert d.started_at >= max(a.ended_at, b.ended_at)
    assert steps["build"].ended_at <= min(a.started_at, b.started_at)
    run = await env.store.get_run(run_id)
    assert run is not None and run.status == RunStatus.SUCCEEDED
    assert run.ended_at is not None and run.started_at is not None
    logs = await env.store.get_logs(run_id, "deploy")
    assert [entry.line for entry in logs if entry.stream == "stdout"] == ["deployed"]


async def test_parallel_limit_serialises_steps(tmp_path: Path) -> None:
    async with Env.open(tmp_path, RunnerOptions(parallel=1, poll_interval=0.05)) as env:
        await _serial_steps(env)


async def _serial_steps(env: Env) -> None:
    wf = env.workflow(
        """
        name: serial
        steps:
          a: {run: sleep 0.3}
          b: {run: sleep 0.3}
        """
    )
    run_id, _ = await env.run(wf)
    await env.sink.flush()
    a, b = await env.store.get_steps(run_id)
    assert a.ended_at <= b.started_at or b.ended_at <= a.started_at


async def test_failure_stops_dependants_but_independent_steps_finish(env: Env) -> None:
    wf = env.workflow(
        """
        name: partial
        steps:
          broken: {run: "echo going down >&2; exit 3"}
          after_broken: {requires: [broken], run: echo never}
          independent: {run: sleep 0.3; echo fine}
        """
    )
    run_id, status = await env.run(wf)
    assert status == RunStatus.FAILED
    await env.sink.flush()
    steps = {s.name: s for s in await env.store.get_steps(run_id)}
    assert steps["broken"].status == StepStatus.FAILED
    assert steps["broken"].exit_code == 3
    assert steps["after_broken"].status == StepStatus.PENDING
    assert steps["after_broken"].started_at is None
    assert steps["independent"].status == StepStatus.SUCCEEDED
    errs = await env.store.get_logs(run_id, "broken")
    assert any(e.stream == "stderr" and e.line == "going down" for e in errs)


async def test_fail_fast_cancels_running_siblings(env: Env) -> None:
    wf = env.workflow(
        """
        name: ff
        fail_fast: true
        steps:
          slow: {run: sleep 30}
          broken: {run: sleep 0.3; exit 1}
          later: {requires: [slow], run: echo never}
        """
    )
    async with asyncio.timeout(10):
        run_id, status = await env.run(wf)
    assert status == RunStatus.FAILED
    st = await env.statuses(run_id)
    assert st == {
        "slow": StepStatus.CANCELLED,
        "broken": StepStatus.FAILED,
        "later": StepStatus.PENDING,
    }


async def test_continue_on_failure_lets_dependants_run(env: Env) -> None:
    wf = env.workflow(
        """
        name: cof
        steps:
          lint: {run: exit 1, continue_on_failure: true}
          build: {requires: [lint], run: echo ok}
        """
    )
    run_id, status = await env.run(wf)
    assert status == RunStatus.SUCCEEDED
    assert await env.statuses(run_id) == {"lint": StepStatus.FAILED, "build": StepStatus.SUCCEEDED}


async def test_approval_holds_until_approved(env: Env) -> None:
    wf = env.workflow(
        """
        name: gate
        steps:
          plan: {run: echo planned}
          approve: {type: approval, requires: [plan], approvers: [alice]}
          apply: {requires: [approve], run: echo applied}
        """
    )
    handle = await env.runner.submit(wf)
    await env.wait_step(handle.run_id, "approve", StepStatus.HELD)
    run = await env.store.get_run(handle.run_id)
    assert run is not None and run.status == RunStatus.HELD
    assert (await env.statuses(handle.run_id))["apply"] == StepStatus.PENDING
    refused = env.runner.decide(handle.run_id, "approve", Decision(True, "mallory", ""))
    assert refused is not None and "not an approver" in refused
    assert env.runner.decide(handle.run_id, "approve", Decision(True, "alice", "lgtm")) is None
    assert await handle.wait() == RunStatus.SUCCEEDED
    await env.sink.flush()
    approvals = await env.store.get_approvals(handle.run_id)
    assert [(a.step, a.approved, a.by, a.comment) for a in approvals] == [
        ("approve", True, "alice", "lgtm")
    ]
    steps = {s.name: s for s in await env.store.get_steps(handle.run_id)}
    assert steps["approve"].message == "approved by alice: lgtm"


async def test_approval_decided_from_another_connection(env: Env, tmp_path: Path) -> None:
    wf = env.workflow(
        """
        name: gate2
        steps:
          hold: {type: approval}
          apply: {requires: [hold], run: echo applied}
        """
    )
    handle = await env.runner.submit(wf)
    await env.wait_step(handle.run_id, "hold", StepStatus.HELD)
    other = await RunStore.open(env.store.path)
    try:
        await other.add_command(handle.run_id, "reject", step="hold", by="bob", comment="not now")
    finally:
        await other.close()
    async with asyncio.timeout(5):
        assert await handle.wait() == RunStatus.FAILED
    st = await env.statuses(handle.run_id)
    assert st == {"hold": StepStatus.REJECTED, "apply": StepStatus.PENDING}


async def test_approval_timeout_rejects(env: Env) -> None:
    wf = env.workflow(
        """
        name: gate3
        steps:
          hold: {type: approval, timeout: 300ms}
        """
    )
    run_id, status = await env.run(wf)
    assert status == RunStatus.FAILED
    await env.sink.flush()
    (step,) = await env.store.get_steps(run_id)
    assert step.status == StepStatus.REJECTED
    assert "no decision within" in step.message


async def test_condition_skips_the_branch_not_taken_and_joins(env: Env) -> None:
    wf = env.workflow(
        """
        name: cond
        params: {branch: main}
        steps:
          is_main:
            type: condition
            if: "params.branch == 'main'"
            then: [deploy]
            else: [preview]
          deploy: {run: echo deploy}
          preview: {run: echo preview}
          after_preview: {requires: [preview], run: echo never}
          report: {requires: [deploy, preview], run: echo report}
        """
    )
    run_id, status = await env.run(wf)
    assert status == RunStatus.SUCCEEDED
    assert await env.statuses(run_id) == {
        "is_main": StepStatus.SUCCEEDED,
        "deploy": StepStatus.SUCCEEDED,
        "preview": StepStatus.SKIPPED,
        "after_preview": StepStatus.SKIPPED,
        "report": StepStatus.SUCCEEDED,
    }
    run_id, status = await env.run(wf, params={"branch": "feature/x"})
    st = await env.statuses(run_id)
    assert st["deploy"] == StepStatus.SKIPPED and st["preview"] == StepStatus.SUCCEEDED


async def test_when_uses_outputs_of_earlier_steps(env: Env) -> None:
    wf = env.workflow(
        """
        name: when
        steps:
          measure: {run: 'echo "count=7" >> "$FLOWTUI_OUTPUT"'}
          big: {requires: [measure], when: "int(steps.measure.outputs.count) > 5", run: echo big}
          small: {requires: [measure], when: "int(steps.measure.outputs.count) <= 5", run: echo s}
          bad: {requires: [measure], when: "().__class__.__bases__", run: echo never}
        """
    )
    run_id, status = await env.run(wf)
    st = await env.statuses(run_id)
    assert st["big"] == StepStatus.SUCCEEDED
    assert st["small"] == StepStatus.SKIPPED
    assert st["bad"] == StepStatus.FAILED
    assert status == RunStatus.FAILED
    assert (await env.store.get_outputs(run_id))["measure"] == {"count": "7"}


async def test_retries_then_success_records_attempts(env: Env) -> None:
    wf = env.workflow(
        """
        name: flaky
        steps:
          flaky:
            retries: 2
            retry_delay: 100ms
            run: |
              n=$(cat "$FLOWTUI_WORKSPACE/n" 2>/dev/null || echo 0)
              echo $((n+1)) > "$FLOWTUI_WORKSPACE/n"
              echo "attempt $FLOWTUI_ATTEMPT"
              [ "$n" -ge 1 ]
        """
    )
    run_id, status = await env.run(wf)
    assert status == RunStatus.SUCCEEDED
    await env.sink.flush()
    (step,) = await env.store.get_steps(run_id)
    assert step.attempt == 2
    attempts = await env.store.get_attempts(run_id, "flaky")
    assert [a.attempt for a in attempts] == [1, 2]
    lines = [entry.line for entry in await env.store.get_logs(run_id, "flaky")]
    assert "attempt 1" in lines and "attempt 2" in lines


async def test_timeout_kills_the_step(env: Env) -> None:
    wf = env.workflow(
        """
        name: slow
        steps:
          slow: {run: "echo $$ > pid; sleep 30", timeout: 500ms, cwd: .}
        """
    )
    async with asyncio.timeout(8):
        run_id, status = await env.run(wf)
    assert status == RunStatus.FAILED
    await env.sink.flush()
    (step,) = await env.store.get_steps(run_id)
    assert step.status == StepStatus.TIMED_OUT
    pid = int((env.folder / "pid").read_text())
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


async def test_cancel_kills_process_group_and_marks_cancelled(env: Env) -> None:
    wf = env.workflow(
        """
        name: cancel
        steps:
          long: {run: "sleep 600 | cat & echo started; wait"}
          after: {requires: [long], run: echo never}
        """
    )
    handle = await env.runner.submit(wf)
    await env.wait_step(handle.run_id, "long", StepStatus.RUNNING)
    async with asyncio.timeout(5):
        while not [
            e for e in await env.store.get_logs(handle.run_id, "long") if e.line == "started"
        ]:
            await asyncio.sleep(0.02)
    (step,) = [s for s in await env.store.get_steps(handle.run_id) if s.name == "long"]
    assert step.pgid
    assert env.runner.cancel(handle.run_id, by="carol")
    async with asyncio.timeout(8):
        assert await handle.wait() == RunStatus.CANCELLED
    assert group_members(step.pgid) == []
    st = await env.statuses(handle.run_id)
    assert st == {"long": StepStatus.CANCELLED, "after": StepStatus.PENDING}
    run = await env.store.get_run(handle.run_id)
    assert run is not None and "carol" in run.message


async def test_matrix_copies_run_with_their_values(env: Env) -> None:
    wf = env.workflow(
        """
        name: matrix
        steps:
          apply:
            matrix: {region: [us, eu]}
            run: echo "region=$MATRIX_REGION" >> "$FLOWTUI_OUTPUT"
          verify: {requires: [apply], run: echo verified}
        """
    )
    run_id, status = await env.run(wf)
    assert status == RunStatus.SUCCEEDED
    outputs = await env.store.get_outputs(run_id)
    assert outputs["apply[region=us]"] == {"region": "us"}
    assert outputs["apply[region=eu]"] == {"region": "eu"}


async def test_params_reach_scripts_only_as_environment(env: Env) -> None:
    wf = env.workflow(
        """
        name: params
        params:
          target: {required: true}
        steps:
          show: {run: 'printf "%s\\n" "$PARAM_TARGET"'}
        """
    )
    with pytest.raises(RunError, match="missing required param"):
        await env.runner.submit(wf)
    hostile = 'x";touch PWNED;#'
    run_id, status = await env.run(wf, params={"target": hostile})
    assert status == RunStatus.SUCCEEDED
    lines = [e.line for e in await env.store.get_logs(run_id, "show") if e.stream == "stdout"]
    assert lines == [hostile]
    assert not (env.folder / "PWNED").exists()
    with pytest.raises(RunError, match="unknown param"):
        await env.runner.submit(wf, params={"target": "a", "tagret": "b"})


async def test_workspace_is_shared_between_steps(env: Env) -> None:
    wf = env.workflow(
        """
        name: ws
        steps:
          produce: {run: echo payload > "$FLOWTUI_WORKSPACE/artifact.txt"}
          consume: {requires: [produce], run: cat "$FLOWTUI_WORKSPACE/artifact.txt"}
        """
    )
    run_id, status = await env.run(wf)
    assert status == RunStatus.SUCCEEDED
    lines = [e.line for e in await env.store.get_logs(run_id, "consume") if e.stream == "stdout"]
    assert lines == ["payload"]


async def test_rerun_from_failed_reuses_succeeded_steps(env: Env) -> None:
    flag = env.folder / "fixed"
    wf = env.workflow(
        f"""
        name: rerun
        steps:
          build: {{run: 'echo built; echo "artifact=a1" >> "$FLOWTUI_OUTPUT"'}}
          side: {{run: echo side}}
          test: {{requires: [build], run: 'test -f {flag}'}}
          deploy: {{requires: [test], run: echo deployed}}
        """
    )
    first, status = await env.run(wf)
    assert status == RunStatus.FAILED
    flag.touch()
    handle = await env.runner.rerun(first, from_failed=True, triggered_by="dave")
    assert await handle.wait() == RunStatus.SUCCEEDED
    await env.sink.flush()
    steps = {s.name: s for s in await env.store.get_steps(handle.run_id)}
    assert steps["build"].status == StepStatus.REUSED
    assert steps["build"].reused_from == first
    assert steps["side"].status == StepStatus.REUSED
    assert steps["test"].status == StepStatus.SUCCEEDED
    assert steps["deploy"].status == StepStatus.SUCCEEDED
    assert (await env.store.get_outputs(handle.run_id))["build"] == {"artifact": "a1"}
    assert await env.store.get_logs(handle.run_id, "build") == []
    run = await env.store.get_run(handle.run_id)
    assert run is not None and run.parent_run_id == first and run.rerun_mode == "from-failed"

    again = await env.runner.rerun(handle.run_id, from_failed=False)
    assert await again.wait() == RunStatus.SUCCEEDED
    st = await env.statuses(again.run_id)
    assert set(st.values()) == {StepStatus.SUCCEEDED}


async def test_concurrency_queues_runs_in_order(env: Env) -> None:
    wf = env.workflow(
        """
        name: one-at-a-time
        concurrency: 1
        steps:
          work: {run: sleep 0.4}
        """
    )
    first = await env.runner.submit(wf)
    second = await env.runner.submit(wf)
    await env.wait_step(first.run_id, "work", StepStatus.RUNNING)
    await env.sink.flush()
    queued = await env.store.get_run(second.run_id)
    assert queued is not None and queued.status == RunStatus.QUEUED
    assert await first.wait() == RunStatus.SUCCEEDED
    assert await second.wait() == RunStatus.SUCCEEDED
    await env.sink.flush()
    a = await env.store.get_run(first.run_id)
    b = await env.store.get_run(second.run_id)
    assert a is not None and b is not None
    assert b.started_at >= a.ended_at


async def test_workflow_step_runs_a_child_run(env: Env) -> None:
    env.workflow(
        """
        name: child
        params: {who: nobody}
        steps:
          hello: {run: 'echo "hello $PARAM_WHO"'}
        """,
        name="child.yaml",
    )
    parent = env.workflow(
        """
        name: parent
        steps:
          call: {type: workflow, workflow: child.yaml, params: {who: parent}}
        """
    )
    run_id, status = await env.run(parent)
    assert status == RunStatus.SUCCEEDED
    outputs = await env.store.get_outputs(run_id)
    child_id = int(outputs["call"]["run_id"])
    child = await env.store.get_run(child_id)
    assert child is not None and child.workflow == "child" and child.trigger == "workflow"
    lines = [e.line for e in await env.store.get_logs(child_id, "hello")]
    assert "hello parent" in lines


async def test_events_arrive_in_order_on_the_bus(env: Env) -> None:
    seen: list[tuple[str, StepStatus]] = []
    env.bus.add_listener(
        lambda e: seen.append((e.step, e.status)) if isinstance(e, StepStatusChanged) else None
    )
    wf = env.workflow(
        """
        name: order
        steps:
          a: {run: "true"}
          b: {requires: [a], run: "true"}
        """
    )
    await env.run(wf)
    assert seen == [
        ("a", StepStatus.RUNNING),
        ("a", StepStatus.SUCCEEDED),
        ("b", StepStatus.RUNNING),
        ("b", StepStatus.SUCCEEDED),
    ]


async def test_run_records_the_git_commit_of_its_workflow(env: Env) -> None:
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(env.folder), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    git("init", "-q")
    wf_path = env.folder / "wf.yaml"
    wf_path.write_text("name: g\nsteps:\n  a: {run: 'true'}\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "wf")
    run_id, _ = await env.run(load_workflow(wf_path))
    run = await env.store.get_run(run_id)
    assert run is not None and run.git_commit == git("rev-parse", "HEAD")


async def test_a_run_records_the_text_it_ran_not_the_file_as_it_is_now(env: Env) -> None:
    wf = env.workflow(
        """
        name: frozen
        steps:
          a: {run: exit 1}
        """
    )
    assert wf.path is not None
    wf.path.write_text("name: frozen\nsteps: [broken\n")  # edited (and broken) after loading
    run_id, status = await env.run(wf)
    assert status == RunStatus.FAILED
    run = await env.store.get_run(run_id)
    assert run is not None and run.definition["source"] == wf.source
    again = await env.runner.rerun(run_id)  # reloads what ran, not the broken file
    assert await again.wait() == RunStatus.FAILED


async def test_a_run_whose_final_status_is_out_is_no_longer_active(env: Env) -> None:
    """The dashboard's quit asks about `active_run_ids`; once "run succeeded" is published
    (and shown) the run must not count, though its execution still winds down."""
    wf = env.workflow("name: quick\nsteps:\n  only: {run: echo done}\n")
    seen: list[tuple[RunStatus, list[int]]] = []

    def listener(event: object) -> None:
        if isinstance(event, RunStatusChanged) and event.status.is_final:
            seen.append((event.status, env.runner.active_run_ids))

    env.bus.add_listener(listener)
    _run_id, status = await env.run(wf)
    assert status == RunStatus.SUCCEEDED
    assert seen == [(RunStatus.SUCCEEDED, [])]
    assert env.runner.active_run_ids == []
