"""The python step: a callable run in its own process with a context, through the Runner."""

from __future__ import annotations

import os
import textwrap
import time

import psutil

from flowtui.engine.states import RunStatus, StepStatus
from tests.integrations.conftest import Env

MODULE = """
import asyncio
import os
import time
from pathlib import Path


def build(ctx):
    ctx.log.info("building %s for run %s", ctx.params["version"], ctx.run_id)
    print("plain print goes to the log too")
    (ctx.workspace / "artifact.txt").write_text(ctx.args["name"])
    return {
        "version": ctx.params["version"],
        "count": 3,
        "tags": ["a", "b"],
        "ok": True,
        "step": ctx.step,
        "env_seen": os.environ["GREETING"] + "/" + ctx.env["GREETING"],
    }


async def report(ctx):
    await asyncio.sleep(0)
    artifact = (ctx.workspace / "artifact.txt").read_text()
    built = ctx.outputs["build"]
    return {"summary": f"report on {artifact} v{built['version']} ({built['count']} items)"}


def explode(ctx):
    raise ValueError(f"bad input: {ctx.args['value']}")


def not_a_dict(ctx):
    return ["x"]


def crash(ctx):
    os._exit(3)


def nothing(ctx):
    print("done, no outputs")


def hang(ctx):
    Path(ctx.args["pidfile"]).write_text(str(os.getpid()))
    time.sleep(60)
"""


def _write_module(env: Env) -> None:
    pkg = env.folder / "tools"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "report.py").write_text(textwrap.dedent(MODULE))


async def test_callables_get_context_and_return_outputs(env: Env) -> None:
    _write_module(env)
    wf = env.workflow(
        """
        name: pyreport
        params: {version: "1.4"}
        env: {GREETING: hello}
        steps:
          build:
            type: python
            call: tools.report:build
            args: {name: widget}
          report: {type: python, requires: [build], call: "tools.report:report"}
          quiet: {type: python, call: "tools.report:nothing"}
        """
    )
    done = await env.run(wf)
    assert done.status == RunStatus.SUCCEEDED, done.log_text("build")
    assert done.outputs["build"] == {
        "version": "1.4",
        "count": "3",
        "tags": '["a", "b"]',
        "ok": "true",
        "step": "build",
        "env_seen": "hello/hello",
    }
    log = done.log_text("build")
    assert f"INFO building 1.4 for run {done.run_id}" in log
    assert "plain print goes to the log too" in log
    assert done.steps["report"].message == "report on widget v1.4 (3 items)"
    assert done.steps["quiet"].status == StepStatus.SUCCEEDED
    assert done.steps["quiet"].message == "done, no outputs"
    assert "quiet" not in done.outputs


async def test_failures_name_their_cause(env: Env) -> None:
    _write_module(env)
    wf = env.workflow(
        """
        name: pyfail
        steps:
          explode: {type: python, call: "tools.report:explode", args: {value: 42}}
          shape: {type: python, call: "tools.report:not_a_dict"}
          crash: {type: python, call: "tools.report:crash"}
          missing: {type: python, call: "tools.nope:run"}
          attr: {type: python, call: "tools.report:absent"}
        """
    )
    done = await env.run(wf)
    assert done.status == RunStatus.FAILED
    steps = done.steps
    assert all(s.status == StepStatus.FAILED for s in steps.values())
    assert steps["explode"].message == "ValueError: bad input: 42"
    log = done.log_text("explode")
    assert "Traceback (most recent call last)" in log and 'report.py", line' in log
    assert steps["shape"].message.startswith("CallError: the function must return a dict")
    assert steps["crash"].message == "tools.report:crash did not finish (exit code 3)"
    assert steps["crash"].exit_code == 3
    assert steps["missing"].message == "ModuleNotFoundError: No module named 'tools.nope'"
    assert steps["attr"].message == "CallError: tools.report has no attribute 'absent'"


async def test_timeout_kills_the_callable_process(env: Env) -> None:
    _write_module(env)
    pidfile = env.folder / "hang.pid"
    wf = env.workflow(
        f"""
        name: pyhang
        steps:
          hang:
            type: python
            call: tools.report:hang
            timeout: 1s
            args: {{pidfile: "{pidfile}"}}
        """
    )
    started = time.monotonic()
    done = await env.run(wf)
    assert time.monotonic() - started < 10
    assert done.steps["hang"].status == StepStatus.TIMED_OUT
    pid = int(pidfile.read_text())
    assert pid != os.getpid()  # it ran in a process of its own
    deadline = time.monotonic() + 5
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the callable's process outlived its step"
        time.sleep(0.05)
