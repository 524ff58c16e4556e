"""`flowtui show RUN --timeline / --compare [OTHER] / --junit FILE`: a run seen from outside
the dashboard (in a script, over SSH, in a pull request)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from flowtui.cli.commands import CliError, open_store, resolve_run
from flowtui.cli.console import shown
from flowtui.cli.hints import command
from flowtui.cli.junit import FAILED, LOG_LINES, junit_xml
from flowtui.cli.timeline_text import timeline_lines
from flowtui.engine.private import write_private
from flowtui.engine.records import RunRecord
from flowtui.store.compare import compare_runs, last_green_before
from flowtui.store.runstore import RunStore


def cmd_show_insight(args: argparse.Namespace) -> int:
    return asyncio.run(_show_insight(args))


async def _show_insight(args: argparse.Namespace) -> int:
    if args.json and args.compare is None:
        raise CliError("--json goes with --compare here (--timeline and --junit print text)")
    store = await open_store(args, read_only=True)
    try:
        run = await resolve_run(store, args.run)
        if args.junit and not run.status.is_final:
            # its running step would be a passing testcase, its pending ones skipped
            raise CliError(
                f"run {run.id} has not ended ({run.status}): a JUnit report is written for an "
                f"ended run only; wait for it ({command(f'attach {run.id}')}) and ask again"
            )
        steps = await store.get_steps(run.id)
        states = {s.name: shown(s, run) for s in steps}
        if args.timeline:
            print("\n".join(timeline_lines(run, steps, states, time.time())))
        if args.compare is not None:
            if args.timeline:
                print()
            await _compare(store, run, args.compare, as_json=args.json)
        if args.junit:
            logs: dict[str, list[str]] = {}
            for step in steps:
                if states[step.name] in FAILED:
                    tail = await store.tail_logs(run.id, step.name, limit=LOG_LINES)
                    logs[step.name] = [log.line for log in tail]
            document = junit_xml(run, steps, states, logs)
            if args.junit == "-":  # the usual name for standard output
                sys.stdout.write(document)
                return 0
            path = Path(args.junit)
            try:
                write_private(path, document)
            except OSError as exc:
                raise CliError(f"--junit {path}: cannot write: {exc.strerror or exc}") from None
            if not args.timeline and args.compare is None:
                print(f"wrote {path}: {len(steps)} testcases")
    finally:
        await store.close()
    return 0


async def _compare(store: RunStore, run: RunRecord, other_ref: str, *, as_json: bool) -> None:
    if other_ref:
        other = await resolve_run(store, other_ref)
    else:
        found = await last_green_before(store, run)
        if found is None:
            raise CliError(
                f"run {run.id}: no successful run of {run.workflow} before it to compare "
                "with (name one: --compare OTHER)"
            )
        other = found
    if other.workflow != run.workflow:  # its steps would match by chance, or not at all
        raise CliError(
            f"run {run.id} is of {run.workflow} but run {other.id} is of {other.workflow}: "
            "compare two runs of the same workflow"
        )
    comparison = await compare_runs(store, run, other)
    if as_json:
        print(json.dumps(comparison.as_json(), indent=2))
    else:
        print("\n".join(comparison.lines()))
