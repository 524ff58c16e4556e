"""PyYAML's parser and scanner errors, said in plain words at the position of their cause.

PyYAML reports where it gave up (`expected <block end>, but found '<block mapping start>'`),
which is often a line or two after the mistake and in the parser's own terms.  `explain`
recognises the mistakes people make most (indentation that does not line up, a tab, a
`: ` inside an unquoted value, a quote or bracket left open) and says what to change; any
other error keeps PyYAML's words.  The offending line is shown with a caret under the
column when the text is at hand.
"""

from __future__ import annotations

from typing import Any

import yaml

from flowtui.model.errors import Problem
from flowtui.model.workflow import SourcePos

_OPENERS = {"flow sequence": "[", "flow mapping": "{"}
_CLOSERS = {"[": "]", "{": "}"}
_OPEN_OF = {"]": "[", "}": "{"}


def explain(file: str, exc: yaml.MarkedYAMLError, text: str | None) -> Problem:
    """One Problem for a YAML syntax error, in plain words, with the offending line."""
    lines = text.splitlines() if text is not None else []
    problem = exc.problem or ""
    context = exc.context or ""
    mark = exc.problem_mark or exc.context_mark
    at = (mark.line, mark.column) if mark is not None else (0, 0)
    found = _recognise(problem, context, exc.context_mark, at, lines)
    if found is None:
        message = f"YAML syntax: {problem or 'invalid document'}"
        hint = ""
        if context and exc.context_mark is not None:
            hint = f"{context} at line {exc.context_mark.line + 1}"
        where = at
    else:
        where, message, hint = found
        message = f"YAML syntax: {message}"
    pos = SourcePos(file, where[0] + 1, where[1] + 1)
    return Problem(pos, message, hint, excerpt=_excerpt(lines, where))


def _recognise(
    problem: str,
    context: str,
    context_mark: Any,
    at: tuple[int, int],
    lines: list[str],
) -> tuple[tuple[int, int], str, str] | None:
    line_no = at[0]
    if "'\\t'" in problem:
        return (
            at,
            "a tab character here; YAML indentation must be spaces",
            "replace the tab with spaces (and set your editor to indent YAML with spaces)",
        )
    if "that cannot start any token" in problem:
        char = _char(lines, at)
        return (
            at,
            f"an unquoted value cannot start with `{char}`",
            f"put the value in quotes, e.g. '{char}…'",
        )
    if problem.startswith("found unknown escape character"):
        char = _char(lines, at)
        return (
            (at[0], max(0, at[1] - 1)),
            f"`\\{char}` is not an escape sequence in a double-quoted value",
            "use single quotes (a backslash is plain there) or write it as `\\\\`",
        )
    if problem == "could not find expected ':'" and context_mark is not None:
        where = (context_mark.line, context_mark.column)
        return (
            where,
            "this line has no `:`; each line of a mapping is `key: value`",
            "add `: ` after the key; if it continues the value above, quote that value or "
            "use a `|` block",
        )
    if problem.startswith("expected the node content, but found ','"):
        return (at, "an empty item before this `,`", "remove the extra `,`")
    if context == "while scanning a quoted scalar" and "unexpected" not in problem:
        return None
    if context == "while scanning a quoted scalar" and context_mark is not None:
        opened = (context_mark.line, context_mark.column)
        quote = _char(lines, opened) or '"'
        return (
            opened,
            f"unclosed quote: the {quote} opened at line {opened[0] + 1} is never closed",
            f"add the closing {quote} at the end of the value",
        )
    for kind, opener in _OPENERS.items():
        flow = context == f"while parsing a {kind}" and problem.startswith("expected ','")
        if flow and context_mark is not None:
            opened = (context_mark.line, context_mark.column)
            got = problem.rsplit("but got ", 1)[-1].strip("'") if "but got" in problem else ""
            closer = _CLOSERS[opener]
            got_text = f" (found `{got}` at line {line_no + 1} first)" if got else ""
            return (
                opened,
                f"unclosed bracket: the `{opener}` opened at line {opened[0] + 1} "
                f"is not closed{got_text}",
                f"close it with `{closer}`, and separate items with `, `",
            )
    if problem == "mapping values are not allowed here":
        return _stray_colon(at, lines)
    if problem.startswith("expected <block end>") and context_mark is not None:
        return _misaligned(problem, context, (context_mark.line, context_mark.column), at, lines)
    if problem.startswith("found undefined alias"):
        return (
            at,
            problem,
            "an `*name` alias needs an `&name` anchor earlier in the file; "
            "to write a literal `*`, quote the value",
        )
    return None


