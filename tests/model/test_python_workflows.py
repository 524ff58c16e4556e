"""Workflows written in Python: every file is evaluated by a real child process, and its
problems come back as the YAML loader's messages at the Python file's lines."""

from __future__ import annotations

import resource
import textwrap
import time
from pathlib import Path

import pytest

from flowtui.model import pyworkflow
from flowtui.model.catalog import WorkflowCatalog
from flowtui.model.errors import WorkflowError
from flowtui.model.loader import discover_workflows, load_workflow, load_workflow_text
from tests.processes import is_running


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def problems(path: Path, timeout: float | None = None) -> list[str]:
    with pytest.raises(WorkflowError) as info:
        if timeout is None:
            load_workflow(path)
        else:
            load_workflow_text(pyworkflow.evaluate(path, str(path), timeout), str(path))
    return [str(p) for p in info.value.problems]


EVERY_TYPE = """\
from flowtui.workflows import Workflow

wf = Workflow(
    "every_type",
    description="one of each",
    params={"version": {"required": True}, "region": "eu"},
    triggers=["manual", {"cron": "0 3 * * *", "timezone": "UTC"}],
    env={"A": 1},
    concurrency=2,
    fail_fast=True,
    secrets={"TOKEN": {"env": "MY_TOKEN"}},
)
plan = wf.script("plan", "./plan.sh", shell="sh", timeout="5m", retries={"limit": 2})
gate = wf.approval("approve", requires=[plan], approvers=["alice"], message="go?")
wf.http("ping", "http://127.0.0.1:1/", method="POST", json={"v": 1}, expect_status=[200])
wf.notify("tell", "http://127.0.0.1:1/hook", "done", requires=gate, on_failure=True)
wf.workflow("child", "other", params={"x": "1"})
wf.ansible("configure", "site.yml", check=True, extra_vars={"a": [1, 2]})
wf.terraform("infra", action="plan", vars={"n": 1})
wf.terraform("infra2", tofu=True)
wf.python("call", "pysteps.report:collect", args={"n": 3})
wf.condition("is_eu", "params.region == 'eu'", then=["apply"], else_=[plan])
wf.script("apply", "./apply.sh", matrix={"size": ["s", "l"]}, branches={"only": ["main"]})


@wf.step(requires=["apply"], retries=1)
def summarise(ctx):
    return {"n": 1}


wf.python("again", summarise, args={"k": 1}, requires=summarise)


@wf.step(name="named", args={"x": [1, 2]})
def other(ctx):
    return None
"""


def test_every_step_type_and_top_level_key_is_reachable(tmp_path: Path) -> None:
    path = write(tmp_path, "every_type.py", EVERY_TYPE)
    workflow = load_workflow(path)
    types = {name: step.type for name, step in workflow.steps.items()}
    assert types == {
        "plan": "script",
        "approve": "approval",
        "ping": "http",
        "tell": "notify",
        "child": "workflow",
        "configure": "ansible",
        "infra": "terraform",
        "infra2": "tofu",
        "call": "python",
        "is_eu": "condition",
        "apply[size=s]": "script",
        "apply[size=l]": "script",
        "summarise": "python",
        "again": "python",
        "named": "python",
    }
    assert workflow.steps["again"].spec == {"call": "every_type:summarise", "args": {"k": 1}}
    assert workflow.steps["again"].requires == ("summarise",)
    assert workflow.steps["named"].spec == {"call": "every_type:other", "args": {"x": [1, 2]}}
    assert workflow.params["version"].required and workflow.params["region"].default == "eu"
    assert [t.kind for t in workflow.triggers] == ["manual", "cron"]
    assert workflow.env == {"A": "1"} and workflow.concurrency == 2 and workflow.fail_fast
    assert workflow.steps["approve"].requires == ("plan",)
    assert workflow.steps["approve"].spec["approvers"] == ["alice"]
    assert workflow.steps["plan"].timeout == 300 and workflow.steps["plan"].retries == 2
    assert workflow.steps["summarise"].spec["call"] == "every_type:summarise"
    assert workflow.steps["summarise"].requires == ("apply[size=s]", "apply[size=l]")
    assert workflow.path == path.resolve()
    # positions are the Python lines that declared each step and the workflow
    assert str(workflow.steps["approve"].pos) == f"{path}:14:8"
    assert str(workflow.steps["summarise"].pos).startswith(f"{path}:26:")
    assert workflow.pos is not None and workflow.pos.line == 3


