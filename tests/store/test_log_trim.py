"""The log cap's trims (issue #17 item 4) on every backend: the history holds the head,
one omitted-lines marker and the newest tail lines, whatever the batches were."""

from __future__ import annotations

from flowtui.engine.events import Event, StepLog, StepStatusChanged
from flowtui.engine.logcap import LogCap, LogLimits
from flowtui.engine.states import StepStatus
from flowtui.store import RunStore

from .store_helpers import plan


async def test_trimmed_tail_keeps_head_marker_and_newest_lines(store: RunStore) -> None:
    run_id = await store.create_run(workflow="wf", steps=plan("s"))
    cap = LogCap(LogLimits(max_lines=10, max_bytes=0))
    for start in range(0, 100, 7):  # batches that do not line up with the cap
        batch: list[Event] = [
            StepLog(run_id, "s", 1, "stdout", f"l{i}", float(i))
            for i in range(start, min(start + 7, 100))
        ]
        await store.apply(cap.filter(batch))
        lines = [log.line for log in await store.get_logs(run_id, "s")]
        assert lines[:5] == [f"l{i}" for i in range(min(5, start + 7))]
        assert lines[-1] == f"l{min(start + 7, 100) - 1}"  # the newest line is always there
    await store.apply(cap.filter([StepStatusChanged(run_id, "s", StepStatus.SUCCEEDED, 1.0, 1)]))
    lines = [log.line for log in await store.get_logs(run_id, "s")]
    assert lines == [
        *(f"l{i}" for i in range(5)),
        "… 90 lines (355 B) omitted …",
        *(f"l{i}" for i in range(95, 100)),
    ]
