"""Durations as users write them: `500ms`, `45s`, `10m`, `1h30m`, `2d`, or plain seconds."""

from __future__ import annotations

import math
import re

_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_ORDER = ("d", "h", "m", "s", "ms")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_EXAMPLES = "500ms, 45s, 10m, 1h30m, 2d or a number of seconds"


def parse_duration(value: str | int | float) -> float:
    """Return `value` in seconds; raise ValueError with a message a user can act on."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"a duration must be a number or a string like {_EXAMPLES}")
    if not isinstance(value, str):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise ValueError(f"invalid duration {value!r}: must be a finite number")
        if seconds < 0:
            raise ValueError(f"invalid duration {value!r}: must not be negative")
        return seconds

    text = value.strip()
    if not text:
        raise ValueError(f"empty duration: write one like {_EXAMPLES}")
    if text.startswith("-"):
        raise ValueError(f"invalid duration {value!r}: must not be negative")
    if _NUMBER.fullmatch(text):
        return float(text)

    total = 0.0
    last_rank = -1
    for word in text.split():
        pos = 0
        while pos < len(word):
            match = _PART.match(word, pos)
            if match is None:
                raise ValueError(f"invalid duration {value!r}: use a form like {_EXAMPLES}")
            number, unit = match.groups()
            rank = _ORDER.index(unit)
            # "1m30h" or "5s5s" are almost surely typos, so units must go from large to small
            if rank <= last_rank:
                raise ValueError(
                    f"invalid duration {value!r}: write each unit once, largest first (1h30m)"
                )
            last_rank = rank
            total += float(number) * _UNITS[unit]
            pos = match.end()
    return total
