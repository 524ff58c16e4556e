"""`runs_on:` in workflow files: a queue name per step, or a workflow-wide default."""

from __future__ import annotations

import pytest

from flowtui.model.errors import WorkflowError
from flowtui.model.loader import load_workflow_text


def test_workflow_default_and_step_override() -> None:
    wf = load_workflow_text(
        """
name: t
runs_on: east
steps:
  a: {run: echo}
  b: {run: echo, runs_on: west, requires: [a]}
  gate: {type: approval, requires: [b]}
  pick: {type: condition, requires: [gate], if: "1 == 1", then: [c]}
  c: {run: echo}
""",
        file="w.yaml",
    )
    assert wf.runs_on == "east"
    assert {n: s.runs_on for n, s in wf.steps.items()} == {
        "a": "east",
        "b": "west",
        "gate": None,  # the runner's own business
        "pick": None,
        "c": "east",
    }


def test_no_runs_on_means_the_runner() -> None:
    wf = load_workflow_text("name: t\nsteps:\n  a: {run: echo}\n", file="w.yaml")
    assert wf.runs_on is None and wf.steps["a"].runs_on is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: t\nsteps:\n  g: {type: approval, runs_on: east}\n",
            "w.yaml:3:23: error: step `g`: approval steps run in the runner, not on a worker",
        ),
        (
            "name: t\nsteps:\n  a: {run: x, runs_on: 'two words'}\n",
            "w.yaml:3:24: error: invalid queue name 'two words'",
        ),
        ("name: t\nruns_on: [a]\nsteps:\n  a: {run: x}\n", "w.yaml:2:10: error: `runs_on`"),
    ],
)
def test_bad_runs_on_is_refused_at_file_line(text: str, message: str) -> None:
    with pytest.raises(WorkflowError) as caught:
        load_workflow_text(text, file="w.yaml")
    assert message in str(caught.value)
