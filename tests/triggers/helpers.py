"""Shared pieces of the trigger tests: a real store, runner and service on a tmp database."""

from __future__ import annotations

import asyncio
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from flowtui.engine.bus import EventBus
from flowtui.engine.records import RunRecord
from flowtui.engine.runner import Runner, RunnerOptions
from flowtui.model.loader import load_workflow
from flowtui.model.workflow import Workflow
from flowtui.runtime import build_runner
from flowtui.store.runstore import RunStore
from flowtui.store.sink import StoreSink
from flowtui.triggers.service import TriggerService


class Clock:
    """An injectable clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.value = start

    def __call__(self) -> datetime:
        return self.value


@dataclass
class Node:
    """One flowtui process's worth of engine: store, bus, sink, runner (same db file)."""

    store: RunStore
    bus: EventBus
    sink: StoreSink
    runner: Runner


@dataclass
class Env:
    tmp: Path
    db: Path
    workflows: list[Workflow] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    services: list[TriggerService] = field(default_factory=list)

    def write(self, filename: str, text: str) -> Workflow:
        """Write a workflow file and make it part of the catalog every service reads."""
        folder = self.tmp / "workflows"
        folder.mkdir(exist_ok=True)
        path = folder / filename
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        workflow = load_workflow(path)
        self.workflows[:] = [w for w in self.workflows if w.name != workflow.name]
        self.workflows.append(workflow)
        return workflow

    async def node(self) -> Node:
        store = await RunStore.open(self.db)
        bus = EventBus()
        sink = StoreSink(store, bus)
        sink.start()
        runner = build_runner(store, bus, RunnerOptions(parallel=4, kill_grace=1.0))
        await runner.start()
        node = Node(store, bus, sink, runner)
        self.nodes.append(node)
        return node

    async def service(
        self, node: Node | None = None, *, start: bool = True, **kwargs: Any
    ) -> TriggerService:
        node = node or await self.node()
        kwargs.setdefault("tick", 0.05)
        kwargs.setdefault("chain_interval", 0.1)
        service = TriggerService(node.store, node.runner, lambda: list(self.workflows), **kwargs)
        if start:
            await service.start()
        self.services.append(service)
        return service

    async def close(self) -> None:
        for service in self.services:
            await service.close()
        for node in self.nodes:
            for run_id in node.runner.active_run_ids:
                node.runner.cancel(run_id, reason="test over")
            await wait_until(lambda n=node: not n.runner.active_run_ids, timeout=10)
            await node.runner.close()
            await node.sink.close()
            await node.store.close()


async def wait_until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def wait_final(store: RunStore, run_id: int, timeout: float = 15.0) -> RunRecord:
    async def final() -> RunRecord | None:
        run = await store.get_run(run_id)
        return run if run is not None and run.status.is_final else None

    result: RunRecord = await wait_until(final, timeout)
    return result


async def runs_of(store: RunStore, workflow: str) -> list[RunRecord]:
    return list(reversed(await store.list_runs(workflow, limit=100)))
