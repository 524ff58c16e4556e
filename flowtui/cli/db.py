"""`flowtui db local [DIR] [--port N]`: a throw-away PostgreSQL history to try team mode.
`flowtui db copy SRC DST`: a whole history into a new, empty one (`flowtui.store.copy`).

`db local` runs PostgreSQL's own server programs (`apt-get install postgresql`) on 127.0.0.1 only,
prints the URL to give `--db` / `FLOWTUI_DB`, and stops the server on Ctrl-C or SIGTERM.
Authentication is `trust` on 127.0.0.1: fine for trying on one machine, not for a team's
real database (docs/team.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import tempfile
from pathlib import Path

from flowtui.cli.commands import CliError


def cmd_db(args: argparse.Namespace) -> int:
    if args.db_command == "local":
        return _local(args)
    if args.db_command == "copy":
        try:
            return asyncio.run(_copy(args.src, args.dst))
        except KeyboardInterrupt:
            print("interrupted: nothing was copied", file=sys.stderr)
            return 130
    raise CliError("usage: flowtui db local [DIR] [--port N] | flowtui db copy SRC DST")


async def _copy(src: str, dst: str) -> int:
    from flowtui.store.backends import resolve_target
    from flowtui.store.copy import copy_history, describe
    from flowtui.store.db import StoreError

    try:
        src_at, dst_at = resolve_target(src), resolve_target(dst)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    print(f"copying {describe(src_at)} to {describe(dst_at)}", flush=True)

    def table_done(table: str, rows: int) -> None:
        print(f"  {table:<20}{rows:>12}", flush=True)

    def note(text: str) -> None:
        print(f"flowtui: note: {text}", file=sys.stderr)

    try:
        counts = await copy_history(src_at, dst_at, on_table=table_done, on_note=note)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    except Exception as exc:  # a driver's error mid-copy: DST's transaction was rolled back
        raise CliError(f"copy failed, nothing was copied: {type(exc).__name__}: {exc}") from None
    print(f"  {'total':<20}{sum(counts.values()):>12} rows copied; ids unchanged")
    return 0


def _local(args: argparse.Namespace) -> int:
    from flowtui.store.pglocal import LocalServer, LocalServerError

    with contextlib.ExitStack() as stack:
        if args.folder:
            folder = Path(args.folder)
        else:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="flowtui-pg-")))
        try:
            server = stack.enter_context(LocalServer.start(folder, args.port))
        except LocalServerError as exc:
            raise CliError(str(exc)) from None
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        print(f"PostgreSQL listening on 127.0.0.1:{server.port} (data in {folder})")
        print(f"export FLOWTUI_DB={server.url}")
        print("Ctrl-C stops it" + ("." if args.folder else " and deletes it."), flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
        print("stopping", flush=True)
    return 0
