"""Round-trip YAML for writing workflow files back (ruamel.yaml): comments, key order,
quoting, flow or block style and the indentation of the parts not touched stay as the
person wrote them.

Reading for running stays with the safe loader (`yamlsafe`); this module only turns text
into an editable tree and back.  New values are made plain data first (parsed with the
safe loader's rules, YAML 1.1), and a string that YAML 1.1 would read as something else
(`yes`, `1.10`, `on`) is written quoted, so the loader reads back what was meant.
"""

from __future__ import annotations

import io
import re
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.error import YAMLError as RtYAMLError
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    LiteralScalarString,
    ScalarString,
)
from ruamel.yaml.tokens import CommentToken

__all__ = [
    "CommentedMap",
    "CommentedSeq",
    "RoundTrip",
    "RoundTripError",
    "give_following",
    "guess_indent",
    "like",
    "parse_value",
    "take_following",
    "to_node",
]


class RoundTripError(ValueError):
    """The text cannot be read as one YAML mapping for editing."""


class RoundTrip:
    """One document: `data` is the editable tree; `dump()` writes it with the file's own
    indentation."""

    def __init__(self, text: str) -> None:
        indent, offset = guess_indent(text)
        self._yaml = YAML(typ="rt")
        self._yaml.preserve_quotes = True
        self._yaml.width = 4096  # never re-wrap a long line that was not touched
        self._yaml.indent(mapping=indent, sequence=max(indent, offset + 2), offset=offset)
        try:
            self.data: Any = self._yaml.load(text)
        except RtYAMLError as exc:
            raise RoundTripError(f"not valid YAML: {exc}") from None
        if not isinstance(self.data, CommentedMap):
            raise RoundTripError("the top level is not a mapping")
        self._ends_with_newline = text.endswith("\n")
        # whether writing the tree unchanged gives the text back byte for byte
        self.faithful = self.dump() == text

    def dump(self) -> str:
        out = io.StringIO()
        self._yaml.dump(self.data, out)
        text = out.getvalue()
        if not self._ends_with_newline and text.endswith("\n"):
            text = text[:-1]
        return text


_BLOCK_KEY = re.compile(r"^( *)(- )?[\w.-]+:\s*(#.*)?$")
_BLOCK_SCALAR = re.compile(r"^( *).*:\s*[|>][-+0-9]*\s*(#.*)?$")


def guess_indent(text: str) -> tuple[int, int]:
    """(mapping indent, offset of a block sequence's dash) as the file's keys with a block
    value use them; the text of block scalars (a script's own indentation) is skipped."""
    lines = text.splitlines()
    indent = offset = None
    scalar_at: int | None = None  # inside a block scalar opened at this indentation
    for i, line in enumerate(lines):
        body = line.lstrip(" ")
        width = len(line) - len(body)
        if scalar_at is not None:
            if not body or width > scalar_at:
                continue
            scalar_at = None
        block = _BLOCK_SCALAR.match(line)
        if block:
            scalar_at = width
            continue
        key = _BLOCK_KEY.match(line)
        if not key:
            continue
        base = width + (2 if key.group(2) else 0)
        for nxt in lines[i + 1 :]:
            nbody = nxt.lstrip(" ")
            if not nbody or nbody.startswith("#"):
                continue
            step = len(nxt) - len(nbody) - base
            if nbody.startswith("- ") or nbody == "-":
                offset = step if offset is None and step >= 0 else offset
            elif indent is None and step > 0:
                indent = step
            break
        if indent is not None and offset is not None:
            break
    return indent or 2, offset or 0


def _plain_reads_back(text: str) -> bool:
    """True when `text` written plain is read by the safe loader as this same string."""
    if not text or text != text.strip() or "\n" in text:
        return False
    try:
        return bool(yaml.safe_load(text) == text)
    except yaml.YAMLError:
        return False


def parse_value(text: str) -> Any:
    """A value typed on the command line or in a form, read as YAML would read it after
    `key: ` (data only: a tag is refused by the loader afterwards).  Several lines are one
    block of text; `[a, b]` and `{k: v}` are a list and a mapping."""
    if "\n" in text:
        return LiteralScalarString(text if text.endswith("\n") else text + "\n")
    reader = YAML(typ="rt")
    reader.preserve_quotes = True
    try:
        data = reader.load(f"v: {text}")
    except RtYAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(f"{text!r} is not a YAML value: {problem}") from None
    if not isinstance(data, CommentedMap) or list(data) != ["v"]:
        raise ValueError(f"{text!r} is not one YAML value (quote it)")
    value = data["v"]
    if type(value) is str and value != text.strip():
        return text.strip()  # `echo a # b`: the text as typed, not cut at the `#`
    return value


