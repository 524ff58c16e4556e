"""`flowtui token create|list|revoke`: the tokens of `flowtui serve`'s REST API (docs/api.md).

`create` prints the token once; the history keeps only its hash (flowtui/store/tokens.py).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

SCOPE_HELP = "read: look; run: + start, cancel, rerun; approve: + decide; admin: + pause/resume"


def add_token_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    add_db: Callable[[argparse.ArgumentParser], None],
) -> None:
    p = sub.add_parser(
        "token",
        help="tokens for the REST API of `flowtui serve` (create, list, revoke)",
        description="Tokens for `Authorization: Bearer` on flowtui serve's /api/v1 and /metrics. "
        "A token is printed once, when it is created; only its hash is kept in the history.",
    )
    tsub = p.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    q = tsub.add_parser("create", help="create a token and print it (once)")
    q.add_argument("name", help="its name: requests with it act as token:NAME")
    q.add_argument(
        "--scope",
        required=True,
        choices=("read", "run", "approve", "admin"),
        help=SCOPE_HELP,
    )
    add_db(q)
    q = tsub.add_parser("list", help="the tokens: name, scope, created when and by whom")
    add_db(q)
    q = tsub.add_parser("revoke", help="revoke a token: requests with it get 401 at once")
    q.add_argument("name", help="the token's name (flowtui token list)")
    add_db(q)


def cmd_token(args: argparse.Namespace) -> int:
    return asyncio.run(_token(args))


async def _token(args: argparse.Namespace) -> int:
    import sys

    from flowtui.cli.commands import CliError, open_store
    from flowtui.cli.hints import command
    from flowtui.engine.identity import current_user
    from flowtui.store.tokens import TokenError, TokenStore
    from flowtui.timefmt import fmt_clock

    store = await open_store(args)
    try:
        tokens = TokenStore(store.db)
        if args.token_command == "create":
            try:
                token = await tokens.create(args.name, args.scope, current_user())
            except TokenError as exc:
                raise CliError(str(exc)) from None
            print(token)
            print(
                f"token {args.name} ({args.scope}): shown once, keep it secret; "
                f"requests with it act as token:{args.name}",
                file=sys.stderr,
            )
        elif args.token_command == "list":
            found = await tokens.list()
            if not found:
                print(f"no tokens ({command('token create NAME --scope read|run|approve|admin')})")
            for t in found:
                print(
                    f"{t.name:<24} {t.scope:<8} created {fmt_clock(t.created_at)} by {t.created_by}"
                )
        else:
            if not await tokens.revoke(args.name):
                raise CliError(f"no token named {args.name!r} ({command('token list')})")
            print(f"revoked token {args.name}")
    finally:
        await store.close()
    return 0
