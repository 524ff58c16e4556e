"""Unknown command-line arguments, reported by the parser they were given to.

`flowtui run x.yaml --bogus` is `run`'s mistake (its usage is the helpful one); `flowtui --bogus`
and `flowtui --bogus run x.yaml` are flowtui's own, even though a command-less line opens the
dashboard: the dashboard's usage would not tell that it was never named.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Sequence
from typing import NoReturn


def _subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _command_position(parser: argparse.ArgumentParser, name: str, argv: Sequence[str]) -> int:
    """Where `name` stands in `argv` as `parser`'s command word (not as an option's value)."""
    takes_value = {
        option
        for action in parser._actions
        if action.nargs != 0
        for option in action.option_strings
    }
    skip = False
    for i, word in enumerate(argv):
        if skip:
            skip = False
        elif word == name:
            return i
        elif word in takes_value:
            skip = True
    return len(argv)


def _parsers_in_line(
    parser: argparse.ArgumentParser, args: argparse.Namespace, argv: Sequence[str]
) -> list[tuple[argparse.ArgumentParser, Sequence[str]]]:
    """Each parser of the line (`flowtui`, `db`, `copy`) with the words it was given itself."""
    chain: list[tuple[argparse.ArgumentParser, Sequence[str]]] = []
    while (action := _subcommands(parser)) is not None:
        name = str(getattr(args, action.dest or "", None) or "")
        chosen = action.choices.get(name)
        if not isinstance(chosen, argparse.ArgumentParser):
            break
        at = _command_position(parser, name, argv)
        chain.append((parser, argv[:at]))
        parser, argv = chosen, argv[at + 1 :]
    chain.append((parser, argv))
    return chain


def command_names(parser: argparse.ArgumentParser) -> list[str]:
    action = _subcommands(parser)
    return [] if action is None else [n for n in action.choices if not n.startswith("_")]


def reject_unknown(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    argv: Sequence[str],
    extra: Sequence[str],
    implied: bool,
) -> NoReturn:
    """Exit 2 naming `extra`, with the usage of the parser whose words they were among.

    `implied`: no command was named, so the line was parsed as `dashboard ...` and every word of
    it belongs to flowtui itself.
    """
    owner = parser
    if not implied:
        for candidate, words in _parsers_in_line(parser, args, argv):
            if any(word in words for word in extra):
                owner = candidate
                break
        else:
            owner = _parsers_in_line(parser, args, argv)[-1][0]
    message = f"unrecognized arguments: {' '.join(extra)}"
    if owner is parser:
        names = ", ".join(command_names(parser))
        message += "\n" + textwrap.fill(
            f"commands: {names} (`flowtui -h` says more)",
            width=79,
            initial_indent="  ",
            subsequent_indent="    ",
        )
    owner.error(message)
