"""Safe evaluation of `when:` and condition `if:` expressions.

Uses simpleeval (a maintained, AST-walking evaluator) — never Python's `eval`.  Only plain
data reaches it: params, env, matrix and earlier steps' status and outputs, copied into
dicts of strings.  Comprehensions are removed (their nested loops are the one construct
simpleeval cannot bound), dunder attributes are refused by simpleeval itself, and powers
and string lengths are capped by its limits.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from simpleeval import EvalWithCompoundTypes, InvalidExpression

from flowtui.model.exprnames import FUNCTION_NAMES, boolean_literal

MAX_EXPRESSION_LENGTH = 2_000


class ExpressionError(Exception):
    """An expression that cannot be parsed or evaluated; the message says why."""


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no", "off")
    return bool(value)


_FUNCTIONS = {
    "int": int,
    "float": float,
    "str": str,
    "len": len,
    "bool": _to_bool,
    "lower": lambda s: str(s).lower(),
    "upper": lambda s: str(s).upper(),
    "startswith": lambda s, p: str(s).startswith(str(p)),
    "endswith": lambda s, p: str(s).endswith(str(p)),
}
assert set(_FUNCTIONS) == FUNCTION_NAMES  # validate checks names against the same list


class _Evaluator(EvalWithCompoundTypes):
    def __init__(self, names: Mapping[str, Any]) -> None:
        super().__init__(functions=dict(_FUNCTIONS), names=dict(names))
        for node in (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp):
            self.nodes.pop(node, None)

    def _eval_name(self, node: ast.Name) -> Any:
        # `true`/`false` as YAML users write them (the context has no such roots)
        literal = boolean_literal(node.id)
        if literal is not None and node.id not in self.names:
            return literal
        return super()._eval_name(node)


def _plain(value: Any, depth: int = 0) -> Any:
    """Copy `value` keeping only plain data (no objects with behaviour reach the evaluator)."""
    if depth > 20:
        raise ExpressionError("context nested too deeply")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    return str(value)


def evaluate(expression: str, context: Mapping[str, Any]) -> Any:
    """Evaluate `expression` over `context`; raise ExpressionError with a readable reason."""
    if not isinstance(expression, str):
        raise ExpressionError("an expression must be a string")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_EXPRESSION_LENGTH} characters")
    evaluator = _Evaluator(_plain(context))
    try:
        return evaluator.eval(expression)
    except InvalidExpression as exc:
        raise ExpressionError(str(exc)) from None
    except SyntaxError as exc:
        raise ExpressionError(f"syntax error: {exc.msg}") from None
    except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError) as exc:
        raise ExpressionError(f"{type(exc).__name__}: {exc}") from None
    except (RecursionError, MemoryError, OverflowError) as exc:
        raise ExpressionError(f"expression too complex ({type(exc).__name__})") from None


def evaluate_bool(expression: str, context: Mapping[str, Any]) -> bool:
    return _to_bool(evaluate(expression, context))


@lru_cache(maxsize=4096)
def referenced_keys(expression: str, name: str) -> frozenset[str] | None:
    """The keys of the mapping `name` that `expression` reads, or None when it may read any.

    Only `name.key` and `name['key']` are understood; any other use of `name` (bare, a
    computed key, a dict method such as `.get`) answers None.  Lets a caller put just those
    keys in the context: simpleeval walks every value a name holds on each use, so a context
    with every step of a long workflow made each evaluation cost O(steps).
    """
    if not isinstance(expression, str) or len(expression) > MAX_EXPRESSION_LENGTH:
        return None
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None  # evaluate() reports it
    keys: set[str] = set()
    uses = accesses = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == name:
            uses += 1
        elif isinstance(node, ast.Attribute) and _is_name(node.value, name):
            if hasattr(dict, node.attr):  # a dict method, e.g. steps.get(...)
                return None
            keys.add(node.attr)
            accesses += 1
        elif isinstance(node, ast.Subscript) and _is_name(node.value, name):
            key = node.slice
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                return None
            keys.add(key.value)
            accesses += 1
    # a use that is not `name.key` / `name['key']` (len(steps), 'x' in steps) needs them all
    return frozenset(keys) if uses == accesses else None


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name
