"""A 1,000-deep chain of condition and `when:` steps: it runs in linear time, validates,
lays out without recursion; 10,000 steps are refused with the limit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flowtui.engine.expressions import referenced_keys
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.model.errors import WorkflowError
from flowtui.model.loader import MAX_STEPS, load_workflow
from flowtui.tui.dag_layout import compute_compact, compute_layout, render_lines
from flowtui.tui.glyphs import glyph

from .conftest import Engine

DEPTH = 1000
SCRIPTS = (0, 333, 666, 999)  # a few real processes along the chain


def deep_chain(depth: int = DEPTH) -> str:
    """`s0 → s1 → … → s{depth-1}`: conditions that read the step before them (some behind a
    true `when:`), a few real scripts, and a `when:`-skipped leaf hanging off every 4th."""
    lines = ["name: deep", "steps:"]
    for i in range(depth):
        needs = f", requires: [s{i - 1}]" if i else ""
        before = f"s{i - 1}" if i else "s0"
        if i in SCRIPTS:
            lines.append(f"  s{i}: {{run: 'echo at {i}'{needs}}}")
        elif i % 2:
            lines.append(
                f"  s{i}: {{type: condition, if: \"steps.{before}.status != 'failed'\"{needs}}}"
            )
        else:
            when = f"steps['{before}'].status in ('succeeded', 'skipped')"
            lines.append(f'  s{i}: {{type: condition, when: "{when}", if: "1 == 1"{needs}}}')
        if i % 4 == 3:
            skip = f"steps.s{i}.status == 'failed'"
            lines.append(f"  w{i}: {{run: 'false', when: \"{skip}\", requires: [s{i}]}}")
    return "\n".join(lines) + "\n"


async def test_a_thousand_deep_chain_of_conditions_runs(engine: Engine) -> None:
    workflow = engine.workflow(deep_chain())
    assert len(workflow.steps) == DEPTH + DEPTH // 4
    run_id, status = await engine.runner.run(workflow)
    assert status == RunStatus.SUCCEEDED
    await engine.sink.flush()
    steps = {s.name: s for s in await engine.store.get_steps(run_id)}
    assert all(steps[f"s{i}"].status == StepStatus.SUCCEEDED for i in range(DEPTH))
    leaves = [s for name, s in steps.items() if name.startswith("w")]
    assert len(leaves) == DEPTH // 4
    assert all(s.status == StepStatus.SKIPPED for s in leaves)
    outputs = await engine.store.get_outputs(run_id)
    assert outputs["s998"] == {"result": "true"}


async def test_expressions_that_read_all_steps_still_see_them_all(engine: Engine) -> None:
    """Only `steps.x` / `steps['x']` narrow the context; any other use gets every step."""
    workflow = engine.workflow(
        "name: whole\nsteps:\n"
        "  a: {type: condition, if: '1 == 1'}\n"
        "  b: {type: condition, if: \"steps.a.outputs.result == 'true'\", requires: [a]}\n"
        "  count: {type: condition, if: 'len(steps) == 5', requires: [b]}\n"
        "  has: {type: condition, if: \"'a' in steps and 'nope' not in steps\", requires: [b]}\n"
        "  got: {type: condition, if: \"steps.get('b')['status'] == 'succeeded'\","
        " requires: [b]}\n"
    )
    run_id, status = await engine.runner.run(workflow)
    assert status == RunStatus.SUCCEEDED
    await engine.sink.flush()
    outputs = await engine.store.get_outputs(run_id)
    assert {name: o["result"] for name, o in outputs.items()} == dict.fromkeys(
        ("a", "b", "count", "has", "got"), "true"
    )


@pytest.mark.parametrize(
    ("expression", "keys"),
    [
        ("steps.a.status == 'succeeded'", {"a"}),
        ("steps['a-b'].outputs.x == steps.c.outputs.y", {"a-b", "c"}),
        ("params.n == '1'", set()),
        ("len(steps) > 2", None),
        ("'a' in steps", None),
        ("steps.get('a')", None),
        ("steps[params.name].status", None),
        ("steps.__class__", None),
        ("steps.a.status ==", None),  # broken: evaluate() reports it
    ],
)
def test_referenced_keys(expression: str, keys: set[str] | None) -> None:
    found = referenced_keys(expression, "steps")
    assert found == (None if keys is None else frozenset(keys))


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "flowtui", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=path.parent,
    )
    return result


def test_the_deep_chain_validates_and_lays_out_without_recursion(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(deep_chain())
    result = _validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    workflow = load_workflow(path)
    nodes = [(s.name, list(s.requires)) for s in workflow.steps.values()]
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(400)  # far below the depth: any recursion over the chain fails
    try:
        layout = compute_layout(nodes)
        lines = render_lines(layout, {}, f"s{DEPTH - 1}", glyph)
        rows = compute_compact(nodes)
    finally:
        sys.setrecursionlimit(old_limit)
    assert lines and len(rows) == len(nodes)


def test_ten_thousand_steps_are_refused_with_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(
        "name: huge\nsteps:\n  s0: {run: 'true'}\n"
        + "".join(f"  s{i}: {{run: 'true', requires: [s{i - 1}]}}\n" for i in range(1, 10_000))
    )
    with pytest.raises(WorkflowError) as caught:
        load_workflow(path)
    assert f"too many steps (10,000; the limit is {MAX_STEPS:,})" in str(caught.value)
    assert "split the workflow" in str(caught.value)
