"""What a scrape and an event stream read, on SQLite and PostgreSQL: the histogram's
buckets are counted by the database (a row per workflow and step, however many steps
ran), and a stream's poll reads only the status changes after the last one it sent."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from flowtui.api.metrics import BUCKETS, metrics_text, snapshot
from flowtui.engine.runner import RunnerOptions
from flowtui.engine.states import RunStatus
from flowtui.store import RunStore
from tests.harness import Harness

OPTIONS = RunnerOptions(parallel=2, kill_grace=1.0, poll_interval=0.05, heartbeat_interval=0.5)
SECONDS = (0.05, 7.0, 5000.0)  # the three runs' step durations, set by hand


@pytest.fixture(params=("sqlite", "postgresql"))
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    if request.param == "sqlite":
        return tmp_path / "h.db"
    url: str = request.getfixturevalue("pg_url")
    return url


class CountingRows:
    """The history's real fetchall, counting the rows each query gave."""

    def __init__(self, store: RunStore) -> None:
        self.real = store.db.fetchall
        self.rows: list[tuple[str, int]] = []

    async def __call__(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        rows = await self.real(sql, params)
        self.rows.append((sql, len(rows)))
        return rows


async def test_buckets_are_counted_by_the_database_and_streams_read_what_is_new(
    tmp_path: Path, target: str | Path
) -> None:
    store = await RunStore.open(target)
    try:
        async with Harness.open(tmp_path, OPTIONS, store=store) as env:
            flow = env.workflow("name: flow\nsteps:\n  a: {run: 'true'}\n", "flow.yaml")
            ids = []
            for _ in SECONDS:
                run_id, status = await env.run(flow)
                assert status == RunStatus.SUCCEEDED
                ids.append(run_id)
        for run_id, seconds in zip(ids, SECONDS, strict=True):
            async with store.db.transaction() as conn:
                await conn.execute(
                    "UPDATE steps SET started_at = 100.0, ended_at = ? WHERE run_id = ?",
                    (100.0 + seconds, run_id),
                )
        counting = CountingRows(store)
        store.db.fetchall = counting  # type: ignore[method-assign]
        snap = await snapshot(store)
        [(sql, n)] = [(q, n) for q, n in counting.rows if "s.ended_at IS NOT NULL" in q]
        assert n == 1 and "GROUP BY" in sql  # one row for flow/a, not one per step run
        seen = snap.durations[("flow", "a")]
        assert seen.count == 3 and seen.total == pytest.approx(sum(SECONDS))
        assert seen.buckets == tuple(sum(1 for s in SECONDS if s <= b) for b in BUCKETS)
        body, _type = await metrics_text(store)
        samples = {
            (s.name, s.labels.get("le")): s.value
            for family in text_string_to_metric_families(body.decode())
            for s in family.samples
            if s.labels.get("workflow") == "flow"
        }
        assert samples[("flowtui_step_duration_seconds_bucket", "0.1")] == 1
        assert samples[("flowtui_step_duration_seconds_bucket", "10.0")] == 2
        assert samples[("flowtui_step_duration_seconds_bucket", "3600.0")] == 2
        assert samples[("flowtui_step_duration_seconds_bucket", "+Inf")] == 3
        assert samples[("flowtui_step_duration_seconds_sum", None)] == pytest.approx(5007.05)

        everything = await store.get_events(ids[0])
        assert len(everything) >= 3
        middle = everything[len(everything) // 2].id
        assert await store.get_events(ids[0], after_id=middle) == [
            e for e in everything if e.id > middle
        ]
        assert await store.get_events(ids[0], after_id=middle, limit=1) == [
            next(e for e in everything if e.id > middle)
        ]
        assert await store.get_events(ids[0], after_id=everything[-1].id) == []
    finally:
        await store.close()
