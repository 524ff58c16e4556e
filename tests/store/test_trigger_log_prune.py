"""Refused webhook deliveries keep only the newest REJECTED_KEPT rows per workflow (issue
#17 item 5), on every backend; other outcomes are kept."""

from __future__ import annotations

from flowtui.store import RunStore
from flowtui.store.triggerstore import REJECTED_KEPT, TriggerStore


async def test_rejected_rows_are_pruned_to_the_newest(store: RunStore) -> None:
    triggers = TriggerStore(store.db)
    await triggers.record("hook", "webhook", "fired", "kept", None)
    for i in range(REJECTED_KEPT + 5):
        await triggers.record("hook", "webhook", "rejected", f"bad {i}")
    await triggers.record("other", "webhook", "rejected", "elsewhere")
    events = await triggers.list_events("hook", limit=1000)
    rejected = [e.detail for e in events if e.outcome == "rejected"]
    assert rejected == [f"bad {i}" for i in reversed(range(5, REJECTED_KEPT + 5))]
    assert [e.detail for e in events if e.outcome == "fired"] == ["kept"]
    assert len(await triggers.list_events("other")) == 1
