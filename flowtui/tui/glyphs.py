"""Status glyphs and their theme colours, shared by every dashboard widget."""

from __future__ import annotations

from typing import Any

from flowtui.glyphs import GLYPHS

SPINNER = "◐◓◑◒"

# which theme colour each status takes
STATUS_COLOUR: dict[str, str] = {
    "succeeded": "success",
    "reused": "success",
    "failed": "error",
    "allowed_failure": "warning",  # the run goes on
    "timed_out": "error",
    "rejected": "error",
    "held": "warning",
    "running": "accent",
    "planned": "accent",  # a rerun's preview: what runs again stands out
    "cancelled": "secondary",
    "interrupted": "secondary",
}


def glyph(status: str, frame: int = 0) -> str:
    if status == "running":
        return SPINNER[frame % len(SPINNER)]
    return GLYPHS.get(status, "?")


def status_style(status: str, theme: Any) -> str:
    """A rich style for `status` from a Textual Theme (dim when the status has no colour).

    A reused step keeps its full colour: dimmed, green fades to under 3:1 on a light theme.
    """
    key = STATUS_COLOUR.get(status)
    if key is None:
        return "dim"
    colour = getattr(theme, key, None) if theme is not None else None
    return colour or ""
