from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from flowtui.engine.bus import EventBus
from flowtui.engine.events import Event, RunStatusChanged, StepLog, StepStatusChanged
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.store import RunStore, StoreSink
from flowtui.store import sink as sink_module

from .store_helpers import plan


class CountingStore(RunStore):
    """A real store that remembers the size of each batch it was given."""

    batches: list[int]

    async def apply(
        self, events: Sequence[Event], *, batch: str | None = None, again: bool = False
    ) -> None:
        self.batches.append(len(events))
        await super().apply(events, batch=batch, again=again)


@pytest.fixture
async def counting(db_path: Path) -> AsyncIterator[CountingStore]:
    store = await CountingStore.open(db_path)
    assert isinstance(store, CountingStore)
    store.batches = []
    yield store
    await store.close()


async def _committed_lines(path: Path, run_id: int) -> list[str]:
    """What another connection sees: only committed rows."""
    async with await RunStore.open(path) as reader:
        return [lg.line for lg in await reader.get_logs(run_id, limit=100_000)]


async def test_flush_commits_everything_published_before(counting: CountingStore) -> None:
    bus = EventBus()
    run_id = await counting.create_run(workflow="wf", steps=plan("a"))
    sink = StoreSink(counting, bus)
    sink.start()
    bus.publish(RunStatusChanged(run_id, "wf", RunStatus.RUNNING, 1.0))
    bus.publish(StepStatusChanged(run_id, "a", StepStatus.RUNNING, 1.0, attempt=1))
    for i in range(5000):
        bus.publish(StepLog(run_id, "a", 1, "stdout", f"l{i}", 1.0))
    await asyncio.wait_for(sink.flush(), 10)
    assert await _committed_lines(counting.path, run_id) == [f"l{i}" for i in range(5000)]
    assert max(counting.batches) <= sink_module.MAX_BATCH
    assert len(counting.batches) <= 5  # batched, not one transaction per event

    # interleaved publish/flush: each flush covers what came before it
    for round_ in range(5):
        bus.publish(StepLog(run_id, "a", 1, "stdout", f"r{round_}", 2.0))
        await asyncio.wait_for(sink.flush(), 5)
        assert (await _committed_lines(counting.path, run_id))[-1] == f"r{round_}"

    bus.publish(StepStatusChanged(run_id, "a", StepStatus.SUCCEEDED, 3.0, attempt=1, exit_code=0))
    bus.publish(RunStatusChanged(run_id, "wf", RunStatus.SUCCEEDED, 3.0))
    await asyncio.wait_for(sink.close(), 5)
    run = await counting.get_run(run_id)
    assert run is not None and run.status == RunStatus.SUCCEEDED
    assert sink.errors == [] and sink.dropped == 0

    bus.publish(StepLog(run_id, "a", 1, "stdout", "after close", 4.0))
    await asyncio.wait_for(sink.flush(), 1)  # returns at once; nothing listens any more
    await sink.close()
    assert (await _committed_lines(counting.path, run_id))[-1] == "r4"


async def test_flush_with_nothing_pending_is_quick(store: RunStore) -> None:
    sink = StoreSink(store, EventBus())
    await sink.flush()  # not started
    sink.start()
    await asyncio.wait_for(sink.flush(), 0.5)
    await asyncio.wait_for(asyncio.gather(*(sink.flush() for _ in range(5))), 0.5)
    await sink.close()


@pytest.mark.parametrize("target", ["sqlite"], indirect=True)  # fills SQLite's page budget
async def test_disk_full_is_retried_then_succeeds(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sink_module, "RETRY_DELAYS", (0.05, 0.05, 0.05, 5.0))
    bus = EventBus()
    run_id = await store.create_run(workflow="wf", steps=plan("a"))
    row = await store.db.fetchone("PRAGMA page_count")
    assert row is not None
    await store.db.fetchall(f"PRAGMA max_page_count = {row[0]}")  # the "disk" is now full
    sink = StoreSink(store, bus)
    sink.start()
    for i in range(500):
        bus.publish(StepLog(run_id, "a", 1, "stdout", "x" * 200 + str(i), 1.0))
    async with asyncio.timeout(5):
        while not sink.errors:
            await asyncio.sleep(0.01)
    assert "full" in sink.errors[0]
    await store.db.fetchall("PRAGMA max_page_count = 1073741823")  # space freed
    await asyncio.wait_for(sink.close(), 10)
    assert sink.dropped == 0
    assert len(await store.get_logs(run_id)) == 500


async def test_lasting_failure_drops_with_count_and_never_hangs(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sink_module, "RETRY_DELAYS", (0.01, 0.01))
    bus = EventBus()
    run_id = await store.create_run(workflow="wf", steps=plan("a"))
    sink = StoreSink(store, bus)
    sink.start()
    bus.publish(StepLog(run_id, "a", 1, "stdout", "good 1", 1.0))
    bus.publish(StepLog(run_id + 1000, "a", 1, "stdout", "no such run", 1.0))  # poison
    bus.publish(StepLog(run_id, "a", 1, "stdout", "good 2", 1.0))
    await asyncio.wait_for(sink.flush(), 5)
    assert sink.dropped == 1
    assert any("dropped 1" in e and "no such run" in e for e in sink.errors)
    assert [lg.line for lg in await store.get_logs(run_id)] == ["good 1", "good 2"]

    # the writer survived and keeps working
    bus.publish(StepLog(run_id, "a", 1, "stdout", "good 3", 1.0))
    await asyncio.wait_for(sink.close(), 5)
    assert [lg.line for lg in await store.get_logs(run_id)][-1] == "good 3"


async def test_flush_does_not_hang_when_store_is_gone(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sink_module, "RETRY_DELAYS", (0.01,))
    store = await RunStore.open(db_path)
    run_id = await store.create_run(workflow="wf", steps=plan("a"))
    bus = EventBus()
    sink = StoreSink(store, bus)
    sink.start()
    await store.close()
    for i in range(3):
        bus.publish(StepLog(run_id, "a", 1, "stdout", str(i), 1.0))
    await asyncio.wait_for(sink.close(), 5)
    assert sink.dropped == 3 and sink.errors
