"""Hostile or broken workflow files and expressions: refused fast and clearly, nothing runs.

The loader's own protections are unit-tested in tests/model/test_model_yamlsafe.py,
tests/model/test_model_validation.py and tests/engine/test_expressions.py; here each fault
goes through what a user runs — `flowtui validate`/`run`, the dashboard's catalog and DAG,
and the engine — and must neither hang, nor crash with a traceback, nor run anything.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowtui.engine.states import RunStatus, StepStatus
from flowtui.model.catalog import WorkflowCatalog
from flowtui.model.errors import WorkflowError
from flowtui.model.loader import MAX_STEPS, load_workflow
from flowtui.tui.dag_layout import compute_compact, compute_layout, render_lines
from flowtui.tui.glyphs import glyph

from .conftest import Engine

GOOD = (
    "name: edited\nsteps:\n  first: {run: 'echo one'}\n"
    "  second: {requires: [first], run: 'echo two'}\n"
)


def _validate(*paths: Path, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "flowtui", "validate", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=paths[0].parent,
    )
    return result


def _chain(n: int) -> str:
    lines = ["name: deep", "steps:", "  s0: {type: condition, if: '1 == 1'}"]
    lines += [
        f"  s{i}: {{type: condition, if: '1 == 1', requires: [s{i - 1}]}}" for i in range(1, n)
    ]
    return "\n".join(lines) + "\n"


PWNED = "PWNED"
HOSTILE_FILES = {
    "python-tag.yaml": (
        # where a plain list would load fine: only the tag check stands in the way
        "name: x\nsteps:\n  b: {run: 'true'}\n"
        f"  a: {{run: 'true', requires: !!python/object/apply:os.system ['touch {PWNED}']}}\n",
        "unsupported YAML tag",
    ),
    "laughs.yaml": (
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        )
        + "name: laughs\nsteps: {a: {run: 'true'}}\n",
        "aliases",
    ),
    "latin1.yaml": (b"name: caf\xe9\nsteps:\n  a: {run: 'true'}\n", "UTF-8"),
    "nested.yaml": ("name: n\nsteps: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_hostile_files_are_refused_fast_and_run_nothing(tmp_path: Path, name: str) -> None:
    text, expected = HOSTILE_FILES[name]
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    result = _validate(path)
    assert result.returncode == 1
    assert f"{path}:" in result.stdout and expected in result.stdout, result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / PWNED).exists()


def test_a_100_mb_file_is_refused_by_its_size_before_reading(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as fh:  # a real 100 MB file (sparse: quick to make, same size)
        fh.write(b"name: huge\nsteps:\n")
        fh.truncate(100 * 1024 * 1024)
    result = _validate(huge)
    assert result.returncode == 1
    assert "the file is too large (104,857,600 bytes" in result.stdout, result.stdout


def test_ten_thousand_steps_are_refused_with_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "wide.yaml"
    path.write_text(
        "name: wide\nsteps:\n" + "".join(f"  s{i}: {{run: 'true'}}\n" for i in range(10_000))
    )
    result = _validate(path)
    assert result.returncode == 1
    assert f"too many steps (10,000; the limit is {MAX_STEPS:,})" in result.stdout
    assert "Traceback" not in result.stderr


def test_a_thousand_deep_graph_validates_lays_out_and_runs(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(_chain(1000))
    result = _validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    workflow = load_workflow(path)
    nodes = [(s.name, list(s.requires)) for s in workflow.steps.values()]
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(400)  # far below the depth: any recursion over the chain fails
    try:
        layout = compute_layout(nodes)
        lines = render_lines(layout, {}, "s999", glyph)
        rows = compute_compact(nodes)
    finally:
        sys.setrecursionlimit(old_limit)
    assert lines and len(rows) == 1000


@pytest.mark.parametrize(
    "expression",
    [
        "().__class__.__bases__[0].__subclasses__()",
        "9**9**9",
        "'a' * 10**9",
        "'x' * 1000 + " * 200 + "'y'",
    ],
)
async def test_hostile_conditions_fail_the_step_fast_and_run_nothing(
    engine: Engine, expression: str
) -> None:
    quoted = expression.replace('"', '\\"')
    workflow = engine.workflow(
        f'name: hostile\nsteps:\n  check: {{type: condition, if: "{quoted}"}}\n'
        f"  later: {{requires: [check], run: 'touch {PWNED}-later'}}\n"
    )
    run_id, status = await engine.runner.run(workflow)
    assert status == RunStatus.FAILED
    await engine.sink.flush()
    steps = {s.name: s for s in await engine.store.get_steps(run_id)}
    assert steps["check"].status == StepStatus.FAILED and steps["check"].message.startswith("if:")
    assert steps["later"].status == StepStatus.PENDING
    assert not list(engine.folder.rglob(f"{PWNED}*")) and not Path(PWNED).exists()


def test_a_condition_naming_a_builtin_is_refused_when_loaded(engine: Engine) -> None:
    """Names a condition may use are known before it runs: `__import__` is refused at load,
    with its position, and nothing runs."""
    with pytest.raises(WorkflowError) as caught:
        engine.workflow(
            "name: hostile\nsteps:\n"
            f"  check: {{type: condition, if: \"__import__('os').system('touch {PWNED}')\"}}\n"
        )
    (problem,) = caught.value.problems
    assert "unknown name `__import__`" in problem.message and problem.pos.line == 3
    assert not list(engine.folder.rglob(f"{PWNED}*")) and not Path(PWNED).exists()


async def test_a_half_written_save_keeps_the_last_good_definition_and_the_run_going(
    engine: Engine,
) -> None:
    folder = engine.folder / "workflows"
    folder.mkdir()
    path = folder / "edited.yaml"
    path.write_text(GOOD.replace("echo one", "sleep 0.5; echo one"))
    catalog = WorkflowCatalog(folder)
    catalog.scan()
    entry = catalog.get(path)
    assert entry is not None and entry.workflow is not None
    handle = await engine.runner.submit(entry.workflow)

    # an editor's save caught halfway: the file stops inside the second step
    new = GOOD.replace("echo two", "echo three")
    path.write_bytes(new.encode()[: new.index("requires") + 4])
    change = catalog.refresh([path])
    assert change.broken == (path,)
    kept = catalog.get(path)
    assert kept is not None and kept.workflow is not None and kept.error
    assert list(kept.workflow.steps) == ["first", "second"]  # the last good version

    # the atomic save completes: a temp file renamed over the original
    temp = folder / ".edited.yaml.tmp"
    temp.write_text(new)
    catalog.refresh([temp])
    assert catalog.get(temp) is None  # an editor's temporary file is never a workflow
    os.replace(temp, path)
    catalog.refresh([path])
    fixed = catalog.get(path)
    assert fixed is not None and fixed.error is None
    assert fixed.workflow is not None and "echo three" in fixed.workflow.steps["second"].spec["run"]

    assert await handle.wait() == RunStatus.SUCCEEDED  # the run kept its own definition
    await engine.sink.flush()
    lines = [log.line for log in await engine.store.get_logs(handle.run_id)]
    assert "two" in lines and "three" not in lines
