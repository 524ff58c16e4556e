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
import signal
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowtui.engine.bus import EventBus
from flowtui.engine.events import AttemptEnded, StepLog, StepOutputs, StepStatusChanged
from flowtui.engine.executors.base import StepContext, StepResult
from flowtui.engine.executors.registry import EXECUTORS, get_executor
from flowtui.engine.process import OUTPUT_THROTTLE
from flowtui.engine.remote import RemoteJob
from flowtui.engine.sandbox import STEP_SANDBOX, StepSandbox, warning
from flowtui.engine.secrets import LogMasking, Masker, SecretError, resolve_secrets
from flowtui.engine.states import StepStatus
from flowtui.engine.stepenv import step_variables
from flowtui.engine.workspace import HandOff, WorkspaceTooLarge, attempt_dir
from flowtui.model.errors import WorkflowError
from flowtui.model.loader import load_workflow_text
from flowtui.model.workflow import Workflow
from flowtui.store.runstore import RunStore
from flowtui.store.sink import StoreSink
from flowtui.worker.queue import (
    ensure_schema,
    lost_after,
    make_app,
)

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

    async def run(self, job: RemoteJob) -> None:
        OUTPUT_THROTTLE.set(self.store.wait_for_writer)
        masking = LogMasking(self._publish_log(job))
        try:
            result = await self._execute(job, masking)
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
        # this attempt's outputs are the step's: an earlier attempt's keys must not linger
        outputs = masking.masker.mask_map(result.outputs)
        self.bus.publish(StepOutputs(job.run_id, job.step, outputs, replace=True))
        self.bus.publish(
            AttemptEnded(
                job.run_id,
                job.step,
                job.attempt,
                result.status,
                time.time(),
                result.exit_code,
                masking.masker.mask(result.message),
            )
        )
        # in the history (whose commit NOTIFYs the runner) before the job ends
        await self.sink.flush()
        self.say(f"run {job.run_id} {job.step} #{job.attempt}: {result.status}")

    def _publish_log(self, job: RemoteJob) -> Callable[[str, int, str, str, float], None]:
        def publish(step: str, attempt: int, stream: str, line: str, at: float) -> None:
            self.bus.publish(StepLog(job.run_id, step, attempt, stream, line, at))

        return publish

    async def _unless_run_ends(
        self, job: RemoteJob, execution: Coroutine[Any, Any, StepResult]
    ) -> StepResult:
        """Run the step, but stop it once its run is over: its runner died and the run was
        marked interrupted (nobody waits for this step any more, and it must never run
        beside a retry), or it was cancelled while this worker could not hear the abort."""
        step = asyncio.ensure_future(execution)
        try:
            while True:
                done, _ = await asyncio.wait([step], timeout=RUN_CHECK_SECONDS)
                if done:
                    return step.result()
                with contextlib.suppress(Exception):  # unreachable: look again later
                    run = await self.store.get_run(job.run_id)
                    if run is not None and run.status.is_final:
                        step.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await step
                        why = f"stopped on worker {self.options.name}: run {job.run_id} is "
                        why += str(run.status)
                        self.bus.publish(
                            StepLog(job.run_id, job.step, job.attempt, "system", why, time.time())
                        )
                        return StepResult(StepStatus.FAILED, message=why)
        finally:
            if not step.done():
                step.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await step

    async def _execute(self, job: RemoteJob, masking: LogMasking) -> StepResult:
        name = self.options.name
        self.say(f"run {job.run_id} {job.step} #{job.attempt}: starting")
        try:
            workflow = _recorded_workflow(job.workflow_source, job.workflow_file)
            step = workflow.steps[job.step]
            secrets = resolve_secrets(workflow)  # this machine's own
        except (WorkflowError, KeyError, SecretError) as exc:
            return StepResult(StepStatus.FAILED, message=f"worker {name}: {exc}")
        masking.masker = Masker(secrets.values())
        run = await self.store.get_run(job.run_id)
        if run is None or run.status.is_final:  # e.g. its runner died while it was queued
            state = run.status if run is not None else "gone"
            return StepResult(
                StepStatus.FAILED, message=f"not started: run {job.run_id} is {state}"
            )
        workspace = (self.options.workdir / "workspaces" / str(job.run_id)).absolute()
        step_dir = attempt_dir(workspace, job.step, job.attempt)
        step_dir.mkdir(parents=True, exist_ok=True)
        env = step_variables(
            workflow,
            step,
            run_id=job.run_id,
            params=job.params,
            secrets=secrets,
            workspace=workspace,
            branch=job.branch,
        )
        env["FLOWTUI_ATTEMPT"] = str(job.attempt)
        env["FLOWTUI_WORKER"] = name
        self.bus.publish(
            StepStatusChanged(
                job.run_id,
                job.step,
                StepStatus.RUNNING,
                time.time(),
                job.attempt,
                message=f"on worker {name}",
            )
        )
        # written before the step starts: the history names the worker that has it, even if
        # this process dies a moment later
        await self.sink.flush()
        reads_outputs = step.type in OUTPUT_READERS or step.type not in EXECUTORS  # plugins
        outputs = await self.store.get_outputs(job.run_id) if reads_outputs else {}
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
            outputs=outputs,
            kill_grace=step.kill_grace if step.kill_grace is not None else job.kill_grace,
        )
        hand = self._hand_offs.setdefault(job.run_id, HandOff(workspace))
        deltas = await self.store.workspace_deltas(job.run_id, hand.seen)
        await asyncio.to_thread(hand.take, deltas)
        # the step's processes are kept away from this worker's other runs' workspaces
        # (the workdir; its own run's workspace stays), as a runner's are from its history
        if step.sandbox is False:
            masking.log(
                job.step, job.attempt, "system", "not sandboxed: sandbox: false", time.time()
            )
        hidden = () if step.sandbox is False else (self.options.workdir.absolute(),)
        token = STEP_SANDBOX.set(StepSandbox(hidden, workspace))
        try:
            result = await self._unless_run_ends(job, get_executor(step.type).execute(ctx))
        finally:
            STEP_SANDBOX.reset(token)
        try:
            data = await asyncio.to_thread(hand.give)
        except WorkspaceTooLarge as exc:
            return StepResult(StepStatus.FAILED, exit_code=result.exit_code, message=str(exc))
        if data is not None:
            hand.seen.add(
                await self.store.add_workspace_delta(job.run_id, job.step, job.attempt, data)
            )
        return result


