"""Fixtures for the integration step types: a real Runner on a real SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from flowtui.engine.records import StepRecord
from flowtui.engine.runner import RunnerOptions
from flowtui.engine.states import RunStatus
from flowtui.model.workflow import Workflow
from tests.harness import Harness

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


class Env(Harness):
    # returns all a test looks at, not Harness.run's (run_id, status)
    async def run(self, workflow: Workflow, **kwargs: object) -> Finished:  # type: ignore[override]
        run_id, status = await super().run(workflow, **kwargs)
        steps = {s.name: s for s in await self.store.get_steps(run_id)}
        outputs = await self.store.get_outputs(run_id)
        logs: dict[str, list[tuple[str, str]]] = {}
        for entry in await self.store.get_logs(run_id):
            logs.setdefault(entry.step, []).append((entry.stream, entry.line))
        return Finished(run_id, status, steps, outputs, logs)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    options = RunnerOptions(parallel=4, kill_grace=1.0, poll_interval=0.05, heartbeat_interval=0.5)
    async with Env.open(tmp_path, options) as env:
        yield env
