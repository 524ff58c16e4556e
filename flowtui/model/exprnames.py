"""What a `when:`/`if:` expression may name, checked when the file is validated.

The engine (flowtui/engine/expressions.py) evaluates an expression over a context whose
roots are `CONTEXT_ROOTS`, with the functions `FUNCTION_NAMES` and the literals `true` and
`false` in any case.  Anything else a name can refer to fails the step at run time, so
`names_problems` finds it first: an unknown name, a `params.X` the workflow does not
declare, a `steps.X` that is not a step of the workflow.
"""

from __future__ import annotations

import ast
from collections.abc import Collection

from flowtui.model.checker import suggest

CONTEXT_ROOTS = ("params", "env", "matrix", "workflow", "run_id", "steps")
FUNCTION_NAMES = frozenset(
    {"int", "float", "str", "len", "bool", "lower", "upper", "startswith", "endswith"}
)


def boolean_literal(name: str) -> bool | None:
    """`true`/`false` as users write them (True, TRUE, false...), else None."""
    lowered = name.lower()
    return True if lowered == "true" else False if lowered == "false" else None


def names_problems(
    expression: str, params: Collection[str] | None, steps: Collection[str]
) -> list[tuple[str, str]]:
    """(message, hint) for each name in `expression` that cannot be resolved at run time.

    `params` None means the declared params are unknown (the `params:` block is broken):
    `params.X` is then not checked.  A syntax error answers [] (reported elsewhere).
    """
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    problems: list[tuple[str, str]] = []
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            name = node.id
            if name in CONTEXT_ROOTS or boolean_literal(name) is not None:
                continue
            if name in FUNCTION_NAMES and id(node) in called:
                continue
            problems.append(
                (
                    f"unknown name `{name}` in the expression",
                    suggest(name, [*CONTEXT_ROOTS, "true", "false"])
                    or "use params.NAME, env.NAME, matrix.NAME, steps.NAME.status, "
                    "steps.NAME.outputs.KEY, workflow, run_id, true or false; "
                    "quote text: 'text'",
                )
            )
            continue
        key = _key_of(node)
        if key is None:
            continue
        root, member = key
        if root == "params" and params is not None and member not in params:
            declared = ", ".join(sorted(params)) or "none"
            problems.append(
                (
                    f"the expression uses `params.{member}`, which the workflow does not declare",
                    f"declare it under `params:` (declared: {declared})",
                )
            )
        elif root == "steps" and member not in steps:
            problems.append(
                (
                    f"the expression uses `steps.{member}`, which is not a step of this workflow",
                    suggest(member, list(steps)) or "name one of the workflow's steps",
                )
            )
    return problems


def _key_of(node: ast.AST) -> tuple[str, str] | None:
    """(root, key) for `root.key` / `root['key']` with root params or steps."""
    if isinstance(node, ast.Attribute):
        base, key = node.value, node.attr
        if hasattr(dict, key):  # params.get(...), steps.items()
            return None
    elif isinstance(node, ast.Subscript):
        base, slice_ = node.value, node.slice
        if not (isinstance(slice_, ast.Constant) and isinstance(slice_.value, str)):
            return None
        key = slice_.value
    else:
        return None
    if isinstance(base, ast.Name) and base.id in ("params", "steps"):
        return base.id, key
    return None
