"""`${NAME}` substitution in user text (URLs, headers, bodies, messages).

Only `string.Template.safe_substitute` is used: user text is never formatted, evaluated or
spliced into code.  `$NAME` works too, `$$` is a literal `$`, and unknown names are left
as written.
"""

from __future__ import annotations

from collections.abc import Mapping
from string import Template
from typing import Any


def expand(text: str, values: Mapping[str, str]) -> str:
    return Template(text).safe_substitute(values)


def expand_json(data: Any, values: Mapping[str, str]) -> Any:
    """Expand every string inside a JSON-like value; keys and structure stay as they are."""
    if isinstance(data, str):
        return expand(data, values)
    if isinstance(data, Mapping):
        return {key: expand_json(value, values) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [expand_json(item, values) for item in data]
    return data