def test_the_recorded_document_reloads_with_python_positions(tmp_path: Path) -> None:
    path = write(tmp_path, "every_type.py", EVERY_TYPE)
    workflow = load_workflow(path)
    assert workflow.source.startswith(pyworkflow.MAP_PREFIX)
    assert "call: every_type:summarise" in workflow.source
    again = load_workflow_text(workflow.source, str(path), path=path.resolve())
    assert again == workflow


def test_problems_are_the_yaml_ones_at_the_declaring_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "errs.py",
        """\
        from flowtui.workflows import Workflow

        wf = Workflow("errs", concurrency=0)

        a = wf.script("a", run="true", retries="two")
        wf.script("b", run="true", requires=["nope"])
        wf.http("c", url="http://x", method="FETCH",
                expect_status=200)
        wf.plugin("d", type="sciprt", run="x")
        wf.script("e", run="true", requries=[a])
        """,
    )
    found = problems(path)
    assert found == [
        f"{path}:3:6: error: `concurrency` must be an integer >= 1, got integer 0",
        f"{path}:5:5: error: `retries` must be an integer, got string 'two'",
        f"{path}:6:1: error: step `b` requires unknown step `nope`",
        f"{path}:7:1: error: unknown HTTP method 'FETCH'\n"
        "    hint: use one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
        f"{path}:9:1: error: unknown step type 'sciprt'\n    hint: did you mean `script`?",
        f"{path}:10:1: error: unknown key `requries` in step `e`\n"
        "    hint: did you mean `requires`?",
    ]


def test_a_file_that_raises_is_reported_at_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "crash.py",
        """\
        from flowtui.workflows import Workflow

        wf = Workflow("crash")
        wf.script("a", run="true")
        raise RuntimeError("boom")
        """,
    )
    assert problems(path) == [f"{path}:5:1: error: the Python file failed: RuntimeError: boom"]


def test_a_syntax_error_and_plain_data_are_reported_at_their_lines(tmp_path: Path) -> None:
    syntax = write(tmp_path, "syn.py", 'from flowtui.workflows import Workflow\nWorkflow("x"\n')
    assert problems(syntax)[0].startswith(f"{syntax}:2:")
    assert "SyntaxError" in problems(syntax)[0]
    data = write(
        tmp_path,
        "data.py",
        """\
        import datetime
        from flowtui.workflows import Workflow
        wf = Workflow("data")
        wf.script("a", run="true", env={"X": datetime.date(2024, 1, 1)})
        """,
    )
    assert problems(data) == [
        f"{data}:4:1: error: the Python file failed: `env.X` must be plain data "
        "(text, numbers, booleans, lists, dicts), got date"
    ]


def test_a_crashing_interpreter_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = write(tmp_path, "dies.py", "import os\nimport flowtui.workflows\nos._exit(3)\n")
    (found,) = problems(path)
    assert found.startswith(f"{path}:1:1: error: evaluating the Python file did not finish")


