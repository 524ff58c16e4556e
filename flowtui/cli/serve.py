"""`flowtui serve [DIR]`: run the triggers of a folder of workflows as a headless service.

Loads DIR (reloading files the moment they change, keeping the last good version of a
broken one), runs a Runner whose command poller lets any other terminal approve or cancel,
starts a TriggerService (cron, git, chains, and the webhook server), and prints one line per
trigger outcome and per finished run.

Every ADOPT_INTERVAL seconds (and at start) it adopts the queued runs of flowtui processes
that died (`Runner.adopt_queued`), so a service killed mid-queue loses nothing: the next one
interrupts what was running and runs the queue in order.

SIGINT/SIGTERM stop it cleanly: no new trigger is accepted, its *queued* runs are left
queued (recorded in their logs) for the next `flowtui serve` on the database to adopt, the
runs it was running are cancelled (their steps' process groups are stopped) and recorded
`cancelled`, then it exits 0.  Running runs are cancelled rather than left behind because
nobody would be left to finish them; `flowtui rerun RUN --from-failed` continues one later.
A queued run has not started, so waiting for the next service loses nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from flowtui.cli.commands import CliError, dashboard_folder, open_store
from flowtui.engine.events import Event, RunStatusChanged
from flowtui.engine.identity import current_user

if TYPE_CHECKING:
    from flowtui.engine.runner import Runner
    from flowtui.model.catalog import CatalogChange, WorkflowCatalog
    from flowtui.model.workflow import Workflow
    from flowtui.store.triggerstore import TriggerEventRecord

STOP_GRACE = 15.0  # seconds to wait for cancelled runs to finish stopping
# how often queued runs of dead runners are looked for; a runner on another host is only
# known dead 20 s (STALE_AFTER) after its last heartbeat, one on this host at once
ADOPT_INTERVAL = 3.0


def cmd_serve(args: argparse.Namespace) -> int:
    folder = dashboard_folder(args.folder)
    if args.parallel is not None and args.parallel < 1:
        raise CliError("--parallel must be at least 1")
    return asyncio.run(_serve(args, folder))


def say(line: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"{stamp} {line}", flush=True)


def _warn(line: str) -> None:
    print(f"flowtui serve: {line}", file=sys.stderr, flush=True)


def _report_change(catalog: WorkflowCatalog, change: CatalogChange) -> None:
    for path in change.added + change.updated:
        entry = catalog.get(path)
        if entry is not None and entry.workflow is not None:
            kinds = ", ".join(t.kind for t in entry.workflow.triggers)
            say(f"loaded {entry.workflow.name} ({path.name}; triggers: {kinds})")
    for path in change.removed:
        say(f"removed {path.name}")
    for path in change.broken:
        entry = catalog.get(path)
        kept = " (keeping the last good version)" if entry and entry.workflow else ""
        error = entry.first_error_line if entry else str(path)
        _warn(f"{error}{kept}")


def _outcome(event: TriggerEventRecord) -> None:
    say(event.describe())


async def _serve(args: argparse.Namespace, folder: Path) -> int:
    from flowtui.engine.bus import EventBus
    from flowtui.engine.runner import Runner, RunnerOptions
    from flowtui.model.catalog import WorkflowCatalog
    from flowtui.model.loader import load_workflow, resolve_workflow
    from flowtui.store.sink import StoreSink
    from flowtui.triggers.service import TriggerService, WebhookOptions

    catalog = WorkflowCatalog(folder)
    _report_change(catalog, catalog.scan())

    def workflows() -> list[Workflow]:
        return [e.workflow for e in catalog.entries if e.workflow is not None]

    def resolve_child(ref: str, parent: Workflow) -> Workflow:
        entry = catalog.by_name(ref)
        if entry is not None and entry.workflow is not None:
            return entry.workflow
        folders = [folder] if parent.path is None else [parent.path.parent, folder]
        return load_workflow(resolve_workflow(ref, folders))

    store = await open_store(args)
    bus = EventBus()
    sink = StoreSink(store, bus)
    sink.start()
    options = RunnerOptions()
    if args.parallel:
        options.parallel = args.parallel
    runner = Runner(store, bus, options, resolve_workflow=resolve_child)

    def on_event(event: Event) -> None:
        if isinstance(event, RunStatusChanged) and event.status.is_final:
            note = f": {event.message}" if event.message else ""
            say(f"{event.workflow}: run {event.run_id} {event.status}{note}")

    bus.add_listener(on_event)
    webhook = None if args.no_webhooks else WebhookOptions(host=args.host, port=args.port)
    service = TriggerService(
        store, runner, workflows, webhook=webhook, on_outcome=_outcome, on_notice=_warn
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    watcher: asyncio.Task[None] | None = None
    adopter: asyncio.Task[None] | None = None
    try:
        await runner.start()
        await _adopt(runner)  # queued runs of a service that died continue here
        adopter = asyncio.create_task(_adopt_loop(runner, stop), name="flowtui-serve-adopt")
        try:
            await service.start()
        except OSError as exc:
            raise CliError(f"{exc} (use --port N, or --no-webhooks)") from None
        where = "webhooks off"
        if service.webhook_port is not None:
            where = f"webhooks on http://{args.host}:{service.webhook_port}"
            if args.host not in ("127.0.0.1", "localhost", "::1"):
                _warn(f"listening on {args.host}: reachable from other machines")
        say(f"serving {len(workflows())} workflow(s) from {folder}; {where}; db {store.path}")
        watcher = asyncio.create_task(_watch(catalog, folder, stop), name="flowtui-serve-watch")
        await stop.wait()
        say("stopping")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await service.close()
        if adopter is not None:
            stop.set()
            await adopter  # ends between two passes: a claim is never cut short
        await _leave_queued(runner)
        await _cancel_runs(runner)
        await runner.close()
        await sink.close()
        await store.close()
    return 0


async def _adopt(runner: Runner) -> None:
    try:
        handles = await runner.adopt_queued()
    except Exception as exc:  # a locked or full database: try again at the next pass
        _warn(f"could not adopt queued runs: {exc}")
        return
    for handle in handles:
        say(f"adopted queued run {handle.run_id}")


async def _adopt_loop(runner: Runner, stop: asyncio.Event) -> None:
    """Adopt orphaned queued runs every ADOPT_INTERVAL seconds until `stop` is set."""
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), ADOPT_INTERVAL)
            return
        await _adopt(runner)


async def _leave_queued(runner: Runner) -> None:
    """Leave this service's queued runs queued, for the next `flowtui serve` to adopt."""
    reason = f"flowtui serve (pid {os.getpid()}) stopped; the next flowtui serve adopts it"
    left = await runner.release_queued(reason, timeout=STOP_GRACE)
    if left:
        ids = ", ".join(str(i) for i in left)
        say(f"left {len(left)} queued run(s) for the next flowtui serve: {ids}")


async def _cancel_runs(runner: object) -> None:
    from flowtui.engine.runner import Runner

    assert isinstance(runner, Runner)
    await runner.cancel_all(by=current_user(), reason="flowtui serve stopped", timeout=STOP_GRACE)


async def _watch(catalog: WorkflowCatalog, folder: Path, stop: asyncio.Event) -> None:
    """Reload workflow files (and `.circleci/config.yml`) as they change (read live)."""
    from flowtui.model.circleci.watch import watch_catalog

    async for paths in watch_catalog(folder, stop_event=stop):
        _report_change(catalog, catalog.refresh(paths))


def cmd_triggers(args: argparse.Namespace) -> int:
    """`flowtui triggers [WORKFLOW]`: what triggers did lately, newest first."""
    return asyncio.run(_triggers(args))


async def _triggers(args: argparse.Namespace) -> int:
    from flowtui.store.triggerstore import TriggerStore
    from flowtui.timefmt import fmt_clock

    store = await open_store(args)
    try:
        events = await TriggerStore(store.db).list_events(args.workflow, limit=args.limit)
    finally:
        await store.close()
    if not events:
        print("no trigger activity recorded")
        return 0
    for event in events:
        print(f"{fmt_clock(event.at)}  {event.describe()}")
    return 0
