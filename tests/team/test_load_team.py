"""200 concurrent runs over 3 workers on one PostgreSQL history: every run succeeds and no
row is lost (log lines, attempts, outputs, events)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg

from flowtui.engine.runner import RunnerOptions
from flowtui.engine.states import RunStatus
from flowtui.model.loader import load_workflow_text
from flowtui.runtime import Runtime, RuntimeOptions
from tests.team.teamkit import Team

RUNS = 200
LINES = 5

FLOW = f"""
name: many
steps:
  remote:
    runs_on: pool
    run: |
      for i in $(seq {LINES}); do echo "remote $FLOWTUI_RUN_ID line $i"; done
      echo "who=$FLOWTUI_WORKER" >> "$FLOWTUI_OUTPUT"
  local:
    requires: [remote]
    run: for i in $(seq {LINES}); do echo "local $FLOWTUI_RUN_ID line $i"; done
"""


async def test_two_hundred_runs_over_three_workers_lose_nothing(team: Team, tmp_path: Path) -> None:
    for i in range(3):
        team.worker(f"w-{i}", "pool")  # one step at a time each
    options = RuntimeOptions(
        db=team.url, parallel=8, runner=RunnerOptions(workspace_root=tmp_path / "ws")
    )
    workflow = load_workflow_text(FLOW, file=str(tmp_path / "many.yaml"))
    async with await Runtime.open(options) as runtime:
        handles = [await runtime.runner.submit(workflow) for _ in range(RUNS)]
        async with asyncio.timeout(300):
            statuses = await asyncio.gather(*(h.wait() for h in handles))
        await runtime.sink.flush()
    assert statuses == [RunStatus.SUCCEEDED] * RUNS
    with psycopg.connect(team.url) as conn:

        def count(sql: str) -> int:
            row = conn.execute(sql).fetchone()
            assert row is not None
            return int(row[0])

        assert count("SELECT COUNT(*) FROM runs WHERE status = 'succeeded'") == RUNS
        assert count("SELECT COUNT(*) FROM logs WHERE line LIKE 'remote % line %'") == RUNS * LINES
        assert count("SELECT COUNT(*) FROM logs WHERE line LIKE 'local % line %'") == RUNS * LINES
        assert count("SELECT COUNT(*) FROM attempts WHERE status = 'succeeded'") == 2 * RUNS
        assert count("SELECT COUNT(*) FROM outputs WHERE key = 'who'") == RUNS
        # every run's remote step logged its own run id (no line went to another run)
        assert (
            count(
                "SELECT COUNT(*) FROM logs WHERE line LIKE 'remote % line %'"
                " AND line NOT LIKE 'remote ' || run_id || ' line %'"
            )
            == 0
        )
        workers = {
            r[0] for r in conn.execute("SELECT DISTINCT value FROM outputs WHERE key = 'who'")
        }
    assert workers == {"w-0", "w-1", "w-2"}  # the queue spread the work
