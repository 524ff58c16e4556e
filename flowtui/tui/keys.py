"""Keys in words a person reads, made from the bindings: the one source of the footer's
choice, the help screen and the command palette (a key is never described twice).

A user keymap (`[keymap]` in the config file, applied with `App.set_keymap`) moves a
binding to other keys; everything here reads the keys through it, so help and palette show
the keys that work.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from textual.binding import Binding, BindingType
from textual.keys import format_key

# what the footer keeps when the terminal is narrow, most needed first: help and quit are
# always shown, then the run keys, then the views (every key stays in help and the palette)
FOOTER_PRIORITY = (
    "help",
    "quit",
    "builder.help",
    "builder.save",
    "builder.leave",
    "builder.add",
    "builder.connect",
    "builder.undo",
    "run",
    "approve",
    "reject",
    "cancel",
    "filter",
    "command",
    "rerun_failed",
    "dag",
    "timeline",
    "logs",
    "history",
    "pause",
)

# keys that are not bindings (Textual's own focus and palette keys), for the help screen
NAVIGATION = (
    ("tab / shift+tab", "move the keys to the next / previous panel (the marked one has them)"),
    ("ctrl+p", "command palette: every action, themes"),
)


@dataclass(frozen=True, slots=True)
class KeyHelp:
    """One binding as the help screen and the palette show it."""

    keys: str  # as displayed: "/", "G / end", "shift+←"
    title: str  # the short name (the footer's)
    text: str  # the long description (the binding's tooltip, else its title)
    action: str


def key_label(key: str) -> str:
    """One key as a person reads it: `slash` → `/`, `question_mark` → `?`, `shift+left` →
    `shift+←`, `ctrl+p` → `ctrl+p`."""
    *modifiers, name = key.strip().split("+")
    return "+".join([*modifiers, format_key(name)])


def keys_label(keys: str) -> str:
    """A binding's comma-separated keys: `G,end` → `G / end`."""
    return " / ".join(key_label(k) for k in keys.split(",") if k.strip())


def as_binding(binding: BindingType) -> Binding:
    return binding if isinstance(binding, Binding) else Binding(*binding)


def describe(bindings: Iterable[BindingType], keymap: Mapping[str, str]) -> list[KeyHelp]:
    """`bindings` in order, one entry per action, with the keys `keymap` gives them."""
    found: dict[str, KeyHelp] = {}
    for item in bindings:
        binding = as_binding(item)
        keys = keymap.get(binding.id, binding.key) if binding.id else binding.key
        label = keys_label(keys)
        old = found.get(binding.action)
        if old is not None:  # the same action on another line (e.g. "n,escape")
            found[binding.action] = KeyHelp(
                f"{old.keys} / {label}", old.title, old.text, old.action
            )
            continue
        text = binding.tooltip or binding.description
        found[binding.action] = KeyHelp(label, binding.description, text, binding.action)
    return list(found.values())


def help_sections(
    app_bindings: Sequence[BindingType],
    panels: Sequence[tuple[str, Sequence[BindingType]]],
    keymap: Mapping[str, str],
    commands: Sequence[tuple[str, str]],
) -> list[tuple[str, list[tuple[str, str]]]]:
    """The help screen's sections: the dashboard's keys (with panel moves), each panel's
    own keys, and the `:` commands."""
    sections = [
        ("Everywhere", [(k.keys, k.text) for k in describe(app_bindings, keymap)]),
        ("Panels", list(NAVIGATION)),
    ]
    for title, bindings in panels:
        sections.append((title, [(k.keys, k.text) for k in describe(bindings, keymap)]))
    sections.append(("Commands (after :)", list(commands)))
    ids = [
        (b.id, keys_label(keymap.get(b.id, b.key)))
        for bindings in [app_bindings, *(bindings for _, bindings in panels)]
        for b in map(as_binding, bindings)
        if b.id is not None
    ]
    sections.append(("Binding ids for [keymap] in config.toml", ids))
    return sections


def binding_ids(*binding_lists: Iterable[BindingType]) -> set[str]:
    """The ids a keymap may name."""
    return {
        b.id for bindings in binding_lists for b in map(as_binding, bindings) if b.id is not None
    }


def footer_rank(binding: Binding) -> int:
    """Lower is kept first when the footer is too narrow for every key."""
    if binding.id in FOOTER_PRIORITY:
        return FOOTER_PRIORITY.index(binding.id)
    return len(FOOTER_PRIORITY)


__all__ = [
    "FOOTER_PRIORITY",
    "KeyHelp",
    "as_binding",
    "binding_ids",
    "describe",
    "footer_rank",
    "help_sections",
    "key_label",
    "keys_label",
]
