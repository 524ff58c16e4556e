"""A step's line as its terminal would have left it after carriage returns.

Progress bars rewrite one line: `progress 10%\rprogress 50%\rprogress 100%` is stored as
printed (every byte kept, `--raw` shows them), and shown the way CI logs show it — the last
text after a carriage return — by the CLI (`flowtui run`, `logs`, `show`) and the dashboard.
Only the step's own text is cut, never flowtui's prefix (time, step name) before it.
"""

from __future__ import annotations


def last_overprint(line: str) -> str:
    """`line` without what a later carriage return wrote over: the last non-empty text
    between carriage returns (a trailing `\\r`, as in CRLF, changes nothing)."""
    if "\r" not in line:
        return line
    for part in reversed(line.split("\r")):
        if part:
            return part
    return ""


def last_overprints(text: str) -> str:
    """`last_overprint` of each line of `text`."""
    if "\r" not in text:
        return text
    return "\n".join(last_overprint(line) for line in text.split("\n"))


__all__ = ["last_overprint", "last_overprints"]
