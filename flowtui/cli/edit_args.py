"""`flowtui edit`'s arguments (light: the parser is built on every start; the command
itself, with the YAML writer, is imported only when it runs, from `flowtui.cli.edit`)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "edit",
        help="change a workflow file's steps (comments and layout stay)",
        description="Make one change to a workflow file's steps. The result is checked like "
        "any workflow file (no cycle, no unknown step, keys of the right type) before it is "
        "written; a refused change leaves the file as it was. Values are read as YAML: "
        "`retries=2` is a number, `[a, b]` a list; quote text that looks like one.",
    )
    p.add_argument("file", metavar="FILE", help="the workflow file")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--add-step", metavar="NAME", help="add a step (with --type, --set)")
    what.add_argument(
        "--set-step",
        nargs="+",
        metavar=("NAME", "KEY=VALUE"),
        help="set keys of a step (--unset KEY removes one)",
    )
    what.add_argument("--rename", nargs=2, metavar=("OLD", "NEW"), help="rename a step")
    what.add_argument("--remove-step", metavar="NAME", help="remove a step")
    what.add_argument("--connect", nargs=2, metavar=("FROM", "TO"), help="make TO require FROM")
    what.add_argument(
        "--disconnect", nargs=2, metavar=("FROM", "TO"), help="TO no longer requires FROM"
    )
    what.add_argument("--duplicate", nargs=2, metavar=("NAME", "NEW"), help="copy a step")
    what.add_argument("--move", metavar="NAME", help="move a step (with --after or --before)")
    p.add_argument("--type", default="script", help="the new step's type (default script)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a key of the new step (repeat it)",
    )
    p.add_argument("--unset", action="append", default=[], metavar="KEY", help="remove a key")
    p.add_argument("--requires", metavar="A,B", help="what the new step requires")
    place = p.add_mutually_exclusive_group()
    place.add_argument("--after", metavar="STEP", help="place the step after STEP")
    place.add_argument("--before", metavar="STEP", help="place the step before STEP")
    p.add_argument(
        "--detach",
        action="store_true",
        help="with --remove-step: also drop it from the steps that require it",
    )
    p.add_argument("--dry-run", action="store_true", help="show the change; do not write it")
