"""Edit a workflow's text: add, change, rename, remove, connect, duplicate and move steps.

One set of operations for the command line (`flowtui edit`) and the dashboard's builder.
Each operation takes the file's text and gives the new text: the tree is edited with a
round-trip YAML library (`yamlrt`), so what the operation does not touch keeps its
comments, order, quoting and layout, and the result is loaded by the same loader as any
workflow file.  An operation the loader refuses (a cycle, an unknown step, a key of the
wrong type) raises `EditRefused` with the loader's words, and nothing is written.

Step names are referred to in `requires`, a condition's `then`/`else` (both also as
`NAME[matrix=values]` for one matrix copy), and in `when:`/`if:` expressions as
`steps.NAME...` or `steps['NAME']...`; a rename follows all of them.  `$STEPS_NAME_KEY`
variables inside scripts are text the program cannot rewrite safely: a rename says where
they are instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowtui.model import circleci
from flowtui.model.checker import NAME_RE
from flowtui.model.errors import WorkflowError
from flowtui.model.loader import load_workflow_text
from flowtui.model.steptypes import get_step_type
from flowtui.model.validate_steps import COMMON_STEP_KEYS, TYPE_KEYS
from flowtui.model.workflow import Workflow
from flowtui.model.yamlrt import (
    CommentedMap,
    CommentedSeq,
    RoundTrip,
    RoundTripError,
    give_following,
    like,
    shift_line_comment,
    take_following,
    to_node,
)

# the keys a core step type cannot do without (plugins say theirs in their schema)
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "script": ("run",),
    "http": ("url",),
    "approval": (),
    "condition": ("if",),
    "notify": ("url", "message"),
    "workflow": ("workflow",),
}
REF_KEYS = ("requires", "then", "else")  # keys whose values are step names
EXPRESSION_KEYS = ("when", "if")


class EditRefused(Exception):
    """An edit that cannot be made; the message says why (the file is not touched)."""


@dataclass(frozen=True, slots=True)
class Edited:
    """The outcome of an operation: the new text, the loaded workflow, and what changed."""

    text: str
    workflow: Workflow
    changes: tuple[str, ...]
    notes: tuple[str, ...] = ()


# ------------------------------------------------------------------------- operations


@dataclass(frozen=True, slots=True)
class AddStep:
    name: str
    type: str = "script"
    keys: Mapping[str, Any] = field(default_factory=dict)
    requires: Sequence[str] = ()
    after: str | None = None  # placed after this step in the file (default: at the end)
    before: str | None = None


@dataclass(frozen=True, slots=True)
class SetKeys:
    step: str
    values: Mapping[str, Any] = field(default_factory=dict)
    unset: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class Rename:
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class RemoveStep:
    name: str
    detach: bool = False  # also drop it from the steps that require it


@dataclass(frozen=True, slots=True)
class Connect:
    """`target` requires `source` (an edge source → target)."""

    source: str
    target: str


@dataclass(frozen=True, slots=True)
class Disconnect:
    source: str
    target: str


@dataclass(frozen=True, slots=True)
class Duplicate:
    name: str
    new: str


@dataclass(frozen=True, slots=True)
class MoveStep:
    """Put a step before or after another one in the file (the order steps are shown in)."""

    name: str
    after: str | None = None
    before: str | None = None


Operation = AddStep | SetKeys | Rename | RemoveStep | Connect | Disconnect | Duplicate | MoveStep


def apply(
    text: str, operation: Operation, file: str = "<string>", path: Path | None = None
) -> Edited:
    """`operation` on the workflow `text`; raises EditRefused when it cannot be made or the
    result does not load (the loader's problems are in the message)."""
    return apply_all(text, [operation], file, path)


def apply_all(
    text: str, operations: Iterable[Operation], file: str = "<string>", path: Path | None = None
) -> Edited:
    """Several operations, checked once at the end (all of them, or none)."""
    if circleci.is_circleci_path(file):
        raise EditRefused(f"{file}: a CircleCI config is not edited here; edit it in $EDITOR")
    try:
        tree = RoundTrip(text)
    except RoundTripError as exc:
        raise EditRefused(f"{file}: {exc}") from None
    steps = tree.data.get("steps")
    if not isinstance(steps, CommentedMap):
        raise EditRefused(f"{file}: `steps:` is not a mapping of steps")
    changes: list[str] = []
    notes: list[str] = []
    for operation in operations:
        changes.extend(_OPERATIONS[type(operation)](steps, operation, notes))
    new_text = tree.dump()
    if not tree.faithful:
        notes.append("some formatting outside the edited steps was rewritten by the YAML writer")
    return Edited(new_text, check(new_text, file, path), tuple(changes), tuple(notes))


def check(text: str, file: str = "<string>", path: Path | None = None) -> Workflow:
    """Load `text` as the file would be loaded; EditRefused with every problem if it fails."""
    try:
        return load_workflow_text(text, file=file, path=path)
    except WorkflowError as exc:
        raise EditRefused(str(exc)) from None


# ---------------------------------------------------------------------------- helpers


def _step(steps: CommentedMap, name: str) -> CommentedMap:
    if name not in steps:
        known = ", ".join(str(k) for k in steps) or "none"
        raise EditRefused(f"no step `{name}` (steps: {known})")
    item = steps[name]
    if not isinstance(item, CommentedMap):
        raise EditRefused(f"step `{name}` is not a mapping of keys")
    return item


def _check_new_name(steps: CommentedMap, name: str) -> None:
    if not NAME_RE.fullmatch(name):
        raise EditRefused(
            f"`{name}` is not a valid step name: start with a letter or digit, "
            "then use letters, digits, `_`, `.` or `-`"
        )
    if name in steps:
        raise EditRefused(f"a step `{name}` already exists")


def _refs(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def _base(ref: str) -> str:
    return ref.split("[", 1)[0]


def _set_refs(item: CommentedMap, key: str, refs: list[str]) -> None:
    """Write `refs` back under `key`, keeping a list a list (and its style), a single name a
    single name; an emptied key goes."""
    old = item.get(key)
    if not refs:
        if key in item:
            del item[key]
        return
    if isinstance(old, CommentedSeq):
        keep = list(old)
        del old[:]
        for i, ref in enumerate(refs):
            match = next((v for v in keep if str(v) == ref), None)
            if match is None and len(keep) == len(refs):  # renamed in place: keep its quotes
                match = like(keep[i], ref)
            old.append(match if match is not None else to_node(ref))
        return
    if isinstance(old, str) and len(refs) == 1:
        item[key] = like(old, refs[0])
        return
    seq = CommentedSeq(to_node(r) for r in refs)
    seq.fa.set_flow_style()
    item[key] = seq


def _insert_at(
    steps: CommentedMap, name: str, value: Any, after: str | None, before: str | None
) -> None:
    keys = list(steps)
    if after is not None:
        _step(steps, after)
        position = keys.index(after) + 1
    elif before is not None:
        _step(steps, before)
        position = keys.index(before)
    else:
        position = len(keys)
    steps.insert(position, name, value)


def _step_type(item: CommentedMap) -> str:
    declared = item.get("type")
    return str(declared) if declared is not None else "script"


def type_keys(step_type: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the type's own keys, the ones it requires); EditRefused for an unknown type."""
    if step_type in TYPE_KEYS:
        return TYPE_KEYS[step_type], REQUIRED_KEYS[step_type]
    schema = get_step_type(step_type)
    if schema is None:
        raise EditRefused(f"unknown step type `{step_type}`")
    return schema.keys, schema.required


def step_types() -> tuple[str, ...]:
    from flowtui.model.steptypes import extra_type_names

    return (*TYPE_KEYS, *extra_type_names())


# ------------------------------------------------------------------ each operation


def _add(steps: CommentedMap, op: AddStep, notes: list[str]) -> list[str]:
    _check_new_name(steps, op.name)
    type_keys(op.type)  # refuses an unknown type by name
    item = CommentedMap()
    if op.type != "script" or "run" not in op.keys:
        item["type"] = op.type
    if op.requires:
        for ref in op.requires:
            _step(steps, _base(ref))
        _set_refs(item, "requires", list(dict.fromkeys(op.requires)))
    for key, value in op.keys.items():
        if key in ("type", "requires"):
            raise EditRefused(f"give `{key}` with its own option, not as a key")
        item[key] = to_node(value)
    _insert_at(steps, op.name, item, op.after, op.before)
    where = f" after `{op.after}`" if op.after else f" before `{op.before}`" if op.before else ""
    return [f"added step `{op.name}` ({op.type}){where}"]


def _set(steps: CommentedMap, op: SetKeys, notes: list[str]) -> list[str]:
    item = _step(steps, op.step)
    changes: list[str] = []
    for key in op.unset:
        if key not in item:
            raise EditRefused(f"step `{op.step}` has no key `{key}`")
        del item[key]
        changes.append(f"`{op.step}`: removed `{key}`")
    for key, value in op.values.items():
        if key == "type":
            own = set(type_keys(str(value))[0]) | set(COMMON_STEP_KEYS)
            stale = [k for k in item if k not in own]
            if stale:
                raise EditRefused(
                    f"step `{op.step}` has keys a `{value}` step does not take: "
                    + ", ".join(f"`{k}`" for k in stale)
                    + " (unset them in the same edit)"
                )
        old = item.get(key)
        if isinstance(value, str) and isinstance(old, str):
            item[key] = like(old, value)
        else:
            block = isinstance(old, (CommentedMap, CommentedSeq)) and not old.fa.flow_style()
            item[key] = to_node(value, flow=not block)
        changes.append(f"`{op.step}`: {key} = {_show(value)}")
    return changes


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _expression_pattern(name: str) -> re.Pattern[str]:
    escaped = re.escape(name)
    return re.compile(
        rf"(?<![\w.])steps\s*\.\s*{escaped}(?![\w-])|"
        rf"(?<![\w.])(steps\s*\[\s*)(['\"]){escaped}\2(\s*\])"
    )


def rename_in_expression(expression: str, old: str, new: str) -> str:
    """`expression` with its references to step `old` naming `new`."""

    def replace(match: re.Match[str]) -> str:
        if match.group(2):  # steps['old']
            quote = match.group(2)
            return f"{match.group(1)}{quote}{new}{quote}{match.group(3)}"
        if NAME_RE.fullmatch(new) and re.fullmatch(r"[A-Za-z_]\w*", new):
            return f"steps.{new}"
        return f"steps['{new}']"  # `steps.my-step` would read as a subtraction

    return _expression_pattern(old).sub(replace, expression)


def _env_name(name: str) -> str:
    return "STEPS_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper() + "_"


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{where}[{i}]")


def _rename(steps: CommentedMap, op: Rename, notes: list[str]) -> list[str]:
    item = _step(steps, op.old)
    if op.new == op.old:
        raise EditRefused(f"step `{op.old}` already has that name")
    _check_new_name(steps, op.new)
    position = list(steps).index(op.old)
    shift_line_comment(steps, op.old, len(op.new) - len(op.old))
    comment = steps.ca.items.pop(op.old, None)
    del steps[op.old]
    steps.insert(position, op.new, item)
    if comment is not None:
        steps.ca.items[op.new] = comment
    changes = [f"renamed step `{op.old}` to `{op.new}`"]
    variable = _env_name(op.old)
    for name, other in steps.items():
        if not isinstance(other, CommentedMap):
            continue
        longer = 0  # how much longer the step's own line became (a flow step: one line)
        for key in REF_KEYS:
            refs = _refs(other.get(key))
            moved = [op.new + r[len(op.old) :] if _base(r) == op.old else r for r in refs]
            if moved != refs:
                _set_refs(other, key, moved)
                changes.append(f"`{name}`: {key} follows the rename")
                grown = sum(map(len, moved)) - sum(map(len, refs))
                shift_line_comment(other, key, grown)
                longer += grown
        for key in EXPRESSION_KEYS:
            expression = other.get(key)
            if isinstance(expression, str):
                renamed = rename_in_expression(expression, op.old, op.new)
                if renamed != expression:
                    other[key] = like(expression, renamed)
                    changes.append(f"`{name}`: {key} follows the rename")
                    shift_line_comment(other, key, len(renamed) - len(expression))
                    longer += len(renamed) - len(expression)
        if longer and other.fa.flow_style() and name != op.new:
            shift_line_comment(steps, name, longer)
        for where, text in _strings(dict(other), name):
            if variable in text:
                notes.append(
                    f"`{where}` mentions ${variable}…: not changed (it becomes "
                    f"${_env_name(op.new)}…); edit it by hand"
                )
    return changes


def _dependants(steps: CommentedMap, name: str) -> list[tuple[str, str]]:
    return [
        (other_name, key)
        for other_name, other in steps.items()
        if isinstance(other, CommentedMap)
        for key in REF_KEYS
        if any(_base(r) == name for r in _refs(other.get(key)))
    ]


def _remove(steps: CommentedMap, op: RemoveStep, notes: list[str]) -> list[str]:
    _step(steps, op.name)
    users = _dependants(steps, op.name)
    if users and not op.detach:
        listed = ", ".join(f"`{n}` ({k})" for n, k in users)
        raise EditRefused(
            f"step `{op.name}` is needed by {listed}; disconnect them first, or detach "
            "them with the removal (--detach)"
        )
    changes = [f"removed step `{op.name}`"]
    for other_name, key in users:
        other = steps[other_name]
        _set_refs(other, key, [r for r in _refs(other.get(key)) if _base(r) != op.name])
        changes.append(f"`{other_name}`: no longer names `{op.name}` in {key}")
    _cut(steps, op.name)  # the comment lines just before it are about it: they go too
    pattern = _expression_pattern(op.name)
    for other_name, other in steps.items():
        if isinstance(other, CommentedMap):
            for key in EXPRESSION_KEYS:
                if isinstance(other.get(key), str) and pattern.search(other[key]):
                    notes.append(f"`{other_name}`: {key} still reads steps.{op.name}")
    return changes


def _connect(steps: CommentedMap, op: Connect, notes: list[str]) -> list[str]:
    _step(steps, _base(op.source))
    target = _step(steps, op.target)
    if op.source == op.target:
        raise EditRefused(f"step `{op.source}` cannot require itself")
    refs = _refs(target.get("requires"))
    if op.source in refs:
        raise EditRefused(f"`{op.target}` already requires `{op.source}`")
    _set_refs(target, "requires", [*refs, op.source])
    return [f"`{op.target}` now requires `{op.source}`"]


def _disconnect(steps: CommentedMap, op: Disconnect, notes: list[str]) -> list[str]:
    target = _step(steps, op.target)
    refs = _refs(target.get("requires"))
    if op.source not in refs:
        for key in ("then", "else"):
            source = steps.get(op.source)
            if isinstance(source, CommentedMap) and op.target in _refs(source.get(key)):
                _set_refs(source, key, [r for r in _refs(source.get(key)) if r != op.target])
                return [f"`{op.source}` no longer names `{op.target}` in {key}"]
        raise EditRefused(f"`{op.target}` does not require `{op.source}`")
    _set_refs(target, "requires", [r for r in refs if r != op.source])
    return [f"`{op.target}` no longer requires `{op.source}`"]


def _duplicate(steps: CommentedMap, op: Duplicate, notes: list[str]) -> list[str]:
    item = _step(steps, op.name)
    _check_new_name(steps, op.new)
    copy = deepcopy(item)
    _insert_at(steps, op.new, copy, op.name, None)
    take_following(steps, op.new)  # the copy's: they are about the step after the original
    give_following(steps, op.new, take_following(steps, op.name))
    return [f"duplicated step `{op.name}` as `{op.new}`"]


def _move(steps: CommentedMap, op: MoveStep, notes: list[str]) -> list[str]:
    item = _step(steps, op.name)
    anchor = op.after or op.before
    if anchor is None:
        raise EditRefused("say where to move the step: after or before another step")
    if anchor == op.name:
        raise EditRefused(f"cannot move `{op.name}` next to itself")
    _step(steps, anchor)
    comment, about = _cut(steps, op.name)
    _insert_at(steps, op.name, item, op.after, op.before)
    if comment is not None:
        steps.ca.items[op.name] = comment
    keys = list(steps)
    position = keys.index(op.name)
    if position > 0:  # what followed the step before it now follows this one
        give_following(steps, op.name, take_following(steps, keys[position - 1]))
        give_following(steps, keys[position - 1], about)
    return [f"moved step `{op.name}` {'after' if op.after else 'before'} `{anchor}`"]


def _cut(steps: CommentedMap, name: str) -> tuple[Any, str]:
    """Take step `name` out of `steps`.  ruamel hangs the comment lines between two steps on
    the first one, though they are about the second: the lines just before the step go with
    it (returned), the lines after it stay where they were (after the step before it).
    Returns its own comment entry and the lines that were about it."""
    keys = list(steps)
    position = keys.index(name)
    following = take_following(steps, name)
    about = ""
    if position > 0:
        before = take_following(steps, keys[position - 1])
        about = "".join(line for line in before.splitlines(True) if line.strip())
        blanks = "".join(line for line in before.splitlines(True) if not line.strip())
        give_following(steps, keys[position - 1], blanks + following)
    comment = steps.ca.items.pop(name, None)
    del steps[name]
    return comment, about


_OPERATIONS: dict[type, Callable[[CommentedMap, Any, list[str]], list[str]]] = {
    AddStep: _add,
    SetKeys: _set,
    Rename: _rename,
    RemoveStep: _remove,
    Connect: _connect,
    Disconnect: _disconnect,
    Duplicate: _duplicate,
    MoveStep: _move,
}


__all__ = [
    "REQUIRED_KEYS",
    "AddStep",
    "Connect",
    "Disconnect",
    "Duplicate",
    "EditRefused",
    "Edited",
    "MoveStep",
    "Operation",
    "RemoveStep",
    "Rename",
    "SetKeys",
    "apply",
    "apply_all",
    "check",
    "rename_in_expression",
    "step_types",
    "type_keys",
]
