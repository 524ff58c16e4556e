"""Checking an approval step's keys: approvers, message, inputs and how many must approve."""

from __future__ import annotations

from typing import Any

from flowtui.model.approval import INPUT_TYPES, RESERVED_OUTPUTS, ApprovalInput, normalize
from flowtui.model.checker import ENV_NAME_RE, CheckerBase, describe, is_scalar, suggest
from flowtui.model.yamlsafe import YMap, YSeq

APPROVAL_KEYS = (
    "approvers",
    "message",
    "inputs",
    "required_approvals",
    "allow_self_approval",
)
INPUT_KEYS = ("type", "required", "default", "description", "options")


def approval_spec(checker: CheckerBase, item: YMap, owner: str) -> dict[str, Any]:
    """The spec; the newer keys only when written, so a plain gate's spec stays as it was
    (`flowtui.model.approval.gate_rules` gives their defaults)."""
    spec: dict[str, Any] = {
        "approvers": checker.get_str_list(item, "approvers"),
        "message": checker.get_str(item, "message", ""),
    }
    if "inputs" in item:
        spec["inputs"] = _inputs(checker, item, owner)
    if "required_approvals" in item:
        need = checker.get_int(item, "required_approvals", 1, 1)
        people = set(spec["approvers"])
        # named people only (no `team:` group, no `*`): fewer of them could never pass it
        named = all(p != "*" and not p.startswith("team:") for p in people)
        if people and named and len(people) < need:
            checker.error(
                item.value_pos("required_approvals"),
                f"{owner} needs {need} approvals but names only {len(people)} approver(s)",
                "list more approvers (or a `team:`), or lower `required_approvals`",
            )
        spec["required_approvals"] = need
    if "allow_self_approval" in item:
        spec["allow_self_approval"] = checker.get_bool(item, "allow_self_approval", True)
    return spec


def _inputs(checker: CheckerBase, item: YMap, owner: str) -> tuple[ApprovalInput, ...]:
    value = item.get("inputs")
    if value is None:
        return ()
    if not isinstance(value, YMap):
        checker.error(
            item.value_pos("inputs"),
            f"{owner}: `inputs` must be a mapping of input names to fields, got {describe(value)}",
            "e.g. `inputs: {version: {type: string, required: true}}`",
        )
        return ()
    found: list[ApprovalInput] = []
    for name, spec in value.items():
        entry = value.entries[name]
        if not isinstance(name, str) or not ENV_NAME_RE.fullmatch(name):
            checker.error(
                entry.key_pos,
                f"{owner}: invalid input name `{entry.key_text}`",
                "use letters, digits and _ (it becomes the output of the same name)",
            )
            continue
        if name in RESERVED_OUTPUTS:
            checker.error(
                entry.key_pos,
                f"{owner}: input `{name}` would hide the approval's own output `{name}`",
                "give it another name",
            )
            continue
        if not isinstance(spec, YMap):
            checker.error(
                entry.value_pos,
                f"{owner}: input `{name}` must be a mapping with `type:`, got {describe(spec)}",
                f"e.g. `{name}: {{type: string}}`",
            )
            continue
        field = _input(checker, spec, name, f"input `{name}` of {owner}")
        if field is not None:
            found.append(field)
    return tuple(found)


def _input(checker: CheckerBase, spec: YMap, name: str, where: str) -> ApprovalInput | None:
    checker.check_keys(spec, INPUT_KEYS, where)
    kind = checker.get_str(spec, "type", "string")
    if kind not in INPUT_TYPES:
        checker.error(
            spec.value_pos("type"),
            f"{where}: unknown input type {kind!r}",
            suggest(str(kind), INPUT_TYPES) or f"use one of {', '.join(INPUT_TYPES)}",
        )
        return None
    options: tuple[str, ...] = ()
    if kind == "choice":
        options = _options(checker, spec, where)
        if not options:
            return None
    elif "options" in spec:
        checker.error(
            spec.key_pos("options"),
            f"{where}: `options` is only for `type: choice`",
            "remove it, or make the input a choice",
        )
    field = ApprovalInput(
        name=name,
        type=kind,
        required=checker.get_bool(spec, "required", False),
        description=checker.get_str(spec, "description", ""),
        options=options,
    )
    raw = spec.get("default")
    if raw is None:
        return field
    if not is_scalar(raw):
        checker.error(spec.value_pos("default"), f"{where}: `default` must be a plain value")
        return None
    try:
        default = normalize(field, str(raw).lower() if isinstance(raw, bool) else str(raw))
    except ValueError as exc:
        checker.error(spec.value_pos("default"), f"{where}: `default`: {exc}")
        return None
    return ApprovalInput(name, kind, field.required, default, field.description, field.options)


def _options(checker: CheckerBase, spec: YMap, where: str) -> tuple[str, ...]:
    value = spec.get("options")
    if not isinstance(value, YSeq) or not value:
        pos = spec.value_pos("options") if "options" in spec else spec.pos
        checker.error(
            pos,
            f"{where}: a choice needs `options`, a non-empty list of values",
            "e.g. `options: [staging, production]`",
        )
        return ()
    options: list[str] = []
    for one, pos in zip(value, value.positions, strict=True):
        if not is_scalar(one) or one is None:
            checker.error(pos, f"{where}: options must be plain values, got {describe(one)}")
            return ()
        text = str(one).lower() if isinstance(one, bool) else str(one)
        if text in options:
            checker.error(pos, f"{where}: option {text!r} is listed twice")
            return ()
        options.append(text)
    return tuple(options)
