"""Fixtures for the integration step types: a real Runner on a real SQLite file."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from flowtui.engine.bus import EventBus
from flowtui.engine.runner import Runner, RunnerOptions
from flowtui.engine.states import RunStatus
from flowtui.model.loader import load_workflow
from flowtui.model.workflow import Workflow
from flowtui.store.records import StepRecord
from flowtui.store.runstore import RunStore
from flowtui.store.sink import StoreSink

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@dataclass
class Finished:
    run_id: int
    status: RunStatus
    steps: dict[str, StepRecord]
    outputs: dict[str, dict[str, str]]
    logs: dict[str, list[tuple[str, str]]]  # step -> [(stream, line)]

    def log_text(self, step: str) -> str:
        return "\n".join(line for _, line in self.logs.get(step, []))


@dataclass
class Env:
    store: RunStore
    sink: StoreSink
    runner: Runner
    folder: Path

    def workflow(self, text: str, name: str = "wf.yaml") -> Workflow:
        path = self.folder / name
        path.write_text(textwrap.dedent(text))
        return load_workflow(path)

    async def run(self, workflow: Workflow, **kwargs: object) -> Finished:
        run_id, status = await self.runner.run(workflow, **kwargs)
        await self.sink.flush()
        steps = {s.name: s for s in await self.store.get_steps(run_id)}
        outputs = await self.store.get_outputs(run_id)
        logs: dict[str, list[tuple[str, str]]] = {}
        for entry in await self.store.get_logs(run_id):
            logs.setdefault(entry.step, []).append((entry.stream, entry.line))
        return Finished(run_id, status, steps, outputs, logs)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    store = await RunStore.open(tmp_path / "history.db")
    bus = EventBus()
    sink = StoreSink(store, bus)
    sink.start()
    folder = tmp_path / "wf"
    folder.mkdir()
    runner = Runner(
        store,
        bus,
        RunnerOptions(parallel=4, kill_grace=1.0, poll_interval=0.05, heartbeat_interval=0.5),
    )
    await runner.start()
    yield Env(store, sink, runner, folder)
    await runner.close()
    await sink.close()
    await store.close()
