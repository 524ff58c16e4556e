"""Steps that run on a worker (team mode): `runs_on: QUEUE`.

The runner does not run such a step: it hands a `RemoteJob` to its `StepDispatcher` port
(`flowtui.worker.dispatch` implements it with procrastinate on the PostgreSQL history) and
waits.  A `flowtui worker` on that queue rebuilds the step from the run's recorded
workflow, runs it with the same executors and writes its log lines, outputs and the
attempt's outcome (`AttemptEnded`) into the shared history.  The runner then reads that
outcome and decides the step's status as for any step: retry, fail, succeed.  Cancelling
the runner's wait aborts the job; the worker kills the step's process group on its machine.

What crosses the queue is only what is not secret: which run, step and attempt, the
workflow's source and params.  Secrets are resolved by the worker from its own environment,
so they never sit in the queue's table.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from flowtui.engine.bus import EventBus
from flowtui.engine.events import RemoteLogSeen
from flowtui.engine.executors.base import StepContext, StepResult
from flowtui.engine.ports import RunLedger
from flowtui.engine.records import LogRecord, RemoteOutcome
from flowtui.engine.states import StepStatus
from flowtui.model.workflow import Workflow

# where the history announces an attempt's recorded outcome (PostgreSQL NOTIFY), and how
ATTEMPTS_CHANNEL = "flowtui_attempts"


def attempt_key(run_id: int, step: str, attempt: int) -> str:
    return f"{run_id}:{attempt}:{step}"


@dataclass(frozen=True, slots=True)
class RemoteJob:
    """One attempt of one step, as a worker needs it (JSON-safe, no secret in it)."""

    queue: str
    run_id: int
    step: str
    attempt: int
    workflow_source: str
    workflow_file: str  # for messages and relative paths; the file need not exist there
    params: Mapping[str, str] = field(default_factory=dict)
    branch: str | None = None
    kill_grace: float = 5.0
    # a run in an environment: the workflow's `env:` with the environment's variables, and
    # where each secret comes from ({NAME: [env|file, ref]}): never a secret's value
    env: Mapping[str, str] = field(default_factory=dict)
    secret_refs: Mapping[str, list[str]] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "run_id": self.run_id,
            "step": self.step,
            "attempt": self.attempt,
            "workflow_packed": pack_source(self.workflow_source),
            "workflow_file": self.workflow_file,
            "params": dict(self.params),
            "branch": self.branch,
            "kill_grace": self.kill_grace,
            "env": dict(self.env),
            "secret_refs": {k: list(v) for k, v in self.secret_refs.items()},
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> RemoteJob:
        return cls(
            queue=str(payload["queue"]),
            run_id=int(payload["run_id"]),
            step=str(payload["step"]),
            attempt=int(payload["attempt"]),
            workflow_source=(
                str(payload["workflow_source"])  # a job queued by an earlier flowtui
                if "workflow_source" in payload
                else unpack_source(str(payload["workflow_packed"]))
            ),
            workflow_file=str(payload["workflow_file"]),
            params={str(k): str(v) for k, v in dict(payload.get("params") or {}).items()},
            branch=payload.get("branch"),
            kill_grace=float(payload.get("kill_grace") or 5.0),
            env={str(k): str(v) for k, v in dict(payload.get("env") or {}).items()},
            secret_refs={
                str(k): [str(x) for x in v]
                for k, v in dict(payload.get("secret_refs") or {}).items()
                if isinstance(v, list) and len(v) == 2
            },
        )


@functools.lru_cache(maxsize=8)  # a run's steps all carry the same text
def pack_source(source: str) -> str:
    """A workflow's text as it travels in a job: compressed, in base64.  The queue's SQL
    takes a job as an array of records, whose text form escapes every quote and backslash
    twice (with a regular expression, per character): the JSON of a workflow's text has one
    per line at least, and its cost grew with the workflow on every remote step."""
    import base64  # here: a run without remote steps starts without them
    import zlib

    return base64.b64encode(zlib.compress(source.encode(), 6)).decode("ascii")


MAX_SOURCE = 16 * 1024 * 1024  # bytes of workflow text a job may unpack to


def unpack_source(packed: str) -> str:
    """The text `pack_source` packed; ValueError (the job fails, the worker goes on) when it
    is not one, or would unpack to more than MAX_SOURCE (a small job must not take a
    worker's memory)."""
    import base64
    import zlib

    inflate = zlib.decompressobj()
    try:
        text = inflate.decompress(base64.b64decode(packed), MAX_SOURCE)
    except zlib.error as exc:
        raise ValueError(f"the job's workflow text is not readable: {exc}") from None
    if inflate.unconsumed_tail or not inflate.eof:
        raise ValueError(f"the job's workflow text is over {MAX_SOURCE // 2**20} MiB or cut")
    return text.decode()


class StepDispatcher(Protocol):
    """Runs remote jobs (the engine's port for team mode)."""

    async def run(
        self, job: RemoteJob, after_log_id: Callable[[], int] = lambda: 0
    ) -> RemoteOutcome | None:
        """Queue `job` and return once a worker has finished it (its outcome is then in
        the history: the runner reads it from there, never from the announcement, which any
        role that may connect could send).  The outcome, with the step's log lines after
        `after_log_id()`, when the dispatcher read it on its way (else None: the caller
        reads it from the history).

        Cancelled, it aborts the job (the worker stops the step) before re-raising.
        Raises RemoteError when the job could not run to its end (its worker was lost).
        """
        ...


class RemoteError(Exception):
    """A remote job ended without an outcome: the message says why."""


class WorkerLost(RemoteError):
    """The worker running the job stopped beating (killed, power cut, network gone)."""


ECHO_SECONDS = 0.5  # how often a waiting runner passes a remote step's new lines on


def no_dispatcher_message(*queues: str) -> str:
    flags = " ".join(f"--queue {q}" for q in queues)  # as `flowtui worker` takes them
    return (
        f"runs_on: {', '.join(queues)} needs team mode: a PostgreSQL history "
        f"(--db postgresql://…) and a `flowtui worker {flags}` on it"
    )


class RemoteExecutor:
    """The executor of a `runs_on` step: queue it, wait, read the outcome from the history."""

    type_name: ClassVar[str] = "remote"
    makes_step_dir: ClassVar[bool] = True  # its folder is on the worker, not here

    def __init__(
        self, dispatcher: StepDispatcher, ledger: RunLedger, bus: EventBus, source: str
    ) -> None:
        self.dispatcher = dispatcher
        self.ledger = ledger
        self.bus = bus
        self.source = source
        self._echoed = 0  # the last log id passed on

    async def execute(self, ctx: StepContext) -> StepResult:
        queue = ctx.step.runs_on
        assert queue is not None
        job = RemoteJob(
            queue=queue,
            run_id=ctx.run_id,
            step=ctx.step.name,
            attempt=ctx.attempt,
            workflow_source=self.source,
            workflow_file=str(ctx.workflow.path or ctx.workflow.name),
            params=dict(ctx.params),
            branch=ctx.env.get("FLOWTUI_BRANCH"),
            kill_grace=ctx.kill_grace,
            **_environment_of(ctx.workflow),
        )
        # the job is queued without waiting for the step's "waiting for a worker" to be
        # written: once a worker's "on worker" for this attempt is in the history, the
        # history keeps it (store.transitions)
        echo = asyncio.create_task(self._echo_logs(ctx), name="flowtui-remote-echo")
        try:
            outcome = await self.dispatcher.run(job, lambda: self._echoed)
        except WorkerLost as exc:
            # unless its outcome landed just before the job was failed (then it stands)
            with contextlib.suppress(Exception):
                seen = await self.ledger.remote_outcome(ctx.run_id, ctx.step.name, ctx.attempt)
                if seen.attempt is not None and seen.attempt.ended_at is not None:
                    return self._result(seen)
            who = await self._worker_of(ctx)
            return StepResult(StepStatus.FAILED, message=f"{who} lost: {exc}")
        except RemoteError as exc:
            return StepResult(StepStatus.FAILED, message=str(exc))
        except Exception as exc:  # the queue or the history failed: this attempt fails
            return StepResult(StepStatus.FAILED, message=f"dispatch failed: {exc}")
        finally:
            echo.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await echo
        try:
            # the attempt, its outputs and the last lines (written just before the outcome)
            seen = outcome or await self.ledger.remote_outcome(
                ctx.run_id, ctx.step.name, ctx.attempt, after_log_id=self._echoed
            )
        except Exception as exc:
            return StepResult(StepStatus.FAILED, message=f"reading the outcome failed: {exc}")
        self._echo(ctx, seen.logs)
        if seen.attempt is None or seen.attempt.ended_at is None:
            return StepResult(
                StepStatus.FAILED,
                message=f"the worker on queue {queue} recorded no outcome for attempt "
                f"{ctx.attempt}",
            )
        return self._result(seen)

    @staticmethod
    def _result(seen: RemoteOutcome) -> StepResult:
        outcome = seen.attempt
        assert outcome is not None
        if outcome.status not in (StepStatus.SUCCEEDED, StepStatus.FAILED):
            return StepResult(StepStatus.FAILED, message=f"attempt ended {outcome.status}")
        return StepResult(
            outcome.status,
            exit_code=outcome.exit_code,
            outputs=dict(seen.outputs),
            message=outcome.message,
        )

    async def _worker_of(self, ctx: StepContext) -> str:
        """ "worker NAME" as the step's last status message says ("on worker NAME")."""
        for record in await self.ledger.get_steps(ctx.run_id):
            if record.name == ctx.step.name and record.message.startswith("on worker "):
                return record.message.removeprefix("on ")
        return f"the worker on queue {ctx.step.runs_on}"

    async def _echo_logs(self, ctx: StepContext) -> None:
        """While the step runs elsewhere, pass the lines its worker stores on for display
        (`RemoteLogSeen`): the runner's console shows them as for a local step."""
        while True:
            await asyncio.sleep(ECHO_SECONDS)
            with contextlib.suppress(Exception):  # display only: try again next time
                await self._echo_once(ctx)

    async def _echo_once(self, ctx: StepContext) -> None:
        self._echo(
            ctx, await self.ledger.get_logs(ctx.run_id, ctx.step.name, after_id=self._echoed)
        )

    def _echo(self, ctx: StepContext, lines: list[LogRecord]) -> None:
        for record in lines:
            if record.id <= self._echoed:  # passed on already (an echo and the outcome
                continue  # may read the same lines)
            self._echoed = record.id
            if record.attempt == ctx.attempt:
                self.bus.publish(
                    RemoteLogSeen(
                        ctx.run_id, ctx.step.name, ctx.attempt, record.stream, record.line
                    )
                )


def _environment_of(workflow: Workflow) -> dict[str, Any]:
    """What a worker needs of a run's environment (the recorded source does not have it)."""
    if workflow.environment is None:
        return {}
    return {
        "env": dict(workflow.env),
        "secret_refs": {n: [s.source, s.ref] for n, s in workflow.secrets.items()},
    }
