"""The one composition root: opens the history, bus, sink, runner and triggers from
options, and closes them in one order.

`flowtui run`, `flowtui serve` and the dashboard all start their engine here, so they share
one shutdown order (triggers → adoption → queued runs let go → running runs cancelled and
recorded → runner → sink flushed → history closed), one child-workflow resolver and one
place where a backend is chosen.  Read-only commands use `open_history`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from msgspec import Struct, field, structs

from flowtui.engine import pysandbox
from flowtui.engine.bus import EventBus
from flowtui.engine.logcap import LogLimits
from flowtui.engine.owner import Owner
from flowtui.engine.runner import Runner, RunnerOptions, WorkflowResolver
from flowtui.engine.sandbox import spawner_mode
from flowtui.model.loader import load_workflow, resolve_workflow
from flowtui.model.workflow import Workflow
from flowtui.store.runstore import RunStore
from flowtui.store.sink import StoreSink

if TYPE_CHECKING:
    from flowtui.engine.remote import StepDispatcher
    from flowtui.model.catalog import WorkflowCatalog
    from flowtui.store.triggerstore import TriggerEventRecord
    from flowtui.triggers.hooks import WebhookOptions
    from flowtui.triggers.service import TriggerService
    from flowtui.worker.dispatch import PgDispatcher

STOP_GRACE = 15.0  # seconds to wait for cancelled (or let-go) runs to be recorded
# how often a service looks for queued runs of dead runners; a runner on another host is
# only known dead STALE_AFTER seconds after its last heartbeat, one on this host at once
ADOPT_INTERVAL = 3.0


async def open_history(
    db: str | Path | None, *, read_only: bool = False
) -> tuple[RunStore, list[int]]:
    """Open the history and mark the runs of runners that died interrupted (their ids).
    `read_only`: on a full disk, open it for reading and recover nothing (`store.read_only`)."""
    store = await RunStore.open(db, read_only=read_only)
    if store.read_only:
        return store, []
    try:
        interrupted = await store.recover_interrupted(me=Owner.current())
    except BaseException:
        await store.close()
        raise
    return store, interrupted


def build_runner(
    store: RunStore,
    bus: EventBus,
    options: RunnerOptions | None = None,
    *,
    resolve_workflow: WorkflowResolver | None = None,
    dispatcher: StepDispatcher | None = None,
) -> Runner:
    """A Runner given the store as its ledger, a heartbeat as its liveness and, in team
    mode, the job queue that runs `runs_on` steps on workers."""
    options = options or RunnerOptions()
    if not options.private_paths:
        store.make_decision_key()  # before any step could
        own_root = (options.workspace_root.absolute(),) if options.workspace_root else ()
        private = store.private_paths + own_root
        options = structs.replace(options, private_paths=private)
    pysandbox.install(options.private_paths)  # .py workflow files are kept away as steps are
    return Runner(
        store,
        bus,
        options,
        liveness=store.liveness(),
        resolve_workflow=resolve_workflow,
        dispatcher=dispatcher,
    )


def dispatcher_for(store: RunStore) -> PgDispatcher | None:
    """Team mode's job queue, on a PostgreSQL history (procrastinate is imported only then)."""
    if store.dialect != "postgresql":
        return None
    from flowtui.store.pg import PgDatabase
    from flowtui.worker.dispatch import PgDispatcher

    assert isinstance(store.db, PgDatabase)
    return PgDispatcher(store.db)


def child_resolver(
    folders: Sequence[Path], catalog: WorkflowCatalog | None = None
) -> WorkflowResolver:
    """How a `workflow:` step finds the workflow it calls: a file beside the caller, then
    a workflow of the open folder (`catalog`, as last loaded), then by file or name in the
    caller's folder and `folders`."""

    def resolve(ref: str, parent: Workflow) -> Workflow:
        if parent.path is not None:
            beside = parent.path.parent / ref
            if beside.is_file():
                return load_workflow(beside)
        if catalog is not None:
            entry = catalog.by_name(ref)
            if entry is not None and entry.workflow is not None:
                return entry.workflow
        search = list(folders)
        if parent.path is not None:
            search.insert(0, parent.path.parent)
        try:
            return load_workflow(resolve_workflow(ref, search))
        except LookupError as exc:  # KeyError's text comes quoted
            raise LookupError(str(exc).strip("'\"")) from None

    return resolve


class RuntimeOptions(Struct):
    db: str | Path | None = None  # None: $FLOWTUI_DB, else the user data folder
    parallel: int | None = None  # None: the number of CPUs
    kill_grace: float = 5.0
    log_limits: LogLimits | None = None  # None: from the environment
    resolve_workflow: WorkflowResolver | None = None
    runner: RunnerOptions = field(default_factory=RunnerOptions)


