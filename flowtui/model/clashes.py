"""Two workflow files of one folder with the same `name:` — one rule for every reader.

The dashboard's catalog, `flowtui validate`, `flowtui list` and `flowtui run NAME` all use
it: in a folder the first file (in file-name order) keeps the name, each later file with
the same name is an error at its file:1:1.  `run NAME` refuses a name that two files claim.
It also guesses which broken file was meant by a name (`declares_name`), so `run NAME`
can say why that file does not load instead of "no workflow named ...".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from flowtui.model.errors import Problem
from flowtui.model.workflow import SourcePos, Workflow

HINT = "give each workflow file its own `name:`"


def name_clash_message(name: str, other: Path) -> str:
    return f"workflow name `{name}` is already used by {other.name}"


def name_clash_problem(path: Path, name: str, other: Path) -> Problem:
    return Problem(SourcePos(str(path), 1, 1), name_clash_message(name, other), HINT)


def name_clashes(loaded: Iterable[tuple[Path, Workflow]]) -> dict[Path, Path]:
    """Each file whose workflow name an earlier file of its folder uses → that earlier file.

    `loaded` in the order the files are read (file-name order, as discover_workflows)."""
    first: dict[tuple[Path, str], Path] = {}
    clashes: dict[Path, Path] = {}
    for path, workflow in loaded:
        key = (path.parent, workflow.name)
        if key in first and first[key] != path:
            clashes[path] = first[key]
        else:
            first.setdefault(key, path)
    return clashes


def declares_name(path: Path, name: str) -> bool:
    """True when the file `path`, which does not load, looks like it declares `name`."""
    if path.stem == name:
        return True
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    quoted = re.escape(name)
    if path.suffix == ".py":  # Workflow("name", ...) or Workflow(name="name")
        pattern = rf"Workflow\(\s*(?:name\s*=\s*)?[\"']{quoted}[\"']"
    else:
        pattern = rf"^name:\s*([\"']?){quoted}\1\s*(?:#.*)?$"
    return re.search(pattern, text, re.MULTILINE) is not None
