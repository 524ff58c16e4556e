"""`GET /metrics`: Prometheus metrics computed from the history at scrape time (docs/metrics.md).

Nothing is counted in memory: every scrape reads the history, so the runs of every process
on the database count (another `flowtui serve`, `flowtui run`, the dashboard), and a
restarted service reports the same numbers.  The queries run first (asynchronously); a
one-scrape collector then hands the numbers to prometheus-client, which writes the text.
Every number is an aggregate the database computes (`COUNT`, `SUM`, one `SUM(CASE ...)`
per histogram bucket), so a scrape reads a row per workflow and step, never a row per
step ever run, however long the history.
"""

from __future__ import annotations

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


@dataclass(frozen=True, slots=True)
class Durations:
    """One histogram series: cumulative counts per bound of BUCKETS, then all, and the sum."""

    buckets: tuple[int, ...]
    count: int
    total: float


# a step's duration, never negative (clocks); the buckets are constants, not input
_SECONDS = "CASE WHEN s.ended_at > s.started_at THEN s.ended_at - s.started_at ELSE 0.0 END"
_BUCKET_SQL = ", ".join(
    f"SUM(CASE WHEN {_SECONDS} <= {bound!r} THEN 1 ELSE 0 END) AS le{i}"
    for i, bound in enumerate(BUCKETS)
)


@dataclass(slots=True)
class Snapshot:
    runs: dict[tuple[str, str], int] = field(default_factory=dict)  # (workflow, status)
    durations: dict[tuple[str, str], Durations] = field(default_factory=dict)
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
    # steps that ran to their end: not the reused ones of a rerun (their times are the
    # original run's), not the cancelled ones (cut short)
    ran = [str(StepStatus.SUCCEEDED), str(StepStatus.FAILED), str(StepStatus.TIMED_OUT)]
    for r in await db.fetchall(
        f"SELECT r.workflow AS workflow, s.name AS step, COUNT(*) AS n,"
        f" SUM({_SECONDS}) AS total, {_BUCKET_SQL}"
        " FROM steps s JOIN runs r ON r.id = s.run_id"
        " WHERE s.started_at IS NOT NULL AND s.ended_at IS NOT NULL"
        " AND s.status IN (?, ?, ?)"
        " GROUP BY r.workflow, s.name",
        ran,
    ):
        snap.durations[(r["workflow"], r["step"])] = Durations(
            tuple(int(r[f"le{i}"]) for i in range(len(BUCKETS))),
            int(r["n"]),
            float(r["total"]),
        )
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
        for (workflow, step), seen in sorted(snap.durations.items()):
            buckets: list[tuple[str, float]] = [
                (repr(bound), count) for bound, count in zip(BUCKETS, seen.buckets, strict=True)
            ]
            buckets.append(("+Inf", seen.count))
            histogram.add_metric([workflow, step], buckets, seen.total)
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
