"""The `--json` form of the read commands: history, show, list, triggers, inbox.

The shapes are flowtui/cli/jsonout.py's, documented in docs/json.md.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from flowtui.cli.commands import CliError, _checked, open_store, resolve_run, search_dirs
from flowtui.cli.filters import run_filter
from flowtui.cli.jsonout import dump, inbox_view, run_view, show_view
from flowtui.store.runstore import RunStore


def cmd_history(args: argparse.Namespace) -> int:
    return asyncio.run(_with_store(args, _history))


async def _history(args: argparse.Namespace, store: RunStore) -> int:
    filters = _checked(run_filter, args)  # the same filters as the table form
    runs = await store.list_runs(limit=args.limit, before_id=args.before, filters=filters)
    dump([run_view(run, await store.get_approvals(run.id)) for run in runs])
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    return asyncio.run(_with_store(args, _show))


async def _show(args: argparse.Namespace, store: RunStore) -> int:
    dump(await show_view(store, await resolve_run(store, args.run)))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    folders = [Path(args.folder)] if args.folder else search_dirs(args)[:1]
    if not folders:
        raise CliError("no workflow folder: give one, or create ./workflows")
    folder = folders[0]

    async def listing(args: argparse.Namespace, store: RunStore) -> int:
        dump(await _list(store, folder))
        return 0

    return asyncio.run(_with_store(args, listing))


async def _list(store: RunStore, folder: Path) -> list[dict[str, Any]]:
    from flowtui.model.clashes import name_clash_problem, name_clashes
    from flowtui.model.errors import WorkflowError
    from flowtui.model.loader import discover_workflows, load_workflow
    from flowtui.model.workflow import Workflow
    from flowtui.store.views import workflow_view

    loaded: list[tuple[Path, Workflow | Exception]] = []
    for path in discover_workflows(folder):
        try:
            loaded.append((path, load_workflow(path)))
        except (WorkflowError, OSError) as exc:
            loaded.append((path, exc))
    clashes = name_clashes((p, w) for p, w in loaded if isinstance(w, Workflow))
    found: list[dict[str, Any]] = []
    for path, wf in loaded:
        if path in clashes and isinstance(wf, Workflow):  # the dashboard's rule
            wf = WorkflowError([name_clash_problem(path, wf.name, clashes[path])])
        if not isinstance(wf, Workflow):
            error = str(wf).splitlines()[0] if str(wf) else "unreadable"
            found.append(await workflow_view(store, path, None, error))
            continue
        found.append(await workflow_view(store, path, wf, None))
    return found


def cmd_triggers(args: argparse.Namespace) -> int:
    return asyncio.run(_with_store(args, _triggers))


async def _triggers(args: argparse.Namespace, store: RunStore) -> int:
    from flowtui.store.triggerstore import TriggerStore

    events = await TriggerStore(store.db).list_events(args.workflow, limit=args.limit)
    dump(
        [
            {
                "id": e.id,
                "workflow": e.workflow,
                "kind": e.kind,
                "at": e.at,
                "outcome": e.outcome,
                "detail": e.detail,
                "run_id": e.run_id,
            }
            for e in events
        ]
    )
    return 0


def cmd_inbox(args: argparse.Namespace) -> int:
    return asyncio.run(_with_store(args, _inbox))


async def _inbox(args: argparse.Namespace, store: RunStore) -> int:
    from flowtui import control

    user = await control.acting_user(store)
    now = time.time()
    dump([inbox_view(item, now) for item in await control.inbox(store, user)])
    return 0


async def _with_store(
    args: argparse.Namespace,
    body: Callable[[argparse.Namespace, RunStore], Awaitable[int]],
) -> int:
    store = await open_store(args, read_only=True)
    try:
        return await body(args, store)
    finally:
        await store.close()
