"""What is deployed where, on every backend: a run records its environment (history
filters on it, `db copy` carries it), and the newest successful run of each (workflow,
environment) gives its current release, run and approver."""

from __future__ import annotations

from pathlib import Path

from flowtui.engine.events import ApprovalDecided, RunStatusChanged, StepOutputs
from flowtui.engine.states import RunStatus
from flowtui.store import RunStore
from flowtui.store.copy import copy_history
from flowtui.store.filters import RunFilter
from flowtui.store.releases import environment_states

from .store_helpers import plan

RELEASE = {"source": "", "steps": [], "release": ["build", "version"]}


async def _run(store: RunStore, env: str, version: str, status: RunStatus) -> int:
    run_id = await store.create_run(
        workflow="deploy", steps=plan("build"), definition=RELEASE, environment=env
    )
    await store.apply(
        [
            RunStatusChanged(run_id, "deploy", RunStatus.RUNNING, 1.0),
            StepOutputs(run_id, "build", {"version": version}),
            ApprovalDecided(run_id, "approve-prod", True, "ann", 2.0),
            RunStatusChanged(run_id, "deploy", status, 3.0),
        ]
    )
    return run_id


async def test_current_release_per_environment(store: RunStore, tmp_path: Path) -> None:
    first = await _run(store, "prod", "1.0", RunStatus.SUCCEEDED)
    await _run(store, "staging", "1.1", RunStatus.SUCCEEDED)
    failed = await _run(store, "prod", "1.1", RunStatus.FAILED)
    await store.create_run(workflow="deploy", steps=plan("build"))  # no environment
    states = {s.environment: s for s in await environment_states(store)}
    assert sorted(states) == ["prod", "staging"]
    prod = states["prod"]
    assert prod.last_run is not None and prod.last_run.id == failed
    assert prod.release_run is not None and prod.release_run.id == first
    assert (prod.release, prod.approved_by) == ("1.0", ("ann",))
    assert states["staging"].release == "1.1"

    runs = await store.list_runs(filters=RunFilter(environment="prod"))
    assert [r.id for r in runs] == [failed, first]
    assert {r.environment for r in runs} == {"prod"}

    await store.flush_writes()
    target = tmp_path / "copy.db"
    await copy_history(store.location, str(target))
    copy = await RunStore.open(target)
    try:
        assert (await copy.get_run(first)).environment == "prod"  # type: ignore[union-attr]
    finally:
        await copy.close()
