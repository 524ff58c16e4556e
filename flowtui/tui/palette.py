"""The command palette's panel keys: each panel's own bindings (`w` wrap, `t` times in the
logs, `m` compact in the DAG, …) found by name, as the help screen lists them.  Chosen
there, the panel is shown and focused and its action runs on it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from typing import Any

from textual.app import App, SystemCommand
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import TabbedContent

from flowtui.tui.keys import describe
from flowtui.tui.markup import escape


def panel_commands(
    app: App[Any],
    panels: Sequence[tuple[str, type[Widget]]],
    tabs: Mapping[str, type[Widget]],
    keymap: Mapping[str, str],
) -> Iterator[SystemCommand]:
    """One palette command per key of each panel of the dashboard (`tabs`: tab id → the
    view on it)."""
    for panel, kind in panels:
        try:
            widget = app.query_one(kind)
        except NoMatches:  # not on this screen (the builder offers its own)
            continue
        tab = next((tab for tab, view in tabs.items() if view is kind), None)
        for key in describe(kind.BINDINGS, keymap):
            if key.action.startswith("close"):  # escape: nothing to do from the palette
                continue
            more = f" · {key.text}" if key.text != key.title else ""
            yield SystemCommand(
                f"{key.title} ({panel})",
                escape(f"key {key.keys} in the {panel}{more}"),  # read as markup
                partial(_run_on, app, widget, tab, key.action),
            )


async def _run_on(app: App[Any], widget: Widget, tab: str | None, action: str) -> None:
    if tab is not None:
        app.query_one(TabbedContent).active = tab
    widget.focus()
    await app.run_action(action, widget)


__all__ = ["panel_commands"]
