"""Helpers shared by the model tests: load text, collect problems, find line numbers."""

from __future__ import annotations

import textwrap

import pytest

from flowtui.model.errors import Problem, WorkflowError
from flowtui.model.loader import load_workflow_text


def yaml_text(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line containing `needle` (so tests never hard-code lines)."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(hits) >= nth, f"{needle!r} not found {nth} time(s)"
    return hits[nth - 1]


def problems_of(text: str, file: str = "wf.yaml") -> list[Problem]:
    with pytest.raises(WorkflowError) as caught:
        load_workflow_text(text, file=file)
    return caught.value.problems


def only_problem(text: str) -> Problem:
    found = problems_of(text)
    assert len(found) == 1, "\n".join(str(p) for p in found)
    return found[0]


def with_steps(steps: str, top: str = "") -> str:
    """A minimal valid workflow around the given (already indented by 2) steps block."""
    head = "name: demo\n" + yaml_text(top)
    return head + "steps:\n" + textwrap.indent(yaml_text(steps), "  ")
