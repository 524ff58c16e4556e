"""The `:` command line's language (k9s-like): parsing and completion, no widgets here.

`:run NAME [--env ENV]`, `:approve RUN [STEP]`, `:reject RUN [STEP]`, `:rerun RUN`, `:cancel RUN`,
`:theme NAME`, `:q`.  A RUN is a run id (`12` or `#12`).  What a command does is the
dashboard's own action (`tui.actions`, over `flowtui.control`); this module only says which.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

# name -> (arguments, what it does); the help screen and the errors are made from this
COMMANDS: dict[str, tuple[str, str]] = {
    "run": (
        "NAME [--env ENV]",
        "run the workflow NAME (asks for its params and environment), in ENV if given",
    ),
    "approve": ("RUN [STEP]", "approve the held STEP (or only held step) of run RUN"),
    "reject": ("RUN [STEP]", "reject the held STEP (or only held step) of run RUN"),
    "rerun": ("RUN", "rerun run RUN from its failed step"),
    "cancel": ("RUN", "cancel run RUN (asks)"),
    "theme": ("NAME", "switch to theme NAME (remembered in the config file)"),
    "q": ("", "quit (asks when runs are going)"),
}
ALIASES = {"quit": "q", "q!": "q"}
OPTIONS: dict[str, tuple[str, ...]] = {"run": ("--env",)}  # options taking a value


class CommandError(ValueError):
    """What is wrong with a command line, in words for the person who typed it."""


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    args: tuple[str, ...]
    options: dict[str, str] = field(default_factory=dict)  # `--env X` -> {"env": "X"}

    @property
    def run_id(self) -> int:
        """The first argument as a run id (parse() checked it)."""
        return int(self.args[0].lstrip("#"))


def usage(name: str) -> str:
    args = COMMANDS[name][0]
    return f":{name} {args}".rstrip()


def help_rows() -> list[tuple[str, str]]:
    return [(usage(name), text) for name, (_, text) in COMMANDS.items()]


def parse(text: str) -> Command:
    words = text.strip().removeprefix(":").split()
    if not words:
        raise CommandError(f"type a command: {', '.join(COMMANDS)}")
    name, args = words[0].lower(), tuple(words[1:])
    name = ALIASES.get(name, name)
    if name not in COMMANDS:
        raise CommandError(f"unknown command :{name} — known: {', '.join(COMMANDS)}")
    args, options = _options(name, args)
    spec = re.sub(r"\[--[^]]*\]", "", COMMANDS[name][0]).split()  # the words, no options
    needed = [a for a in spec if not a.startswith("[")]
    if len(args) < len(needed):
        raise CommandError(f"{usage(name)}: {' '.join(needed)} missing")
    if len(args) > len(spec):
        raise CommandError(f"{usage(name)}: too many words ({' '.join(args)})")
    if spec[:1] == ["RUN"] and not args[0].lstrip("#").isdigit():
        raise CommandError(f"{usage(name)}: {args[0]!r} is not a run id (a number, e.g. 12)")
    return Command(name, args, options)


def _options(name: str, words: tuple[str, ...]) -> tuple[tuple[str, ...], dict[str, str]]:
    """`words` without the options of command `name` (`--env X` or `--env=X`), and those."""
    known = OPTIONS.get(name, ())
    args: list[str] = []
    options: dict[str, str] = {}
    rest = iter(words)
    for word in rest:
        if not word.startswith("--"):
            args.append(word)
            continue
        option, eq, value = word.partition("=")
        if option not in known:
            shown = ", ".join(known) or "none"
            raise CommandError(f"{usage(name)}: unknown option {option} (options: {shown})")
        if not eq:
            value = next(rest, "")
        if not value:
            raise CommandError(f"{usage(name)}: {option} needs a value")
        options[option.removeprefix("--")] = value
    return tuple(args), options


def unknown(kind: str, word: str, known: Sequence[str]) -> str:
    """`no workflow 'appr'; did you mean approval-hold? (tab completes)`, or the known
    names when nothing is close."""
    close = [k for k in known if k.startswith(word)] or difflib.get_close_matches(word, known)
    if close:
        return f"no {kind} {word!r}; did you mean {' or '.join(close[:3])}? (tab completes)"
    shown = ", ".join(sorted(known)[:8]) + (", …" if len(known) > 8 else "")
    return f"no {kind} {word!r} (known: {shown})"


def completion(text: str, candidates: Sequence[str]) -> str | None:
    """`text` completed with the first of `candidates` that extends its last word."""
    head, _, last = text.rpartition(" ")
    for candidate in candidates:
        if candidate.startswith(last) and candidate != last:
            return f"{head} {candidate}" if head else candidate
    return None


def wants(text: str) -> tuple[str, int] | None:
    """What the last word of `text` is: ("command", 0), or (command name, argument index)."""
    words = text.split(" ")
    if len(words) == 1:
        return ("command", 0)
    name = ALIASES.get(words[0].lower(), words[0].lower())
    if name not in COMMANDS:
        return None
    return (name, len(words) - 2)


__all__ = [
    "COMMANDS",
    "Command",
    "CommandError",
    "completion",
    "help_rows",
    "parse",
    "unknown",
    "wants",
]
