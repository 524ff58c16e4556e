"""`flowtui db local [DIR] [--port N]`: a throw-away PostgreSQL history to try team mode.

It runs PostgreSQL's own server programs (`apt-get install postgresql`) on 127.0.0.1 only,
prints the URL to give `--db` / `FLOWTUI_DB`, and stops the server on Ctrl-C or SIGTERM.
Authentication is `trust` on 127.0.0.1: fine for trying on one machine, not for a team's
real database (docs/team.md).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import tempfile
from pathlib import Path

from flowtui.cli.commands import CliError


def cmd_db(args: argparse.Namespace) -> int:
    if args.db_command == "local":
        return _local(args)
    raise CliError("usage: flowtui db local [DIR] [--port N]")


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