def to_node(value: Any, flow: bool = True) -> Any:
    """Plain data → what ruamel writes so the safe loader reads `value` back (values that
    came from `parse_value` are kept as they were typed)."""
    if isinstance(value, (CommentedMap, CommentedSeq)):
        return value
    if isinstance(value, str):
        if isinstance(value, ScalarString) or _plain_reads_back(value):
            return value
        if "\n" in value:
            return LiteralScalarString(value)
        return DoubleQuotedScalarString(value)
    if isinstance(value, dict):
        mapping = CommentedMap()
        for key, item in value.items():
            mapping[str(key)] = to_node(item, flow)
        if flow:
            mapping.fa.set_flow_style()
        return mapping
    if isinstance(value, (list, tuple)):
        seq = CommentedSeq(to_node(v, flow) for v in value)
        if flow:
            seq.fa.set_flow_style()
        return seq
    return value


def _slot(parent: Any, key: Any) -> tuple[Any, Any, int]:
    """Where ruamel keeps the comment that follows `parent[key]`: the deepest last entry of
    a block mapping or list (a flow one keeps it itself)."""
    node = parent[key]
    if isinstance(node, CommentedMap) and node and not node.fa.flow_style():
        return _slot(node, list(node)[-1])
    if isinstance(node, CommentedSeq) and node and not node.fa.flow_style():
        return _slot(node, len(node) - 1)
    return parent, key, 0 if isinstance(parent, CommentedSeq) else 2


def _line_of(parent: Any, key: Any) -> int | None:
    try:
        if isinstance(parent, CommentedSeq):
            return int(parent.lc.item(key)[0])
        return int(parent.lc.key(key)[0])
    except (KeyError, IndexError, TypeError, AttributeError):
        return None


def take_following(parent: CommentedMap, key: str) -> str:
    """Cut and return the comment lines (and blank lines) that follow `parent[key]` in the
    file: ruamel hangs them on the entry before them, though they are about what comes
    next.  A comment at the end of the entry's own line stays with it."""
    holder, slot_key, pos = _slot(parent, key)
    entry = holder.ca.items.get(slot_key)
    token = entry[pos] if entry and len(entry) > pos else None
    if not isinstance(token, CommentToken) or not token.value:
        return ""
    value = token.value
    on_own_line = value.startswith("#") and token.start_mark is not None
    if on_own_line and token.start_mark.line != _line_of(holder, slot_key):
        on_own_line = False  # after a block scalar: a line of its own
    if value.startswith("\n"):
        own, rest = "\n", value[1:]
    elif on_own_line and "\n" in value:
        cut = value.index("\n") + 1
        own, rest = value[:cut], value[cut:]
    elif on_own_line:
        own, rest = value, ""
    else:
        own, rest = "", value
    if own.strip() or (own and pos == 0):
        token.value = own
    else:
        entry[pos] = None
    return rest


def give_following(parent: CommentedMap, key: str, lines: str) -> None:
    """Hang comment `lines` (as `take_following` gave them) after `parent[key]`."""
    if not lines:
        return
    holder, slot_key, pos = _slot(parent, key)
    entry = holder.ca.items.setdefault(slot_key, [None, None, None, None])
    token = entry[pos]
    if isinstance(token, CommentToken) and token.value:
        joined = token.value if token.value.endswith("\n") else token.value + "\n"
        token.value = joined + lines
    else:
        entry[pos] = CommentToken("\n" + lines, CommentMark(0), None)


def shift_line_comment(parent: CommentedMap, key: Any, by: int) -> None:
    """Move the comment at the end of `parent[key]`'s own line `by` columns: after the key
    is renamed to one `by` characters longer, the spaces before the comment stay as they
    were (ruamel writes a comment at the column it was read at)."""
    line = _line_of(parent, key)
    for token in parent.ca.items.get(key) or []:
        if (
            isinstance(token, CommentToken)
            and token.start_mark is not None
            and token.start_mark.line == line
            and token.value.startswith("#")
        ):
            token.column = max(0, token.column + by)


def like(old: Any, new: str) -> Any:
    """`new` in the quoting style of the string `old` (plain when that still reads back)."""
    if isinstance(old, ScalarString) and not isinstance(old, LiteralScalarString):
        return type(old)(new)
    return to_node(new)
