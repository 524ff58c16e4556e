"""Workflows written in Python: evaluated in a child process, then loaded as YAML.

`evaluate(path)` runs `python -m flowtui.model.pyeval FILE` with a timeout (user code never
runs in flowtui's own process; a file that loops or crashes costs a child process) and turns
what it declared into the *normalised document*: the YAML a person would have written, plus
a first-line comment mapping its lines back to the Python lines that declared them.  The
loader validates that text like any workflow file (same rules, same messages), then
`relocate` moves every position — of problems and of the loaded workflow — to the `.py`
file.  A run records the normalised document as its definition, so a rerun reloads exactly
what ran, with positions still pointing at the Python file.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import yaml
from msgspec.structs import replace

from flowtui.model.errors import Problem, WorkflowError
from flowtui.model.privateenv import without_private
from flowtui.model.workflow import SourcePos, Workflow
from flowtui.model.yamlsafe import MAX_DEPTH

TIMEOUT_ENV = "FLOWTUI_PY_WORKFLOW_TIMEOUT"
DEFAULT_TIMEOUT = 10.0  # seconds a Python workflow file may take to evaluate
MAP_PREFIX = "# flowtui python workflow; line map: "
MAX_ANSWER_BYTES = 8 * 1024 * 1024
_STDERR_TAIL = 2000
_CHUNK = 64 * 1024

# one map entry: from this document line on, positions are (file or None: the .py, line, col)
MapEntry = tuple[int, str | None, int, int]


def is_python_workflow_file(path: Path) -> bool:
    return path.suffix == ".py"


_MARK_BYTES = 256 * 1024  # the import is near the top; helper modules are not read whole


def declares_workflows(path: Path) -> bool:
    """Whether a `.py` file of a workflow folder is a workflow: it uses `flowtui.workflows`.

    Other `.py` files of the folder (the modules of `python` steps, helpers) are never
    evaluated, only read this far."""
    try:
        with path.open("rb") as fh:
            return b"flowtui.workflows" in fh.read(_MARK_BYTES)
    except OSError:
        return False


def timeout_seconds() -> float:
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        value = float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if value > 0 else DEFAULT_TIMEOUT


def evaluate(path: Path, file: str, timeout: float | None = None) -> str:
    """The normalised YAML document of the workflow declared in `path` (errors name `file`)."""
    limit = timeout_seconds() if timeout is None else timeout
    answer = _run_child(path, file, limit)
    try:
        return _document(answer, path, file)
    except WorkflowError:
        raise
    except RecursionError:
        # json and yaml recurse once per level: a file can nest its keys deeper than
        # the loader ever could (which allows yamlsafe.MAX_DEPTH levels)
        raise _unreadable(file, _NESTED) from None
    except Exception as exc:  # whatever the answer holds: an error, never a traceback
        # the child's answer is ours, but the file's code ran in that process and could
        # have changed what it declared behind the API's back
        raise _unreadable(file, f"{type(exc).__name__}: {exc}") from None


_NESTED = "it is nested too deeply"


def _unreadable(file: str, why: str) -> WorkflowError:
    hint = "declare steps only through the flowtui.workflows API"
    if why == _NESTED:
        hint = f"a workflow's values nest at most {MAX_DEPTH} levels deep"
    return WorkflowError(
        [
            Problem(
                SourcePos(file, 1, 1), f"what the Python file declared cannot be read ({why})", hint
            )
        ]
    )


def _document(answer: dict[str, Any], path: Path, file: str) -> str:
    if not answer.get("ok"):
        origin = answer.get("origin") or [file, 1, 1]
        raise WorkflowError(
            [
                Problem(
                    _pos(file, path, origin),
                    f"the Python file failed: {answer.get('error') or 'unknown error'}",
                    _failure_hint(answer, path, file),
                )
            ]
        )
    workflows = answer.get("workflows") or []
    if not workflows:
        raise WorkflowError(
            [
                Problem(
                    SourcePos(file, 1, 1),
                    "the Python file declares no workflow",
                    'add `wf = Workflow("name")` (from flowtui.workflows import Workflow)',
                )
            ]
        )
    if len(workflows) > 1:
        raise WorkflowError(
            [
                Problem(
                    _pos(file, path, workflows[1]["origin"]),
                    "a Python workflow file declares one workflow; this is a second one",
                    "move it to a file of its own",
                )
            ]
        )
    return normalised_document(workflows[0], path, file)


PRINTED_LINES = 10  # the last lines a failing file printed, shown with its error
_PRINTED_WIDTH = 200


def _failure_hint(answer: dict[str, Any], path: Path, file: str) -> str:
    """The last frames of the user's own files, innermost last, and the last lines the
    file printed (stdout and stderr both reach the evaluating child's stderr)."""
    parts: list[str] = []
    trace = answer.get("trace") or []
    if len(trace) > 1:
        where = [_pos(file, path, [f[0], f[1], 1]) for f in trace]
        frames = [f"{w.file}:{w.line} in {f[2]}" for w, f in zip(where, trace, strict=True)]
        parts.append("traceback (innermost last): " + " → ".join(frames))
    printed = [line[:_PRINTED_WIDTH] for line in str(answer.get(_PRINTED, "")).splitlines()]
    printed = [line for line in printed if line.strip()][-PRINTED_LINES:]
    if printed:
        parts.append(
            f"what the file printed (last {len(printed)} line{'s' if len(printed) > 1 else ''}):"
            + "".join(f"\n  | {line}" for line in printed)
        )
    return "\n".join(parts)


_PRINTED = "_printed"  # set by the parent on a failed answer: the tail of what it printed

# how the evaluating child is started away from the history, once a runner knows what to
# hide (engine/pysandbox.py): (argv, cwd, env) -> (the argv to run, a pre-exec hook)
SpawnSetup = Callable[
    [list[str], Path, dict[str, str]],
    AbstractContextManager[tuple[list[str], Callable[[], None] | None]],
]
_sandbox: SpawnSetup | None = None


def use_sandbox(setup: SpawnSetup | None) -> None:
    """Start later evaluations with `setup` (None: as they are)."""
    global _sandbox
    _sandbox = setup


def _run_child(path: Path, file: str, timeout: float) -> dict[str, Any]:
    env = without_private(os.environ)  # what a step does not inherit, the child neither
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ appears in the watched folder
    # -P: the folder is not put first on sys.path before flowtui is imported (pyeval puts
    # it there for the file's own imports)
    argv = [sys.executable, "-P", "-m", "flowtui.model.pyeval", str(path.resolve())]
    cwd = path.resolve().parent
    setup = _sandbox(argv, cwd, env) if _sandbox is not None else nullcontext((argv, None))
    try:
        with setup as (command, restrict):
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=env,
                start_new_session=True,  # its own process group: a timeout kills all of it
                preexec_fn=restrict,
            )
    except OSError as exc:
        raise WorkflowError(
            [Problem(SourcePos(file, 1, 1), f"cannot start python: {exc.strerror or exc}")]
        ) from None
    try:
        out, err = _read_bounded(proc, timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise WorkflowError(
            [
                Problem(
                    SourcePos(file, 1, 1),
                    f"evaluating the Python file took longer than {timeout:g}s",
                    "a workflow file should only declare steps; do slow work in a step "
                    f"(or raise the limit with {TIMEOUT_ENV}=SECONDS)",
                )
            ]
        ) from None
    finally:
        _kill_group(proc)  # whatever it started in the background goes too
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    try:
        if len(out) > MAX_ANSWER_BYTES:
            raise ValueError("too large")
        answer = json.loads(out.decode("utf-8"))
        if not isinstance(answer, dict):
            raise ValueError("not an object")
        if not answer.get("ok"):
            answer[_PRINTED] = err.decode("utf-8", "replace")
    except RecursionError:
        raise _unreadable(file, _NESTED) from None
    except ValueError:
        tail = err.decode("utf-8", "replace").strip()[-_STDERR_TAIL:]
        detail = tail.splitlines()[-1] if tail else f"exit code {proc.returncode}"
        if len(out) > MAX_ANSWER_BYTES:
            detail = f"its answer is larger than {MAX_ANSWER_BYTES // (1024 * 1024)} MiB"
        raise WorkflowError(
            [
                Problem(
                    SourcePos(file, 1, 1),
                    f"evaluating the Python file did not finish ({detail})",
                    "the interpreter died while importing it (os._exit, a signal, a crash)",
                )
            ]
        ) from None
    return answer


def _read_bounded(proc: subprocess.Popen[bytes], timeout: float) -> tuple[bytes, bytes]:
    """The child's answer (at most MAX_ANSWER_BYTES + 1 bytes of it) and the tail of its
    stderr, read until both pipes close; both are drained to the end, so a child that
    writes a lot is not blocked, and nothing beyond those bounds is kept.
    TimeoutExpired after `timeout` seconds."""
    assert proc.stdout is not None and proc.stderr is not None
    deadline = time.monotonic() + timeout
    out = bytearray()
    err = bytearray()
    keep_err = _STDERR_TAIL * 4  # bytes: a tail of _STDERR_TAIL characters, whatever UTF-8
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ, out)
        selector.register(proc.stderr, selectors.EVENT_READ, err)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(proc.args, timeout)
            for key, _ in selector.select(left):
                chunk = os.read(key.fd, _CHUNK)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                kept: bytearray = key.data
                if kept is out:
                    kept += chunk[: MAX_ANSWER_BYTES + 1 - len(kept)]
                else:
                    kept += chunk
                    del kept[:-keep_err]
    proc.wait(max(0.0, deadline - time.monotonic()))
    return bytes(out), bytes(err)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _pos(file: str, path: Path, origin: list[Any]) -> SourcePos:
    where, line, column = str(origin[0]), int(origin[1]), int(origin[2])
    same = where == str(path) or Path(where).resolve() == path.resolve()
    if not same:  # a module of the file's folder: named as the file is (relative or not)
        folder = path.resolve().parent
        if Path(where).is_relative_to(folder):
            where = str(Path(file).parent / Path(where).relative_to(folder))
    return SourcePos(file if same else where, line, column)


