"""`flowtui worker`: runs the `runs_on` steps of its queues, on this machine.

For each job it rebuilds the step from the run's recorded workflow, resolves the workflow's
secrets from *its own* environment, runs the step with the same executors a runner uses in
a workspace under `--workdir`, and writes the step's log lines, outputs and the attempt's
outcome into the shared history through its own sink.  The runner that owns the run reads
the outcome and decides the step's status.  An aborted job (cancel, timeout) kills the
step's process group here.

SIGINT/SIGTERM stop it: no new job is taken, running steps are stopped, and it exits within
its grace period whatever the database does.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from msgspec.structs import replace

from flowtui.engine.bus import EventBus
from flowtui.engine.events import AttemptEnded, StepLog
from flowtui.engine.executors.base import StepContext, StepResult
from flowtui.engine.executors.registry import get_executor
from flowtui.engine.private import make_private_dir
from flowtui.engine.process import OUTPUT_THROTTLE
from flowtui.engine.remote import RemoteJob
from flowtui.engine.sandbox import STEP_SANDBOX, SandboxPool, warning
from flowtui.engine.secrets import LogMasking, Masker, SecretError, resolve_secrets
from flowtui.engine.states import StepStatus
from flowtui.engine.stepenv import step_variables
from flowtui.engine.workspace import HandOff, WorkspaceTooLarge, attempt_dir
from flowtui.model.errors import WorkflowError
from flowtui.model.loader import load_workflow_text
from flowtui.model.workflow import SecretSpec, Workflow
from flowtui.store.pgjobs import Connect, begin_attempt, end_attempt
from flowtui.store.runstore import RunStore
from flowtui.store.sink import StoreSink
from flowtui.worker.queue import MAX_LOST_AFTER, ensure_schema, lost_after, make_app
from flowtui.worker.reaper import Reaper

log = logging.getLogger("flowtui.worker")

STOP_GRACE = 15.0  # seconds a stopping worker waits for its steps to stop


@dataclass
class WorkerOptions:
    queues: list[str]
    name: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    workdir: Path = field(default_factory=lambda: Path.cwd() / "flowtui-work")
    concurrency: int = 1
    stop_grace: float = STOP_GRACE


class StepRunner:
    """Carries out jobs: one attempt of one step each (the procrastinate task's body)."""

    def __init__(
        self, store: RunStore, bus: EventBus, sink: StoreSink, options: WorkerOptions
    ) -> None:
        self.store = store
        self.bus = bus
        self.sink = sink
        self.options = options
        self.say: Callable[[str], None] = lambda line: None
        self._hand_offs: dict[int, HandOff] = {}  # per run: its workspace here
        self.lost_after = lost_after()  # what this worker announces (runners use it)
        self.reaper: Reaper | None = None  # stops step processes this process leaves behind
        self._busy_runs: dict[int, int] = {}  # run → its jobs running here
        self._lines: dict[int, list[int]] = {}  # job → how many log lines its step wrote
        self._tidying: asyncio.Task[None] | None = None
        self._tidied = -TIDY_SECONDS
        self.sandboxes = SandboxPool()  # per run: its steps' one sandbox on this machine
        # lends a connection on this loop for a job's two writes (the job queue's pool)
        self.connect: Connect | None = None

    async def run(self, job: RemoteJob, job_id: int) -> None:
        self._busy_runs[job.run_id] = self._busy_runs.get(job.run_id, 0) + 1
        try:
            await self._run(job, job_id)
        finally:
            self._lines.pop(job_id, None)
            self._busy_runs[job.run_id] -= 1
            if not self._busy_runs[job.run_id]:
                del self._busy_runs[job.run_id]

    async def _run(self, job: RemoteJob, job_id: int) -> None:
        OUTPUT_THROTTLE.set(self.store.wait_for_writer)
        # how many lines this attempt wrote (none: its outcome's NOTIFY says it all)
        lines = self._lines[job_id] = [0]
        masking = LogMasking(self._publish_log(job, lines))
        try:
            result, delta = await self._execute(job, job_id, masking)
        except asyncio.CancelledError:
            masking.log(
                job.step,
                job.attempt,
                "system",
                f"aborted on worker {self.options.name}: the step's processes were stopped",
                time.time(),
            )
            masking.flush()
            with contextlib.suppress(Exception):
                await asyncio.shield(self.sink.flush())
            self.say(f"run {job.run_id} {job.step} #{job.attempt}: aborted")
            raise
        masking.flush()
        await self.sink.flush()  # the step's lines first
        # this attempt's outputs are the step's: an earlier attempt's keys must not linger
        outputs = masking.masker.mask_map(result.outputs)
        ended = AttemptEnded(
            job.run_id,
            job.step,
            job.attempt,
            result.status,
            time.time(),
            result.exit_code,
            masking.masker.mask(result.message),
        )
        # in the history (whose commit NOTIFYs the runner) before the job ends, and only
        # while the job is still this worker's: once a runner counted it lost, nothing of
        # this attempt may land (its retry may be running elsewhere)
        assert self.connect is not None
        # shielded, each of the two: an abort arriving meanwhile does not cut a
        # transaction half sent — it goes on to its COMMIT or ROLLBACK in the background
        # while the abort reaches this task at once (as it did when these ran on a
        # thread): `end` may record the outcome of a job procrastinate then ends aborted
        # (FOR UPDATE orders the two), `begin` may leave a step "on worker" that never
        # starts (the runner's abort path ends it)
        delta_id = await asyncio.shield(end_attempt(self.connect, job_id, ended, outputs, delta))
        if delta_id is None:
            self.say(
                f"run {job.run_id} {job.step} #{job.attempt}: {result.status}, not recorded: "
                "its job was failed meanwhile (this worker was counted lost)"
            )
            return
        if delta is not None:
            self._hand_offs[job.run_id].seen.add(delta_id)
        self.say(f"run {job.run_id} {job.step} #{job.attempt}: {result.status}")
        self.tidy_soon()

    def tidy_soon(self) -> None:
        """Remove the workspace folders of finished runs, off the job's path (at most one
        pass at a time, and one every TIDY_SECONDS)."""
        now = time.monotonic()
        if self._tidying is not None and not self._tidying.done():
            return
        if now - self._tidied < TIDY_SECONDS:
            return
        self._tidied = now
        self._tidying = asyncio.create_task(self._tidy(), name="flowtui-worker-tidy")

    async def _tidy(self) -> None:
        """A run's folder here serves only its steps: once the run is over it goes (its
        workspace is in the history for a rerun, which starts a folder of its own)."""
        root = self.options.workdir / "workspaces"
        with contextlib.suppress(Exception):  # best effort: the next pass tries again
            found = {int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit()}
            busy = set(self._busy_runs)
            for run_id in await self.store.finished_runs(found - busy):
                if run_id in self._busy_runs:  # a job of it came meanwhile
                    continue
                self._hand_offs.pop(run_id, None)
                await asyncio.to_thread(shutil.rmtree, root / str(run_id), True)

    def _publish_log(
        self, job: RemoteJob, lines: list[int]
    ) -> Callable[[str, int, str, str, float], None]:
        def publish(step: str, attempt: int, stream: str, line: str, at: float) -> None:
            lines[0] += 1
            self.bus.publish(StepLog(job.run_id, step, attempt, stream, line, at))

        return publish

    async def _unless_run_ends(
        self, job: RemoteJob, job_id: int, execution: Coroutine[Any, Any, StepResult]
    ) -> StepResult:
        """Run the step, but stop it once it is nobody's any more: its run is over (its
        runner died and the run was marked interrupted, or it was cancelled while this
        worker could not hear the abort), its job was failed (a runner counted this worker
        lost: a retry may run elsewhere), or the history stayed unreachable for as long as
        runners wait before counting this worker lost."""
        step = asyncio.ensure_future(execution)
        heard = time.monotonic()
        try:
            while True:
                done, _ = await asyncio.wait([step], timeout=RUN_CHECK_SECONDS)
                if done:
                    return step.result()
                why = ""
                try:
                    run, state = await self.store.job_standing(job.run_id, job_id)
                    heard = time.monotonic()
                    if state != "doing":
                        why = f"its job was {state or 'removed'} (this worker was counted lost)"
                    elif run is None or run.is_final:
                        why = f"run {job.run_id} is {run or 'gone'}"
                except Exception:  # unreachable: look again later, up to the limit
                    silent = time.monotonic() - heard
                    if silent > self.lost_after:
                        why = (
                            f"the history was unreachable for {silent:.0f} s (runners count "
                            "this worker lost)"
                        )
                if why:
                    step.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await step
                    why = f"stopped on worker {self.options.name}: {why}"
                    self.bus.publish(
                        StepLog(job.run_id, job.step, job.attempt, "system", why, time.time())
                    )
                    self._lines.setdefault(job_id, [0])[0] += 1
                    self.say(f"run {job.run_id} {job.step} #{job.attempt}: {why}")
                    return StepResult(StepStatus.FAILED, message=why)
        finally:
            if not step.done():
                step.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await step

    async def _execute(
        self, job: RemoteJob, job_id: int, masking: LogMasking
    ) -> tuple[StepResult, bytes | None]:
        name = self.options.name
        self.say(f"run {job.run_id} {job.step} #{job.attempt}: starting")
        try:
            workflow = _with_environment(
                _recorded_workflow(job.workflow_source, job.workflow_file), job
            )
            step = workflow.steps[job.step]
            secrets = resolve_secrets(workflow)  # this machine's own
        except (WorkflowError, KeyError, SecretError) as exc:
            return StepResult(StepStatus.FAILED, message=f"worker {name}: {exc}"), None
        masking.masker = Masker(secrets.values())
        workspace = (self.options.workdir / "workspaces" / str(job.run_id)).absolute()
        hand = self._hand_offs.get(job.run_id)
        if hand is None:  # the run's first step here: its folder, once
            hand = self._hand_offs[job.run_id] = HandOff(make_private_dir(workspace))
        # one transaction: the step is "on worker NAME" before it starts (the history names
        # the worker that has it, even if this process dies a moment later), unless its run
        # is over (e.g. its runner died while it was queued); what it needs to start
        assert self.connect is not None
        state, deltas, outputs = await asyncio.shield(
            begin_attempt(
                self.connect,
                job_id,
                (name, self.lost_after),
                job.run_id,
                job.step,
                job.attempt,
                skip_deltas=set(hand.seen),
            )
        )
        if state is None or state.is_final:
            why = f"not started: run {job.run_id} is {state or 'gone'}"
            return StepResult(StepStatus.FAILED, message=why), None
        step_dir = attempt_dir(workspace, job.step, job.attempt)
        executor = get_executor(step.type)
        if not getattr(executor, "makes_step_dir", False):
            # as in a runner: executors that make it only when needed say so (a folder
            # per step costs more than a short step)
            make_private_dir(step_dir)
        groups: list[int] = []  # the step's process groups
        env = step_variables(
            workflow,
            step,
            run_id=job.run_id,
            params=job.params,
            secrets=secrets,
            workspace=workspace,
            branch=job.branch,
            outputs=outputs,
        )
        env["FLOWTUI_ATTEMPT"] = str(job.attempt)
        env["FLOWTUI_WORKER"] = name
        ctx = StepContext(
            run_id=job.run_id,
            workflow=workflow,
            step=step,
            attempt=job.attempt,
            params=job.params,
            env=env,
            workspace=workspace,
            step_dir=step_dir,
            log=lambda stream, line: masking.log(job.step, job.attempt, stream, line, time.time()),
            on_process=lambda _pid, pgid, _at: self._watch(groups, pgid),
            outputs=outputs,
            kill_grace=step.kill_grace if step.kill_grace is not None else job.kill_grace,
        )
        if deltas:
            await asyncio.to_thread(hand.take, deltas)
        # the step's processes are kept away from this worker's other runs' workspaces
        # (the workdir; its own run's workspace stays), as a runner's are from its history
        if step.sandbox is False:
            masking.log(
                job.step, job.attempt, "system", "not sandboxed: sandbox: false", time.time()
            )
        hidden = () if step.sandbox is False else (self.options.workdir.absolute(),)
        token = STEP_SANDBOX.set(self.sandboxes.get(hidden, workspace))
        try:
            result = await self._unless_run_ends(job, job_id, executor.execute(ctx))
        finally:
            STEP_SANDBOX.reset(token)
            for pgid in groups:  # stopped by now: nothing for the reaper to do
                if self.reaper is not None:
                    self.reaper.release(pgid)
        try:
            # a workspace nobody wrote to is not walked (nor is a thread woken for it)
            delta = None if hand.untouched() else await asyncio.to_thread(hand.give)
        except WorkspaceTooLarge as exc:
            return StepResult(StepStatus.FAILED, exit_code=result.exit_code, message=str(exc)), None
        return result, delta

    def _watch(self, groups: list[int], pgid: int) -> None:
        groups.append(pgid)
        if self.reaper is not None:
            self.reaper.watch(pgid)


@functools.lru_cache(maxsize=64)
def _recorded_workflow(source: str, file: str) -> Workflow:
    """A run's workflow, parsed once per worker however many of its steps come here
    (workflows are immutable)."""
    return load_workflow_text(source, file)


def _with_environment(workflow: Workflow, job: RemoteJob) -> Workflow:
    """The workflow with the variables and secret sources of the run's environment."""
    if not job.env and not job.secret_refs:
        return workflow
    specs = {
        name: SecretSpec(name, source, ref)
        for name, (source, ref) in job.secret_refs.items()
        if source in ("env", "file")
    }
    return replace(workflow, env={**workflow.env, **job.env}, secrets={**workflow.secrets, **specs})


RUN_CHECK_SECONDS = 2.0  # how often a worker checks that the runs of its steps go on
TIDY_SECONDS = 10.0  # at most one pass over a worker's folders in this time
REAP_GRACE = 5.0  # a dead worker's step processes: SIGTERM, then SIGKILL this much later
PRUNE_AFTER = 2 * MAX_LOST_AFTER  # silent this long, a worker's procrastinate row goes


async def serve(
    url: str, options: WorkerOptions, say: Callable[[str], None], stop: asyncio.Event
) -> None:
    """Run jobs of `options.queues` until `stop` is set."""
    store = await RunStore.open(url)
    if store.dialect != "postgresql":
        await store.close()
        raise ValueError("a worker needs a PostgreSQL history: --db postgresql://…")
    bus = EventBus()
    sink = StoreSink(store, bus)
    sink.start()
    runner = StepRunner(store, bus, sink, options)
    runner.say = say
    runner.reaper = Reaper(REAP_GRACE)

    async def run_step(context: Any, **payload: Any) -> None:
        await runner.run(RemoteJob.from_payload(payload), int(context.job.id))

    app = make_app(url, run_step)
    try:
        async with app.open_async():
            await ensure_schema(app, url)
            runner.connect = cast(Any, app.connector).pool.connection
            say(
                f"worker {options.name} on queue(s) {', '.join(options.queues)}; "
                f"workdir {options.workdir}; db {store.location}"
            )
            if (note := warning()) is not None:
                say(note)
            runner.tidy_soon()  # what an earlier worker of this folder left
            await _work_until_stopped(app, options, runner.lost_after, say, stop)
    finally:
        # the history may not answer: whatever it does, leave within the grace period
        _leave_after(options.stop_grace + 5, say)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(sink.close(), options.stop_grace)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(store.close(), 5)
        await asyncio.to_thread(runner.reaper.close)
        with contextlib.suppress(Exception):
            await runner.sandboxes.aclose()


async def _work_until_stopped(
    app: Any,
    options: WorkerOptions,
    lost_after: float,
    say: Callable[[str], None],
    stop: asyncio.Event,
) -> None:
    """procrastinate's worker, started again when it stops on its own (a long database
    outage ends it: its heartbeat fails), until `stop` is set."""
    delay = 1.0
    while True:
        worker = asyncio.create_task(
            app.run_worker_async(
                queues=options.queues,
                name=options.name,
                concurrency=options.concurrency,
                wait=True,
                install_signal_handlers=False,
                shutdown_graceful_timeout=options.stop_grace,
                # runners count this worker lost after `lost_after` s without a beat (the
                # value it announced); it removes only workers silent for far longer, so
                # that a worker with a longer limit is never pruned while it lives
                update_heartbeat_interval=lost_after / 3,
                stalled_worker_timeout=PRUNE_AFTER,
            ),
            name="flowtui-worker",
        )
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([worker, stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if stop.is_set():
            if not worker.done():
                say("stopping")
                worker.cancel()
                # procrastinate stops its jobs (their steps are killed)
                await asyncio.wait([worker], timeout=options.stop_grace + 5)
            return
        error = worker.exception() if not worker.cancelled() else None
        say(f"the job queue stopped ({error or 'no reason given'}); starting again in {delay:g} s")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, 30.0)


def _leave_after(seconds: float, say: Callable[[str], None]) -> None:
    """Exit the process after `seconds` if it is still here (a hung database)."""

    def leave() -> None:
        say(f"the history did not answer within {seconds:g} s: leaving without it")
        os._exit(0)

    timer = threading.Timer(seconds, leave)
    timer.daemon = True
    timer.start()


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
