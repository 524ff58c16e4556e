"""Building only the parser of the command this process runs (issue #18: start-up).

flowtui's argument parser has some thirty commands and two hundred options; building them
all took ~5 ms of every start (argparse looks up a translation of each of its own texts,
and sizes a help formatter for each option).  `flowtui run x.yaml` needs one of them.  So
`build_parser(only="run")` builds `run`'s parser and, for every other command, registers
its name and its one-line help (for `flowtui --help`, the "did you mean" and the dashboard
by default) behind a stand-in that takes the options and keeps nothing.  A command line
whose first word is not a command name gets the whole parser, as does `--help` before it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

# flowtui's own options before the command: those that take a value
_VALUED = ("--db",)


def command_word(argv: Sequence[str]) -> str | None:
    """The command `argv` names (its first word past flowtui's own options), or None when
    it cannot be told without the whole parser (a help request, no word at all)."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _VALUED:
            skip = True
        elif arg.startswith("-"):
            if arg in ("-h", "--help") or arg == "--":
                return None
        else:
            return arg
    return None


class Unbuilt:
    """A command parser this process does not need: takes every call, keeps nothing."""

    _actions: tuple[()] = ()

    def __init__(self, **kwargs: Any) -> None:
        pass

    def __getattr__(self, name: str) -> Callable[..., Unbuilt]:
        return self._anything

    def _anything(self, *args: Any, **kwargs: Any) -> Unbuilt:
        return self


class OneCommand(argparse._SubParsersAction):
    """The commands' action, with a real parser for the command `only` (all when None)."""

    def __init__(self, *args: Any, only: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.only = only

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        wanted = self.only is None or self.only in (name, *kwargs.get("aliases", ()))
        if wanted:
            return super().add_parser(name, **kwargs)
        real = self._parser_class
        self._parser_class = Unbuilt  # name, aliases and help registered as usual
        try:
            return super().add_parser(name, **kwargs)
        finally:
            self._parser_class = real

    def built(self) -> bool:
        """Whether the command asked for has its real parser."""
        return self.only is None or isinstance(self.choices.get(self.only), argparse.ArgumentParser)
