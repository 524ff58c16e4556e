"""`flowtui serve [DIR]`: run the triggers of a folder of workflows as a headless service.

Loads DIR (reloading files the moment they change, keeping the last good version of a
broken one; a folder watch that fails is reported and started again), runs a Runner whose
command poller lets any other terminal approve or cancel, starts a TriggerService (cron,
git, chains, and the webhook server), and prints one line per trigger outcome and per
finished run.

Every `runtime.ADOPT_INTERVAL` seconds (and at start) it adopts the queued runs of flowtui processes
that died (`Runner.adopt_queued`), so a service killed mid-queue loses nothing: the next one
interrupts what was running and runs the queue in order.

SIGINT/SIGTERM stop it cleanly (also while it first loads the folder: it stops after the
file being evaluated): no new trigger is accepted, its *queued* runs are left
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
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from flowtui.cli.commands import CliError, dashboard_folder, open_runtime, open_store
from flowtui.engine.events import Event, RunStatusChanged
from flowtui.engine.identity import current_user

if TYPE_CHECKING:
    from flowtui.model.catalog import CatalogChange, Loaded, WorkflowCatalog
    from flowtui.model.workflow import Workflow
    from flowtui.store.triggerstore import TriggerEventRecord


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
    from flowtui.model.catalog import WorkflowCatalog
    from flowtui.runtime import RuntimeOptions, child_resolver
    from flowtui.triggers.hooks import WebhookOptions

    catalog = WorkflowCatalog(folder)

    def workflows() -> list[Workflow]:
        return [e.workflow for e in catalog.entries if e.workflow is not None]

    options = RuntimeOptions(
        parallel=args.parallel, resolve_workflow=child_resolver([folder], catalog)
    )
    runtime = await open_runtime(args, options)

    def on_event(event: Event) -> None:
        if isinstance(event, RunStatusChanged) and event.status.is_final:
            note = f": {event.message}" if event.message else ""
            say(f"{event.workflow}: run {event.run_id} {event.status}{note}")

    runtime.bus.add_listener(on_event)
    webhook = None
    if not args.no_webhooks:
        from flowtui.api.app import RestApi

        api = RestApi(runtime.store, runtime.runner, catalog)  # /api/v1 and /metrics
        webhook = WebhookOptions(host=args.host, port=args.port, mounts=(api.mount,))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    watcher: asyncio.Task[None] | None = None
    left: list[int] = []
    try:
        # once the runtime knows what to hide (Python workflow files are evaluated
        # sandboxed), and inside the try: SIGINT/SIGTERM or an error while loading still
        # stop the runtime cleanly
        if not await _first_load(catalog, stop):
            say("stopping")
            return 0
        # queued runs of a service that died continue here
        await runtime.start_adopting(lambda run_id: say(f"adopted queued run {run_id}"), _warn)
        try:
            service = await runtime.start_triggers(
                workflows, webhook=webhook, on_outcome=_outcome, on_notice=_warn
            )
        except OSError as exc:
            raise CliError(f"{exc} (use --port N, or --no-webhooks)") from None
        where = "webhooks off"
        if service.webhook_port is not None:
            where = (
                f"webhooks on http://{args.host}:{service.webhook_port} "
                "(REST API /api/v1, metrics /metrics)"
            )
            if args.host not in ("127.0.0.1", "localhost", "::1"):
                _warn(f"listening on {args.host}: reachable from other machines")
        say(
            f"serving {len(workflows())} workflow(s) from {folder}; {where}; "
            f"db {runtime.store.location}"
        )
        watcher = asyncio.create_task(
            _keep_watching(lambda: _watch(catalog, folder, stop), stop),
            name="flowtui-serve-watch",
        )
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
        reason = f"flowtui serve (pid {os.getpid()}) stopped; the next flowtui serve adopts it"
        try:
            left = await runtime.stop(
                by=current_user(), reason="flowtui serve stopped", leave_queued=reason
            )
        finally:
            await runtime.close()
        if left:
            ids = ", ".join(str(i) for i in left)
            say(f"left {len(left)} queued run(s) for the next flowtui serve: {ids}")
    return 0


async def _first_load(catalog: WorkflowCatalog, stop: asyncio.Event) -> bool:
    """Load the folder, file by file so that a stop is seen between two files (False: it
    was stopped first).  In a thread: a Python workflow file is evaluated by a child
    process, with a timeout."""
    loaded: list[Loaded] = []
    for path in catalog.scan_paths():
        if stop.is_set():
            return False
        loaded += await asyncio.to_thread(catalog.load, [path])
    _report_change(catalog, catalog.apply(loaded))
    return not stop.is_set()


RESTART_DELAY = 1.0  # seconds before a failed folder watch is started again


async def _keep_watching(
    watch: Callable[[], Awaitable[None]], stop: asyncio.Event, delay: float = RESTART_DELAY
) -> None:
    """Run `watch` until `stop`.  If it fails, say so and start it again: a service that
    silently stopped reloading its workflow files would run stale definitions."""
    while not stop.is_set():
        try:
            await watch()
        except Exception as exc:
            _warn(
                f"reloading workflow files failed ({type(exc).__name__}: {exc}); "
                "watching the folder again"
            )
        else:
            if not stop.is_set():
                _warn("the workflow folder is gone: workflow files are no longer reloaded")
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)


async def _watch(catalog: WorkflowCatalog, folder: Path, stop: asyncio.Event) -> None:
    """Reload workflow files (and `.circleci/config.yml`) as they change (read live)."""
    from flowtui.model.circleci.watch import watch_catalog

    async for paths in watch_catalog(folder, stop_event=stop):
        # in a thread: a Python workflow file is evaluated by a child process (with a timeout)
        _report_change(catalog, catalog.apply(await asyncio.to_thread(catalog.load, paths)))


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
