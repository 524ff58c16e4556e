"""The live footer of `flowtui run` and `flowtui attach` on a terminal.

A rich `Live` region under the scrolling event lines: a bar of steps done out of all,
the running steps with their elapsed time, the held ones with the command that approves
them, the run's elapsed time and an ETA from its workflow's usual duration (the median of
its last successful runs). It reads the run from the history, so `run` (this process owns
the run) and `attach` (another process does) show the same thing.

Shown only when stdout is a terminal and not `--quiet`: in a pipe or a log file the event
lines are all there is.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from flowtui.cli.hints import command
from flowtui.cli.visible import terminal_of
from flowtui.engine.records import RunRecord, StepRecord
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.glyphs import GLYPHS
from flowtui.store.filters import RunFilter
from flowtui.store.runstore import RunStore
from flowtui.timefmt import fmt_duration

REFRESH = 0.5  # seconds between reads of the run from the history
USUAL_OF = 10  # successful runs the usual duration is the median of


def wants_live(quiet: bool) -> bool:
    return not quiet and sys.stdout.isatty() and not sys.stdout.closed


async def usual_duration(store: RunStore, workflow: str) -> float | None:
    """The median duration of the workflow's last successful runs; None with none yet."""
    runs = await store.list_runs(
        limit=USUAL_OF, filters=RunFilter(statuses=["succeeded"], workflow=workflow)
    )
    durations = [r.duration for r in runs if r.duration is not None]
    return statistics.median(durations) if durations else None


@dataclass
class Snapshot:
    """What the footer shows, as last read from the history."""

    run: RunRecord | None = None
    steps: Sequence[StepRecord] = ()
    usual: float | None = None


def render_footer(snap: Snapshot) -> RenderableType:
    run, steps = snap.run, snap.steps
    if run is None:
        return Text("starting…", style="dim")
    now = time.time()
    done = sum(1 for s in steps if s.status.is_final)
    elapsed = (run.ended_at or now) - run.started_at if run.started_at else 0.0
    line = Table.grid(padding=(0, 1))
    line.add_row(
        ProgressBar(total=max(len(steps), 1), completed=done, width=30),
        Text(f"{done}/{len(steps)} steps"),
        Text(f"· {fmt_duration(elapsed)} elapsed", style="dim"),
        Text(_eta(elapsed, snap.usual), style="dim"),
    )
    parts: list[RenderableType] = [line]
    running = [s for s in steps if s.status == StepStatus.RUNNING]
    if running:
        words = [
            f"{GLYPHS['running']} {s.name} {fmt_duration(s.elapsed(now) or 0.0)}" for s in running
        ]
        parts.append(Text("   ".join(words), style="blue"))
    for step in steps:
        if step.status == StepStatus.HELD:
            parts.append(
                Text(
                    f"{GLYPHS['held']} {step.name} waits: "
                    f"{command(f'approve {run.id} {step.name}')}   (or reject)",
                    style="yellow",
                )
            )
    if run.status == RunStatus.QUEUED:
        parts.append(Text(f"run {run.id} is queued", style="dim"))
    return Group(*parts)


def _eta(elapsed: float, usual: float | None) -> str:
    if usual is None:
        return "· no ETA yet (first successful run)"
    if elapsed <= usual:
        return f"· ETA {fmt_duration(usual - elapsed)} (usually {fmt_duration(usual)})"
    return f"· {fmt_duration(elapsed - usual)} over the usual {fmt_duration(usual)}"


@contextlib.asynccontextmanager
async def live_footer(store: RunStore, run_id: int | None = None) -> AsyncIterator[Footer]:
    """Show the footer while the body runs; event lines printed meanwhile scroll above it
    (rich's Live redirects stdout and stderr). Call `Footer.follow` once the run id is known."""
    footer = Footer(store)
    live = Live(
        get_renderable=lambda: render_footer(footer.snap),
        # its own cursor moves go to the terminal as they are; what is printed above it
        # (step output) still passes through `visible` (see `_execute`)
        console=Console(file=terminal_of(sys.stdout)),
        refresh_per_second=4,
        transient=True,
        # `run x 2>errors.log`: its errors stay in the file, not above the footer
        redirect_stderr=sys.stderr.isatty(),
    )
    with live:
        footer.live = live
        if run_id is not None:
            footer.follow(run_id)
        try:
            yield footer
        finally:
            await footer.stop()


class Footer:
    """Keeps the footer's snapshot of one run fresh from the history."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.snap = Snapshot()
        self.live: Live | None = None
        self._task: asyncio.Task[None] | None = None

    def follow(self, run_id: int) -> None:
        self._task = asyncio.create_task(self._poll(run_id), name=f"flowtui-footer-{run_id}")

    async def _poll(self, run_id: int) -> None:
        run = await self.store.get_run(run_id)
        if run is not None:
            self.snap.usual = await usual_duration(self.store, run.workflow)
        while True:
            self.snap.run = await self.store.get_run(run_id)
            self.snap.steps = await self.store.get_steps(run_id)
            await asyncio.sleep(REFRESH)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Take the footer off the screen while a question waits for its answer (the inline
        approval): what the person types is not redrawn over."""
        live = self.live
        if live is None:
            yield
            return
        live.stop()
        try:
            yield
        finally:
            live.start()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