def test_a_slow_file_times_out_and_its_processes_are_killed(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    path = write(
        tmp_path,
        "slow.py",
        f"""\
        import os, subprocess, threading
        import flowtui.workflows
        child = subprocess.Popen(["sleep", "300"])
        open({str(pidfile)!r}, "w").write(str(child.pid))
        threading.Event().wait()
        """,
    )
    # long enough for the child to start its background process even on a busy machine
    (found,) = problems(path, timeout=2.5)
    assert found.startswith(f"{path}:1:1: error: evaluating the Python file took longer than 2.5s")
    assert pyworkflow.TIMEOUT_ENV in found
    pid = int(pidfile.read_text())
    # the whole process group was killed: its background child goes too (SIGKILL is
    # delivered asynchronously, so wait for it to be gone, bounded)
    deadline = time.monotonic() + 10
    while is_running(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not is_running(pid)


def test_one_workflow_per_file(tmp_path: Path) -> None:
    none = write(tmp_path, "none.py", "import flowtui.workflows\n")
    assert "declares no workflow" in problems(none)[0]
    two = write(
        tmp_path,
        "two.py",
        'from flowtui.workflows import Workflow\nWorkflow("a")\nWorkflow("b")\n',
    )
    assert problems(two)[0].startswith(f"{two}:3:1: error: a Python workflow file declares one")


def test_a_step_declared_twice_is_an_error_at_the_second(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "twice.py",
        """\
        from flowtui.workflows import Workflow
        wf = Workflow("twice")
        wf.script("a", run="true")
        wf.script("a", run="false")
        """,
    )
    assert problems(path) == [
        f"{path}:4:1: error: step `a` is declared twice (first at line 3)\n"
        "    hint: give each step its own name"
    ]


def test_only_python_files_that_use_the_api_are_workflow_files(tmp_path: Path) -> None:
    write(tmp_path, "helper.py", "def collect(ctx):\n    return {}\n")
    wf = write(
        tmp_path,
        "flow.py",
        'from flowtui.workflows import Workflow\nWorkflow("flow").script("a", "true")\n',
    )
    yaml_file = write(tmp_path, "other.yaml", "name: other\nsteps:\n  a: {run: 'true'}\n")
    assert discover_workflows(tmp_path) == [wf, yaml_file]
    catalog = WorkflowCatalog(tmp_path)
    change = catalog.scan()
    assert set(change.added) == {wf, yaml_file}
    assert [e.name for e in catalog.entries] == ["flow", "other"]
    # a file that stops using the API is no longer a workflow
    wf.write_text("print('just a script')\n")
    assert catalog.refresh([wf]).removed == (wf,)


def test_a_decorated_function_needs_a_module_name(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "my-flow.py",
        """\
        from flowtui.workflows import Workflow
        wf = Workflow("flow")

        @wf.step
        def build(ctx):
            return {}
        """,
    )
    (found,) = problems(path)
    assert found.startswith(f"{path}:4:1: error: the Python file failed: `build` cannot be")
    assert "not a Python module name" in found


NESTED = """\
import sys
sys.setrecursionlimit(1_000_000)  # the child may nest deeper than flowtui can read
from flowtui.workflows import Workflow
wf = Workflow("deep")
wf.script("a", "true")
value = []
for _ in range({depth}):
    value = [value]
wf.data.keys["env"] = {{"X": value}}
"""


@pytest.mark.parametrize("depth", [400, 3000])  # too deep for yaml.dump; for json.loads
def test_a_deeply_nested_answer_is_an_error_at_the_file(tmp_path: Path, depth: int) -> None:
    path = write(tmp_path, "deep.py", NESTED.format(depth=depth))
    (found,) = problems(path)
    assert found.startswith(f"{path}:1:1: error: what the Python file declared cannot be read")
    assert "nested too deeply" in found
    # the catalog (validate, list, serve, the dashboard) gets an error, not a traceback
    ((_, result),) = WorkflowCatalog(tmp_path).load([path])
    assert isinstance(result, str) and "nested too deeply" in result


def test_a_flood_of_output_is_not_kept_in_memory(tmp_path: Path) -> None:
    """What the child writes is drained, but only the answer's limit and stderr's tail
    are kept: a file printing hundreds of MiB costs flowtui no memory."""
    flood = 256 * 1024 * 1024
    path = write(
        tmp_path,
        "loud.py",
        f"""\
        import os, sys
        import flowtui.workflows
        chunk = b"x" * (1024 * 1024)
        for _ in range({flood} // len(chunk)):
            os.write(2, chunk)  # the user's prints go to stderr
        os.write(2, b"\\nthe last line\\n")
        os._exit(3)
        """,
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    (found,) = problems(path, timeout=60)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    assert "did not finish (the last line)" in found
    assert grown < flood // 4, f"peak memory grew by {grown} bytes"


def test_the_evaluating_child_inherits_what_a_step_inherits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One list of what user code must not inherit, for steps and Python workflow files."""
    from flowtui.engine.stepenv import inherited_environment

    names = ["FLOWTUI_DB", "FLOWTUI_WEBHOOK_SECRET", "PGPASSWORD", "PGHOST", "PGDATA", "PGX_OWN"]
    for name in names:
        monkeypatch.setenv(name, "set")
    path = write(
        tmp_path,
        "envs.py",
        f"""\
        import os
        from flowtui.workflows import Workflow
        wf = Workflow("envs", env={{n: os.environ.get(n, "-") for n in {names!r}}})
        wf.script("a", run="true")
        """,
    )
    seen = {name for name, value in load_workflow(path).env.items() if value == "set"}
    assert seen == {name for name in names if name in inherited_environment()}
    assert seen == {"PGDATA", "PGX_OWN"}


def test_a_failure_in_a_helper_module_is_at_its_line_with_the_last_frames(
    tmp_path: Path,
) -> None:
    write(tmp_path, "helper_mod.py", "TABLE = {}\n\n\ndef lookup(key):\n    return TABLE[key]\n")
    path = write(
        tmp_path,
        "pq.py",
        """\
        import json
        import helper_mod
        from flowtui.workflows import Workflow
        wf = Workflow("pq")
        wf.script("a", run=helper_mod.lookup("missing"))
        """,
    )
    (found,) = problems(path)
    lines = found.splitlines()
    helper = tmp_path / "helper_mod.py"
    assert lines[0] == f"{helper}:5:1: error: the Python file failed: KeyError: 'missing'"
    # the user's own frames, innermost last; the standard library and flowtui are left out
    assert lines[1] == (
        f"    hint: traceback (innermost last): {path}:5 in <module> → {helper}:5 in lookup"
    )


def test_what_a_failing_file_printed_is_shown_with_its_error_bounded(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "noisy.py",
        f"""\
        import sys
        from flowtui.workflows import Workflow
        for n in range({pyworkflow.PRINTED_LINES + 5}):
            print("out", n)
        print("config missing", file=sys.stderr)
        raise RuntimeError("boom")
        """,
    )
    (found,) = problems(path)
    assert found.startswith(f"{path}:6:1: error: the Python file failed: RuntimeError: boom")
    shown = [line.strip() for line in found.splitlines() if line.strip().startswith("| ")]
    assert len(shown) == pyworkflow.PRINTED_LINES
    assert shown[-2:] == [f"| out {pyworkflow.PRINTED_LINES + 4}", "| config missing"]
    assert f"what the file printed (last {pyworkflow.PRINTED_LINES} lines):" in found


def test_steps_made_by_one_helper_function_are_named_in_their_problems(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "pr.py",
        """\
        from flowtui.workflows import Workflow
        wf = Workflow("pr")
        def make(name):
            wf.script(name, run="true", timeout="forever")
        make("a")
        make("b")
        """,
    )
    found = [line.split(": error: ", 1) for line in problems(path)]
    assert [where for where, _ in found] == [f"{path}:4:5", f"{path}:4:5"]
    assert found[0][1].startswith("step `a`: `timeout`: invalid duration 'forever'")
    assert found[1][1].startswith("step `b`: `timeout`: invalid duration 'forever'")
