"""A real runner on a real SQLite file, and the CircleCI doc examples as fixture configs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flowtui.engine.records import StepRecord
from flowtui.engine.runner import RunnerOptions
from flowtui.model.circleci import load_workflow_from_config
from flowtui.model.workflow import Workflow
from tests.harness import Harness

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "circleci"


def config_path(example: str) -> Path:
    return FIXTURES / example / ".circleci" / "config.yml"


def load_example(example: str, workflow: str | None = None) -> Workflow:
    path = config_path(example)
    return load_workflow_from_config(path.read_text(), str(path), path, workflow)


class Env(Harness):
    run_timeout = 30.0

    async def steps(self, run_id: int) -> dict[str, StepRecord]:
        await self.sink.flush()
        return {s.name: s for s in await self.store.get_steps(run_id)}

    async def log(
        self, run_id: int, step: str, streams: tuple[str, ...] = ("stdout",)
    ) -> list[str]:
        await self.sink.flush()
        return [e.line for e in await self.store.get_logs(run_id, step) if e.stream in streams]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    options = RunnerOptions(parallel=4, kill_grace=1.0, poll_interval=0.05)
    async with Env.open(tmp_path, options) as env:
        yield env
