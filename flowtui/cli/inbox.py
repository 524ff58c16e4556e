"""`flowtui inbox`: every held step of every active run, with what deciding it takes."""

from __future__ import annotations

import argparse
import asyncio
import time

from flowtui import control
from flowtui.cli.commands import _print_table, open_store
from flowtui.timefmt import fmt_duration


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
    rows = [inbox_row(item, now) for item in items]
    _print_table(
        ("RUN", "WORKFLOW", "STEP", "MESSAGE", "HELD FOR", "TIME LEFT", "WHO MAY APPROVE"), rows
    )
    mine = [i for i in items if i.may_decide]
    if mine:
        first = mine[0].held
        print(f"(approve: flowtui approve {first.run.id} {first.name} [--input NAME=VALUE])")
    return 0


def inbox_row(item: control.InboxItem, now: float) -> tuple[str, ...]:
    gate, held = item.gate, item.held
    held_for = gate.held_for(now)
    left = gate.time_left(now)
    return (
        f"#{held.run.id}",
        held.run.workflow,
        held.name,
        gate.message,
        fmt_duration(held_for) if held_for is not None else "-",
        fmt_duration(left) if left is not None else "no timeout",
        item.who_may_approve() + ("" if item.may_decide else f" (not {held.user})"),
    )
