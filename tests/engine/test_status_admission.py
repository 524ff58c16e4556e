"""Workflow `status:` and the paused flag: what may start a run."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flowtui.engine.admission import draft_refusal, effective_status, trigger_allowed
from flowtui.engine.runner import RunError, RunnerOptions
from flowtui.engine.states import RunStatus
from flowtui.model.loader import load_workflow_text
from flowtui.model.workflow import Workflow
from flowtui.store.runstore import RunStore
from tests.harness import engine_harness


def workflow(status: str, name: str = "wf") -> Workflow:
    return load_workflow_text(
        textwrap.dedent(
            f"""
            name: {name}
            status: {status}
            steps:
              a: {{type: condition, if: "1 == 1"}}
            """
        )
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[RunStore]:
    async with await RunStore.open(tmp_path / "history.db") as opened:
        yield opened


async def test_trigger_allowed_follows_yaml_status_and_database(store: RunStore) -> None:
    assert await trigger_allowed(store, workflow("active")) == (True, "")
    allowed, why = await trigger_allowed(store, workflow("paused"))
    assert not allowed and why == "workflow wf has status: paused"
    allowed, why = await trigger_allowed(store, workflow("draft"))
    assert not allowed and why == "workflow wf has status: draft"

    await store.set_paused("wf", True)
    allowed, why = await trigger_allowed(store, workflow("active"))
    assert not allowed and "is paused" in why and "flowtui resume wf" in why
    assert await trigger_allowed(store, workflow("active", name="other")) == (True, "")
    await store.set_paused("wf", False)
    assert await trigger_allowed(store, workflow("active")) == (True, "")


async def test_effective_status(store: RunStore) -> None:
    assert await effective_status(store, workflow("active")) == "active"
    assert await effective_status(store, workflow("draft")) == "draft"
    await store.set_paused("wf", True)
    assert await effective_status(store, workflow("active")) == "paused"
    assert await effective_status(store, workflow("draft")) == "draft"  # draft says more


async def test_runner_refuses_drafts_but_runs_paused_workflows(
    store: RunStore, tmp_path: Path
) -> None:
    assert draft_refusal(workflow("active")) is None
    options = RunnerOptions(workspace_root=tmp_path / "ws")
    async with engine_harness(tmp_path, options, store=store) as engine:
        with pytest.raises(RunError, match=r"^workflow wf is a draft; set status: active$"):
            await engine.runner.submit(workflow("draft"))
        await engine.sink.flush()
        assert await store.count_runs() == 0  # nothing recorded for a refused run

        # paused (in the file or the database) stops triggers, not a person
        await store.set_paused("wf", True)
        for status in ("paused", "active"):
            _, result = await engine.runner.run(workflow(status), trigger="manual")
            assert result == RunStatus.SUCCEEDED
