"""The key footer: the keys that fit, essentials first, rebuilt only when they change."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.keys import key_to_character
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from flowtui.tui.keys import as_binding, footer_rank, key_label

# a compact FooterKey is "key description" and one column of margin
GAP = 1
PALETTE_RESERVE = 13  # "▏^p palette" docked on the right


def _character(key: str) -> str | None:
    """The character a key types (`key_to_character` misses some: `slash`)."""
    label = key_label(key)
    return key_to_character(key) or (label if len(label) == 1 else None)


class KeyFooter(Footer):
    """Textual's `Footer`, compact, showing what fits of the focused panel's and the app's
    keys: when the terminal is narrow the least needed go first (`keys.FOOTER_PRIORITY`:
    help and quit stay), so no key is ever cut in half.  Every key stays in help (`?`).

    `Footer` removes and mounts all its keys on every focus change; each rebuild lays out
    the whole screen (two layouts of tens of ms with a long workflow list and the history
    table), though moving between the list and a table mostly leaves the same keys shown:
    a rebuild happens only when what is shown changes.
    """

    def __init__(self) -> None:
        super().__init__(compact=True)
        self._shown: tuple[object, ...] | None = None

    def _candidates(self, screen: Screen[object]) -> list[tuple[Binding, bool, str]]:
        """The shown bindings in the focus chain's order, one per action."""
        seen: set[str] = set()
        found = []
        focused = screen.focused
        for key, (_, binding, enabled, tooltip) in screen.active_bindings.items():
            if not binding.show or binding.action in seen:
                continue
            if focused is not None and focused.check_consume_key(key, _character(key)):
                continue  # typed into the focused input (`/` in the command line), not a key
            seen.add(binding.action)
            found.append((binding, enabled, tooltip))
        return found

    def _fitting(self, screen: Screen[object]) -> list[tuple[Binding, bool, str]]:
        candidates = self._candidates(screen)
        room = (self.app.size.width or 80) - PALETTE_RESERVE
        chosen: set[int] = set()
        for index, (binding, _, _) in sorted(
            enumerate(candidates), key=lambda item: (footer_rank(item[1][0]), item[0])
        ):
            width = len(self.app.get_key_display(binding)) + 1 + len(binding.description) + GAP
            if width <= room:
                chosen.add(index)
                room -= width
        # the panel's own keys first, then the app's in the order it declares them (a
        # keymap does not move a key to the end)
        declared = {as_binding(b).action: i for i, b in enumerate(self.app.BINDINGS)}
        kept = [c for i, c in enumerate(candidates) if i in chosen]
        return sorted(kept, key=lambda c: declared.get(c[0].action, -1))

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        for binding, enabled, tooltip in self._fitting(self.screen):
            yield FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                disabled=not enabled,
                tooltip=tooltip or binding.tooltip,
            ).data_bind(compact=Footer.compact)
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            palette = self.screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING)
            if palette is not None:
                _, binding, enabled, _ = palette
                yield FooterKey(
                    binding.key,
                    self.app.get_key_display(binding),
                    binding.description,
                    binding.action,
                    classes="-command-palette",
                    disabled=not enabled,
                    tooltip=binding.tooltip or binding.description,
                )

    def _shown_keys(self, screen: Screen[object]) -> tuple[object, ...]:
        """What `compose` would draw: the fitting bindings and whether each is enabled."""
        return (
            self.show_command_palette,
            self.app.size.width,
            *(
                (binding.key, binding.description, binding.action, enabled, tooltip)
                for binding, enabled, tooltip in self._fitting(screen)
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

    def on_resize(self) -> None:
        # a narrower terminal keeps fewer keys, a wider one more
        if self.is_attached and self._bindings_ready:
            self.bindings_changed(self.screen)
