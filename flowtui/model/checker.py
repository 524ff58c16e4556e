"""The typed getters and key checks every part of workflow validation builds on.

A `CheckerBase` collects problems (file:line:col) instead of stopping at the first one; the
trigger and step rules are mixins over it, assembled into one checker in `loader.py`.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple, TypeVar

from flowtui.model.branches import FILTER_KEYS, entry_error
from flowtui.model.durations import parse_duration
from flowtui.model.errors import Problem
from flowtui.model.workflow import SourcePos
from flowtui.model.yamlsafe import YMap, YSeq

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

MISSING = object()  # an absent key; a null value counts as absent too
_T = TypeVar("_T")
_ON_MESSAGE = "use `triggers:` (YAML reads `on` as true)"


def describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"string {shown!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else ""


def dedupe(items: Iterable[_T]) -> list[_T]:
    return list(dict.fromkeys(items))


class Ref(NamedTuple):
    """A step name as written, and where: `pos` is worked out when first asked for (only a
    reference with a problem needs it)."""

    name: str
    where: SourcePos | YSeq  # the position itself, or the list holding the name at `at`
    at: int = -1

    @property
    def pos(self) -> SourcePos:
        where = self.where
        return where.positions[self.at] if isinstance(where, YSeq) else where


_new_ref: Any = tuple.__new__  # Ref(name, seq, index) without a Python call per name


class CheckerBase:
    """Collects every problem in a parsed document instead of stopping at the first."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        # steps already reported as broken: references to them are not errors again
        self.broken: set[str] = set()
        # (where, key, text) of each expression that parsed: its names are checked once the
        # workflow's params and steps are known (see flowtui/model/exprnames.py)
        self.expressions: list[tuple[SourcePos, str, str]] = []

    def error(self, pos: SourcePos, message: str, hint: str = "") -> None:
        self.problems.append(Problem(pos, message, hint))

    # ------------------------------------------------------------------ typed getters

    def _get(self, m: YMap, key: str) -> Any:
        value = m.get(key, MISSING)
        return MISSING if value is None else value

    def _wrong(self, m: YMap, key: str, expected: str, hint: str = "") -> None:
        self.error(m.value_pos(key), f"`{key}` must be {expected}, got {describe(m[key])}", hint)

    def get_str(self, m: YMap, key: str, default: Any = None) -> Any:
        value = self._get(m, key)
        if value is MISSING:
            return default
        if not isinstance(value, str):
            self._wrong(m, key, "a string", "quote the value" if is_scalar(value) else "")
            return default
        return value

    def get_expression(self, m: YMap, key: str) -> str | None:
        value = self._get(m, key)
        if isinstance(value, bool):  # `when: false` is the expression `false`
            return "true" if value else "false"
        expression = self.get_str(m, key, None)
        if expression is not None:
            self.check_expression(m, key, expression)
        return expression

    def check_expression(self, m: YMap, key: str, expression: str) -> None:
        """Catch a mistyped expression when the file is saved, not when the step runs."""
        try:
            ast.parse(expression.strip(), mode="eval")
        except SyntaxError as exc:
            self.error(
                m.value_pos(key),
                f"`{key}` is not a valid expression: {exc.msg}",
                "e.g. \"params.branch == 'main'\" or \"steps.plan.status == 'succeeded'\"",
            )
        else:
            self.expressions.append((m.value_pos(key), key, expression))

    def require_str(self, m: YMap, key: str, owner: str, example: str) -> str | None:
        if key not in m:
            self.error(m.pos, f"{owner} is missing `{key}`", f"add `{key}: {example}`")
            return None
        value = m[key]
        if not isinstance(value, str) or not value.strip():
            expected = "a non-empty string" if isinstance(value, str) else "a string"
            self._wrong(m, key, expected)
            return None
        return value

    def get_bool(self, m: YMap, key: str, default: bool) -> bool:
        value = self._get(m, key)
        if value is MISSING:
            return default
        if not isinstance(value, bool):
            self._wrong(m, key, "true or false")
            return default
        return value

    def get_int(self, m: YMap, key: str, minimum: int, default: Any) -> Any:
        value = self._get(m, key)
        if value is MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self._wrong(m, key, "an integer")
            return default
        if value < minimum:
            self._wrong(m, key, f"an integer >= {minimum}")
            return default
        return value

    def get_duration(self, m: YMap, key: str, default: Any, positive: bool = False) -> Any:
        value = self._get(m, key)
        if value is MISSING:
            return default
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.error(m.value_pos(key), f"`{key}`: {exc}")
            return default
        if positive and seconds <= 0:
            self._wrong(m, key, "a duration above zero")
            return default
        return seconds

    def get_refs(self, m: YMap, key: str) -> list[Ref]:
        """A list of step names, or a single name."""
        value = self._get(m, key)
        if value is MISSING:
            return []
        if isinstance(value, str):
            return [Ref(value, m.value_pos(key))]
        if not isinstance(value, YSeq):
            self._wrong(m, key, "a list of step names")
            return []
        refs = [_new_ref(Ref, (item, value, i)) for i, item in enumerate(value)]
        if all(isinstance(item, str) for item in value):
            return refs
        for ref in refs:
            if not isinstance(ref.name, str):
                self.error(ref.pos, f"`{key}` must list step names, got {describe(ref.name)}")
        return [ref for ref in refs if isinstance(ref.name, str)]

    def get_str_list(self, m: YMap, key: str) -> list[str]:
        value = self._get(m, key)
        if value is MISSING:
            return []
        if not isinstance(value, YSeq):
            self._wrong(m, key, "a list of strings")
            return []
        result = []
        for item, pos in zip(value, value.positions, strict=True):
            if isinstance(item, str):
                result.append(item)
            else:
                self.error(pos, f"`{key}` must list strings, got {describe(item)}")
        return result

    def get_scalar_map(
        self,
        m: YMap,
        key: str,
        name_re: re.Pattern[str] | None,
        what: str,
        hint: str = "",
    ) -> dict[str, str]:
        """A mapping of names to scalars; values become their text as written."""
        value = self._get(m, key)
        if value is MISSING:
            return {}
        if not isinstance(value, YMap):
            self._wrong(m, key, f"a mapping of {what} names to values")
            return {}
        result: dict[str, str] = {}
        for name, item in value.items():
            entry = value.entries[name]
            if not isinstance(name, str) or (name_re is not None and not name_re.fullmatch(name)):
                self.error(entry.key_pos, f"`{entry.key_text}` is not a valid {what} name", hint)
                continue
            if not is_scalar(item) or entry.raw is None:
                self.error(
                    entry.value_pos,
                    f"{what} `{name}` must be a string or number, got {describe(item)}",
                    'write `""` for an empty value' if item is None else "",
                )
                continue
            result[name] = entry.raw
        return result

    def get_branches(self, m: YMap, key: str) -> dict[str, tuple[str, ...]] | None:
        """A branch filter: `{only: [...], ignore: [...]}`, or a name / list meaning `only`."""
        value = self._get(m, key)
        if value is MISSING:
            return None
        if isinstance(value, str | YSeq):
            return {"only": self._branch_entries(m, key), "ignore": ()}
        if not isinstance(value, YMap):
            self._wrong(m, key, "a branch name, a list of them, or {only: [...], ignore: [...]}")
            return None
        self.check_keys(value, FILTER_KEYS, f"`{key}`")
        return {k: self._branch_entries(value, k) for k in FILTER_KEYS}

    def _branch_entries(self, m: YMap, key: str) -> tuple[str, ...]:
        value = self._get(m, key)
        if value is MISSING:
            return ()
        if isinstance(value, str):
            items = [(value, m.value_pos(key))]
        elif isinstance(value, YSeq):
            items = list(zip(value, value.positions, strict=True))
        else:
            self._wrong(m, key, "a branch name or a list of them")
            return ()
        entries = []
        for entry, pos in items:
            if not isinstance(entry, str):
                self.error(pos, f"`{key}` must list branch names, got {describe(entry)}")
                continue
            problem = entry_error(entry)
            if problem is not None:
                self.error(pos, problem, "write a branch name, or /regex/ for a pattern")
                continue
            entries.append(entry)
        return tuple(entries)

    # --------------------------------------------------------------------- key checks

    def check_keys(
        self,
        m: YMap,
        allowed: Sequence[str],
        where: str,
        foreign: Callable[[str], str] | None = None,
    ) -> None:
        for key in m.entry_keys():  # positions are worked out only for a wrong key
            if isinstance(key, str) and key in allowed:
                continue
            entry = m.entries[key]
            if key is True and entry.key_text.lower() == "on":
                if where == "the workflow":
                    self.error(entry.key_pos, f"unknown key `on`: {_ON_MESSAGE}")
                else:
                    self.error(
                        entry.key_pos,
                        f"unknown key `on` in {where}: triggers belong at the top level; "
                        + _ON_MESSAGE,
                    )
                continue
            if isinstance(key, bool):
                self.error(
                    entry.key_pos,
                    f"key `{entry.key_text}` is read by YAML as a boolean",
                    f'quote it (`"{entry.key_text}":`) or fix the spelling',
                )
                continue
            if not isinstance(key, str):
                self.error(entry.key_pos, f"unknown key `{entry.key_text}` in {where}")
                continue
            owner = foreign(key) if foreign is not None else ""
            if owner:
                self.error(entry.key_pos, f"`{key}` is not valid in {where}", owner)
                continue
            self.error(entry.key_pos, f"unknown key `{key}` in {where}", suggest(key, allowed))

    # -------------------------------------------------------------------------- names

    def get_name(self, m: YMap, key: str, what: str) -> str | None:
        value = m[key]
        if not isinstance(value, str):
            self._wrong(m, key, "a string")
            return None
        if not NAME_RE.fullmatch(value):
            self.error(
                m.value_pos(key),
                f"invalid {what} {value!r}",
                "start with a letter or digit, then use letters, digits, `_`, `.` or `-`",
            )
            return None
        return value
