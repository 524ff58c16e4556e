"""The control surface on real runs: a real Runner holding real steps in a SQLite file."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flowtui import control
from flowtui.control import (
    DecisionError,
    NoHeldStep,
    NoSuchRun,
    NotAnApprover,
    RunNotActive,
    SeveralHeld,
    check_decision,
)
from flowtui.engine.identity import current_user
from flowtui.engine.owner import Owner
from flowtui.engine.records import NewStep
from flowtui.engine.runner import RunnerOptions
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.model.loader import load_workflow_text
from flowtui.store.runstore import RunStore
from tests.harness import Harness

ME = current_user()

TWO_GATES = f"""
name: two-gates
steps:
  plan: {{run: echo plan}}
  approve_us: {{type: approval, requires: [plan], approvers: [{ME}]}}
  approve_eu: {{type: approval, requires: [plan], approvers: [somebody-else, team:no-such-grp]}}
"""

ONE_GATE = """
name: one-gate
steps:
  gate: {type: approval}
"""

BUSY = """
name: busy
steps:
  work: {run: sleep 30}
"""


class Env(Harness):
    async def start(self, text: str) -> int:
        handle = await self.runner.submit(load_workflow_text(text, file="wf.yaml"))
        return handle.run_id

    async def wait(self, run_id: int, want: dict[str, StepStatus]) -> None:
        async with asyncio.timeout(10):
            while True:
                await self.sink.flush()
                steps = {s.name: s.status for s in await self.store.get_steps(run_id)}
                if all(steps.get(name) == status for name, status in want.items()):
                    return
                await asyncio.sleep(0.02)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    options = RunnerOptions(parallel=4, kill_grace=1.0, poll_interval=0.05)
    async with Env.open(tmp_path, options) as env:
        try:
            yield env
        finally:
            await env.runner.cancel_all(reason="test over", timeout=10)


async def test_the_named_held_step_is_returned_for_an_approver(env: Env) -> None:
    run_id = await env.start(TWO_GATES)
    await env.wait(run_id, {"approve_us": StepStatus.HELD, "approve_eu": StepStatus.HELD})
    held = await check_decision(env.store, run_id, "approve_us", ME)
    assert (held.run.id, held.name, held.user, held.approvers) == (
        run_id,
        "approve_us",
        ME,
        [ME],
    )
    assert held.step.status == StepStatus.HELD


async def test_a_user_who_is_not_an_approver_is_told_who_is(env: Env) -> None:
    run_id = await env.start(TWO_GATES)
    await env.wait(run_id, {"approve_eu": StepStatus.HELD})
    with pytest.raises(NotAnApprover) as err:
        await check_decision(env.store, run_id, "approve_eu", ME, approve=False)
    assert str(err.value) == (
        f"{ME} may not reject approve_eu (approvers: somebody-else, team:no-such-grp)"
    )
    assert err.value.approvers == ["somebody-else", "team:no-such-grp"]
    # anyone named literally may decide it
    held = await check_decision(env.store, run_id, "approve_eu", "somebody-else")
    assert held.name == "approve_eu"


async def test_without_a_step_several_held_are_named(env: Env) -> None:
    run_id = await env.start(TWO_GATES)
    await env.wait(run_id, {"approve_us": StepStatus.HELD, "approve_eu": StepStatus.HELD})
    with pytest.raises(SeveralHeld) as err:
        await check_decision(env.store, run_id, None, ME)
    assert sorted(err.value.held) == ["approve_eu", "approve_us"]
    assert "approve_eu" in str(err.value) and "approve_us" in str(err.value)
    assert "pick the one to approve" in str(err.value)


async def test_without_a_step_the_only_held_one_is_chosen(env: Env) -> None:
    run_id = await env.start(ONE_GATE)
    await env.wait(run_id, {"gate": StepStatus.HELD})
    held = await check_decision(env.store, run_id, None, "anybody")
    assert held.name == "gate" and held.approvers == []


async def test_a_step_that_is_missing_or_not_held_is_refused(env: Env) -> None:
    run_id = await env.start(TWO_GATES)
    await env.wait(
        run_id,
        {
            "plan": StepStatus.SUCCEEDED,
            "approve_us": StepStatus.HELD,
            "approve_eu": StepStatus.HELD,
        },
    )
    with pytest.raises(NoHeldStep) as err:
        await check_decision(env.store, run_id, "plan", ME)
    assert str(err.value).startswith(f"step plan of run {run_id} is succeeded, not held")
    assert "approve_us" in str(err.value)
    with pytest.raises(NoHeldStep) as err:
        await check_decision(env.store, run_id, "aprove_us", ME)
    assert str(err.value).startswith(f"run {run_id} has no step 'aprove_us'; held: ")
    assert "approve_us" in str(err.value) and "approve_eu" in str(err.value)


async def test_a_run_with_nothing_held_says_so(env: Env) -> None:
    run_id = await env.start(BUSY)
    await env.wait(run_id, {"work": StepStatus.RUNNING})
    with pytest.raises(NoHeldStep, match=f"nothing in run {run_id} \\(busy\\) waits"):
        await check_decision(env.store, run_id, None, ME)


async def test_unknown_and_finished_runs_are_refused(env: Env) -> None:
    with pytest.raises(NoSuchRun, match="run 99 not found"):
        await check_decision(env.store, 99, "gate", ME)

    run_id = await env.start(ONE_GATE)
    await env.wait(run_id, {"gate": StepStatus.HELD})
    assert env.runner.cancel(run_id, by=ME)
    async with asyncio.timeout(10):
        while True:
            run = await env.store.get_run(run_id)
            if run is not None and run.status.is_final:
                break
            await asyncio.sleep(0.02)
    assert run.status == RunStatus.CANCELLED
    with pytest.raises(RunNotActive, match=f"run {run_id} has already ended \\(cancelled\\)"):
        await check_decision(env.store, run_id, "gate", ME)


def test_every_refusal_is_a_decision_error() -> None:
    for kind in (NoSuchRun, RunNotActive, NoHeldStep, SeveralHeld, NotAnApprover):
        assert issubclass(kind, DecisionError)


# -- cancel: a queued run whose runner died ------------------------------------------------
def _dead_owner() -> Owner:
    # on this host, with a pid above any pid_max and a start time no process has
    return Owner(socket.gethostname(), 2**23 + os.getpid(), 1.0)


async def orphaned_queued_run(store: RunStore, workflow: str) -> int:
    """A queued run of a runner that died, while a (stopped) service is registered to
    adopt such runs: nobody is left to take a cancel command."""
    dead = _dead_owner()
    await store.register_adopter(dead)
    steps = [NewStep("greet", "script", [], 0)]
    return await store.create_run(workflow=workflow, steps=steps, owner=dead)


async def test_cancel_of_an_orphaned_queued_run_is_done_in_the_history(tmp_path: Path) -> None:
    async with await RunStore.open(tmp_path / "h.db") as store:
        run_id = await orphaned_queued_run(store, "hello")
        assert await control.cancel(store, run_id, "alice") == control.CancelOutcome.ORPHAN
        run = await store.get_run(run_id)
        assert run is not None and run.status == RunStatus.CANCELLED
        assert run.message == "cancelled by alice while queued"
        assert [e.status for e in await store.get_events(run_id)] == ["queued", "cancelled"]
        with pytest.raises(RunNotActive, match="has already ended"):
            await control.cancel(store, run_id, "alice")
        with pytest.raises(NoSuchRun):
            await control.cancel(store, run_id + 1, "alice")


async def test_cancel_of_a_live_runners_run_is_a_command(env: Env) -> None:
    run_id = await env.start(BUSY)
    await env.wait(run_id, {"work": StepStatus.RUNNING})
    # as another process would: the run is not this caller's
    assert await control.cancel(env.store, run_id, "alice") == control.CancelOutcome.ASKED
    final = await control.wait_final(env.store, run_id, 10)
    assert final is not None and final.status == RunStatus.CANCELLED


async def test_the_dashboard_cancels_an_orphaned_queued_run(tmp_path: Path) -> None:
    from flowtui.tui.app import FlowApp
    from flowtui.tui.screens.dialogs import ConfirmScreen

    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "hello.yaml").write_text("name: hello\nsteps:\n  greet: {run: echo hi}\n")
    db = tmp_path / "h.db"
    async with await RunStore.open(db) as store:
        run_id = await orphaned_queued_run(store, "hello")
    app = FlowApp(folder, db_path=db, watch=False, triggers=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.ready.wait()
        async with asyncio.timeout(10):
            while app.view.run_id != run_id:
                await pilot.pause(0.05)
        await pilot.press("c")
        async with asyncio.timeout(10):
            while not isinstance(app.screen, ConfirmScreen):
                await pilot.pause(0.05)
        await pilot.press("y")
        assert app.store is not None
        async with asyncio.timeout(10):
            while (run := await app.store.get_run(run_id)) is None or not run.status.is_final:
                await pilot.pause(0.05)
        assert run.status == RunStatus.CANCELLED
