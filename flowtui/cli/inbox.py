"""`flowtui inbox`: every held step of every active run, with what deciding it takes."""

from __future__ import annotations

import argparse
import asyncio
import time

from flowtui import control
from flowtui.cli.commands import _print_table, open_store
from flowtui.cli.hints import command


def cmd_inbox(args: argparse.Namespace) -> int:
    return asyncio.run(_inbox(args))


async def _inbox(args: argparse.Namespace) -> int:
    store = await open_store(args)
    try:
        user = await control.acting_user(store)
        items = await control.inbox(store, user)
    finally:
        await store.close()
    if not items:
        print("nothing waits for approval")
        return 0
    now = time.time()
    _print_table([c.upper() for c in control.INBOX_COLUMNS], [i.row(now) for i in items])
    mine = [i for i in items if i.may_decide]
    if mine:
        first = mine[0].held
        shown = command(f"approve {first.run.id} {first.name}")
        print(f"(approve: {shown} [--input NAME=VALUE])")
    return 0
