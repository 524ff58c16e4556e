"""The key footer, rebuilt only when the keys it shows change."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    """Textual's `Footer`, minus the rebuilds that change nothing.

    `Footer` removes and mounts all its keys on every focus change; each rebuild lays out
    the whole screen (two layouts of tens of ms with a long workflow list and the history
    table), though moving between the list and a table mostly leaves the same keys shown.
    """

    def __init__(self) -> None:
        super().__init__()
        self._shown: tuple[object, ...] | None = None

    def _shown_keys(self, screen: Screen[object]) -> tuple[object, ...]:
        """What `compose` would draw: the shown bindings and whether each is enabled."""
        return (
            self.show_command_palette,
            *(
                (binding.key, binding.description, binding.action, enabled, tooltip)
                for (_, binding, enabled, tooltip) in screen.active_bindings.values()
                if binding.show or binding.action == "command_palette"
            ),
        )

    def bindings_changed(self, screen: Screen[object]) -> None:
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            super().bindings_changed(screen)
            return
        shown = self._shown_keys(screen)
        if shown == self._shown:
            return
        self._shown = shown
        super().bindings_changed(screen)
