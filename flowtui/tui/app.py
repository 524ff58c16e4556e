"""The flowtui dashboard: workflows, a live DAG, timeline, logs, history and approvals.

The App composes the screen, starts the engine through the composition root
(`flowtui.runtime`) and owns the long-lived workers: the bridge (`bridge`: engine events and
history changes → messages) and the folder watcher.  What it draws and when lives in
`refresh`, the run actions in `actions` (thin over `flowtui.control`), the file actions in
`files`.  Workers never close the app on error: one `Worker.StateChanged` handler reports
the failure and restarts the long-lived ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.theme import Theme
from textual.widget import Widget
from textual.widgets import Header, Input, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from flowtui.engine.bus import EventBus
from flowtui.engine.identity import current_user
from flowtui.engine.runner import Runner, RunnerOptions
from flowtui.engine.states import RunStatus
from flowtui.model.catalog import WorkflowCatalog
from flowtui.notify import Notifier
from flowtui.runtime import Runtime, RuntimeOptions, child_resolver, open_history
from flowtui.store.db import StoreError, StoreFullError
from flowtui.store.runstore import RunStore
from flowtui.store.sink import StoreSink
from flowtui.tui import bridge, commands
from flowtui.tui.builder_actions import BuilderActionsMixin
from flowtui.tui.collector import CHECK_EVERY, IdleCollector
from flowtui.tui.command_mode import CommandModeMixin
from flowtui.tui.config import UserConfig, checked, remember_theme
from flowtui.tui.environments import EnvironmentsMixin
from flowtui.tui.files import FileActionsMixin
from flowtui.tui.keys import binding_ids, describe, help_sections
from flowtui.tui.linked import LinkedRun
from flowtui.tui.markup import escape
from flowtui.tui.notify import tell
from flowtui.tui.palette import panel_commands
from flowtui.tui.refresh import TAB_VIEWS
from flowtui.tui.screens.builder import BuilderScreen
from flowtui.tui.screens.dialogs import HelpScreen
from flowtui.tui.themes import DEFAULT_THEME, load_themes
from flowtui.tui.widgets.command_line import CommandLine
from flowtui.tui.widgets.dag_view import DagView
from flowtui.tui.widgets.failure_panel import FailurePanel
from flowtui.tui.widgets.footer import KeyFooter
from flowtui.tui.widgets.log_view import LogView
from flowtui.tui.widgets.run_history import RunHistory
from flowtui.tui.widgets.timeline import TimelineView
from flowtui.tui.widgets.workflow_list import WorkflowList

if TYPE_CHECKING:
    from flowtui.triggers.service import TriggerService

# workers that live as long as the app: restarted after an error
LONG_LIVED = {"bridge": "run_bridge", "poll": "run_poll", "watch": "watch_folder"}

# each panel's own keys, for the help screen (read from the widgets' BINDINGS)
PANELS: list[tuple[str, type[Widget]]] = [
    ("Workflow list", WorkflowList),
    ("DAG", DagView),
    ("Timeline", TimelineView),
    ("Logs", LogView),
    ("History", RunHistory),
    ("Builder (b)", BuilderScreen),
]


class DashboardScreen(Screen[None]):
    """The dashboard's screen: tab / shift+tab move the keys between its two panels (the
    list and the shown view), not through every focusable thing inside them."""

    BINDINGS = [
        Binding("tab", "app.focus_panel", "Next panel", show=False),
        Binding("shift+tab", "app.focus_panel", "Previous panel", show=False),
    ]


class FlowApp(CommandModeMixin, FileActionsMixin, BuilderActionsMixin, EnvironmentsMixin):
    """Keys are listed in the footer, in the command palette and under `?`, all made from
    BINDINGS (a binding's tooltip is its long description; `keys` turns them into words).

    Focus: the panel that has the keys (the list, or the view of the shown tab) is marked
    (styles/app.tcss, `:focus-within`); tab / shift+tab move the keys between them.
    """

    TITLE = "flowtui"
    CSS_PATH = "styles/app.tcss"
    ENABLE_COMMAND_PALETTE = True
    # the screen's class follows the size of each Resize event (not the size before it)
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    BINDINGS = [
        Binding("r", "run", "Run", id="run", tooltip="Run the selected workflow (asks for params)"),
        Binding(
            "a", "approve", "Approve", id="approve", tooltip="Approve the focused or only held step"
        ),
        Binding(
            "x", "reject", "Reject", id="reject", tooltip="Reject the focused or only held step"
        ),
        Binding(
            "i",
            "inbox",
            "Inbox",
            id="inbox",
            tooltip="Every step waiting for approval, in every run (approve/reject from it)",
        ),
        Binding(
            "E",
            "environments",
            "Environments",
            id="environments",
            tooltip="Environments: status, release and age per workflow; promote from there",
        ),
        Binding(
            "f",
            "rerun(True)",
            "Rerun failed",
            id="rerun_failed",
            tooltip="Rerun the shown run from its failed step",
        ),
        Binding(
            "F",
            "rerun(False)",
            "Rerun all",
            id="rerun_start",
            show=False,
            tooltip="Rerun the shown run from the start",
        ),
        Binding(
            "R",
            "rerun_step",
            "Rerun from here",
            id="rerun_step",
            show=False,
            tooltip="Rerun the shown run from the selected step (shows what reruns first)",
        ),
        Binding(
            "s",
            "step_shell",
            "Shell",
            id="shell",
            show=False,
            tooltip="Open $SHELL in the selected step's folder with its environment",
        ),
        Binding(
            "v",
            "compare",
            "Compare",
            id="compare",
            show=False,
            tooltip="Compare with the last green run: slower, faster, outputs",
        ),
        Binding("c", "cancel_run", "Cancel", id="cancel", tooltip="Cancel the shown run (asks)"),
        Binding("p", "toggle_pause", "Pause", id="pause", tooltip="Pause or resume the triggers"),
        Binding(
            "d", "duplicate", "Duplicate", id="duplicate", show=False, tooltip="Duplicate the file"
        ),
        Binding("e", "edit", "Edit", id="edit", show=False, tooltip="Open the file in $EDITOR"),
        Binding(
            "b",
            "builder",
            "Builder",
            id="builder",
            show=False,
            tooltip="Shape the selected workflow on its graph: add, connect, rename steps",
        ),
        Binding(
            "n",
            "new_workflow",
            "New",
            id="new_workflow",
            show=False,
            tooltip="A new workflow file from a template, opened in the builder",
        ),
        Binding(
            "delete",
            "delete",
            "Delete",
            id="delete",
            show=False,
            tooltip="Delete the file (asks; its history stays)",
        ),
        Binding("g", "show_tab('dag')", "DAG", id="dag", tooltip="Show the DAG"),
        Binding(
            "t", "show_tab('timeline')", "Timeline", id="timeline", tooltip="Show the timeline"
        ),
        Binding("l", "show_tab('logs')", "Logs", id="logs", tooltip="Show the logs"),
        Binding("h", "show_tab('history')", "History", id="history", tooltip="Show the history"),
        # `/`, `:` and the enter that ends them are priority bindings: they act as the key
        # arrives, so keys typed right behind them (`/gat⏎r`) land where they are meant, not
        # where the focus was; `check_action` lets them through to a focused input
        Binding(
            "slash",
            "filter",
            "Filter",
            id="filter",
            tooltip="Filter workflows (in the logs: search)",
            priority=True,
        ),
        Binding(
            "colon",
            "command_line",
            "Command",
            id="command",
            tooltip="Command line: :run NAME, :approve RUN [STEP], :rerun RUN, :theme NAME…",
            priority=True,
        ),
        Binding(
            "enter",
            "end_line",
            "Done",
            show=False,
            priority=True,
            tooltip="In the filter: back to the list; in the command line: run it",
        ),
        Binding(
            "escape",
            "clear_filter",
            "Back",
            id="back",
            show=False,
            tooltip="Close the filter (the selection stays), the log search or the command line",
        ),
        Binding("question_mark", "help", "Help", id="help", tooltip="Every key and command"),
        Binding("q", "quit", "Quit", id="quit", tooltip="Quit (asks first when runs are going)"),
    ]

    def __init__(
        self,
        folder: Path,
        *,
        db_path: Path | str | None = None,
        theme: str | None = None,
        parallel: int | None = None,
        bell: bool = False,
        notify: bool = False,
        watch: bool = True,
        triggers: bool = True,
        webhook_port: int | None = None,
        config: UserConfig | None = None,
        open_run: LinkedRun | None = None,
    ) -> None:
        super().__init__()
        self.linked = open_run  # a run to show at start (flowtui/tui/linked.py)
        # the user's config file (theme, keymap); None: defaults, and nothing written back
        known_ids = binding_ids(self.BINDINGS, *(widget.BINDINGS for _, widget in PANELS))
        self.config = checked(config or UserConfig(), known_ids)  # unknown ids/theme: said
        self.keymap = dict(self.config.keymap)
        # cron, git and chain triggers fire while the dashboard is open; webhooks only when
        # a port is given (a dashboard should not open a port by surprise)
        self.triggers_enabled = triggers
        self.webhook_port = webhook_port
        self.folder = folder
        self.db_path = db_path
        self.initial_theme = theme or self.config.theme
        self.parallel = parallel
        # --bell, --notify or `notify = true`: the terminal is told of holds and ended runs
        self.notifier = Notifier.chosen(bell=bell, notify=notify or self.config.notify)
        self.watch_enabled = watch
        self.catalog = WorkflowCatalog(folder)
        self.runtime: Runtime | None = None
        self.read_only_history: RunStore | None = None
        self.bridge: bridge.Bridge | None = None
        self.init_refresh()
        self.ready = asyncio.Event()
        self._theme_problems = self._choose_theme()
        self.collector = IdleCollector()  # full garbage collections when no key comes

    # the engine's pieces, for tests and benchmarks (None until mounted)
    @property
    def runner(self) -> Runner | None:
        return self.runtime.runner if self.runtime else None

    @property
    def sink(self) -> StoreSink | None:
        return self.runtime.sink if self.runtime else None

    @property
    def trigger_service(self) -> TriggerService | None:
        return self.runtime.triggers if self.runtime else None

    # -- layout ----------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="banner", markup=False)  # file errors: user text
        yield Static("", id="history-down", markup=False)  # while the history is away
        with Horizontal(id="main"):
            with Vertical(id="left"):
                # disabled while hidden (`/` shows it): a hidden box never takes the keys
                yield Input(placeholder="filter workflows…", id="filter", disabled=True)
                yield WorkflowList(id="workflows")
                yield Static("", id="workflow-error", markup=False)
            with Vertical(id="right"):
                yield Static("", id="run-header")
                with TabbedContent(initial="dag", id="tabs"):
                    with TabPane("DAG", id="dag"):
                        yield DagView(id="dag-view")
                        yield FailurePanel(id="failure")
                    with TabPane("Timeline", id="timeline"):
                        yield TimelineView(id="timeline-view")
                    with TabPane("Logs", id="logs"):
                        yield LogView(id="log-view")
                    with TabPane("History", id="history"):
                        yield RunHistory(id="history-table")
        yield CommandLine(self.command_candidates, id="command-line")
        yield KeyFooter()

    async def on_mount(self) -> None:
        self._apply_themes()
        self._apply_config()
        self.sub_title = str(self.folder)
        options = RuntimeOptions(
            db=self.db_path,
            parallel=self.parallel,
            resolve_workflow=child_resolver([self.folder], self.catalog),
            # steps are not forked from the dashboard's process: each fork held its loop
            runner=RunnerOptions(spawner_first=True),
        )
        # the workflow files are read (in a thread) while the history opens
        catalog_loaded = asyncio.ensure_future(self.reload_catalog())
        try:
            self.runtime = await Runtime.open(options)
        except StoreFullError:
            if not await self._open_read_only():
                catalog_loaded.cancel()
                return
        except StoreError as exc:  # e.g. a PostgreSQL server that does not answer
            catalog_loaded.cancel()
            self.exit(return_code=1, message=f"flowtui: error: {exc}")
            return
        if self.runtime is not None:
            for run_id in self.runtime.interrupted:
                self.notify(f"run {run_id} was left by a runner that died: interrupted", timeout=8)
        bus = self.runtime.bus if self.runtime else EventBus()  # read only: no engine, no events
        self.bridge = bridge.Bridge(self, bus, self.history)
        await catalog_loaded
        if self.triggers_enabled and self.runtime is not None:
            await self._start_triggers()
        # the first frame shows the names; each row's runs are read once it is painted
        await self.show_names()
        self.query_one(WorkflowList).focus()
        if self.linked is not None:
            await self.open_linked(self.linked)
        if self.runtime is not None:
            self.run_bridge()
        self.run_poll()
        self.start_clock()
        if self.watch_enabled:
            self.watch_folder()
        self.fill_list()

    @work(group="list", exit_on_error=False)
    async def fill_list(self) -> None:
        """Fill the first frame's list in (its rows' runs), then settle: `ready` is set."""
        await self._fill_list()
        self.call_after_refresh(self._settle)

    async def _fill_list(self) -> None:
        await self.fill_rows()

    def _settle(self) -> None:
        # what is loaded by now (Textual, the catalog, the widgets) lives as long as the app;
        # left to the collector, each full collection walks all of it: ~0.1 s pauses in the
        # middle of repaints (a tab switch, a key during a flood). Frozen, it is skipped.
        # After the first frames: the collection itself takes ~0.1 s.  From then on the
        # full collections wait for a moment without keys (tui/collector.py)
        if not self._closing_down:
            self.collector.start()
            self.set_interval(CHECK_EVERY, self.collector.tick, name="collector")
        self.ready.set()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.InputEvent):
            self.collector.saw_input()  # no full garbage collection right after a key
        await super().on_event(event)

    async def _open_read_only(self) -> bool:
        """The disk is full: the history is shown, and nothing can write to it (no engine,
        no triggers; the keys that would write say why, see `actions.writes`).  False: there
        is no history to show either (the app is leaving, saying why)."""
        try:
            self.read_only_history, _ = await open_history(self.db_path, read_only=True)
        except StoreError as exc:
            self.exit(return_code=1, message=f"flowtui: error: {exc}")
            return False
        note = (
            f"disk full: {self.read_only_history.location} — read only until there is space again"
        )
        await self.mount(Static(note, id="read-only", markup=False), after="#banner")
        return True

    def _choose_theme(self) -> list[tuple[str, str]]:
        """Register the themes and set the chosen one before the app starts: its stylesheet
        is then parsed once with the theme's variables.  Set in `on_mount`, the whole
        stylesheet was parsed and applied to every widget again (`refresh_css`, ~0.1 s
        before the first frame).  Returns what to tell once mounted: (text, title)."""
        themes, problems = load_themes()
        for theme in themes:
            self.register_theme(theme)
        notices = [(str(problem), "theme not loaded") for problem in problems]
        wanted = self.initial_theme or DEFAULT_THEME
        if wanted in self.available_themes:
            self.theme = wanted
            self.stylesheet.set_variables(self.get_css_variables())
        elif self.initial_theme:
            notices.append((f"unknown theme {wanted!r}", ""))
        return notices

    def _apply_themes(self) -> None:
        for text, title in self._theme_problems:
            self.notify(text, title=title, severity="warning")

    def get_default_screen(self) -> Screen[None]:
        return DashboardScreen(id="_default")

    def _apply_config(self) -> None:
        for problem in self.config.problems:
            self.notify(problem, title="config not fully read", severity="error", timeout=15)
        if self.keymap:
            self.set_keymap(self.keymap)
        # from now on a theme chosen here (palette, :theme) is remembered; the signal of
        # the theme set while starting comes later, and is not a choice
        self._theme_on_file = self.theme
        self.theme_changed_signal.subscribe(self, self._remember_theme)

    def _remember_theme(self, theme: Theme) -> None:
        path = self.config.path
        if path is None or theme.name == self._theme_on_file:
            return
        self._theme_on_file = theme.name
        try:
            remember_theme(path, theme.name)
        except (OSError, ValueError) as exc:
            self.notify(f"{path}: {exc}", title="theme not remembered", severity="warning")

    async def _start_triggers(self) -> None:
        from flowtui.triggers.hooks import WebhookOptions

        assert self.runtime is not None
        webhook = None if self.webhook_port is None else WebhookOptions(port=self.webhook_port)
        try:
            await self.runtime.start_triggers(
                lambda: [e.workflow for e in self.catalog.entries if e.workflow is not None],
                webhook=webhook,
                on_outcome=lambda e: self.notify(e.describe(), title="trigger", timeout=6),
                on_notice=lambda text: self.notify(text, severity="warning", timeout=10),
            )
        except OSError as exc:
            self.notify(str(exc), title="triggers not started", severity="error", timeout=10)

    def notify(self, message: str, *, markup: bool = False, **options: Any) -> None:
        """A toast: its text is often user text (error messages, names, comments), never
        read as markup (a `[` in it would end the app in the middle of a redraw)."""
        super().notify(message, markup=False, **options)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        for command in super().get_system_commands(screen):
            if command.title != "Quit":  # ours (below) asks first when runs are going
                yield command
        for key in describe(self.BINDINGS, self.keymap):
            if key.action in ("clear_filter", "end_line"):  # esc, enter: nothing to do here
                continue
            if self.builder_has_keys(key.action):  # the builder offers its own (the mixin)
                continue
            # the short name to find it by; under it the key and the long description
            more = f" · {key.text}" if key.text != key.title else ""
            help_text = escape(f"key {key.keys}{more}")  # read as markup: `RUN [STEP]`
            yield SystemCommand(key.title, help_text, partial(self.run_action, key.action))
        if isinstance(screen, DashboardScreen):  # each panel's keys (the logs' wrap, …)
            yield from panel_commands(self, PANELS, TAB_VIEWS, self.keymap)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.builder_has_keys(action):
            return False
        focused = self.focused
        if action in ("filter", "command_line", "end_line") and not isinstance(
            self.screen, DashboardScreen
        ):
            return False  # a dialog is open: the key is the dialog's
        if action in ("filter", "command_line"):
            return not isinstance(focused, Input)  # typed into the filter, a search, a line
        if action == "end_line":
            return isinstance(focused, CommandLine) or focused is self.query_one("#filter")
        return True

    async def action_end_line(self) -> None:
        """enter in the filter or the command line, handled as it arrives (see BINDINGS)."""
        focused = self.focused
        if isinstance(focused, CommandLine):
            focused.end()
        else:  # the filter: it applies as it is typed; the keys go back to the list
            self.set_focus(self.query_one(WorkflowList))

    def action_help_quit(self) -> None:
        """ctrl+c: Textual's own hint ("press q") came out as raw markup here (the app's
        toasts never read markup); it quits as `q` does instead, asking first when runs of
        this dashboard are going.  Once that question is open, it stays the one question."""
        if self.builder_has_keys("quit"):  # there `q` leaves the builder (asks if unsaved)
            self.notify("to quit, leave the builder first (escape), then press q")
        elif self._quit_question is None:
            self.call_later(self.action_quit)

    def action_help(self) -> None:
        panels = [(title, widget.BINDINGS) for title, widget in PANELS]
        sections = help_sections(self.BINDINGS, panels, self.keymap, commands.help_rows())
        self.push_screen(HelpScreen(sections))

    async def on_unmount(self) -> None:
        # store-driven redraws must not read from a store about to close
        for group in ("refresh", "poll", "view", "bridge", "list"):
            self.workers.cancel_group(self, group)
        self.collector.stop()
        if self._runs_read is not None:  # closed before the list was filled
            self._runs_read.cancel()
        if self.runtime is not None:
            await self.runtime.close(by=current_user(), reason="dashboard closed")
        if self.read_only_history is not None:
            await self.read_only_history.close()

    # -- workers ---------------------------------------------------------------------
    @work(exclusive=True, group="bridge", exit_on_error=False)
    async def run_bridge(self) -> None:
        """This process's engine events → notices and redraws."""
        assert self.bridge is not None
        await self.bridge.follow_bus()

    @work(exclusive=True, group="poll", exit_on_error=False)
    async def run_poll(self) -> None:
        """Other processes' changes to the history → redraws."""
        assert self.bridge is not None
        await self.bridge.poll_history()

    @work(exclusive=True, group="watch", exit_on_error=False)
    async def watch_folder(self) -> None:
        """Reload workflow files (and `.circleci/config.yml`) the moment they change."""
        from flowtui.model.circleci.watch import watch_catalog

        async for paths in watch_catalog(self.folder):
            change = await self.reload_catalog(paths)
            if change:
                await self.refresh_list()
                await self.refresh_view()
                await self.refresh_environments()  # `E`, if open

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place a worker's failure goes: reported, and the app keeps going."""
        worker = event.worker
        if event.state != WorkerState.ERROR or self._closing_down:
            return
        error = worker.error
        self.notify(
            f"{type(error).__name__}: {error}",
            title=f"{worker.group or worker.name} failed",
            severity="error",
            timeout=10,
        )
        restart = LONG_LIVED.get(worker.group)
        if restart is not None:
            getattr(self, restart)()

    # -- bridge messages ---------------------------------------------------------------
    def _shows(self, workflow: str | None) -> bool:
        """Whether another process's run is this dashboard's to tell: a workflow of its
        folder (a `serve` elsewhere on a shared history runs others; the inbox, `i`, lists
        every hold)."""
        return workflow is None or self.catalog.by_name(workflow) is not None

    def on_step_held(self, message: bridge.StepHeld) -> None:
        if not self._shows(message.workflow):
            return
        text = f"{message.step} of run {message.run_id} waits for approval (a / x)"
        self.last_held = (message.run_id, message.step)  # what `a` / `x` then act on
        self.notify(text, title="approval needed", severity="warning", timeout=8)
        tell(self, self.notifier.sequence("flowtui: approval needed", text))

    def on_run_ended(self, message: bridge.RunEnded) -> None:
        if not message.mine and not self._shows(message.workflow):
            return
        ok = message.status == RunStatus.SUCCEEDED
        text = f"{message.workflow} run {message.run_id} {message.status}"
        if message.message and not ok:  # which step: "test failed", "cancelled by ann"
            text += f": {message.message}"
        self.notify(text, severity="information" if ok else "error")
        tell(self, self.notifier.sequence(f"flowtui: run {message.status}", text))

    def on_history_changed(self, message: bridge.HistoryChanged) -> None:
        self.request_refresh(workflows=message.workflows)

    def on_logs_may_have_grown(self, message: bridge.LogsMayHaveGrown) -> None:
        self.request_logs()

    def on_history_unavailable(self, message: bridge.HistoryUnavailable) -> None:
        """Said once as a toast, then as a line over the panes while it lasts (the poller
        tries every second: a toast each time stacked up over the right pane)."""
        first = str(message.error).strip().splitlines()
        text = f"history unavailable: {first[0] if first else type(message.error).__name__}"
        line = self.query_one("#history-down", Static)
        if not line.has_class("-visible"):
            self.notify(f"history unavailable: {message.error}", severity="error")
        line.update(f"{text} — retrying; what is shown may be out of date")
        line.add_class("-visible")

    def on_history_back(self, message: bridge.HistoryBack) -> None:
        self.query_one("#history-down", Static).remove_class("-visible")
        self.notify("the history answers again")
        self.request_refresh(workflows=None)
