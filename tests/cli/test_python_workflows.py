"""A workflow written in Python, through the real CLI: run by name (a decorated step's
outputs read by a later script step), the definition it recorded, a rerun, validate, list."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from flowtui.model.pyworkflow import MAP_PREFIX
from tests.cli.conftest import Cli

PIPELINE = """\
from flowtui.workflows import Workflow

wf = Workflow("pipeline", params={"base": "40"}, description="written in Python")

count = wf.script("count", run='echo "files=2" >> "$FLOWTUI_OUTPUT"')


@wf.step(requires=[count])
def total(ctx):
    ctx.log.info("adding")
    return {"sum": int(ctx.params["base"]) + int(ctx.outputs["count"]["files"])}


wf.script("report", run='echo "total is $STEPS_TOTAL_SUM"; test "$STEPS_TOTAL_SUM" = 42',
          requires=[total])
"""


def folder_with(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / "flows"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(textwrap.dedent(text))
    return folder


def test_a_python_workflow_runs_by_name_and_records_its_document(cli: Cli, tmp_path: Path) -> None:
    folder = folder_with(tmp_path, "pipeline.py", PIPELINE)
    cli.env["FLOWTUI_WORKFLOWS"] = str(folder)
    result = cli("run", "pipeline", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "total is 42" in result.stdout
    rows = cli.query("SELECT step, key, value FROM outputs WHERE run_id = 1 ORDER BY step")
    assert ("total", "sum", "42") in rows
    ((definition,),) = cli.query("SELECT definition FROM runs WHERE id = 1")
    source = json.loads(str(definition))["source"]
    assert source.startswith(MAP_PREFIX) and "call: pipeline:total" in source

    # a rerun reloads the recorded document, not the file (which no longer loads); a
    # decorated function itself would run the file's code as it is now, as `python` steps do
    (folder / "pipeline.py").write_text("from flowtui.workflows import Workflow\nboom(\n")
    again = cli("rerun", "1", "--from", "report", "-q")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "total is 42" in again.stdout


def test_validate_and_list_report_a_broken_python_file_at_its_line(
    cli: Cli, tmp_path: Path
) -> None:
    folder = folder_with(tmp_path, "pipeline.py", PIPELINE)
    broken = folder / "broken.py"
    broken.write_text(
        "from flowtui.workflows import Workflow\n"
        'wf = Workflow("broken")\n'
        'wf.script("a", run="true", retries=-1)\n'
    )
    result = cli("validate", str(folder))
    assert result.returncode == 1
    assert f"{broken}:3:1: error: `retries` must be an integer >= 0" in result.stdout
    assert "1 valid, 1 invalid" in result.stdout
    listed = cli("list", str(folder))
    assert listed.returncode == 0, listed.stderr
    assert "pipeline" in listed.stdout and "broken.py" in listed.stdout
