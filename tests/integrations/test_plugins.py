"""Third-party step types found through the `flowtui.steps` entry-point group.

The example plugin in tests/fixtures/plugins is "installed" the way an installer leaves
it: its package and a `.dist-info` folder with `entry_points.txt` (made from the plugin's
own pyproject.toml) on a sys.path folder.  That is exactly what importlib.metadata scans.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowtui.engine.executors.registry import get_executor
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.model import steptypes
from flowtui.model.errors import WorkflowError
from flowtui.model.loader import load_workflow_text
from tests.integrations.conftest import FIXTURES, Env

PLUGIN = FIXTURES / "plugins" / "flowtui_example_plugin"


def _dist_info(site: Path, name: str, version: str, entry_points: dict[str, str]) -> None:
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = [f"{key} = {value}" for key, value in entry_points.items()]
    (info / "entry_points.txt").write_text("[flowtui.steps]\n" + "\n".join(lines) + "\n")


def install_plugins(site: Path) -> None:
    """The example plugin, plus one whose module does not exist."""
    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]
    shutil.copytree(PLUGIN / "flowtui_example_plugin", site / "flowtui_example_plugin")
    _dist_info(site, project["name"], project["version"], project["entry-points"]["flowtui.steps"])
    _dist_info(site, "flowtui-broken-plugin", "0.1", {"broken": "flowtui_no_such_module:Step"})


@pytest.fixture
def plugins(tmp_path: Path) -> Iterator[Path]:
    site = tmp_path / "site"
    site.mkdir()
    install_plugins(site)
    sys.path.insert(0, str(site))
    steptypes.reset_plugins()
    try:
        yield site
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("flowtui_example_plugin", None)
        steptypes.reset_plugins()


GREET = """
name: greeting
steps:
  hello: {type: greet, who: world, times: 2}
  after: {requires: [hello], run: 'echo "got $GREETING"', env: {GREETING: x}}
"""


async def test_workflow_runs_a_plugin_step(plugins: Path, env: Env) -> None:
    wf = env.workflow(GREET)
    done = await env.run(wf)
    assert done.status == RunStatus.SUCCEEDED
    step = done.steps["hello"]
    assert step.status == StepStatus.SUCCEEDED
    assert step.message == "hello, world"
    assert done.outputs["hello"] == {"greeting": "hello, world", "run": str(done.run_id)}
    assert done.logs["hello"] == [("stdout", "hello, world"), ("stdout", "hello, world")]


def test_plugin_schema_checks_keys_and_positions(plugins: Path) -> None:
    text = textwrap.dedent(
        """\
        name: bad
        steps:
          a:
            type: greet
            who: 5
            times: 99
            volume: loud
          b: {type: greet}
        """
    )
    with pytest.raises(WorkflowError) as err:
        load_workflow_text(text, file="bad.yaml")
    found = [(p.pos.line, p.message) for p in err.value.problems]
    assert (5, "`who` must be a string") in found
    assert (6, "`times` must be a number from 1 to 10, got 99") in found
    assert any(line == 7 and "unknown key `volume`" in msg for line, msg in found)
    assert (8, "step `b` (type greet) is missing `who`") in found


def test_broken_plugin_is_named_and_the_rest_works(plugins: Path) -> None:
    errors = steptypes.plugin_errors()
    assert list(errors) == ["broken"]
    assert "`broken = flowtui_no_such_module:Step`" in str(errors["broken"])
    assert "ModuleNotFoundError" in str(errors["broken"])

    with pytest.raises(WorkflowError) as err:
        load_workflow_text("name: x\nsteps:\n  a: {type: broken}\n", file="x.yaml")
    [problem] = err.value.problems
    assert "step type plugin `broken = flowtui_no_such_module:Step` could not be loaded" in str(
        problem
    )

    with pytest.raises(WorkflowError) as err:
        load_workflow_text("name: x\nsteps:\n  a: {type: gret}\n", file="x.yaml")
    [problem] = err.value.problems
    assert problem.hint == "did you mean `greet`?"

    with pytest.raises(WorkflowError) as err:
        load_workflow_text("name: x\nsteps:\n  a: {type: zzz}\n", file="x.yaml")
    assert "greet" in err.value.problems[0].hint and "ansible" in err.value.problems[0].hint

    assert type(get_executor("greet")).__name__ == "GreetStep"


def test_plugins_are_imported_only_when_needed(plugins: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(plugins)!r})
        from flowtui.model.loader import load_workflow_text
        load_workflow_text("name: x\\nsteps:\\n  a: {{run: echo}}\\n")
        before = "flowtui_example_plugin" in sys.modules
        load_workflow_text("name: x\\nsteps:\\n  a: {{type: greet, who: me}}\\n")
        print(before, "flowtui_example_plugin" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "True"]
