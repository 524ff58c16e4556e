"""A table of rows to pick from in a dialog (environments, inbox), moved with j/k as well
as the arrows, like the dashboard's own lists."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import DataTable


class RowTable(DataTable[object]):
    """A row-cursor DataTable with the dashboard's j/k keys.

    | Key | Action |
    |---|---|
    | j / k | next / previous row (as ↓ / ↑) |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]


__all__ = ["RowTable"]
