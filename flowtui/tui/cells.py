"""Cutting text to a number of terminal cells (Textual-free, for the pure layout modules)."""

from __future__ import annotations

import unicodedata

from rich.cells import cell_len


def fit_cells(text: str, width: int) -> str:
    """`text` cut with … or padded to exactly `width` cells.

    Cut by cells, between whole characters: a wide character that would straddle the
    cut goes (a space takes its place), combining marks stay with their letter, and a
    joiner left at the end (its sequence cut) goes, as a terminal would draw it broken.
    """
    if width <= 0:
        return ""
    if cell_len(text) > width:
        kept: list[str] = []
        used = 0
        for char in text:
            w = cell_len(char)
            if used + w > width - 1:
                break
            kept.append(char)
            used += w
        while kept and unicodedata.category(kept[-1]) == "Cf":
            kept.pop()
        text = "".join(kept) + "…"
    return text + " " * (width - cell_len(text))
