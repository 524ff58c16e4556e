"""`flowtui envs` (what is deployed where) and `flowtui promote` (a release to the next
environment)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from flowtui.cli.commands import (
    CliError,
    _execute,
    _paint,
    _print_table,
    find_workflow,
    open_store,
    search_dirs,
)
from flowtui.cli.jsonout import dump
from flowtui.engine.execution import RunHandle
from flowtui.engine.identity import current_user
from flowtui.runtime import Runtime
from flowtui.store.releases import (
    EnvironmentState,
    PromotionError,
    environment_overview,
    plan_promotion,
)
from flowtui.timefmt import fmt_duration


def state_view(state: EnvironmentState) -> dict[str, Any]:
    """An environment as `flowtui envs --json` prints it (docs/json.md)."""
    last, deployed = state.last_run, state.release_run
    return {
        "workflow": state.workflow,
        "environment": state.environment,
        "status": str(last.status) if last is not None else None,
        "last_run_id": last.id if last is not None else None,
        "release": state.release,
        "release_run_id": deployed.id if deployed is not None else None,
        "deployed_at": state.deployed_at,
        "approved_by": list(state.approved_by),
        "other_approvals": [{"step": step, "by": by} for step, by in state.other_approvals],
    }


def cmd_envs(args: argparse.Namespace) -> int:
    return asyncio.run(_envs(args))


async def _envs(args: argparse.Namespace) -> int:
    store = await open_store(args, read_only=True)
    try:
        states = await environment_overview(store, search_dirs(args))
    finally:
        await store.close()
    if args.workflow:
        states = [s for s in states if s.workflow == args.workflow]
    if args.json:
        dump([state_view(s) for s in states])
        return 0
    if not states:
        print("no environments (declare them in environments.yaml or `environments:`)")
        return 0
    paint, now = _paint(), time.time()
    rows = []
    for s in states:
        status = paint.status(s.last_run.status) if s.last_run is not None else "never run"
        deployed = s.deployed_at
        rows.append(
            (
                s.workflow,
                s.environment,
                status,
                s.release or ("-" if s.release_run is None else "(none)"),
                f"{fmt_duration(now - deployed)} ago" if deployed is not None else "-",
                f"#{s.release_run.id}" if s.release_run is not None else "-",
                ", ".join(s.approved_by),
            )
        )
    _print_table(("WORKFLOW", "ENV", "STATUS", "RELEASE", "DEPLOYED", "RUN", "APPROVED BY"), rows)
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    dirs = search_dirs(args)
    workflow = find_workflow(args.workflow, dirs)
    user = current_user()

    async def start(runtime: Runtime) -> RunHandle:
        try:
            promotion = await plan_promotion(runtime.store, workflow, args.to, args.source)
        except PromotionError as exc:
            raise CliError(str(exc).strip("'\"")) from None
        print(promotion.describe(), file=sys.stderr)
        return await runtime.runner.submit(
            promotion.workflow,
            params=promotion.params,
            trigger="promote",
            triggered_by=await runtime.store.session_user() or user,
            reuse_from=promotion.source_run,
        )

    return asyncio.run(_execute(args, dirs, start, []))
