"""`history`, `logs` and `show` filters from the command line, checked, as store filters."""

from __future__ import annotations

import argparse
import re
import shlex
import time
from datetime import datetime

from flowtui.engine.records import RunRecord
from flowtui.engine.states import RunStatus
from flowtui.model.durations import parse_duration
from flowtui.store.filters import LogFilter, RunFilter


class FilterError(ValueError):
    """An option's value that cannot be used; the message names the option."""


def parse_when(text: str, option: str, now: float | None = None) -> float:
    """`2h` (that long ago) or `2026-01-31[T14:00]` (local time) as epoch seconds."""
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        pass
    try:
        return (time.time() if now is None else now) - parse_duration(text)
    except ValueError:
        raise FilterError(
            f"{option} {text!r}: expected a duration back from now (30m, 2h, 7d) "
            "or a date (2026-01-31, 2026-01-31T14:00)"
        ) from None


def run_filter(args: argparse.Namespace) -> RunFilter:
    statuses = [s.strip() for v in args.status or () for s in v.split(",") if s.strip()]
    known = {str(s) for s in RunStatus}
    for status in statuses:
        if status not in known:
            raise FilterError(f"--status {status!r}: expected one of {', '.join(sorted(known))}")
    if args.workflow and args.workflow_opt and args.workflow != args.workflow_opt:
        raise FilterError(
            f"two workflows given: {args.workflow} and --workflow {args.workflow_opt}"
        )
    return RunFilter(
        statuses=statuses,
        workflow=args.workflow or args.workflow_opt,
        branch=args.branch,
        trigger=args.trigger,
        since=parse_when(args.since, "--since") if args.since else None,
        until=parse_when(args.until, "--until") if args.until else None,
        environment=getattr(args, "env", None),
    )


def log_filter(args: argparse.Namespace) -> LogFilter:
    if args.tail is not None and args.tail < 1:
        raise FilterError("--tail must be 1 or more")
    if args.grep is not None:
        try:
            re.compile(args.grep)
        except re.error as exc:
            raise FilterError(f"--grep {args.grep!r}: not a regular expression: {exc}") from None
    return LogFilter(
        since=parse_when(args.since, "--since") if args.since else None, pattern=args.grep
    )


def filter_words(args: argparse.Namespace) -> str:
    """The filters of a `history` command line again (for its "older:" hint), then a space."""
    words = [args.workflow] if args.workflow else []
    for option in ("status", "workflow_opt", "branch", "trigger", "since", "until", "env"):
        value = getattr(args, option)
        for item in value if isinstance(value, list) else [value] if value else []:
            words.append(f"--{option.removesuffix('_opt')} {shlex.quote(item)}")
    return "".join(f"{w} " for w in words)


def left_out_note(run: RunRecord) -> str:
    """`lint, test (--skip)`: the steps `run --only/--skip` left out of a run."""
    if not run.left_out:
        return ""
    options = sorted(set(run.left_out.values()))
    return f"{', '.join(run.left_out)} ({'/'.join(options)})"
