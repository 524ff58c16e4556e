"""Renaming a copy of a Python workflow file: the `Workflow(...)` call is found where the
evaluation recorded it, however it is spelled; a name that is not a plain string there is
refused rather than left to clash."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from flowtui.model.loader import load_workflow
from flowtui.model.pyrename import CannotRename, renamed_source


def renamed(tmp_path: Path, source: str, name: str = "copy") -> str:
    path = tmp_path / "flow.py"
    path.write_text(textwrap.dedent(source))
    return renamed_source(path.read_text(), path, load_workflow(path), name)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (  # a keyword argument over several lines
            """\
            from flowtui.workflows import Workflow
            wf = Workflow(
                name='orig',  # Workflow("orig") in a comment stays
            )
            wf.script("a", run="true")
            """,
            "    name='copy',  # Workflow(\"orig\") in a comment stays\n",
        ),
        (  # aliased imports, and a call chained on the declaration
            """\
            import flowtui.workflows as fw
            from flowtui.workflows import Workflow as W
            label = "é"; fw.Workflow("orig", description=label + "orig").script("a", run="1")
            """,  # (ast's columns count UTF-8 bytes: é is two)
            'label = "é"; fw.Workflow("copy", description=label + "orig").script("a", run="1")\n',
        ),
    ],
)
def test_the_declaring_call_is_renamed_however_spelled(
    tmp_path: Path, source: str, expected: str
) -> None:
    text = renamed(tmp_path, source)
    assert expected in text
    (tmp_path / "flow.py").write_text(text)
    assert load_workflow(tmp_path / "flow.py").name == "copy"


def test_a_name_that_is_not_a_plain_string_is_refused(tmp_path: Path) -> None:
    source = """\
    from flowtui.workflows import Workflow
    NAME = "orig"
    Workflow(NAME).script("a", run="true")
    """
    with pytest.raises(CannotRename, match=r"not a plain string .* at flow\.py:3"):
        renamed(tmp_path, source)
