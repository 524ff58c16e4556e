"""What the engine needs from the outside, as small interfaces (doit's `Runner(dep_manager,
reporter)`): the engine is *given* objects that satisfy these and never imports a backend.

- `RunLedger`: the run history calls the runner makes for what needs an answer (a new run
  id, a FIFO start, commands sent by other processes, adoption of dead runners' queues).
  Status changes, log lines and outputs do not go through it: the runner publishes them as
  typed events on the bus and a sink subscribed there persists them.
- `Liveness`: keeps a runner's active runs claimed while the runner lives (a heartbeat).
- `PauseFlags`: whether a workflow's triggers are paused (read by `admission`).

`flowtui.store.RunStore` implements all three for SQLite; `flowtui.runtime` wires them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from flowtui.engine.events import Event
from flowtui.engine.owner import Owner
from flowtui.engine.records import (
    ApprovalRecord,
    AttemptRecord,
    CommandRecord,
    LogRecord,
    NewStep,
    RemoteOutcome,
    RunRecord,
    StepRecord,
)


class RunLedger(Protocol):
    """The history, as the runner uses it."""

    @property
    def location(self) -> str:
        """Where the history lives, for messages (a file path, a URL without password)."""
        ...

    @property
    def default_workspace_root(self) -> Path:
        """Where run workspaces go when `RunnerOptions.workspace_root` is not set."""
        ...

    def add_full_listener(self, listener: Callable[[Exception], None]) -> None:
        """Call `listener` whenever a write fails because the storage is full."""
        ...

    async def flush_writes(self) -> None:
        """Return once every event published so far is written (visible to others)."""
        ...

    async def wait_for_writer(self) -> None:
        """Return once the event writer has room (back-pressure for step output readers)."""
        ...

    async def upsert_workflow(self, name: str, path: str | None, source_hash: str) -> None: ...

    async def create_run(
        self,
        *,
        workflow: str,
        steps: Sequence[NewStep],
        trigger: str = "manual",
        triggered_by: str = "",
        params: Mapping[str, str] = ...,
        definition: Mapping[str, Any] = ...,
        workflow_path: str | None = None,
        parent_run_id: int | None = None,
        rerun_mode: str | None = None,
        git_commit: str | None = None,
        owner: Owner | None = None,
        branch: str | None = None,
        concurrency_group: str | None = None,
        concurrency_limit: int | None = None,
        left_out: Mapping[str, str] = ...,
        environment: str | None = None,
        source_hash: str | None = None,
    ) -> int:
        """Record a new queued run with its steps; returns its id.  With `source_hash`,
        also what `upsert_workflow` records (path: `workflow_path`), in the same write."""
        ...

    async def try_start_run(
        self, run_id: int, concurrency: int | None, *, me: Owner | None = None
    ) -> bool:
        """Move a queued run to running if its turn has come (FIFO, concurrency limits)."""
        ...

    async def apply(self, events: Sequence[Event]) -> None:
        """Write events at once (outside the sink: e.g. a note on a run not adopted)."""
        ...

    async def get_run(self, run_id: int) -> RunRecord | None: ...

    async def get_steps(self, run_id: int) -> list[StepRecord]: ...

    async def get_outputs(self, run_id: int) -> dict[str, dict[str, str]]: ...

    async def get_approvals(self, run_id: int) -> list[ApprovalRecord]: ...

    async def get_logs(
        self, run_id: int, step: str | None = None, *, after_id: int = 0, limit: int = 10_000
    ) -> list[LogRecord]:
        """Log lines in the order written, after `after_id` (a remote step's, for display)."""
        ...

    async def get_attempts(self, run_id: int, step: str | None = None) -> list[AttemptRecord]:
        """Attempts in order (a remote step's outcome is its attempt row)."""
        ...

    async def remote_outcome(
        self, run_id: int, step: str, attempt: int, *, after_log_id: int = 0
    ) -> RemoteOutcome:
        """A remote step's attempt, outputs and new log lines, in one read."""
        ...

    async def wait_for_commands(self, timeout: float) -> None:
        """Return when a command may have arrived, or after `timeout` seconds."""
        ...

    async def take_commands(self, run_ids: Collection[int]) -> list[CommandRecord]:
        """Approvals, rejections and cancels other processes sent to these runs, once."""
        ...

    async def add_workspace_delta(self, run_id: int, step: str, attempt: int, data: bytes) -> int:
        """Store what a step changed in the run's workspace (team mode); its id."""
        ...

    async def workspace_deltas(
        self, run_id: int, skip: Collection[int] = ()
    ) -> list[tuple[int, bytes]]:
        """The run's workspace deltas in order, but the ids in `skip`."""
        ...

    async def register_adopter(self, owner: Owner) -> None: ...

    async def recover_interrupted(self, *, me: Owner | None = None) -> list[int]:
        """Mark runs of dead runners interrupted (and kill their orphans); their ids."""
        ...

    async def orphaned_queued(self, *, me: Owner | None = None) -> list[RunRecord]: ...

    async def claim_queued(self, run: RunRecord, me: Owner) -> bool: ...


class Liveness(Protocol):
    """A heartbeat for a runner's active runs, beating from outside its event loop.

    `on_lost` is called (from any thread) with the ids of runs another process declared
    interrupted although this runner still has them.
    """

    def start(
        self,
        owner: Owner,
        interval: float,
        run_ids: Callable[[], Collection[int]],
        on_lost: Callable[[list[int]], None],
    ) -> None: ...

    def stop(self) -> None:
        """Stop beating (may block briefly: call it from a thread)."""
        ...


class PauseFlags(Protocol):
    async def workflow_paused(self, name: str) -> bool: ...
