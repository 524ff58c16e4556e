"""`when:`/`if:` expressions: true/false literals, and names checked by validate."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowtui.engine.expressions import evaluate_bool
from flowtui.model.errors import WorkflowError
from flowtui.model.loader import load_workflow_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("false", False),
        ("False", False),
        ("not false", True),
        ("params.x == '1' and true", True),
    ],
)
def test_boolean_literals_evaluate(text: str, expected: bool) -> None:
    assert evaluate_bool(text, {"params": {"x": "1"}}) is expected


def _load(tmp_path: Path, body: str) -> object:
    text = "name: w\nparams:\n  x: {default: '1'}\nsteps:\n  a: {run: 'true'}\n" + body
    return load_workflow_text(text, str(tmp_path / "w.yaml"))


def test_yaml_booleans_become_expressions(tmp_path: Path) -> None:
    wf = _load(
        tmp_path,
        "  b: {run: 'true', when: false}\n  c: {run: 'true', when: true}\n"
        "  d: {type: condition, if: false, then: [a]}\n",
    )
    steps = wf.steps  # type: ignore[attr-defined]
    assert steps["b"].when == "false" and steps["c"].when == "true"
    assert steps["d"].spec["if"] == "false"


def test_unknown_names_reported_at_file_line(tmp_path: Path) -> None:
    with pytest.raises(WorkflowError) as info:
        _load(
            tmp_path,
            "  b: {run: 'true', when: \"params.y == 1\"}\n"
            "  c: {run: 'true', when: \"nonsense_var\"}\n"
            "  d: {run: 'true', when: \"steps.nope.status == 'succeeded'\"}\n"
            "  e: {type: condition, if: \"steps['a'].status == 'x' and lower(params.x)\","
            " then: [a]}\n",
        )
    shown = str(info.value)
    assert "w.yaml:6:" in shown and "params.y" in shown and "declared: x" in shown
    assert "w.yaml:7:" in shown and "`nonsense_var`" in shown
    assert "w.yaml:8:" in shown and "steps.nope" in shown
    assert "w.yaml:9:" not in shown  # known step, declared param, a function: fine
