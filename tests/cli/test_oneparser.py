"""Only the parser of the command a process runs is built (flowtui/cli/oneparser.py, #18)."""

from __future__ import annotations

import argparse

import pytest

from flowtui.cli.argerrors import command_names
from flowtui.cli.main import build_parser
from flowtui.cli.oneparser import OneCommand, Unbuilt, command_word


@pytest.mark.parametrize(
    ("argv", "word"),
    [
        (["run", "x.yaml"], "run"),
        (["--db", "h.db", "history", "-n", "1"], "history"),
        (["--db=h.db", "show", "last"], "show"),
        (["--version"], None),
        (["--help", "run"], None),
        (["-h"], None),
        ([], None),
        (["--db", "h.db"], None),
        (["workflows/"], "workflows/"),  # not a command: the whole parser is built
    ],
)
def test_the_command_word(argv: list[str], word: str | None) -> None:
    assert command_word(argv) == word


def _commands(parser: argparse.ArgumentParser) -> OneCommand:
    [action] = [a for a in parser._actions if isinstance(a, OneCommand)]
    return action


def test_one_command_parses_as_the_whole_parser_and_names_every_command() -> None:
    whole = build_parser()
    names = command_names(whole)
    for line in (
        ["run", "x.yaml", "--parallel", "2", "-p", "a=b", "--quiet"],
        ["--db", "h.db", "history", "-n", "5", "--status", "failed"],
        ["db", "copy", "a.db", "b.db"],
        ["logs", "last", "-f"],
    ):
        one = build_parser(only=command_word(line))
        assert command_names(one) == names  # for the help, the "did you mean", the dashboard
        assert one.parse_args(line) == whole.parse_args(line)
        built = [n for n, p in _commands(one).choices.items() if not isinstance(p, Unbuilt)]
        assert built == [line[2] if line[0] == "--db" else line[0]]
    assert one.format_help() == whole.format_help()


def test_a_word_that_is_no_command_gets_the_whole_parser() -> None:
    parser = build_parser(only="workflows/")
    assert not any(isinstance(p, Unbuilt) for p in _commands(parser).choices.values())


def test_a_commands_help_is_its_whole_help(capsys: pytest.CaptureFixture[str]) -> None:
    for parser in (build_parser(only="run"), build_parser()):
        with pytest.raises(SystemExit):
            parser.parse_args(["run", "--help"])
    one, whole = capsys.readouterr().out.split("usage: flowtui run")[1:]
    assert one == whole
