"""`flowtui edit FILE --add-step/--set-step/--rename/...`: one edit of a workflow file from
the command line, through the same operations as the dashboard's builder
(`flowtui.model.edit`).  Prints what changed and a small diff; a refused edit leaves the
file as it was and exits 1 saying why."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path
from typing import Any

from flowtui.cli.commands import CliError
from flowtui.model import edit
from flowtui.model.editfile import OpenedFile
from flowtui.model.yamlrt import parse_value


def _pairs(items: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"expected KEY=VALUE, got {item!r}")
        if not raw.strip():
            raise CliError(f"{key}: empty value (use --unset {key} to remove a key)")
        try:
            values[key.strip()] = parse_value(raw)
        except ValueError as exc:
            raise CliError(f"{key}: {exc}") from None
    return values


def operation(args: argparse.Namespace) -> edit.Operation:
    """The one operation the arguments ask for."""
    if args.add_step:
        requires = [r.strip() for r in (args.requires or "").split(",") if r.strip()]
        return edit.AddStep(
            args.add_step, args.type, _pairs(args.set), requires, args.after, args.before
        )
    if args.set or args.requires or args.type != "script":
        raise CliError("--set, --type and --requires go with --add-step")
    if args.set_step:
        name, *pairs = args.set_step
        if not pairs and not args.unset:
            raise CliError("--set-step NAME needs KEY=VALUE pairs (or --unset KEY)")
        return edit.SetKeys(name, _pairs(pairs), args.unset)
    if args.unset:
        raise CliError("--unset goes with --set-step")
    if args.rename:
        return edit.Rename(*args.rename)
    if args.remove_step:
        return edit.RemoveStep(args.remove_step, detach=args.detach)
    if args.connect:
        return edit.Connect(*args.connect)
    if args.disconnect:
        return edit.Disconnect(*args.disconnect)
    if args.duplicate:
        return edit.Duplicate(*args.duplicate)
    if not (args.after or args.before):
        raise CliError("--move NAME needs --after STEP or --before STEP")
    return edit.MoveStep(args.move, args.after, args.before)


def small_diff(old: str, new: str, name: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(True), new.splitlines(True), f"{name} (before)", f"{name} (after)", n=1
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def cmd_edit(args: argparse.Namespace) -> int:
    op = operation(args)
    path = Path(args.file)
    if path.suffix not in (".yaml", ".yml"):
        raise CliError(f"not changed: {path}: only YAML workflow files (.yaml, .yml) are edited")
    try:
        opened = OpenedFile.open(path)
        result = edit.apply(opened.text, op, file=str(path), path=path.resolve())
        if not args.dry_run:
            opened.save(result.text)
    except edit.EditRefused as exc:
        raise CliError(f"not changed: {exc}") from None
    except OSError as exc:  # a safety net: OpenedFile turns what it meets into EditRefused
        raise CliError(f"not changed: {path}: {exc.strerror or exc}") from None
    for change in result.changes:
        print(change)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    sys.stdout.write(small_diff(opened.text, result.text, path.name))
    if args.dry_run:
        print("(dry run: the file was not written)")
    return 0
