"""The flowtui dashboard: workflows, a live DAG, timeline, logs, history and approvals.

The App owns the engine pieces (store, bus, sink, runner) and the long-lived workers: the
bridge that turns engine events into screen refreshes, and the folder watcher that reloads
workflow files. The store is the source of truth for what is drawn, so runs owned by other
flowtui processes on the same database show up the same way as this app's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import re
import shlex
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape
from textual import work
from textual.app import App, ComposeResult, SuspendNotSupported, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Header, Input, Static, TabbedContent, TabPane

from flowtui.engine.bus import EventBus
from flowtui.engine.decisions import DecisionError, NotAnApprover, SeveralHeld, check_decision
from flowtui.engine.events import Event, RunStatusChanged, StepStatusChanged
from flowtui.engine.identity import current_user
from flowtui.engine.runner import RunError, Runner, RunnerOptions
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.model.catalog import CatalogEntry, WorkflowCatalog
from flowtui.model.loader import load_workflow, resolve_workflow
from flowtui.model.workflow import Workflow
from flowtui.store.owner import Owner
from flowtui.store.records import RunRecord, StepRecord
from flowtui.store.runstore import RunStore
from flowtui.store.sink import StoreSink
from flowtui.timefmt import fmt_duration
from flowtui.tui.glyphs import glyph, status_style
from flowtui.tui.screens.dialogs import ConfirmScreen, HelpScreen, ParamsScreen, PromptScreen
from flowtui.tui.themes import DEFAULT_THEME, load_themes
from flowtui.tui.view import build_detail, build_timeline_rows, dag_nodes
from flowtui.tui.widgets.dag_view import DagView
from flowtui.tui.widgets.footer import KeyFooter
from flowtui.tui.widgets.log_view import LogView
from flowtui.tui.widgets.run_history import PAGE_SIZE, RunHistory
from flowtui.tui.widgets.timeline import TimelineView
from flowtui.tui.widgets.workflow_list import WorkflowList, WorkflowRow

if TYPE_CHECKING:
    from flowtui.triggers.service import TriggerService

REFRESH_DELAY = 0.08  # gather a burst of engine events into one redraw
POLL_INTERVAL = 1.0  # how often other processes' changes are looked for
FULL_LIST_SECONDS = 15.0  # a poll re-reads every workflow's row at most this often
POLL_RECENT_RUNS = 50  # a poll compares the newest runs with the list to find changed rows
LOG_TAIL = 5_000


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
    step: str | None = None
    log_after: int = 0
    log_key: tuple[int | None, str | None] = (None, None)


class FlowApp(App[None]):
    """Keys are listed in the footer, in the command palette and under `?`."""

    TITLE = "flowtui"
    CSS_PATH = "styles/app.tcss"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("r", "run", "Run", id="run"),
        Binding("a", "approve", "Approve", id="approve"),
        Binding("x", "reject", "Reject", id="reject"),
        Binding("f", "rerun(True)", "Rerun failed", id="rerun_failed"),
        Binding("F", "rerun(False)", "Rerun all", id="rerun_start", show=False),
        Binding("c", "cancel_run", "Cancel", id="cancel"),
        Binding("p", "toggle_pause", "Pause", id="pause"),
        Binding("d", "duplicate", "Duplicate", id="duplicate", show=False),
        Binding("e", "edit", "Edit", id="edit", show=False),
        Binding("delete", "delete", "Delete", id="delete", show=False),
        Binding("g", "show_tab('dag')", "DAG", id="dag"),
        Binding("t", "show_tab('timeline')", "Timeline", id="timeline"),
        Binding("l", "show_tab('logs')", "Logs", id="logs"),
        Binding("h", "show_tab('history')", "History", id="history"),
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
    ]

    HELP_KEYS = [
        ("r", "run the selected workflow (asks for params if it declares any)"),
        ("a / x", "approve / reject the focused (or only) held step, with a comment"),
        ("f / F", "rerun the shown run from the failed step / from the start"),
        ("c", "cancel the shown run (asks first)"),
        ("p", "pause / resume the workflow's triggers"),
        ("d", "duplicate the workflow file"),
        ("e", "open the workflow file in $EDITOR"),
        ("Delete", "delete the workflow file (asks first; its history stays)"),
        ("g / t / l / h", "DAG / timeline / logs / history"),
        ("arrows, j / k", "move; enter opens or focuses"),
        ("/", "filter workflows (in the log view: search the log)"),
        ("tab", "move between the list and the views"),
        ("ctrl+p", "command palette (themes and every action)"),
        ("q", "quit"),
    ]

    HELP_BY_ID = {
        "run": "Run the selected workflow",
        "approve": "Approve the held step of the shown run",
        "reject": "Reject the held step of the shown run",
        "rerun_failed": "Rerun the shown run from its failed step",
        "rerun_start": "Rerun the shown run from the start",
        "cancel": "Cancel the shown run",
        "pause": "Pause or resume the workflow's triggers",
        "duplicate": "Duplicate the workflow file",
        "edit": "Open the workflow file in $EDITOR",
        "delete": "Delete the workflow file (history stays)",
    }

    def __init__(
        self,
        folder: Path,
        *,
        db_path: Path | str | None = None,
        theme: str | None = None,
        parallel: int | None = None,
        bell: bool = False,
        watch: bool = True,
        triggers: bool = True,
        webhook_port: int | None = None,
    ) -> None:
        super().__init__()
        # cron, git and chain triggers fire while the dashboard is open; webhooks only when
        # a port is given (a dashboard should not open a port by surprise)
        self.triggers_enabled = triggers
        self.webhook_port = webhook_port
        self.trigger_service: TriggerService | None = None
        self.folder = folder
        self.db_path = db_path
        self.initial_theme = theme
        self.parallel = parallel
        self.bell_on_events = bell
        self.watch_enabled = watch
        self.catalog = WorkflowCatalog(folder)
        self.view = ViewState()
        self.store: RunStore | None = None
        self.bus = EventBus()
        self.sink: StoreSink | None = None
        self.runner: Runner | None = None
        self._refresh_pending = False
        self._list_dirty = False
        self._dirty_workflows: set[str] = set()
        self._refresh_lock = asyncio.Lock()
        self._background_lock = asyncio.Lock()  # one store-driven redraw at a time
        self._view_wanted = False
        self._polling = False
        self._history_loaded = False  # action_show_tab filled the history table already
        self._list_lock = asyncio.Lock()
        # per workflow name: (paused, newest runs) as last read, so a refresh reads only the
        # rows that changed (two queries per workflow, waiting behind log writes in a flood)
        self._list_cache: dict[str, tuple[bool, list[RunRecord]]] = {}
        self._full_list_at = 0.0
        self._last_event_id = -1
        self._paused: set[str] = set()
        self.ready = asyncio.Event()

    # -- layout ----------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="banner")
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield Input(placeholder="filter workflows…", id="filter")
                yield WorkflowList(id="workflows")
                yield Static("", id="workflow-error")
            with Vertical(id="right"):
                yield Static("", id="run-header")
                with TabbedContent(initial="dag", id="tabs"):
                    with TabPane("DAG", id="dag"):
                        yield DagView(id="dag-view")
                    with TabPane("Timeline", id="timeline"):
                        yield TimelineView(id="timeline-view")
                    with TabPane("Logs", id="logs"):
                        yield LogView(id="log-view")
                    with TabPane("History", id="history"):
                        yield RunHistory(id="history-table")
        yield KeyFooter()

    async def on_mount(self) -> None:
        themes, problems = load_themes()
        for theme in themes:
            self.register_theme(theme)
        for problem in problems:
            self.notify(str(problem), title="theme not loaded", severity="warning")
        names = {t.name for t in themes}
        wanted = self.initial_theme or DEFAULT_THEME
        if wanted in names or wanted in self.available_themes:
            self.theme = wanted
        elif self.initial_theme:
            self.notify(f"unknown theme {wanted!r}", severity="warning")
        self.sub_title = str(self.folder)
        self.store = await RunStore.open(self.db_path)
        interrupted = await self.store.recover_interrupted(me=Owner.current())
        for run_id in interrupted:
            self.notify(f"run {run_id} was left by a runner that died: interrupted", timeout=8)
        self.sink = StoreSink(self.store, self.bus)
        self.sink.start()
        options = RunnerOptions()
        if self.parallel:
            options.parallel = self.parallel
        self.runner = Runner(self.store, self.bus, options, resolve_workflow=self._resolve_child)
        await self.runner.start()
        self.catalog.scan()
        if self.triggers_enabled:
            await self._start_triggers()
        await self.refresh_list()
        self.query_one(WorkflowList).focus()
        self.run_bridge()
        if self.watch_enabled:
            self.watch_folder()
        self.set_interval(POLL_INTERVAL, self._poll_in_background)
        # what is loaded by now (Textual, the catalog, the widgets) lives as long as the app;
        # left to the collector, each full collection walks all of it: ~0.1 s pauses in the
        # middle of repaints (a tab switch, a key during a flood). Frozen, it is skipped.
        gc.collect()
        gc.freeze()
        self.ready.set()

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            if binding.id is None or binding.action.startswith("clear"):
                continue
            yield SystemCommand(
                f"{binding.description} ({binding.key_display or binding.key})",
                self.HELP_BY_ID.get(binding.id, binding.description),
                partial(self.run_action, binding.action),
            )

    def on_resize(self) -> None:
        self.screen.set_class(self.size.width < 120, "-narrow")

    async def on_unmount(self) -> None:
        # store-driven redraws must not read from a store about to close
        for group in ("refresh", "poll", "view"):
            self.workers.cancel_group(self, group)
        if self.trigger_service is not None:
            await self.trigger_service.close()
        if self.runner is not None:
            await self.runner.cancel_all(by=current_user(), reason="dashboard closed")
            await self.runner.close()
        if self.sink is not None:
            await self.sink.close()
        if self.store is not None:
            await self.store.close()

    async def _start_triggers(self) -> None:
        from flowtui.triggers.service import TriggerService, WebhookOptions

        assert self.store is not None and self.runner is not None
        webhook = None if self.webhook_port is None else WebhookOptions(port=self.webhook_port)
        self.trigger_service = TriggerService(
            self.store,
            self.runner,
            lambda: [e.workflow for e in self.catalog.entries if e.workflow is not None],
            webhook=webhook,
            on_outcome=lambda e: self.notify(e.describe(), title="trigger", timeout=6),
            on_notice=lambda text: self.notify(text, severity="warning", timeout=10),
        )
        try:
            await self.trigger_service.start()
        except OSError as exc:
            self.trigger_service = None
            self.notify(str(exc), title="triggers not started", severity="error", timeout=10)

    def _resolve_child(self, ref: str, parent: Workflow) -> Workflow:
        folders = [self.folder]
        if parent.path is not None:
            folders.insert(0, parent.path.parent)
        entry = self.catalog.by_name(ref)
        if entry is not None and entry.workflow is not None:
            return entry.workflow
        return load_workflow(resolve_workflow(ref, folders))

    # -- workers ---------------------------------------------------------------------
    @work(exclusive=True, group="bridge")
    async def run_bridge(self) -> None:
        """Engine events → refreshes and notifications, a burst at a time."""
        subscription = self.bus.subscribe()
        try:
            while True:
                batch = [await subscription.get()]
                while True:
                    try:
                        batch.append(subscription.get_nowait())
                    except asyncio.QueueEmpty:
                        break
                self._on_engine_events(batch)
        finally:
            subscription.close()

    def _on_engine_events(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, StepStatusChanged) and event.status == StepStatus.HELD:
                self.notify(
                    f"{event.step} of run {event.run_id} waits for approval (a / x)",
                    title="approval needed",
                    severity="warning",
                    timeout=8,
                )
                if self.bell_on_events:
                    self.bell()
            elif isinstance(event, RunStatusChanged) and event.status.is_final:
                severity = "information" if event.status == RunStatus.SUCCEEDED else "error"
                self.notify(
                    f"{event.workflow} run {event.run_id} {event.status}",
                    severity=severity,
                )
                if self.bell_on_events:
                    self.bell()
        changed = {e.workflow for e in events if isinstance(e, RunStatusChanged)}
        self.request_refresh(lists=bool(changed), workflows=changed)

    @work(exclusive=True, group="watch")
    async def watch_folder(self) -> None:
        """Reload workflow files (and `.circleci/config.yml`) the moment they change."""
        from flowtui.model.circleci.watch import watch_catalog

        async for paths in watch_catalog(self.folder):
            change = self.catalog.refresh(paths)
            if change:
                await self.refresh_list()
                await self.refresh_view()

    async def poll_store(self) -> None:
        """Notice what other processes did: new runs, status changes, log lines."""
        if self.store is None or self._closing_down:
            return
        try:
            last = await self.store.last_event_id()
        except Exception as exc:  # a locked or vanished db must not kill the UI
            self.notify(f"history unavailable: {exc}", severity="error")
            return
        if last != self._last_event_id:
            self._last_event_id = last
            if time.monotonic() - self._full_list_at > FULL_LIST_SECONDS:
                await self.refresh_list()
            else:
                await self.refresh_list(await self._changed_workflows())
            await self.refresh_view()
        elif self.view.run_id is not None:
            await self.refresh_logs()

    async def _changed_workflows(self) -> set[str]:
        """Workflows whose newest runs differ from what the list shows (one query)."""
        assert self.store is not None
        shown = {
            run.id: run.status for _, runs in self._list_cache.values() for run in runs
        }
        recent = await self.store.list_runs(None, limit=POLL_RECENT_RUNS)
        return {run.workflow for run in recent if shown.get(run.id) != run.status}

    def _poll_in_background(self) -> None:
        # a worker, not the App's own message queue: keys are handled while the store
        # answers (its reads wait behind log writes during a flood); one poll at a time
        if not self._polling and not self._closing_down:
            self._polling = True
            self.run_worker(self._poll_once(), group="poll")

    async def _poll_once(self) -> None:
        try:
            async with self._background_lock:
                await self.poll_store()
        finally:
            self._polling = False

    def request_refresh(self, *, lists: bool = False, workflows: Iterable[str] = ()) -> None:
        """Redraw soon, in a worker; a burst of requests becomes one redraw."""
        if lists:
            self._list_dirty = True
            self._dirty_workflows.update(workflows)
        if not self._refresh_pending:
            self._refresh_pending = True
            self.set_timer(REFRESH_DELAY, self._refresh_in_background)

    def _refresh_in_background(self) -> None:
        if not self._closing_down:
            self.run_worker(self._do_refresh(), group="refresh")

    @property
    def _closing_down(self) -> bool:
        return bool(self._closing or self._closed or not self.is_running)

    async def _do_refresh(self) -> None:
        # requests arriving while a redraw runs are gathered into the next one: at most one
        # runs and one waits, however long the store takes
        async with self._background_lock:
            self._refresh_pending = False
            if self._closing_down:
                return
            if self.sink is not None:
                await self.sink.flush()
            if self._list_dirty:
                names = self._dirty_workflows or None
                self._list_dirty = False
                self._dirty_workflows = set()
                await self.refresh_list(names)
            await self.refresh_view()

    # -- drawing ---------------------------------------------------------------------
    @property
    def selected_entry(self) -> CatalogEntry | None:
        path = self.view.path
        return self.catalog.get(path) if path is not None else None

    async def refresh_list(self, workflows: set[str] | None = None) -> None:
        """Redraw the list, reading the rows of `workflows` again (all when None)."""
        async with self._list_lock:
            with contextlib.suppress(NoMatches):  # the app is closing: nothing left to draw
                await self._refresh_list(workflows)

    async def _workflow_state(self, name: str, reread: bool) -> tuple[bool, list[RunRecord]]:
        assert self.store is not None
        cached = self._list_cache.get(name)
        if cached is None or reread:
            paused = await self.store.workflow_paused(name)
            cached = (paused, await self.store.list_runs(name, limit=10))
            self._list_cache[name] = cached
        return cached

    async def _refresh_list(self, workflows: set[str] | None = None) -> None:
        assert self.store is not None
        if workflows is None:
            self._full_list_at = time.monotonic()
        rows: list[WorkflowRow] = []
        errors: list[str] = []
        self._paused = set()
        for entry in self.catalog.entries:
            wf = entry.workflow
            if entry.error:
                errors.append(entry.first_error_line)
            if wf is None:
                rows.append(
                    WorkflowRow(entry.path, entry.name, "invalid", "", 0, error=entry.error or "")
                )
                continue
            reread = workflows is None or wf.name in workflows
            paused, runs = await self._workflow_state(wf.name, reread)
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
        assert self.store is not None
        entry = self.selected_entry
        error_box = self.query_one("#workflow-error", Static)
        _set_text(error_box, entry.error if entry and entry.error else "")
        workflow = entry.workflow if entry else None
        if not self.view.pinned:
            latest = await self.store.latest_run_id(workflow.name) if workflow else None
            if latest != self.view.run_id:
                self.view.run_id = latest
        run = await self.store.get_run(self.view.run_id) if self.view.run_id else None
        steps = await self.store.get_steps(run.id) if run else []
        use_run_graph = run is not None and (
            self.view.pinned or not run.status.is_final or workflow is None
        )
        if use_run_graph or workflow is None:
            nodes = [(s.name, tuple(s.requires)) for s in steps]
        else:
            nodes = dag_nodes(workflow)
        by_name = {s.name: s for s in steps}
        states = {
            name: str(by_name[name].status) if name in by_name else "pending" for name, _ in nodes
        }
        now = time.time()
        durations = {
            s.name: fmt_duration(s.duration)
            for s in steps
            if s.duration is not None and s.name in states
        }
        dag = self.query_one(DagView)
        dag.set_graph(nodes)
        dag.set_states(states, durations)
        timeline = self.query_one(TimelineView)
        if run is not None:
            timeline.set_run(
                build_timeline_rows(steps),
                run_started=run.started_at,
                run_ended=run.ended_at,
                now=now,
            )
        else:
            timeline.set_run([], run_started=None, run_ended=None, now=now)
        self._update_header(workflow, entry, run, steps)
        await self.refresh_logs()

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
        if run is None:
            parts.append("never run — press r")
        else:
            style = status_style(str(run.status), theme)
            duration = run.duration  # the time so far while it runs
            held = [s.name for s in steps if s.status == StepStatus.HELD]
            if held:
                parts.append(f"[{status_style('held', theme)}]⏸ waiting: {', '.join(held)}[/]")
            parts.append(f"run #{run.id}")
            parts.append(f"[{style}]{glyph(run.status)} {run.status}[/]")
            if duration is not None:
                parts.append(fmt_duration(duration))
            trigger = run.trigger + (f" ({run.triggered_by})" if run.triggered_by else "")
            parts.append(f"by {trigger}")
            if run.parent_run_id:
                parts.append(f"rerun of #{run.parent_run_id}")
            if run.message and run.status.is_final and run.status != RunStatus.SUCCEEDED:
                parts.append(f"[dim]{escape(run.message)}[/dim]")
        text = "  ·  ".join(parts)
        if workflow and workflow.description:
            text += f"\n[dim]{escape(workflow.description)}[/dim]"
        _set_text(header, text, fixed_width=True)

    async def refresh_logs(self) -> None:
        assert self.store is not None
        if self.query_one(TabbedContent).active != "logs":
            # a hidden log is not fed (a flood would lay it out for nothing); showing the
            # tab catches up from `log_after`
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
            self.view.log_key = key
            logs = await self.store.tail_logs(run_id, step, limit=LOG_TAIL)
            title = f"run #{run_id} · {step}" if step else f"run #{run_id} · all steps"
            log_view.show(title, logs)
            self.view.log_after = logs[-1].id if logs else 0
        else:
            new = await self.store.get_logs(run_id, step, after_id=self.view.log_after)
            if new:
                log_view.append(new)
                self.view.log_after = new[-1].id
        if step is not None:
            log_view.set_detail(await build_detail(self.store, run_id, step))
        else:
            log_view.set_detail(None)

    # -- reacting to widgets -----------------------------------------------------------
    async def on_workflow_list_highlighted(self, event: WorkflowList.Highlighted) -> None:
        if event.path == self.view.path:
            return
        self.view = ViewState(path=event.path)
        self._show_soon()

    def _show_soon(self) -> None:
        """Redraw the right side in a worker: the App keeps handling keys while the store
        answers (its reads wait behind a flood's log writes); moves meanwhile are gathered."""
        if not self._view_wanted:
            self._view_wanted = True
            self.run_worker(self._show_selected(), group="view")

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
        self.view.pinned = True
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
        assert self.store is not None
        table = self.query_one(RunHistory)
        entry = self.selected_entry
        if entry is None or entry.workflow is None:
            if reset:
                table.reset()
            return
        runs = await self.store.list_runs(entry.workflow.name, limit=PAGE_SIZE, before_id=before_id)
        # one query for the page, not one per row
        approvers = await self.store.approvers_by_run([run.id for run in runs])
        approved = {run_id: ", ".join(names) for run_id, names in approvers.items()}
        if self.selected_entry is not entry:
            return  # another workflow was chosen meanwhile: its own load fills the table
        # clear and fill in one go, after the queries: one layout, not one per await
        if reset:
            table.reset()
        table.add_runs(runs, approved)

    async def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.query_one(WorkflowList).set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self.query_one(WorkflowList).focus()

    # -- actions -----------------------------------------------------------------------
    async def action_show_tab(self, tab: str) -> None:
        tabs = self.query_one(TabbedContent)
        if tab == "history" and tabs.active != "history":
            # fill the table before switching: the switch and the rows are one layout
            await self.load_history(reset=True)
            self._history_loaded = True
        tabs.active = tab
        target = {
            "dag": DagView,
            "timeline": TimelineView,
            "logs": LogView,
            "history": RunHistory,
        }[tab]
        self.query_one(target).focus()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("-visible")
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_class("-visible"):
            box.value = ""
            box.remove_class("-visible")
            self.query_one(WorkflowList).set_filter("")
            self.query_one(WorkflowList).focus()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.HELP_KEYS))

    async def action_run(self) -> None:
        entry = self.selected_entry
        if entry is None or entry.workflow is None:
            self.notify("select a workflow that loads", severity="warning")
            return
        workflow = entry.workflow
        if workflow.status == "draft":
            self.notify(
                f"{workflow.name} is a draft: set `status: active` to run it", severity="warning"
            )
            return
        if workflow.params:
            fields = {
                name: (spec.default or "", spec.required, spec.description)
                for name, spec in workflow.params.items()
            }

            async def chosen(values: dict[str, str] | None) -> None:
                if values is not None:
                    await self._start_run(workflow, values)

            self.push_screen(ParamsScreen(workflow.name, fields), chosen)
            return
        await self._start_run(workflow, {})

    async def _start_run(self, workflow: Workflow, params: dict[str, str]) -> None:
        assert self.runner is not None
        try:
            handle = await self.runner.submit(
                workflow, params=params, trigger="manual", triggered_by=current_user()
            )
        except RunError as exc:
            self.notify(str(exc), title="cannot run", severity="error")
            return
        self._pin(handle.run_id)
        self.notify(f"started {workflow.name} run {handle.run_id}")
        self._show_soon()  # its first steps are starting: keys stay answered meanwhile

    def _pin(self, run_id: int) -> None:
        self.view.run_id = run_id
        self.view.pinned = True
        self.view.step = None

    async def _current_run(self) -> RunRecord | None:
        if self.store is None or self.view.run_id is None:
            self.notify("no run shown", severity="warning")
            return None
        return await self.store.get_run(self.view.run_id)

    async def action_approve(self) -> None:
        await self._decide(approve=True)

    async def action_reject(self) -> None:
        await self._decide(approve=False)

    async def _decide(self, *, approve: bool) -> None:
        assert self.store is not None
        run = await self._current_run()
        if run is None:
            return
        user = current_user()
        verb = "approve" if approve else "reject"
        # the step focused in the DAG when it is held, else the run's only held step
        steps = await self.store.get_steps(run.id)
        held_names = {s.name for s in steps if s.status == StepStatus.HELD}
        wanted = self.view.step if self.view.step in held_names else None
        try:
            held = await check_decision(self.store, run.id, wanted, user, approve=approve)
        except SeveralHeld as exc:
            self.notify(f"{exc} in the DAG", severity="warning")
            return
        except NotAnApprover as exc:
            self.notify(str(exc), severity="error")
            return
        except DecisionError as exc:
            self.notify(str(exc), severity="warning")
            return
        target = held.step

        async def send(comment: str | None) -> None:
            if comment is None or self.store is None:
                return
            await self.store.add_command(run.id, verb, step=target.name, by=user, comment=comment)
            self.notify(f"{verb}d {target.name} of run {run.id}")

        title = f"{verb.capitalize()} {target.name} of run #{run.id}? Comment (optional):"
        self.push_screen(PromptScreen(title, submit_label=verb.capitalize()), send)

    async def action_rerun(self, from_failed: bool) -> None:
        assert self.runner is not None
        run = await self._current_run()
        if run is None:
            return
        if not run.status.is_final:
            self.notify(f"run {run.id} is still {run.status}", severity="warning")
            return
        try:
            handle = await self.runner.rerun(
                run.id, from_failed=from_failed, triggered_by=current_user()
            )
        except (RunError, OSError) as exc:
            self.notify(str(exc), title="cannot rerun", severity="error")
            return
        mode = "from the failed step" if from_failed else "from the start"
        self.notify(f"rerunning run {run.id} {mode} as run {handle.run_id}")
        self._pin(handle.run_id)
        await self.refresh_view()

    async def action_cancel_run(self) -> None:
        run = await self._current_run()
        if run is None:
            return
        if run.status.is_final:
            self.notify(f"run {run.id} has already ended ({run.status})", severity="warning")
            return

        async def confirmed(yes: bool | None) -> None:
            if not yes or self.store is None or self.runner is None:
                return
            if not self.runner.cancel(run.id, by=current_user()):
                await self.store.add_command(run.id, "cancel", by=current_user())
            self.notify(f"cancelling run {run.id}")

        self.push_screen(
            ConfirmScreen(f"Cancel run #{run.id} of {run.workflow}?", confirm_label="Cancel run"),
            confirmed,
        )

    async def action_toggle_pause(self) -> None:
        assert self.store is not None
        entry = self.selected_entry
        if entry is None or entry.workflow is None:
            return
        name = entry.workflow.name
        paused = name in self._paused
        await self.store.set_paused(name, not paused)
        self.notify(f"{name} {'resumed' if paused else 'paused: its triggers are ignored'}")
        await self.refresh_list({name})

    async def action_duplicate(self) -> None:
        entry = self.selected_entry
        if entry is None:
            return
        text = entry.path.read_text(encoding="utf-8")
        stem = entry.path.stem
        for n in range(1, 100):
            target = entry.path.with_name(f"{stem}-copy{'' if n == 1 else n}{entry.path.suffix}")
            if not target.exists():
                break
        new_name = f"{entry.name}-copy{'' if n == 1 else n}"
        text, _ = re.subn(r"(?m)^name:\s*.*$", f"name: {new_name}", text, count=1)
        target.write_text(text, encoding="utf-8")
        self.catalog.refresh([target])
        await self.refresh_list()
        self.notify(f"duplicated as {target.name}")

    def action_edit(self) -> None:
        entry = self.selected_entry
        if entry is None:
            return
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        command = [*shlex.split(editor), str(entry.path)]
        try:
            with self.suspend():
                subprocess.run(command, check=False)
        except SuspendNotSupported:
            # no terminal to hand over (headless, some Windows terminals): run it as is
            subprocess.run(command, check=False, stdin=subprocess.DEVNULL)
        except OSError as exc:
            self.notify(f"cannot start {editor!r}: {exc}", severity="error")
            return
        self.catalog.refresh([entry.path])
        self.call_later(self.refresh_list)
        self.call_later(self.refresh_view)

    async def action_delete(self) -> None:
        entry = self.selected_entry
        if entry is None:
            return

        async def confirmed(yes: bool | None) -> None:
            if not yes:
                return
            with contextlib.suppress(FileNotFoundError):
                entry.path.unlink()
            self.catalog.refresh([entry.path])
            self.view = ViewState()
            await self.refresh_list()
            await self.refresh_view()
            self.notify(f"deleted {entry.path.name} (its run history stays)")

        self.push_screen(
            ConfirmScreen(f"Delete {entry.path}? Its run history stays.", confirm_label="Delete"),
            confirmed,
        )