class Runtime:
    """A started engine: `store`, `bus`, `sink` and `runner`, plus `triggers` once started.

    `interrupted` lists the runs of dead runners that opening the history marked.
    """

    def __init__(
        self,
        store: RunStore,
        bus: EventBus,
        sink: StoreSink,
        runner: Runner,
        interrupted: list[int],
    ) -> None:
        self.store = store
        self.bus = bus
        self.sink = sink
        self.runner = runner
        self.interrupted = interrupted
        self.triggers: TriggerService | None = None
        self.dispatcher: PgDispatcher | None = None
        self._adopter: asyncio.Task[None] | None = None
        self._stop_adopting = asyncio.Event()
        self._stopped = False
        self._closed = False

    @classmethod
    async def open(cls, options: RuntimeOptions | None = None) -> Runtime:
        options = options or RuntimeOptions()
        if options.parallel is not None and options.parallel < 1:
            raise ValueError("--parallel must be at least 1")
        spawner_mode()  # a bad FLOWTUI_SPAWNER is an error before anything runs
        store, interrupted = await open_history(options.db)
        bus = EventBus()
        sink = StoreSink(store, bus, options.log_limits)
        sink.start()
        runner_options = options.runner
        runner_options.kill_grace = options.kill_grace
        if options.parallel:
            runner_options.parallel = options.parallel
        dispatcher = dispatcher_for(store)
        runner = build_runner(
            store,
            bus,
            runner_options,
            resolve_workflow=options.resolve_workflow,
            dispatcher=dispatcher,
        )
        await runner.start()
        runtime = cls(store, bus, sink, runner, interrupted)
        runtime.dispatcher = dispatcher
        return runtime

    async def __aenter__(self) -> Runtime:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- triggers and adoption (services: `flowtui serve`, the dashboard) ---------------
    async def start_triggers(
        self,
        workflows: Callable[[], list[Workflow]],
        *,
        webhook: WebhookOptions | None = None,
        on_outcome: Callable[[TriggerEventRecord], None] | None = None,
        on_notice: Callable[[str], None] | None = None,
    ) -> TriggerService:
        """Start cron, git, chain (and, with `webhook`, webhook) triggers.

        Raises OSError when the webhook port cannot be opened (nothing is left running).
        """
        from flowtui.triggers.service import TriggerService

        service = TriggerService(
            self.store,
            self.runner,
            workflows,
            webhook=webhook,
            on_outcome=on_outcome,
            on_notice=on_notice,
        )
        try:
            await service.start()
        except BaseException:
            await service.close()
            raise
        self.triggers = service
        return service

    async def start_adopting(
        self, on_adopted: Callable[[int], None], on_error: Callable[[str], None]
    ) -> None:
        """Adopt the queued runs of dead flowtui processes now and every ADOPT_INTERVAL s."""
        await self._adopt(on_adopted, on_error)
        self._adopter = asyncio.create_task(
            self._adopt_loop(on_adopted, on_error), name="flowtui-adopt"
        )

    async def _adopt(
        self, on_adopted: Callable[[int], None], on_error: Callable[[str], None]
    ) -> None:
        try:
            handles = await self.runner.adopt_queued()
        except Exception as exc:  # a locked or full database: try again at the next pass
            on_error(f"could not adopt queued runs: {exc}")
            return
        for handle in handles:
            on_adopted(handle.run_id)

    async def _adopt_loop(
        self, on_adopted: Callable[[int], None], on_error: Callable[[str], None]
    ) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_adopting.wait(), ADOPT_INTERVAL)
                return
            await self._adopt(on_adopted, on_error)

    # -- shutdown ------------------------------------------------------------------------
    async def stop(
        self, *, by: str = "", reason: str = "", leave_queued: str | None = None
    ) -> list[int]:
        """Stop everything but the history, in order; returns the run ids left queued.

        No new trigger fires; adoption ends between two passes (a claim is never cut
        short); with `leave_queued` (a service stopping) this process's queued runs stay
        queued for the next adopter, noted with that reason; every run still going is
        cancelled and waited for (up to STOP_GRACE s) so that it is recorded `cancelled`,
        not later `interrupted`; the runner stops beating; the sink writes what is left.
        Safe to call twice.
        """
        if self._stopped:
            return []
        self._stopped = True
        left: list[int] = []
        try:
            if self.triggers is not None:
                await self.triggers.close()
            if self._adopter is not None:
                self._stop_adopting.set()
                await self._adopter
            if leave_queued is not None:
                left = await self.runner.release_queued(leave_queued, timeout=STOP_GRACE)
            await self.runner.cancel_all(by=by, reason=reason, timeout=STOP_GRACE)
        finally:
            await self.runner.close()
            await self.sink.close()
            if self.dispatcher is not None:
                await self.dispatcher.close()
        return left

    async def close(self, *, by: str = "", reason: str = "") -> None:
        """`stop`, then close the history. Safe to call twice."""
        try:
            await self.stop(by=by, reason=reason)
        finally:
            if not self._closed:
                self._closed = True
                await self.store.close()
