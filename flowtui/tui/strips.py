"""A line cut at a pane's edge says so: `…` where it goes on (or began before a sideways
scroll), so a cut line never looks whole (the logs, the compact DAG)."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip


def cut_strip(strip: Strip, start: int, width: int, base: Style, marker: Style) -> Strip:
    """`width` cells of `strip` from `start`, a `…` where the line goes on past the edge
    (right) or began before it (left, scrolled with ← / →): a cut line never looks whole."""
    shown = strip.crop_extend(start, start + width, base)
    if width < 3:
        return shown
    more = Strip([Segment("…", marker)], 1)
    if strip.cell_length > start + width:
        shown = Strip.join([shown.crop(0, width - 1), more])
    if start > 0 and strip.cell_length > start:
        shown = Strip.join([more, shown.crop(1, width)])
    return shown


__all__ = ["cut_strip"]
