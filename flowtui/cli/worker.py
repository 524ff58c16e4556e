"""`flowtui worker --queue Q [--queue …] [--name N] [--workdir DIR] [--concurrency N]`."""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from pathlib import Path

from flowtui.cli.commands import CliError

QUEUE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def say(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)


def cmd_worker(args: argparse.Namespace) -> int:
    from flowtui.store.backends import resolve_target
    from flowtui.store.db import StoreError

    bad = [q for q in args.queue if not QUEUE_RE.fullmatch(q)]
    if bad:
        raise CliError(f"invalid queue name {bad[0]!r}: letters, digits, `_`, `.` or `-`")
    if args.concurrency < 1:
        raise CliError("--concurrency must be at least 1")
    try:
        target = resolve_target(getattr(args, "db", None))
    except StoreError as exc:
        raise CliError(str(exc)) from None
    if isinstance(target, Path):
        raise CliError(
            "a worker needs the team's PostgreSQL history: --db postgresql://USER@HOST/DB "
            "(or FLOWTUI_DB); see docs/team.md"
        )
    return asyncio.run(_worker(args, target))


async def _worker(args: argparse.Namespace, url: str) -> int:
    from flowtui.engine.sandbox import spawner_mode
    from flowtui.store.db import StoreError
    from flowtui.worker.service import WorkerOptions, install_stop_signals, serve

    try:
        spawner_mode()  # a bad FLOWTUI_SPAWNER is an error before any job is taken
    except ValueError as exc:
        raise CliError(str(exc)) from None

    options = WorkerOptions(
        queues=list(dict.fromkeys(args.queue)),
        workdir=Path(args.workdir).absolute(),
        concurrency=args.concurrency,
    )
    if args.name:
        options.name = args.name
    stop = asyncio.Event()
    install_stop_signals(stop)
    try:
        await serve(url, options, say, stop)
    except StoreError as exc:
        raise CliError(f"cannot open the history database: {exc}") from None
    return 0
