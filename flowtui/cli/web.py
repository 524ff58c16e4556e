"""`flowtui web`: the dashboard in a browser, served by textual-serve.

textual-serve starts one process per browser tab (its `command`, through a shell) and relays
the terminal over a websocket. That command is flowtui's own dashboard on the folder and the
history resolved here, so every tab sees what `flowtui dashboard` would:

- the folder is made absolute, the history is handed over in `$FLOWTUI_DB` (a PostgreSQL URL's
  password stays out of `ps`), and the history is opened once before serving, so a history
  that cannot work is refused here and not in every tab;
- tabs never fire triggers (`--no-triggers`): with two tabs open a cron trigger would fire
  twice. `flowtui serve` is the one that runs triggers.

Security: a browser tab can run any workflow of the folder (and the builder any script), so
- a token is generated at each start and printed in the URL to open; every request (pages,
  static files, the websocket) must carry it, as `?token=` or as the cookie the first page
  sets (HttpOnly, SameSite=Strict) as it redirects to itself without the token in the URL;
  without it: 401, with a wrong one: 403. On loopback too:
  every user of a shared machine reaches 127.0.0.1 (as Jupyter, there is no way to turn it off);
- bound to a loopback address (the default), requests must also name a loopback host
  (`Host:`), so a web page cannot reach the dashboard through DNS rebinding;
- the websocket refuses an `Origin` other than the page's own (cross-site websocket hijacking).
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import socket
import sys
from pathlib import Path


def add_web_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "web",
        help="serve the dashboard to a browser (127.0.0.1:8000, the printed URL has a token)",
        description="Serve the dashboard to a browser: each tab gets its own dashboard on "
        "FOLDER and the history. Bound to 127.0.0.1 by default. A token is printed in the URL "
        "to open, and every request must carry it, on 127.0.0.1 too (docs/web.md).",
    )
    p.add_argument("folder", nargs="?", help="folder of workflow files (as `flowtui dashboard`)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free port)")
    p.add_argument("--theme", help="the dashboard's theme")
    p.add_argument("--parallel", "-j", type=int, metavar="N", help="steps at once (default: CPUs)")
    p.add_argument(
        "--db",
        metavar="PATH|URL",
        help="the history: a SQLite file or a postgresql:// URL (default: $FLOWTUI_DB, else "
        "flowtui.db in the data dir)",
    )


def dashboard_command(folder: Path, theme: str | None, parallel: int | None) -> str:
    """The shell command textual-serve starts for each tab: this flowtui's dashboard."""
    import shlex  # this module's parser is built by every command: its imports are lazy

    parts = [sys.executable, "-m", "flowtui", "dashboard", str(folder.resolve()), "--no-triggers"]
    if theme:
        parts += ["--theme", theme]
    if parallel:
        parts += ["--parallel", str(parallel)]
    return shlex.join(parts)


def check_history(given: str | None) -> str:
    """The history as `$FLOWTUI_DB` for the tabs (a SQLite path made absolute), opened once
    so that one that cannot work is refused before anything is served."""
    from flowtui.cli.commands import CliError
    from flowtui.store.backends import open_database, resolve_target
    from flowtui.store.db import StoreError
    from flowtui.store.pg import redact

    async def probe() -> None:
        database = await open_database(given)  # a mistyped --db is refused there
        await database.close()

    try:
        target = resolve_target(given)
        if isinstance(target, Path):
            target = target.resolve()
        asyncio.run(probe())
    except StoreError as exc:
        raise CliError(f"cannot open the history: {exc}") from None
    except OSError as exc:
        raise CliError(f"cannot open the history {redact(str(target))}: {exc}") from None
    return str(target)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or a CliError saying why not (port in use, not an address here)."""
    from flowtui.cli.commands import CliError

    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise CliError(f"--host {host}: not an address or a known name ({exc.strerror})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CliError(
                f"{host}:{port} is already in use (another flowtui web?): choose another "
                "port with --port N, or --port 0 for any free one"
            ) from None
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(False)
    return sock


def cmd_web(args: argparse.Namespace) -> int:
    from flowtui.cli.checkconfig import folder_refusal
    from flowtui.cli.commands import CliError, check_theme, dashboard_folder
    from flowtui.tui.config import load_config

    config = load_config()  # its `folder` when none is given, as `flowtui dashboard`
    if not args.folder and (refusal := folder_refusal(config)):  # as --check-config says
        raise CliError(refusal)
    folder = dashboard_folder(args.folder or (str(config.folder) if config.folder else None))
    check_theme(args.theme)
    os.environ["FLOWTUI_DB"] = check_history(args.db)
    from aiohttp import web

    from flowtui.cli.webserver import DashboardServer

    sock = bind(args.host, args.port)
    port = sock.getsockname()[1]
    import secrets

    token = secrets.token_urlsafe(24)  # on loopback too: other users of the machine reach it
    host = socket.gethostname() if args.host in ("0.0.0.0", "::", "") else args.host
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/?token={token}"
    server = DashboardServer(
        dashboard_command(folder, args.theme, args.parallel), host=args.host, port=port, token=token
    )
    print(f"flowtui web: the dashboard of {folder.resolve()} on {args.host}:{port}", flush=True)
    print(f"open {url}", flush=True)
    print(
        "(every request needs that token; anyone who has it can run workflows as you)", flush=True
    )
    print("Ctrl-C stops it (and the dashboards of open tabs)", flush=True)
    if not server.loopback:
        print(
            f"flowtui web: warning: listening on {args.host}, reachable from other machines "
            "over plain HTTP: the token and the screen cross the network unencrypted (keep "
            "127.0.0.1 and reach it through `ssh -L`: docs/web.md)",
            file=sys.stderr,
            flush=True,
        )
    web.run_app(server._make_app(), sock=sock, print=None, access_log=None)
    return 0


__all__ = ["add_web_parser", "cmd_web", "dashboard_command"]
