"""Approval inputs in the history, on every backend: an approve command carries its
`--input` values to the runner, an approval keeps the answers it recorded, and a gate
held again after one approval of several keeps the time it was first held."""

from __future__ import annotations

from pathlib import Path

from flowtui.engine.events import ApprovalDecided, RunStatusChanged, StepStatusChanged
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.store import RunStore
from flowtui.store.copy import copy_history

from .store_helpers import plan


async def test_command_inputs_reach_the_runner(store: RunStore) -> None:
    run_id = await store.create_run(workflow="wf", steps=plan("gate"))
    await store.add_command(
        run_id, "approve", step="gate", by="ann", inputs={"version": "1.4.2", "dry": "true"}
    )
    await store.add_command(run_id, "cancel", by="ann")
    approve, cancel = await store.take_commands([run_id])
    assert approve.inputs == {"version": "1.4.2", "dry": "true"}
    assert cancel.inputs == {}


async def test_approvals_keep_their_answers_and_held_since(store: RunStore) -> None:
    run_id = await store.create_run(workflow="wf", steps=plan("gate"))
    await store.apply(
        [
            RunStatusChanged(run_id, "wf", RunStatus.RUNNING, 1.0),
            StepStatusChanged(run_id, "gate", StepStatus.HELD, 10.0, message="waiting"),
            ApprovalDecided(run_id, "gate", True, "ann", 11.0, "ok", {"version": "1.4.2"}),
            # one approval of two: still held, and held since 10.0
            StepStatusChanged(run_id, "gate", StepStatus.HELD, 11.0, message="1 of 2"),
            ApprovalDecided(run_id, "gate", True, "bob", 12.0),
        ]
    )
    first, second = await store.get_approvals(run_id)
    assert (first.by, first.inputs) == ("ann", {"version": "1.4.2"})
    assert (second.by, second.inputs) == ("bob", {})
    (gate,) = await store.get_steps(run_id)
    assert (gate.status, gate.held_at, gate.message) == (StepStatus.HELD, 10.0, "1 of 2")


async def test_copy_carries_inputs(store: RunStore, tmp_path: Path) -> None:
    run_id = await store.create_run(workflow="wf", steps=plan("gate"))
    await store.apply([ApprovalDecided(run_id, "gate", True, "ann", 11.0, "", {"version": "2"})])
    await store.add_command(run_id, "approve", step="gate", by="ann", inputs={"a": "b"})
    await store.flush_writes()
    target = tmp_path / "copy.db"
    await copy_history(store.location, str(target))
    copy = await RunStore.open(target)
    try:
        assert (await copy.get_approvals(run_id))[0].inputs == {"version": "2"}
        assert (await copy.take_commands([run_id]))[0].inputs == {"a": "b"}
    finally:
        await copy.close()