# -------------------------------------------------------------------- the document


class _Dumper(yaml.SafeDumper):
    """Block style, scripts as `|` literals: the document reads like a hand-written file."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def normalised_document(declared: dict[str, Any], path: Path, file: str) -> str:
    """The YAML document of one declared workflow, its first line the line map."""
    keys = dict(declared["keys"])
    steps: dict[str, Any] = {}
    first: dict[str, SourcePos] = {}
    twice: list[Problem] = []
    for step in declared["steps"]:
        pos = _pos(file, path, step["origin"])
        if step["name"] in steps:  # YAML's duplicate key, which a dict would silently drop
            twice.append(
                Problem(
                    pos,
                    f"step `{step['name']}` is declared twice "
                    f"(first at line {first[step['name']].line})",
                    "give each step its own name",
                )
            )
            continue
        steps[step["name"]] = step["keys"]
        first[step["name"]] = pos
    if twice:
        raise WorkflowError(twice)
    body = yaml.dump(
        {**keys, "steps": steps}, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100
    )
    # which document line starts each step (line 1 is the map comment, hence the +2)
    root = yaml.compose(body, Loader=yaml.SafeLoader)
    starts: list[int] = []
    for key, value in root.value if root is not None else []:
        if key.value == "steps" and isinstance(value, yaml.MappingNode):
            starts = [k.start_mark.line + 2 for k, _ in value.value]
    entries: list[MapEntry] = [(2, *_origin(declared["origin"], path))]
    for start, step in zip(starts, declared["steps"], strict=True):
        entries.append((start, *_origin(step["origin"], path)))
    return MAP_PREFIX + json.dumps(entries, separators=(",", ":")) + "\n" + body


def _origin(origin: list[Any], path: Path) -> tuple[str | None, int, int]:
    where = str(origin[0])
    same = where == str(path) or Path(where).resolve() == path.resolve()
    return (None if same else where, int(origin[1]), int(origin[2]))


def read_map(text: str) -> list[MapEntry] | None:
    """The line map of a normalised document; None for any other text."""
    if not text.startswith(MAP_PREFIX):
        return None
    first = text.split("\n", 1)[0][len(MAP_PREFIX) :]
    try:
        entries = json.loads(first)
        return [(int(a), None if b is None else str(b), int(c), int(d)) for a, b, c, d in entries]
    except (ValueError, TypeError):
        return None


def mapper(entries: list[MapEntry]) -> Callable[[SourcePos], SourcePos]:
    """Document position → the Python line that declared what sits there."""
    ordered = sorted(entries)

    def to_python(pos: SourcePos) -> SourcePos:
        found = None
        for start, file, line, column in ordered:
            if start <= pos.line:
                found = (file, line, column)
        if found is None:
            return replace(pos, line=ordered[0][2], column=ordered[0][3]) if ordered else pos
        file, line, column = found
        return SourcePos(file or pos.file, line, column)

    return to_python


def relocate_problems(
    problems: Iterable[Problem], move: Callable[[SourcePos], SourcePos], document: str = ""
) -> WorkflowError:
    """The problems at the Python lines.  Steps made by one helper function share that
    function's line, so a problem inside such a step's part of `document` names the step."""
    regions = _step_regions(document) if document else []
    places = [move(SourcePos("", first, 1)) for first, _, _ in regions]
    shared = {n for n, pos in enumerate(places) if places.count(pos) > 1}

    def named(problem: Problem) -> str:
        for n, (first, last, name) in enumerate(regions):
            inside = first <= problem.pos.line <= last
            if inside and n in shared and f"`{name}`" not in problem.message:
                return f"step `{name}`: {problem.message}"
        return problem.message

    return WorkflowError(replace(p, pos=move(p.pos), message=named(p)) for p in problems)


def _step_regions(document: str) -> list[tuple[int, int, str]]:
    """(first line, last line, step name) of each step in a normalised document."""
    try:
        root = yaml.compose(document, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    regions: list[tuple[int, int, str]] = []
    for key, value in root.value if isinstance(root, yaml.MappingNode) else []:
        if key.value == "steps" and isinstance(value, yaml.MappingNode):
            for step_key, step_value in value.value:
                last = step_value.end_mark.line + (1 if step_value.end_mark.column else 0)
                regions.append((step_key.start_mark.line + 1, last, str(step_key.value)))
    return regions


def relocate(workflow: Workflow, move: Callable[[SourcePos], SourcePos]) -> Workflow:
    """`workflow` with every position moved to the Python file."""
    steps = {name: replace(step, pos=move(step.pos)) for name, step in workflow.steps.items()}
    triggers = tuple(
        replace(t, pos=move(t.pos)) if t.pos is not None else t for t in workflow.triggers
    )
    secrets = {
        name: replace(s, pos=move(s.pos)) if s.pos is not None else s
        for name, s in workflow.secrets.items()
    }
    pos = move(workflow.pos) if workflow.pos is not None else None
    return replace(workflow, steps=steps, triggers=triggers, secrets=secrets, pos=pos)


__all__ = [
    "DEFAULT_TIMEOUT",
    "MAP_PREFIX",
    "TIMEOUT_ENV",
    "declares_workflows",
    "evaluate",
    "is_python_workflow_file",
    "mapper",
    "normalised_document",
    "read_map",
    "relocate",
    "relocate_problems",
    "timeout_seconds",
    "use_sandbox",
]
