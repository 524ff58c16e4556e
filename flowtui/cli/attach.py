"""`flowtui attach RUN`: follow a run another process runs, with the live footer.

It reads the history as `logs -f` does: log lines and status changes are printed as they
are recorded, in the order they happened, until the run ends; Ctrl-C detaches and leaves
the run alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from flowtui.cli.commands import open_store, resolve_run
from flowtui.cli.console import ConsoleReporter, Painter, render_summary, use_colour
from flowtui.cli.hints import command
from flowtui.engine.events import Event, RunStatusChanged, StepLog, StepStatusChanged
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.store.runstore import RunStore

POLL = 0.3  # seconds between reads of the history while nothing new arrived


def cmd_attach(args: argparse.Namespace) -> int:
    return asyncio.run(_attach(args))


async def _attach(args: argparse.Namespace) -> int:
    from flowtui.cli import progress

    store = await open_store(args)
    detached = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, detached.set)
    try:
        run = await resolve_run(store, args.run)
        reporter = ConsoleReporter(show_logs=not args.quiet)
        reporter.allowed_failures = run.allowed_failures
        reporter.set_step_names([s.name for s in await store.get_steps(run.id)])
        async with contextlib.AsyncExitStack() as stack:
            if not run.status.is_final and progress.wants_live(args.quiet):
                await stack.enter_async_context(progress.live_footer(store, run.id))
                reporter.out = sys.stdout  # rich's stand-in, printing above the footer
            await _follow(store, run.id, reporter, detached)
        if detached.is_set():
            print(f"detached from run {run.id}; it goes on ({command(f'attach {run.id}')})")
            return 130
        final = await store.get_run(run.id)
        assert final is not None
        paint = Painter(use_colour(sys.stdout))
        steps, approvals = await store.get_steps(run.id), await store.get_approvals(run.id)
        print()
        print(render_summary(final, steps, approvals, paint))
        return 0 if final.status == RunStatus.SUCCEEDED else 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await store.close()


async def _follow(
    store: RunStore, run_id: int, reporter: ConsoleReporter, detached: asyncio.Event
) -> None:
    """Print what the run records until it is final (and all its lines are out)."""
    after_log = after_event = 0
    while not detached.is_set():
        current = await store.get_run(run_id)
        final = current is None or current.status.is_final
        logs = await store.get_logs(run_id, after_id=after_log, limit=2000)
        events = [e for e in await store.get_events(run_id) if e.id > after_event]
        happened: list[tuple[float, Event]] = []
        for log in logs:
            after_log = log.id
            happened.append(
                (log.at, StepLog(run_id, log.step, log.attempt, log.stream, log.line, log.at))
            )
        for ev in events:
            after_event = ev.id
            if ev.kind == "step" and ev.step:
                change = StepStatusChanged(
                    run_id, ev.step, StepStatus(ev.status), ev.at, ev.attempt, message=ev.message
                )
                happened.append((ev.at, change))
            elif ev.kind == "run" and current is not None:
                happened.append(
                    (ev.at, RunStatusChanged(run_id, current.workflow, RunStatus(ev.status), ev.at))
                )
        for _, event in sorted(happened, key=lambda pair: pair[0]):
            reporter(event)
        if final and not logs:
            return
        if not logs:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(detached.wait(), POLL)
