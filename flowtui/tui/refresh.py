"""What the right-hand side and the list show, and redrawing them from the history.

The history is the source of truth for what is drawn, so runs of other flowtui processes
show up exactly as this dashboard's own.  Redraws run in workers: the App keeps handling
keys while the store answers (its reads wait behind a flood's log writes), and requests
that arrive meanwhile are gathered into the next redraw.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import Input, Static, TabbedContent

from flowtui.engine.records import RunRecord, StepRecord
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.model.catalog import CatalogChange, CatalogEntry, WorkflowCatalog
from flowtui.model.workflow import Workflow
from flowtui.store.runstore import RunStore, RunSummary
from flowtui.timefmt import fmt_duration
from flowtui.tui.glyphs import glyph, status_style
from flowtui.tui.linked import LinkedRun, take_linked
from flowtui.tui.log_pages import LOG_TAIL, StoreLogPages
from flowtui.tui.markup import escape
from flowtui.tui.view import (
    build_detail,
    build_timeline_rows,
    dag_nodes,
    ran_earlier_version,
    shown_states,
    step_durations,
    usual_notes,
)
from flowtui.tui.widgets.dag_view import DagView
from flowtui.tui.widgets.failure_panel import Failure, FailurePanel, last_error_lines
from flowtui.tui.widgets.log_lines import dropped_lines
from flowtui.tui.widgets.log_view import LogView
from flowtui.tui.widgets.run_history import PAGE_SIZE, RunHistory
from flowtui.tui.widgets.timeline import TimelineView
from flowtui.tui.widgets.workflow_list import WorkflowList, WorkflowRow

if TYPE_CHECKING:
    from flowtui.runtime import Runtime

REFRESH_DELAY = 0.08  # gather a burst of engine events into one redraw
FULL_LIST_SECONDS = 15.0  # a poll re-reads every workflow's row at most this often
LIST_RUNS = 10  # each list row's spark of recent runs
POLL_RECENT_RUNS = 50  # a poll compares the newest runs with the list to find changed rows
CLOCK_SECONDS = 1.0  # how often a live run's header and box times move on
FAILURE_LOG_LINES = 200  # read from the end of a failed step's log for its error lines
OMISSIONS_SECONDS = 1.0  # how often a growing log's dropped-lines count is read again


def _set_text(widget: Static, text: str, *, fixed_width: bool = False) -> None:
    """Update `widget` only when its text changed, laying out only when its size may change.

    Every layout re-arranges the whole screen (tens of ms with a long workflow list), and the
    header is redrawn on every engine event and poll. A `fixed_width` widget does not wrap
    (text-wrap: nowrap), so its height is its line count.
    """
    old = widget.content
    if isinstance(old, str) and old == text:
        return
    layout = True
    if fixed_width and isinstance(old, str):
        layout = old.count("\n") != text.count("\n") or not old or not text
    widget.update(text, layout=layout)


@dataclass
class ViewState:
    """What the right-hand side shows."""

    path: Path | None = None
    run_id: int | None = None
    pinned: bool = False  # a run chosen in history or started here stays until another is
    # pinned on purpose (History's enter, a link): stays also once ended and newer runs come;
    # a run started here stays only while it goes (then its workflow's newest takes the view)
    chosen: bool = False
    step: str | None = None
    # what the log pane shows; None: not known, so the next redraw of the logs sets it (a
    # new selection without runs must clear the previous workflow's log, not keep it)
    log_key: tuple[int | None, str | None] | None = None
    omissions_stale: bool = False  # lines came since the cap's markers were last counted
    omissions_due: float = 0.0  # monotonic time of the next count while lines come


# the view of each tab: it gets the keys when its tab is shown
TAB_VIEWS: dict[str, type[Widget]] = {
    "dag": DagView,
    "timeline": TimelineView,
    "logs": LogView,
    "history": RunHistory,
}


class RefreshMixin(App[None]):
    """The FlowApp's drawing: workflow list, run header, DAG, timeline, logs, history."""

    runtime: Runtime | None
    # the history opened for reading only, without an engine (its disk was full at start)
    read_only_history: RunStore | None
    catalog: WorkflowCatalog
    folder: Path
    linked: LinkedRun | None

    def init_refresh(self) -> None:
        self.view = ViewState()
        self._refresh_pending = False
        self._logs_pending = False
        self._find_changed = False
        self._dirty_workflows: set[str] = set()
        self._refresh_lock = asyncio.Lock()
        self._background_lock = asyncio.Lock()  # one store-driven redraw at a time
        self._view_wanted = False
        self._history_loaded = False  # action_show_tab filled the history table already
        self._list_lock = asyncio.Lock()
        self._catalog_lock = asyncio.Lock()  # one catalog load at a time (reload_catalog)
        self.catalog_loads_waiting = 0  # loads queued behind the one running
        # per workflow name: its newest runs as last read, so a refresh reads only the rows
        # that changed (a query per workflow, waiting behind log writes in a flood)
        self._list_cache: dict[str, list[RunSummary]] = {}
        self._runs_read: asyncio.Future[dict[str, list[RunSummary]]] | None = None
        self._full_list_at = 0.0
        self._paused: set[str] = set()
        # what the header and the DAG show, for the clock to move on between redraws
        self._shown: tuple[
            Workflow | None, CatalogEntry | None, RunRecord, list[StepRecord], dict[str, str]
        ]
        self._shown_run: RunRecord | None = None
        self._failures: dict[int, Failure | None] = {}  # per failed run, read once
        self._failure_selected: int | None = None  # the run whose failed step was selected
        # per run: its steps' usual seconds (from the runs before it, so read once)
        self._usual: dict[int, dict[str, float]] = {}

    async def reload_catalog(self, paths: Iterable[Path] | None = None) -> CatalogChange:
        """Load `paths` (None: every workflow file of the folder) into the catalog.

        Every load of the dashboard goes through here (the first, the folder watcher's, `d`,
        `e`, delete, the builder's save), one at a time in the order asked: a load that read
        a file before it was saved again never overwrites what a later load found.  The cost:
        a load waits behind a slow one (a Python file takes up to its timeout), the keys
        still answered meanwhile.  The files are read in a thread: evaluating a Python
        workflow file is a child process."""
        self.catalog_loads_waiting += 1
        try:
            await self._catalog_lock.acquire()
        finally:
            self.catalog_loads_waiting -= 1
        try:
            wanted = self.catalog.scan_paths() if paths is None else list(paths)
            return self.catalog.apply(await asyncio.to_thread(self.catalog.load, wanted))
        finally:
            self._catalog_lock.release()

    def start_clock(self) -> None:
        """Move a live run's times on every second, also while nothing changes (a run held
        for approval records nothing until someone decides)."""
        self.set_interval(CLOCK_SECONDS, self._tick_clock)

    def _tick_clock(self) -> None:
        with contextlib.suppress(NoMatches):  # History's live rows (no query: their start)
            if self.query_one(TabbedContent).active == "history":
                self.query_one(RunHistory).tick(time.time())
        run = self._shown_run
        if run is None or run.status.is_final or self._closing_down:
            return
        workflow, entry, _, steps, states = self._shown
        with contextlib.suppress(NoMatches):
            self._update_header(workflow, entry, run, steps)
            durations = step_durations(steps, time.time())
            self.query_one(DagView).set_states(
                states, {k: v for k, v in durations.items() if k in states}
            )

    @property
    def store(self) -> RunStore | None:
        """The history, None until mounted."""
        return self.runtime.store if self.runtime else self.read_only_history

    @property
    def history(self) -> RunStore:
        store = self.store
        assert store is not None, "the dashboard's history is not open yet"
        return store

    async def _changed_workflows(self) -> set[str]:
        """Workflows whose newest runs differ from what the list shows (one query)."""
        store = self.history
        shown = {run.id: run.status for runs in self._list_cache.values() for run in runs}
        recent = await store.list_runs(None, limit=POLL_RECENT_RUNS)
        return {run.workflow for run in recent if shown.get(run.id) != run.status}

    def request_refresh(self, *, workflows: Iterable[str] | None = ()) -> None:
        """Redraw soon, in a worker; a burst of requests becomes one redraw.

        `workflows`: the list rows to read again (empty: none; None: find out which).
        """
        if workflows is None:
            self._find_changed = True
        else:
            self._dirty_workflows.update(workflows)
        if not self._refresh_pending:
            self._refresh_pending = True
            self.set_timer(REFRESH_DELAY, self._refresh_in_background)

    def _refresh_in_background(self) -> None:
        if not self._closing_down:
            self.run_worker(self._do_refresh(), group="refresh", exit_on_error=False)

    def request_logs(self) -> None:
        """Read the shown log's new lines soon, in a worker: a flood's requests (one per
        burst of lines) become one read per REFRESH_DELAY, and none while the log is hidden."""
        if self.view.run_id is None or self._logs_pending or self._closing_down:
            return
        with contextlib.suppress(NoMatches):
            if self.query_one(TabbedContent).active != "logs":
                return  # showing the tab reads what came meanwhile
        self._logs_pending = True
        self.set_timer(REFRESH_DELAY, self._logs_in_background)

    def _logs_in_background(self) -> None:
        if self._closing_down:
            self._logs_pending = False
        else:
            self.run_worker(self._do_logs(), group="refresh", exit_on_error=False)

    async def _do_logs(self) -> None:
        try:
            async with self._background_lock:
                # from here a request is for lines after this read: it schedules another
                self._logs_pending = False
                await self.refresh_logs()
        finally:
            self._logs_pending = False

    @property
    def _closing_down(self) -> bool:
        return bool(self._closing or self._closed or not self.is_running)

    async def _do_refresh(self) -> None:
        # requests arriving while a redraw runs are gathered into the next one: at most one
        # runs and one waits, however long the store takes
        async with self._background_lock:
            self._refresh_pending = False
            if self._closing_down or self.store is None:
                return
            if self.runtime is not None:
                await self.runtime.sink.flush()
            dirty, self._dirty_workflows = self._dirty_workflows, set()
            names: set[str] | None = dirty
            if self._find_changed:
                self._find_changed = False
                if time.monotonic() - self._full_list_at > FULL_LIST_SECONDS:
                    names = None  # every row, now and then: older runs may have changed
                else:
                    names = dirty | await self._changed_workflows()
            if names is None or names:
                await self.refresh_list(names)
            await self.refresh_view()
            await self._refresh_history(names)

    # -- drawing ---------------------------------------------------------------------
    @property
    def selected_entry(self) -> CatalogEntry | None:
        """The workflow under the list's cursor: a key typed right after a move acts on
        the row the person sees highlighted, even before the view has followed it (the
        highlight reaches the app as a message, after keys already typed)."""
        path = self.view.path
        with contextlib.suppress(NoMatches):
            path = self.query_one(WorkflowList).selected_path or path
        return self.catalog.get(path) if path is not None else None

    async def refresh_list(self, workflows: set[str] | None = None) -> None:
        """Redraw the list, reading the rows of `workflows` again (all when None)."""
        async with self._list_lock:
            with contextlib.suppress(NoMatches):  # the app is closing: nothing left to draw
                await self._refresh_list(workflows)

    async def show_names(self) -> None:
        """The list before the history's runs are read: every workflow's name, state and
        pause (one query), the last results pending (`WorkflowRow.runs_unknown`).  The
        first frame shows this; `refresh_list()` then fills the rows in."""
        # the rows' runs are read (behind the paused flags) while the names are painted;
        # `fill_rows` takes them
        names = [e.workflow.name for e in self.catalog.entries if e.workflow is not None]
        self._runs_read = asyncio.ensure_future(self.history.newest_runs(names, limit=LIST_RUNS))
        async with self._list_lock:
            with contextlib.suppress(NoMatches):
                await self._refresh_list(set(), read_runs=False)

    async def fill_rows(self) -> None:
        """Fill the rows `show_names` drew with the runs it started to read."""
        read, self._runs_read = self._runs_read, None
        if read is not None:
            found = await read
            for name, runs in found.items():
                self._list_cache.setdefault(name, runs)  # a redraw meanwhile read newer ones
        await self.refresh_list(set())  # and the rows of files loaded since, if any

    async def _refresh_list(
        self, workflows: set[str] | None = None, *, read_runs: bool = True
    ) -> None:
        if workflows is None:
            self._full_list_at = time.monotonic()
        rows: list[WorkflowRow] = []
        errors: list[str] = []
        self._paused = set()
        paused_names = await self.history.paused_workflows()
        if read_runs:  # the rows asked for and those never read, in one go
            names = {e.workflow.name for e in self.catalog.entries if e.workflow is not None}
            wanted = {
                name
                for name in names
                if workflows is None or name in workflows or name not in self._list_cache
            }
            if wanted:
                self._list_cache.update(await self.history.newest_runs(wanted, limit=LIST_RUNS))
        for entry in self.catalog.entries:
            wf = entry.workflow
            if entry.error:
                errors.append(entry.first_error_line)
            if wf is None:
                rows.append(
                    WorkflowRow(entry.path, entry.name, "invalid", "", 0, error=entry.error or "")
                )
                continue
            known = self._list_cache.get(wf.name)
            runs = known or []
            paused = wf.name in paused_names
            if paused:
                self._paused.add(wf.name)
            last = runs[0] if runs else None
            status = "invalid" if entry.error else ("paused" if paused else wf.status)
            rows.append(
                WorkflowRow(
                    path=entry.path,
                    name=wf.name,
                    status=status,
                    triggers=",".join(t.kind for t in wf.triggers),
                    steps=len(wf.steps),
                    last_status=str(last.status) if last else None,
                    last_run_id=last.id if last else None,
                    # a live run's time would freeze here between status changes: the
                    # list shows its status, the header its running time
                    last_duration=(
                        fmt_duration(last.duration)
                        if last and last.status.is_final and last.duration is not None
                        else ""
                    ),
                    recent=tuple(str(r.status) for r in runs),
                    error=entry.error or "",
                    runs_unknown=known is None,
                )
            )
        self.query_one(WorkflowList).set_rows(rows)
        banner = self.query_one("#banner", Static)
        if errors:
            shown = "\n".join(errors[:4]) + (
                f"\n… and {len(errors) - 4} more" if len(errors) > 4 else ""
            )
            _set_text(
                banner,
                f"Some workflow files do not load (last good versions stay usable):\n{shown}",
            )
        banner.set_class(bool(errors), "-visible")

    async def refresh_view(self) -> None:
        async with self._refresh_lock:
            with contextlib.suppress(NoMatches):  # the app is closing: nothing left to draw
                await self._refresh_view()

    async def _refresh_view(self) -> None:
        store = self.history
        entry = self.selected_entry
        error_box = self.query_one("#workflow-error", Static)
        _set_text(error_box, entry.error if entry and entry.error else "")
        workflow = entry.workflow if entry else None
        view = self.view  # the one drawn: another may replace it while the store answers
        drawn = self._shown_run  # as last drawn: no query for it during a flood
        # a run started here, once it ended (and was drawn so): a newer run (another
        # terminal's, a trigger's) is what `a` / `x` and the eye are after, as for any
        # workflow shown
        if (
            view.pinned
            and not view.chosen
            and drawn is not None
            and drawn.id == view.run_id
            and drawn.status.is_final
        ):
            view.pinned = False
        if not view.pinned:
            latest = await store.latest_run_id(workflow.name) if workflow else None
            if latest != view.run_id:
                view.run_id = latest
        run = await store.get_run(self.view.run_id) if self.view.run_id else None
        steps = await store.get_steps(run.id) if run else []
        # a run of an earlier version of the file is drawn as it ran (as History's enter
        # draws it), not on the file's graph now: its steps, not the file's
        use_run_graph = run is not None and (
            self.view.pinned
            or not run.status.is_final
            or workflow is None
            or ran_earlier_version(run, workflow)
        )
        if use_run_graph or workflow is None:
            nodes = [(s.name, tuple(s.requires)) for s in steps]
        else:
            nodes = dag_nodes(workflow)
        shown = shown_states(run, steps) if run is not None else {}
        states = {name: shown.get(name, "pending") for name, _ in nodes}
        now = time.time()
        durations = {k: v for k, v in step_durations(steps, now).items() if k in states}
        dag = self.query_one(DagView)
        dag.set_graph(nodes)
        dag.set_states(states, durations)
        await self._show_failure(run, steps, shown)
        timeline = self.query_one(TimelineView)
        if run is not None:
            timeline.set_run(
                build_timeline_rows(steps, shown, await self._usual_of(store, run)),
                run_started=run.started_at,
                run_ended=run.ended_at,
                now=now,
            )
        else:
            timeline.set_run([], run_started=None, run_ended=None, now=now)
        self._update_header(workflow, entry, run, steps)
        self._shown_run = run
        if run is not None:
            self._shown = (workflow, entry, run, steps, states)
        await self.refresh_logs()

    async def _show_failure(
        self, run: RunRecord | None, steps: list[StepRecord], shown: dict[str, str]
    ) -> None:
        """Under the DAG of a failed run: its failed step, error lines and next keys; the
        failed step is selected once, when the failed run is first shown."""
        panel = self.query_one(FailurePanel)
        if run is None or run.status != RunStatus.FAILED:
            panel.show(None)
            return
        if run.id not in self._failures:
            self._failures[run.id] = await self._read_failure(run, steps, shown)
        failure = self._failures[run.id]
        panel.show(failure)
        dag = self.query_one(DagView)
        if (
            failure is not None
            and self._failure_selected != run.id
            and failure.step in dag.node_names  # not a step the file has dropped since
        ):
            self._failure_selected = run.id
            dag.selected = failure.step
            self.view.step = failure.step

    async def _read_failure(
        self, run: RunRecord, steps: list[StepRecord], shown: dict[str, str]
    ) -> Failure | None:
        # the first to fail is the one to look at; a cancel after it (fail_fast) is not
        fatal = {"failed", "timed_out", "rejected"}
        failed = sorted(
            (s for s in steps if shown.get(s.name) in fatal),
            key=lambda s: s.ended_at or 0.0,
        )
        if not failed:
            return None
        first = failed[0]
        logs = await self.history.tail_logs(run.id, first.name, limit=FAILURE_LOG_LINES)
        return Failure(
            run_id=run.id,
            step=first.name,
            status=shown[first.name],
            message=first.message,
            lines=last_error_lines([(log.stream, log.line) for log in logs]),
            also=tuple(s.name for s in failed[1:]),
        )

    def _update_header(
        self,
        workflow: Workflow | None,
        entry: CatalogEntry | None,
        run: RunRecord | None,
        steps: list[StepRecord],
    ) -> None:
        header = self.query_one("#run-header", Static)
        if entry is None:
            _set_text(
                header,
                "No workflow selected"
                if self.catalog.entries
                else f"No workflow files in {self.folder}",
                fixed_width=True,
            )
            return
        name = workflow.name if workflow else entry.name
        theme = self.current_theme
        parts = [f"[b]{escape(name)}[/b]"]
        invalid = ""
        if entry.error:  # why and where (file:line:col); the box under the list has it all
            bad = status_style("failed", theme) or "bold"
            where, full = entry.first_error_line, str(entry.path)
            if where.startswith(full):  # the name is enough here: the banner has the path
                where = entry.path.name + where[len(full) :]
            invalid = f"[{bad}]✗ invalid[/]: {escape(where)}"
        if run is None:
            parts.append(invalid or "never run — press r")
        else:
            style = status_style(str(run.status), theme)
            duration = run.duration  # the time so far while it runs
            held = [s.name for s in steps if s.status == StepStatus.HELD]
            usual = self._usual.get(run.id, {})
            notes = usual_notes(run, steps, usual, status_style("held", theme) or "bold")
            status = f"[{style}]{glyph(run.status)} {run.status}[/]"
            time_so_far = f" {fmt_duration(duration)}" if duration is not None else ""
            holds = [t for s in steps if s.status == StepStatus.HELD and (t := s.elapsed())]
            if run.status == RunStatus.HELD and holds:
                # `⏸ held 2.2s`: how long it has waited for a person (the hold's own time,
                # as its box and the approval dialog say), not the run's time so far
                time_so_far = f" {fmt_duration(max(holds))}"
            if not run.status.is_final:
                # up front, where a narrow pane shows them: the state and its live time
                # (never the cut end of the line), what it waits for, ETA and slow steps
                parts.append(status + time_so_far)
                if held:
                    waiting = escape(", ".join(held))
                    parts.append(f"[{status_style('held', theme)}]waiting: {waiting}[/]")
                parts.extend(notes)
                parts.append(f"run #{run.id}")
            else:
                parts += [f"run #{run.id}", status]
                parts += [fmt_duration(duration)] if duration is not None else []
                parts += notes
            trigger = run.trigger + (f" ({run.triggered_by})" if run.triggered_by else "")
            parts.append(f"by {escape(trigger)}")
            if run.parent_run_id:
                parts.append(f"rerun of #{run.parent_run_id}")
            if run.message and run.status.is_final and run.status != RunStatus.SUCCEEDED:
                parts.append(f"[dim]{escape(run.message)}[/dim]")
            if invalid:
                parts.append(invalid)
        text = "  ·  ".join(parts)
        if run is not None and ran_earlier_version(run, workflow):
            # a line of its own: the first is cut at the pane's width
            note = status_style("held", theme) or "bold"
            text += f"\n[{note}]run #{run.id} · an earlier version of the file[/]"
        if workflow and workflow.description:
            text += f"\n[dim]{escape(workflow.description)}[/dim]"
        _set_text(header, text, fixed_width=True)

    async def refresh_logs(self) -> None:
        store = self.history
        if self.query_one(TabbedContent).active != "logs":
            # a hidden log is not fed (a flood would lay it out for nothing); showing the
            # tab catches up from the view's last line id
            return
        log_view = self.query_one(LogView)
        run_id, step = self.view.run_id, self.view.step
        key = (run_id, step)
        if run_id is None:
            if self.view.log_key != key:
                log_view.show("no run yet", [])
                log_view.set_detail(None)
                self.view.log_key = key
            return
        if self.view.log_key != key:
            # the view's line ids are the only cursor: a poll racing this load appends only
            # lines after the tail's last id, and a load for a step left meanwhile is dropped
            logs = await store.tail_logs(run_id, step, limit=LOG_TAIL)
            older = await store.count_logs(run_id, step, before_id=logs[0].id) if logs else 0
            marks = await store.log_omissions(run_id, through_id=logs[-1].id if logs else 0)
            if (self.view.run_id, self.view.step) != key:
                return
            self.view.log_key = key
            title = f"run #{run_id} · {step}" if step else f"run #{run_id} · all steps"
            dropped = dropped_lines(m for s, ms in marks.items() if step in (None, s) for m in ms)
            pages = StoreLogPages(store, run_id, step)
            log_view.show(title, logs, pages=pages, older=older, dropped=dropped)
        elif log_view.at_newest:
            new = await store.get_logs(run_id, step, after_id=log_view.last_id)
            if self.view.log_key != key:
                return
            log_view.append(new)
            await self._recount_dropped(log_view, run_id, step, bool(new))
        run = await store.get_run(run_id) if step is not None else None
        if step is not None and run is not None:
            usual = await self._usual_of(store, run)
            log_view.set_detail(await build_detail(store, run, step, usual))
        else:
            log_view.set_detail(None)

    async def _usual_of(self, store: RunStore, run: RunRecord) -> dict[str, float]:
        """Each step's usual duration for `run` (its workflow's runs before it), read once
        per run: the timeline, the header and the step pane share it."""
        if run.id not in self._usual:
            self._usual[run.id] = await store.usual_durations(run.workflow, before_run=run.id)
        return self._usual[run.id]

    async def _recount_dropped(
        self, log_view: LogView, run_id: int, step: str | None, grew: bool
    ) -> None:
        """The log cap rewrites its `… N lines omitted …` marker in place while a step's
        tail rolls: count the markers anew at most once a second while lines come, and
        once more when they stop (so the count a finished step ends with is right)."""
        now = time.monotonic()
        if grew:
            self.view.omissions_stale = True
        if not self.view.omissions_stale or (grew and now < self.view.omissions_due):
            return
        self.view.omissions_stale = False
        self.view.omissions_due = now + OMISSIONS_SECONDS
        marks = await self.history.log_omissions(run_id, through_id=log_view.last_id)
        if (self.view.run_id, self.view.step) == (run_id, step):
            log_view.set_dropped(
                dropped_lines(m for s, ms in marks.items() if step in (None, s) for m in ms)
            )

    # -- reacting to widgets -----------------------------------------------------------
    async def on_workflow_list_highlighted(self, event: WorkflowList.Highlighted) -> None:
        if (link := take_linked(self, event.path)) is not None:  # opened on it (tui/linked.py)
            self.view = ViewState(
                path=event.path, run_id=link.run_id, pinned=True, chosen=True, step=link.step
            )
        elif event.path == self.view.path:
            return
        else:
            self.view = ViewState(path=event.path)
        self._show_soon()

    async def open_linked(self, link: LinkedRun) -> None:
        """Highlight the workflow of `link`'s run (its view follows, see `take_linked`); say
        so when there is no such run, or step, or its workflow is not in the folder."""
        run = await self.history.get_run(link.run_id)
        name = run.workflow if run else None
        entries = self.catalog.entries
        entry = next((e for e in entries if e.workflow and e.workflow.name == name), None)
        if run is None or entry is None:
            self.linked = None
            said = f"is of {run.workflow}, which is not in {self.folder}" if run else "is not there"
            self.notify(f"run #{link.run_id} {said}", severity="warning")
            return
        steps = {s.name for s in await self.history.get_steps(run.id)}
        if link.step is not None and link.step not in steps:
            self.notify(f"run #{run.id} has no step {link.step!r}", severity="warning")
            link.step = None
        link.path = entry.path
        table = self.query_one(WorkflowList)
        table.move_cursor(row=table.get_row_index(str(entry.path)), animate=False)
        table.post_message(WorkflowList.Highlighted(entry.path))
        if link.step is not None:
            await self.action_show_tab("logs")

    def _show_soon(self) -> None:
        """Redraw the right side in a worker: the App keeps handling keys while the store
        answers (its reads wait behind a flood's log writes); moves meanwhile are gathered."""
        if not self._view_wanted:
            self._view_wanted = True
            self.run_worker(self._show_selected(), group="view", exit_on_error=False)

    async def _show_selected(self) -> None:
        async with self._refresh_lock:
            self._view_wanted = False  # a move from now on needs another redraw
            with contextlib.suppress(NoMatches):
                await self._refresh_view()
        with contextlib.suppress(NoMatches):
            if self.query_one(TabbedContent).active == "history":
                await self.load_history(reset=True)

    async def on_dag_view_step_highlighted(self, event: DagView.StepHighlighted) -> None:
        self.view.step = event.name
        await self.refresh_logs()

    async def on_dag_view_step_selected(self, event: DagView.StepSelected) -> None:
        self.view.step = event.name
        await self.refresh_logs()
        await self.action_show_tab("logs")

    async def on_timeline_view_step_selected(self, event: TimelineView.StepSelected) -> None:
        self.view.step = event.name
        await self.refresh_logs()
        await self.action_show_tab("logs")

    async def on_run_history_run_chosen(self, event: RunHistory.RunChosen) -> None:
        self.view.run_id = event.run_id
        self.view.pinned = self.view.chosen = True
        self.view.step = None
        await self.refresh_view()
        await self.action_show_tab("dag")

    async def on_run_history_need_more(self, event: RunHistory.NeedMore) -> None:
        await self.load_history(before_id=event.before_id)

    async def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "history":
            if not self._history_loaded:  # a click on the tab: not filled yet
                await self.load_history(reset=True)
            self._history_loaded = False
        elif event.pane.id == "logs":
            await self.refresh_logs()

    async def load_history(self, *, reset: bool = False, before_id: int | None = None) -> None:
        store = self.history
        table = self.query_one(RunHistory)
        entry = self.selected_entry
        if entry is None or entry.workflow is None:
            if reset:
                table.reset()
            return
        runs = await store.list_runs(entry.workflow.name, limit=PAGE_SIZE, before_id=before_id)
        # one query for the page, not one per row
        approvers = await store.approvers_by_run([run.id for run in runs])
        approved = {run_id: ", ".join(names) for run_id, names in approvers.items()}
        if self.selected_entry is not entry:
            return  # another workflow was chosen meanwhile: its own load fills the table
        # clear and fill in one go, after the queries: one layout, not one per await
        if reset:
            table.reset()
        table.add_runs(runs, approved)

    async def _refresh_history(self, workflows: set[str] | None) -> None:
        """The History tab is live while shown: its newest page is read again when its
        workflow's runs changed (`workflows`, None: maybe any), within the coalesced redraw
        that found out — one query for the page and one for its approvers, not per run."""
        with contextlib.suppress(NoMatches):
            if self.query_one(TabbedContent).active != "history":
                return  # showing the tab reads it afresh
            entry = self.selected_entry
            if entry is None or entry.workflow is None:
                return
            name = entry.workflow.name
            if workflows is not None and name not in workflows:
                return
            store = self.history
            runs = await store.list_runs(name, limit=PAGE_SIZE)
            approvers = await store.approvers_by_run([run.id for run in runs])
            if self.selected_entry is entry:  # not another workflow's table by now
                approved = {run_id: ", ".join(names) for run_id, names in approvers.items()}
                self.query_one(RunHistory).merge_newest(runs, approved)

    async def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.query_one(WorkflowList).set_filter(event.value)

    # -- navigation ------------------------------------------------------------------
    async def action_show_tab(self, tab: str) -> None:
        tabs = self.query_one(TabbedContent)
        if tab == "history" and tabs.active != "history":
            # fill the table before switching: the switch and the rows are one layout
            await self.load_history(reset=True)
            self._history_loaded = True
        tabs.active = tab
        self.query_one(TAB_VIEWS[tab]).focus()

    def action_focus_panel(self) -> None:
        """tab / shift+tab: the keys go to the other panel (the list, or the shown view)."""
        focused = self.focused
        if focused is not None and self.query_one("#left") in focused.ancestors_with_self:
            self.query_one(TAB_VIEWS[self.query_one(TabbedContent).active or "dag"]).focus()
        else:
            self.query_one(WorkflowList).focus()

    def action_filter(self) -> None:
        """`/` searches what is in front of you: the log on the Logs tab, else the list."""
        if self.query_one(TabbedContent).active == "logs":
            self.query_one(LogView).action_search()
            return
        box = self.query_one("#filter", Input)
        box.disabled = False  # hidden, it is disabled: it can never hold the keys unseen
        box.add_class("-visible")
        box.styles.display = "block"
        self.set_focus(box)  # at once: the keys typed right after `/` are the filter's

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_class("-visible") or box.value or self.focused is box:
            box.value = ""
            box.remove_class("-visible")
            box.styles.display = "none"
            box.disabled = True
            self.query_one(WorkflowList).set_filter("")
            self.query_one(WorkflowList).focus()
