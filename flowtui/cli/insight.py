"""`flowtui show RUN --timeline / --compare [OTHER] / --junit FILE`: a run seen from outside
the dashboard (in a script, over SSH, in a pull request)."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from flowtui.cli.commands import CliError, open_store, resolve_run
from flowtui.cli.console import shown
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
            path = Path(args.junit)
            try:
                write_private(path, junit_xml(run, steps, states, logs))
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
    comparison = await compare_runs(store, run, other)
    if as_json:
        print(json.dumps(comparison.as_json(), indent=2))
    else:
        print("\n".join(comparison.lines()))
