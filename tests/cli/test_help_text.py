"""`--help` that helps: every option of every command says what it does, and the
examples name workflows that exist (the bundled samples), so they work as typed."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from flowtui.cli.examples import EXAMPLES
from flowtui.cli.main import build_parser
from flowtui.model.loader import discover_workflows, load_workflow

SAMPLES = Path(__file__).resolve().parents[2] / "sample_workflows"
# the commands whose first word after them is a workflow (a file, or the name of one)
NAMES_A_WORKFLOW = ("run", "history", "pause", "resume", "graph", "triggers")


def _parsers(
    parser: argparse.ArgumentParser, path: str
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every command's parser, subcommands too (`db copy`); not the hidden ones (the
    completion scripts' `__complete`, listed nowhere)."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            listed = {a.dest for a in action._choices_actions}
            for name, sub in action.choices.items():
                if name in listed:
                    yield from _parsers(sub, f"{path} {name}")


def test_every_option_of_every_command_says_what_it_does() -> None:
    missing = [
        f"{path}: {'/'.join(action.option_strings) or action.dest}"
        for path, parser in _parsers(build_parser(), "flowtui")
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction)
        and not (action.help or "").strip()
    ]
    assert missing == []


def test_the_examples_name_workflows_that_exist() -> None:
    """`flowtui pause nightly-backup` with no such workflow anywhere fails as typed: the
    examples of `flowtui --help` and of each command name bundled samples."""
    names = {load_workflow(path).name for path in discover_workflows(SAMPLES)}
    shown = subprocess.run(
        [sys.executable, "-m", "flowtui", "--help"], capture_output=True, text=True, check=True
    ).stdout
    lines = [line.strip() for line in shown.split("examples:", 1)[1].splitlines()]
    lines += [line for name in ("pause", "resume", "triggers") for line in EXAMPLES[name]]
    checked = 0
    for line in lines:
        found = re.match(rf"flowtui ({'|'.join(NAMES_A_WORKFLOW)}) (\w[\w.-]*)(\s|$)", line)
        if found is None or found.group(2) == "last" or "." in found.group(2):
            continue  # not a workflow by name (a file, `last`, an option)
        assert found.group(2) in names, line
        checked += 1
    assert checked >= 5
