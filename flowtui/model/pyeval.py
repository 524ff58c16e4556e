"""Evaluate one Python workflow file, in a process of its own, and print what it declared.

`python -m flowtui.model.pyeval FILE` imports FILE (its folder first on `sys.path`, as the
module named after the file) and writes one JSON document to the stdout it was started
with: `{"ok": true, "workflows": [...]}` with each workflow's keys, steps and the file:line
where each was declared, or `{"ok": false, "error": ..., "origin": [file, line, column]}`
when the file raised.  Anything the user's code prints goes to stderr.  The parent
(`flowtui.model.pyworkflow`) runs this with a timeout and never imports user code itself.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any, TextIO

from flowtui.model import pyapi


def evaluate(path: Path) -> dict[str, Any]:
    module_name = path.stem if path.stem.isidentifier() else pyapi.UNNAMED_MODULE
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        return {"ok": False, "error": "not a Python file", "origin": [str(path), 1, 1]}
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SystemExit as exc:
        return _failure(path, exc, f"the file called sys.exit({exc.code!r})")
    except BaseException as exc:  # the user's code may raise anything; say where
        return _failure(path, exc)
    try:
        workflows = [
            {
                "origin": list(wf.data.origin),
                "keys": wf.data.keys,
                "steps": [
                    {"name": s.name, "origin": list(s.origin), "keys": s.keys}
                    for s in wf.data.steps
                ],
            }
            for wf in pyapi.declared
        ]
    except Exception as exc:  # the file changed what it declared behind the API's back
        return _failure(path, exc, f"what the file declared cannot be read: {exc}")
    return {"ok": True, "module": module_name, "workflows": workflows}


_TRACE_FRAMES = 5  # the last frames of the user's own files shown with a failure


def _failure(path: Path, exc: BaseException, message: str = "") -> dict[str, Any]:
    """Where the file failed: the innermost line of the user's own files (the workflow
    file's folder) in the traceback (a syntax error's own position), else its first line;
    and the last of those frames, innermost last, as `trace` ([file, line, function])."""
    origin: list[Any] = [str(path), 1, 1]
    trace: list[list[Any]] = []
    folder = path.resolve().parent
    resolved = str(path.resolve())
    for frame, line in traceback.walk_tb(exc.__traceback__):
        where = Path(frame.f_code.co_filename).resolve()
        outside = not where.is_relative_to(folder) or "site-packages" in where.parts
        if outside or not where.is_file():
            continue  # the standard library, site-packages, flowtui's own API
        name = str(path) if str(where) == resolved else str(where)
        trace.append([name, line, frame.f_code.co_name])
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        origin = [exc.filename, exc.lineno, exc.offset or 1]
        message = message or f"SyntaxError: {exc.msg}"
    elif trace:
        origin = [trace[-1][0], trace[-1][1], 1]
    if not message:
        text = traceback.format_exception_only(type(exc), exc)
        message = text[-1].strip() if text else type(exc).__name__
        if isinstance(exc, pyapi.DefinitionError):
            message = str(exc)
    return {"ok": False, "error": message, "origin": origin, "trace": trace[-_TRACE_FRAMES:]}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m flowtui.model.pyeval FILE.py", file=sys.stderr)
        return 64
    # the answer goes to the stdout we were given; the user's prints go to stderr
    answer: TextIO = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    result = evaluate(Path(argv[0]))
    try:
        text = json.dumps(result)
    except (TypeError, ValueError) as exc:  # pyapi keeps data plain; this is a safety net
        text = json.dumps({"ok": False, "error": str(exc), "origin": [argv[0], 1, 1]})
    answer.write(text)
    answer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
