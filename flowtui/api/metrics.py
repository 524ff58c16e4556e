"""`GET /metrics`: Prometheus metrics computed from the history at scrape time (docs/metrics.md).

Nothing is counted in memory: every scrape reads the history, so the runs of every process
on the database count (another `flowtui serve`, `flowtui run`, the dashboard), and a
restarted service reports the same numbers.  The queries run first (asynchronously); a
one-scrape collector then hands the numbers to prometheus-client, which writes the text.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from flowtui.engine.states import RUN_FINAL, RunStatus, StepStatus
from flowtui.store.runstore import RunStore

# step durations run from well under a second (a check) to an hour (a deploy)
BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0)


@dataclass(slots=True)
class Snapshot:
    runs: dict[tuple[str, str], int] = field(default_factory=dict)  # (workflow, status)
    durations: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    running: int = 0
    queued: int = 0
    held_steps: int = 0
    trigger_events: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, outcome)


async def snapshot(store: RunStore) -> Snapshot:
    db = store.db
    snap = Snapshot()
    for r in await db.fetchall(
        "SELECT workflow, status, COUNT(*) AS n FROM runs GROUP BY workflow, status"
    ):
        status = RunStatus(r["status"])
        if status in RUN_FINAL:
            snap.runs[(r["workflow"], r["status"])] = int(r["n"])
        elif status == RunStatus.QUEUED:
            snap.queued += int(r["n"])
        else:  # running, held (a run waiting for a person is still going)
            snap.running += int(r["n"])
    durations: dict[tuple[str, str], list[float]] = defaultdict(list)
    # steps that ran to their end: not the reused ones of a rerun (their times are the
    # original run's), not the cancelled ones (cut short)
    ran = [str(StepStatus.SUCCEEDED), str(StepStatus.FAILED), str(StepStatus.TIMED_OUT)]
    for r in await db.fetchall(
        "SELECT r.workflow AS workflow, s.name AS step, s.ended_at - s.started_at AS seconds"
        " FROM steps s JOIN runs r ON r.id = s.run_id"
        " WHERE s.started_at IS NOT NULL AND s.ended_at IS NOT NULL"
        " AND s.status IN (?, ?, ?)",
        ran,
    ):
        durations[(r["workflow"], r["step"])].append(max(0.0, float(r["seconds"])))
    snap.durations = dict(durations)
    row = await db.fetchone(
        "SELECT COUNT(*) AS n FROM steps s JOIN runs r ON r.id = s.run_id"
        " WHERE s.status = ? AND r.status IN (?, ?)",
        (str(StepStatus.HELD), str(RunStatus.RUNNING), str(RunStatus.HELD)),
    )
    snap.held_steps = int(row["n"]) if row is not None else 0
    for r in await db.fetchall(
        "SELECT kind, outcome, COUNT(*) AS n FROM trigger_events GROUP BY kind, outcome"
    ):
        snap.trigger_events[(r["kind"], r["outcome"])] = int(r["n"])
    return snap


class HistoryCollector(Collector):
    """The metric families of one snapshot."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        snap = self.snap
        runs = CounterMetricFamily(
            "flowtui_runs",
            "Runs that have ended, by workflow and final status",
            labels=("workflow", "status"),
        )
        for (workflow, status), n in sorted(snap.runs.items()):
            runs.add_metric([workflow, status], n)
        yield runs
        histogram = HistogramMetricFamily(
            "flowtui_step_duration_seconds",
            "How long steps ran (start to end of their last attempt), by workflow and step",
            labels=("workflow", "step"),
        )
        for (workflow, step), values in sorted(snap.durations.items()):
            buckets: list[tuple[str, float]] = []
            for bound in (*BUCKETS, math.inf):
                count = sum(1 for v in values if v <= bound)
                buckets.append(("+Inf" if bound == math.inf else repr(bound), count))
            histogram.add_metric([workflow, step], buckets, sum(values))
        yield histogram
        yield GaugeMetricFamily(
            "flowtui_runs_running", "Runs running now (held ones too)", value=snap.running
        )
        yield GaugeMetricFamily(
            "flowtui_steps_held", "Steps of active runs waiting for approval", value=snap.held_steps
        )
        yield GaugeMetricFamily(
            "flowtui_runs_queued", "Runs waiting for their turn", value=snap.queued
        )
        events = CounterMetricFamily(
            "flowtui_trigger_events",
            "What triggers did, by kind (cron, webhook, git, workflow, incident) and outcome",
            labels=("kind", "outcome"),
        )
        for (kind, outcome), n in sorted(snap.trigger_events.items()):
            events.add_metric([kind, outcome], n)
        yield events


async def metrics_text(store: RunStore) -> tuple[bytes, str]:
    """The exposition text of the history now, and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HistoryCollector(await snapshot(store)))
    return generate_latest(registry), CONTENT_TYPE_LATEST