def _stray_colon(at: tuple[int, int], lines: list[str]) -> tuple[tuple[int, int], str, str] | None:
    line_no, column = at
    if line_no >= len(lines):
        return None
    line = lines[line_no]
    before = line[:column]
    if before.strip() and before.strip() == before.lstrip() and ":" not in before.strip():
        # `key:` at the start of its own line: the line above's value ran on into it
        indent = _indent(line)
        above = _previous_content_line(lines, line_no)
        if above is not None and ": " not in lines[above] and ":" in lines[above].rstrip(":"):
            return (
                (above, lines[above].index(":")),
                "a `:` must be followed by a space to start a value",
                f"write `{lines[above].split(':', 1)[0].strip()}: …` with a space after the colon",
            )
        if above is not None and indent > _indent(lines[above]):
            return (
                (line_no, indent),
                "this line is indented more than the key above it expects",
                f"line {above + 1} already has a value, so this key cannot nest under it; "
                "line it up with the keys it belongs with",
            )
    return (
        at,
        "a `:` inside an unquoted value — quote it",
        "a `: ` in a value starts a new key; put the whole value in quotes, e.g. run: 'echo a: b'",
    )


def _misaligned(
    problem: str,
    context: str,
    opened: tuple[int, int],
    at: tuple[int, int],
    lines: list[str],
) -> tuple[tuple[int, int], str, str] | None:
    line_no, column = at
    if line_no >= len(lines):
        return None
    line = lines[line_no]
    indent = _indent(line)
    if "'<scalar>'" in problem and column > indent:
        # `name: "demo" x`: text after a quoted value on the same line
        return (
            at,
            "text after the end of a quoted value",
            "quote the whole value, or remove what follows the closing quote",
        )
    closer = problem.rsplit("but found ", 1)[-1].strip("'")
    if closer in ("}", "]"):
        return (
            at,
            f"a `{closer}` that closes nothing",
            f"remove it, or add the `{_OPEN_OF[closer]}` it closes",
        )
    if column != indent:
        return None
    if context == "while parsing a block collection" and "'?'" in problem:
        return (
            at,
            "a `key:` among `- ` list items",
            f"the list starting at line {opened[0] + 1} holds `- ` items; "
            "write this as a list item, or indent it under one",
        )
    expected = opened[1]
    above = _previous_content_line(lines, line_no)
    above_indent = _indent(lines[above]) if above is not None else expected
    if above is None or above_indent < indent:
        return (
            at,
            "this line is indented more than the key above it expects",
            f"it is indented {indent} spaces, but the keys of the mapping starting at "
            f"line {opened[0] + 1} are at {expected}; line it up with the keys it belongs with",
        )
    return (
        at,
        "this line does not line up with the keys above it",
        f"it is indented {indent} spaces, between the keys at line {opened[0] + 1} "
        f"({expected} spaces) and line {above + 1} ({above_indent} spaces); "
        "line it up with the keys it belongs with",
    )


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _previous_content_line(lines: list[str], line_no: int) -> int | None:
    for index in range(line_no - 1, -1, -1):
        stripped = lines[index].strip()
        if stripped and not stripped.startswith("#"):
            return index
    return None


def _char(lines: list[str], at: tuple[int, int]) -> str:
    line_no, column = at
    if line_no < len(lines) and column < len(lines[line_no]):
        return lines[line_no][column]
    return ""


def _excerpt(lines: list[str], at: tuple[int, int]) -> str:
    """The offending line and a caret under the column ("" when the line is unknown)."""
    line_no, column = at
    if line_no >= len(lines):
        return ""
    line = lines[line_no].replace("\t", " ")
    if len(line) > 200:
        return ""
    number = str(line_no + 1)
    return f"{number} | {line}\n{' ' * len(number)} | {' ' * column}^"
