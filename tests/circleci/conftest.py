"""A real runner on a real SQLite file, and the CircleCI doc examples as fixture configs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from flowtui.engine.bus import EventBus
from flowtui.engine.runner import Runner, RunnerOptions
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.model.circleci import load_workflow_from_config
from flowtui.model.workflow import Workflow
from flowtui.store.records import StepRecord
from flowtui.store.runstore import RunStore
from flowtui.store.sink import StoreSink

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "circleci"


def config_path(example: str) -> Path:
    return FIXTURES / example / ".circleci" / "config.yml"


def load_example(example: str, workflow: str | None = None) -> Workflow:
    path = config_path(example)
    return load_workflow_from_config(path.read_text(), str(path), path, workflow)


@dataclass
class Env:
    store: RunStore
    sink: StoreSink
    runner: Runner

    async def run(self, workflow: Workflow, **kwargs: object) -> tuple[int, RunStatus]:
        async with asyncio.timeout(30):
            result = await self.runner.run(workflow, **kwargs)
        await self.sink.flush()
        return result

    async def steps(self, run_id: int) -> dict[str, StepRecord]:
        await self.sink.flush()
        return {s.name: s for s in await self.store.get_steps(run_id)}

    async def statuses(self, run_id: int) -> dict[str, StepStatus]:
        return {name: s.status for name, s in (await self.steps(run_id)).items()}

    async def log(
        self, run_id: int, step: str, streams: tuple[str, ...] = ("stdout",)
    ) -> list[str]:
        await self.sink.flush()
        return [e.line for e in await self.store.get_logs(run_id, step) if e.stream in streams]

    async def wait_step(self, run_id: int, step: str, status: StepStatus) -> None:
        async with asyncio.timeout(10):
            while (await self.statuses(run_id)).get(step) != status:
                await asyncio.sleep(0.02)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    store = await RunStore.open(tmp_path / "history.db")
    bus = EventBus()
    sink = StoreSink(store, bus)
    sink.start()
    options = RunnerOptions(parallel=4, kill_grace=1.0, poll_interval=0.05)
    runner = Runner(store, bus, options)
    await runner.start()
    yield Env(store, sink, runner)
    await runner.close()
    await sink.close()
    await store.close()
