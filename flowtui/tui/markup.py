"""User text (file contents, error messages, step and workflow names, log lines, comments)
inside Textual content markup, shown as it is and never read as tags.

`rich.markup.escape` (and `textual.markup.escape`, its copy) only escape a `[` that looks
like a whole Rich tag; Textual's own parser also reads an unclosed `[` (`requires: [build`)
or `[$x]` as the start of a tag, so the markup after it (`[/dim]`) no longer matches and
rendering raises `MarkupError` — from a redraw, that closes the app.  Here every `[` is
escaped.
"""

from __future__ import annotations

from rich.text import Text

# after a user text ending in a backslash, the `[` of the next tag would read as escaped
# (`\[/dim]`): a zero-width space (no cell) keeps them apart
_GUARD = "\u200b"


def escape(text: str) -> str:
    """`text` as Textual markup that shows exactly `text`."""
    escaped = text.replace("[", "\\[")
    return escaped + _GUARD if escaped.endswith("\\") else escaped


def cells(values: tuple[str, ...] | list[str]) -> tuple[Text, ...]:
    """A DataTable row of user text: str cells would be read as (Rich) markup."""
    return tuple(Text(value) for value in values)


__all__ = ["cells", "escape"]