@functools.lru_cache(maxsize=64)
def _recorded_workflow(source: str, file: str) -> Workflow:
    """A run's workflow, parsed once per worker however many of its steps come here
    (workflows are immutable)."""
    return load_workflow_text(source, file)


# the step types whose executors read earlier steps' outputs (plugins might too)
OUTPUT_READERS = frozenset({"python", "terraform", "tofu"})
RUN_CHECK_SECONDS = 2.0  # how often a worker checks that the runs of its steps go on


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

    async def run_step(context: Any, **payload: Any) -> None:
        await runner.run(RemoteJob.from_payload(payload))

    app = make_app(url, run_step)
    try:
        async with app.open_async():
            await ensure_schema(app, url)
            say(
                f"worker {options.name} on queue(s) {', '.join(options.queues)}; "
                f"workdir {options.workdir}; db {store.location}"
            )
            if (note := warning()) is not None:
                say(note)
            await _work_until_stopped(app, options, say, stop)
    finally:
        # the history may not answer: whatever it does, leave within the grace period
        _leave_after(options.stop_grace + 5, say)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(sink.close(), options.stop_grace)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(store.close(), 5)


async def _work_until_stopped(
    app: Any, options: WorkerOptions, say: Callable[[str], None], stop: asyncio.Event
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
                # runners count a worker lost after `lost_after()` s without a beat
                update_heartbeat_interval=lost_after() / 3,
                stalled_worker_timeout=lost_after(),
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
