"""Giving a copy of a Python workflow file a name of its own (the dashboard's `d`).

The workflow's name is the string given to its `Workflow(...)` call.  That call is found
where the evaluation recorded it (the loaded workflow's line and column), not by its
spelling, so `Workflow(name="x")`, `W("x")` (an aliased import) and `fw.Workflow("x")` are
all renamed.  A name that is not a plain string there (a variable, an f-string, a call in
a helper module) cannot be renamed safely: the copy is refused rather than made with a
name that clashes.  The file is parsed (`ast`), never run.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from flowtui.model.workflow import Workflow


class CannotRename(Exception):
    """Why the copy's workflow name cannot be changed (the message says it)."""


def renamed_source(text: str, path: Path, workflow: Workflow, new_name: str) -> str:
    """`text` (the source of `path`, which declared `workflow`) with the workflow's name
    given to its `Workflow(...)` call replaced by `new_name`."""
    pos = workflow.pos
    if pos is None or Path(pos.file).resolve() != path.resolve():
        raise CannotRename(f"`{workflow.name}` is not declared in {path.name} itself")
    try:
        tree = ast.parse(text, filename=str(path))
    except (SyntaxError, ValueError) as exc:
        raise CannotRename(f"{path.name} does not parse now ({exc})") from None
    # the calls that start there: `Workflow("x")`, and in `Workflow("x").script(...)` the
    # outer one too; the workflow's own is the one given its name
    found = [
        arg
        for arg in _name_arguments(tree, pos.line, pos.column - 1)
        if isinstance(arg, ast.Constant) and arg.value == workflow.name
    ]
    if not found or found[0].end_lineno is None or found[0].end_col_offset is None:
        raise CannotRename(
            f"the name of `{workflow.name}` is not a plain string in the Workflow(...) call "
            f"at {path.name}:{pos.line}"
        )
    name = found[0]
    assert name.end_lineno is not None and name.end_col_offset is not None
    data = text.encode("utf-8")  # ast's columns count UTF-8 bytes
    starts = [0]
    for line in data.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    begin = starts[name.lineno - 1] + name.col_offset
    end = starts[name.end_lineno - 1] + name.end_col_offset
    old = data[begin:end].decode("utf-8")
    quote = old[-1] if old[-1:] in ("'", '"') else '"'
    literal = json.dumps(new_name) if quote == '"' else f"'{new_name}'"
    return (data[:begin] + literal.encode("utf-8") + data[end:]).decode("utf-8")


def _name_arguments(tree: ast.AST, line: int, col: int) -> list[ast.expr]:
    """What each call starting at (line, col) is given first: its first positional
    argument, or `name=`."""
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (node.lineno, node.col_offset) == (line, col):
            named = [k.value for k in node.keywords if k.arg == "name"]
            found.extend(node.args[:1] or named[:1])
    return found


__all__ = ["CannotRename", "renamed_source"]
