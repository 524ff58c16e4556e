"""Workflow chains: a finished run of `build` (in any process) starts `deploy` once."""

from __future__ import annotations

from flowtui.engine.bus import EventBus
from flowtui.engine.runner import RunnerOptions
from flowtui.runtime import build_runner
from flowtui.store.runstore import RunStore
from flowtui.store.sink import StoreSink
from tests.triggers.helpers import Env, runs_of, wait_final, wait_until

BUILD = """\
    name: build
    params: {fail: "no"}
    steps:
      compile: {run: 'test "$PARAM_FAIL" = no'}
"""
DEPLOY = """\
    name: deploy
    triggers:
      - workflow: {name: build, on: success}
    steps:
      ship: {run: 'echo "after $PARAM_UPSTREAM_WORKFLOW run $PARAM_UPSTREAM_RUN_ID"'}
"""
ALERT = """\
    name: alert
    triggers:
      - workflow: {name: build, on: failure}
    steps:
      page: {run: 'echo "build $PARAM_UPSTREAM_STATUS"'}
"""


async def test_a_successful_build_starts_deploy_once(env: Env) -> None:
    build = env.write("build.yaml", BUILD)
    env.write("deploy.yaml", DEPLOY)
    env.write("alert.yaml", ALERT)
    a = await env.service()
    b = await env.service()  # a second service on the same database
    # the build runs in a third "process" with no trigger service at all (a CLI run)
    node = await env.node()
    run_id, status = await node.runner.run(build)
    assert status == "succeeded"
    deploys = await wait_until(lambda: runs_of(a.store, "deploy"))
    deploy = await wait_final(a.store, deploys[0].id)
    assert deploy.status == "succeeded" and deploy.trigger == "workflow"
    assert deploy.params["upstream_run_id"] == str(run_id)
    assert deploy.params["upstream_status"] == "succeeded"
    for service in (a, b):  # both have seen the finished build by now
        await service.chain_poll()
    assert len(await runs_of(a.store, "deploy")) == 1
    assert await runs_of(a.store, "alert") == []  # on: failure did not match

    failed_id, status = await node.runner.run(build, params={"fail": "yes"})
    assert status == "failed"
    alerts = await wait_until(lambda: runs_of(a.store, "alert"))
    assert alerts[0].params["upstream_run_id"] == str(failed_id)
    assert len(await runs_of(a.store, "deploy")) == 1


async def test_a_paused_chained_workflow_ignores_the_finished_run(env: Env) -> None:
    build = env.write("build.yaml", BUILD)
    env.write("deploy.yaml", DEPLOY)
    service = await env.service()
    await service.store.set_paused("deploy", True)
    # the chain reacts to a run of its own runner at once (the local bus), not only by poll
    _, status = await service.runner.run(build)
    assert status == "succeeded"
    events = await wait_until(lambda: service.triggers.list_events("deploy"))
    assert events[0].outcome == "ignored" and "paused" in events[0].detail
    assert await runs_of(service.store, "deploy") == []


async def test_runs_finished_before_the_first_start_do_not_fire(env: Env) -> None:
    build = env.write("build.yaml", BUILD)
    store = await RunStore.open(env.db)
    bus = EventBus()
    sink = StoreSink(store, bus)
    sink.start()
    async with build_runner(store, bus, RunnerOptions()) as runner:
        await runner.run(build)
    await sink.close()
    await store.close()
    env.write("deploy.yaml", DEPLOY)
    service = await env.service()
    assert await service.chain_poll() == []
    assert await runs_of(service.store, "deploy") == []
