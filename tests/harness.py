"""One engine for a test: a real RunStore (SQLite in tmp_path), bus, store sink and Runner."""

from __future__ import annotations

import asyncio
import contextlib
import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Self

from flowtui.engine.bus import EventBus
from flowtui.engine.runner import Runner, RunnerOptions, WorkflowResolver
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.model.loader import load_workflow
from flowtui.model.workflow import Workflow
from flowtui.runtime import build_runner
from flowtui.store.runstore import RunStore
from flowtui.store.sink import StoreSink


@dataclass
class Harness:
    """A started engine and the helpers most engine tests share.

    Subclass it for a test file's own helpers; `open` builds the subclass it is called on.
    """

    store: RunStore
    bus: EventBus
    sink: StoreSink
    runner: Runner
    folder: Path  # where `workflow` writes its files

    run_timeout: ClassVar[float | None] = None  # None: `run` waits as long as the run takes

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        tmp_path: Path,
        options: RunnerOptions | None = None,
        *,
        store: RunStore | None = None,
        db: Path | None = None,
        folder: Path | None = None,
        resolve: WorkflowResolver | None = None,
    ) -> AsyncIterator[Self]:
        """Start an engine; on exit close runner, sink and store in reverse order.

        `store` given: use it and leave it open (the caller owns it); else open `db`
        (default: history.db in a folder beside tmp_path, not in it — under Landlock steps
        cannot create files directly in the folders on the path to the history,
        flowtui/engine/sandbox.py, and tests' steps write into tmp_path).  `folder`
        defaults to tmp_path/wf.  `resolve` loads the workflows that steps call.
        """
        folder = folder or tmp_path / "wf"
        folder.mkdir(parents=True, exist_ok=True)
        async with contextlib.AsyncExitStack() as stack:
            if store is None:
                beside = tmp_path.parent / f"{tmp_path.name}.history" / "history.db"
                beside.parent.mkdir(exist_ok=True)
                store = await RunStore.open(db or beside)
                stack.push_async_callback(store.close)
            bus = EventBus()
            sink = StoreSink(store, bus)
            sink.start()
            stack.push_async_callback(sink.close)
            runner = build_runner(store, bus, options, resolve_workflow=resolve)
            stack.push_async_callback(runner.close)
            await runner.start()
            yield cls(store, bus, sink, runner, folder)

    def workflow(self, text: str, name: str = "wf.yaml") -> Workflow:
        """Write `text` (dedented) to `folder/name` and load it."""
        path = self.folder / name
        path.write_text(textwrap.dedent(text))
        return load_workflow(path)

    async def run(self, workflow: Workflow, **kwargs: object) -> tuple[int, RunStatus]:
        """Run to the end; the store holds every event of the run when this returns."""
        async with asyncio.timeout(self.run_timeout):
            result = await self.runner.run(workflow, **kwargs)
        await self.sink.flush()
        return result

    async def statuses(self, run_id: int) -> dict[str, StepStatus]:
        await self.sink.flush()
        return {s.name: s.status for s in await self.store.get_steps(run_id)}

    async def wait_step(
        self, run_id: int, step: str, status: StepStatus, timeout: float = 10
    ) -> None:
        async with asyncio.timeout(timeout):
            while (await self.statuses(run_id)).get(step) != status:
                await asyncio.sleep(0.02)


engine_harness = Harness.open  # a plain Harness, for a test without helpers of its own
