"""A Python workflow file evaluated by a runner's process cannot reach the history, as a
step cannot: the evaluating child is started under the same sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flowtui.engine import pysandbox, sandbox
from flowtui.model import pyworkflow
from flowtui.model.loader import load_workflow

PROBE = """\
from flowtui.workflows import Workflow

try:
    with open({history!r}, "a") as fh:
        fh.write("forged")
    reached = "reached"
except OSError as exc:
    reached = "kept away"
Workflow("probe", description=reached).script("a", run="true")
"""


@pytest.fixture
def sandboxed() -> Iterator[None]:
    yield
    pyworkflow.use_sandbox(None)


@pytest.mark.skipif(sandbox.mechanism() == "none", reason="no sandbox can be made here")
def test_an_evaluated_file_cannot_write_the_history(tmp_path: Path, sandboxed: None) -> None:
    data = tmp_path / "data"
    data.mkdir()
    history = data / "history.db"
    history.write_text("")
    flows = tmp_path / "flows"
    flows.mkdir()
    path = flows / "probe.py"
    path.write_text(PROBE.format(history=str(history)))

    assert load_workflow(path).description == "reached"  # no runner: as `python FILE`
    pysandbox.install([history])
    assert load_workflow(path).description == "kept away"
    assert history.read_text() == "forged"  # only the unsandboxed evaluation wrote
