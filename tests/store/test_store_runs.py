from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from flowtui.engine.events import (
    ApprovalDecided,
    RunStatusChanged,
    StepLog,
    StepOutputs,
    StepProcess,
    StepStatusChanged,
)
from flowtui.engine.owner import Owner
from flowtui.engine.records import NewStep
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.store import RunStore

from .store_helpers import plan

R, S = RunStatus, StepStatus


async def test_create_run_records_plan(store: RunStore) -> None:
    steps = [
        NewStep(
            "build",
            "script",
            [],
            0,
            status=S.REUSED,
            reused_from=7,
            outputs={"v": "1.2"},
            started_at=1.0,
            ended_at=2.0,
            message="reused from run 7",
        ),
        NewStep("deploy", "approval", ["build"], 1),
    ]
    owner = Owner.current()
    run_id = await store.create_run(
        workflow="release",
        steps=steps,
        trigger="webhook",
        triggered_by="ci",
        params={"env": "prod"},
        definition={"steps": [{"name": "build"}], "t": (1, 2)},
        workflow_path="/w/release.yaml",
        parent_run_id=None,
        rerun_mode="from-failed",
        git_commit="abc123",
        owner=owner,
    )
    run = await store.get_run(run_id)
    assert run is not None
    assert (run.workflow, run.status, run.trigger, run.triggered_by) == (
        "release",
        R.QUEUED,
        "webhook",
        "ci",
    )
    assert run.params == {"env": "prod"}
    assert run.definition == {"steps": [{"name": "build"}], "t": [1, 2]}
    assert (run.git_commit, run.rerun_mode, run.workflow_path) == (
        "abc123",
        "from-failed",
        "/w/release.yaml",
    )
    assert (run.owner_host, run.owner_pid, run.owner_started) == (
        owner.host,
        owner.pid,
        owner.started,
    )
    assert run.heartbeat_at is not None and abs(run.created_at - time.time()) < 5
    assert run.started_at is None and run.duration is None

    got = await store.get_steps(run_id)
    assert [(s.name, s.position, s.type, s.requires, s.status) for s in got] == [
        ("build", 0, "script", [], S.REUSED),
        ("deploy", 1, "approval", ["build"], S.PENDING),
    ]
    assert got[0].reused_from == 7 and got[0].message == "reused from run 7"
    assert await store.get_outputs(run_id) == {"build": {"v": "1.2"}}
    assert await store.get_run(run_id + 100) is None


async def test_realistic_event_sequence(store: RunStore) -> None:
    run_id = await store.create_run(workflow="wf", steps=plan("fetch", "test", "ship"))
    t = 1000.0
    events = [
        RunStatusChanged(run_id, "wf", R.RUNNING, t),
        StepStatusChanged(run_id, "fetch", S.RUNNING, t + 1, attempt=1),
        StepProcess(run_id, "fetch", 1, pid=4242, pgid=4242, started_at=999.5),
        StepLog(run_id, "fetch", 1, "stdout", "downloading", t + 1.1),
        StepLog(run_id, "fetch", 1, "stderr", "warning: slow", t + 1.2),
        StepOutputs(run_id, "fetch", {"sha": "abc"}),
        StepStatusChanged(run_id, "fetch", S.SUCCEEDED, t + 2, attempt=1, exit_code=0),
        # test fails once, is retried, then passes
        StepStatusChanged(run_id, "test", S.RUNNING, t + 3, attempt=1),
        StepLog(run_id, "test", 1, "stdout", "1 failed", t + 3.5),
        StepStatusChanged(
            run_id, "test", S.RUNNING, t + 4, attempt=2, exit_code=1, message="retry 2/2"
        ),
        StepLog(run_id, "test", 2, "stdout", "all passed", t + 4.5),
        StepStatusChanged(run_id, "test", S.SUCCEEDED, t + 5, attempt=2, exit_code=0),
        StepStatusChanged(run_id, "ship", S.HELD, t + 6),
        RunStatusChanged(run_id, "wf", R.HELD, t + 6),
        ApprovalDecided(run_id, "ship", approved=True, by="alice", at=t + 7, comment="go"),
        RunStatusChanged(run_id, "wf", R.RUNNING, t + 7),
        StepStatusChanged(run_id, "ship", S.SUCCEEDED, t + 7, message="approved by alice"),
        StepOutputs(run_id, "fetch", {"sha": "def", "size": "3"}),
        RunStatusChanged(run_id, "wf", R.SUCCEEDED, t + 8, message="3 steps succeeded"),
    ]
    await store.apply(events[:7])
    await store.apply(events[7:])

    run = await store.get_run(run_id)
    assert run is not None
    assert run.status == R.SUCCEEDED
    assert (run.started_at, run.ended_at, run.message) == (t, t + 8, "3 steps succeeded")
    assert run.duration == 8

    fetch, test, ship = await store.get_steps(run_id)
    assert (fetch.status, fetch.started_at, fetch.ended_at, fetch.exit_code) == (
        S.SUCCEEDED,
        t + 1,
        t + 2,
        0,
    )
    assert (fetch.pid, fetch.pgid, fetch.proc_started) == (4242, 4242, 999.5)
    assert (test.status, test.attempt, test.started_at, test.ended_at) == (
        S.SUCCEEDED,
        2,
        t + 3,
        t + 5,
    )
    assert (ship.status, ship.held_at, ship.ended_at, ship.message) == (
        S.SUCCEEDED,
        t + 6,
        t + 7,
        "approved by alice",
    )

    attempts = await store.get_attempts(run_id)
    assert [
        (a.step, a.attempt, a.status, a.started_at, a.ended_at, a.exit_code) for a in attempts
    ] == [
        ("fetch", 1, S.SUCCEEDED, t + 1, t + 2, 0),
        ("test", 1, S.FAILED, t + 3, t + 4, 1),
        ("test", 2, S.SUCCEEDED, t + 4, t + 5, 0),
    ]
    assert [a.attempt for a in await store.get_attempts(run_id, "test")] == [1, 2]

    logs = await store.get_logs(run_id)
    assert [(lg.step, lg.attempt, lg.stream, lg.line) for lg in logs] == [
        ("fetch", 1, "stdout", "downloading"),
        ("fetch", 1, "stderr", "warning: slow"),
        ("test", 1, "stdout", "1 failed"),
        ("test", 2, "stdout", "all passed"),
    ]
    assert [lg.line for lg in await store.get_logs(run_id, "test")] == ["1 failed", "all passed"]
    tail = await store.get_logs(run_id, after_id=logs[1].id, limit=1)
    assert [lg.line for lg in tail] == ["1 failed"]

    assert await store.get_outputs(run_id) == {"fetch": {"sha": "def", "size": "3"}}
    (approval,) = await store.get_approvals(run_id)
    assert (approval.step, approval.approved, approval.by, approval.comment) == (
        "ship",
        True,
        "alice",
        "go",
    )

    audit = [(e.kind, e.step, e.status) for e in await store.get_events(run_id)]
    assert audit == [
        ("run", None, "queued"),
        ("run", None, "running"),
        ("step", "fetch", "running"),
        ("step", "fetch", "succeeded"),
        ("step", "test", "running"),
        ("step", "test", "running"),
        ("step", "test", "succeeded"),
        ("step", "ship", "held"),
        ("run", None, "held"),
        ("run", None, "running"),
        ("step", "ship", "succeeded"),
        ("run", None, "succeeded"),
    ]


async def test_apply_is_one_transaction(store: RunStore) -> None:
    run_id = await store.create_run(workflow="wf", steps=plan("a"))
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        await store.apply(
            [
                StepLog(run_id, "a", 1, "stdout", "kept?", 1.0),
                StepLog(run_id + 99, "a", 1, "stdout", "no such run", 1.0),
            ]
        )
    assert await store.get_logs(run_id) == []


async def test_status_of_unplanned_step_is_recorded(store: RunStore) -> None:
    run_id = await store.create_run(workflow="wf", steps=plan("a"))
    await store.apply([StepStatusChanged(run_id, "extra", S.SKIPPED, 5.0, message="when false")])
    steps = await store.get_steps(run_id)
    assert [(s.name, s.position, s.status, s.ended_at) for s in steps] == [
        ("a", 0, S.PENDING, None),
        ("extra", 1, S.SKIPPED, 5.0),
    ]


async def test_try_start_run_concurrency_and_fifo(store: RunStore) -> None:
    a, b, c = [await store.create_run(workflow="wf", steps=plan("x")) for _ in range(3)]
    other = await store.create_run(workflow="other", steps=plan("x"))

    assert not await store.try_start_run(b, 1)  # a is older and still queued
    assert await store.try_start_run(a, 1)
    assert not await store.try_start_run(a, 1)  # not queued any more
    assert not await store.try_start_run(b, 1)  # a occupies the only slot
    assert await store.try_start_run(other, 1)  # another workflow has its own limit
    assert await store.try_start_run(b, 2)
    await store.apply([RunStatusChanged(b, "wf", R.HELD, 1.0)])
    assert not await store.try_start_run(c, 2)  # held runs count too
    await store.apply([RunStatusChanged(a, "wf", R.FAILED, 2.0)])
    assert await store.try_start_run(c, 2)

    d = await store.create_run(workflow="wf", steps=plan("x"))
    e = await store.create_run(workflow="wf", steps=plan("x"))
    assert await store.try_start_run(e, None)  # unlimited: no waiting, no FIFO
    assert await store.try_start_run(d, None)
    run = await store.get_run(d)
    assert run is not None and run.status == R.RUNNING and run.started_at is not None
    with pytest.raises(KeyError):
        await store.try_start_run(9999, 1)


async def test_try_start_run_is_atomic_across_connections(db_path: Path) -> None:
    stores = [await RunStore.open(db_path) for _ in range(4)]
    try:
        ids = [await stores[0].create_run(workflow="wf", steps=plan("x")) for _ in range(8)]
        started: list[int] = []
        for _ in range(3):  # a few rounds of everyone racing for every run
            results = await asyncio.gather(*(s.try_start_run(i, 2) for s in stores for i in ids))
            started += [
                i
                for (s, i), ok in zip([(s, i) for s in stores for i in ids], results, strict=True)
                if ok
            ]
        assert sorted(started) == ids[:2]  # oldest two, once each
    finally:
        for s in stores:
            await s.close()


async def test_commands_taken_exactly_once(db_path: Path) -> None:
    cli = await RunStore.open(db_path)
    runner_a = await RunStore.open(db_path)
    runner_b = await RunStore.open(db_path)
    try:
        run1 = await cli.create_run(workflow="wf", steps=plan("gate"))
        run2 = await cli.create_run(workflow="wf", steps=plan("gate"))
        with pytest.raises(ValueError):
            await cli.add_command(run1, "explode")
        ids = [
            await cli.add_command(run1, "approve", step="gate", by="bob", comment="ok"),
            await cli.add_command(run2, "cancel", by="eve"),
            await cli.add_command(run1, "reject", step="gate", by="carol"),
        ]
        assert not await cli.command_taken(ids[0])

        got_a, got_b = await asyncio.gather(
            runner_a.take_commands([run1, run2]), runner_b.take_commands([run1, run2])
        )
        taken = got_a + got_b
        assert sorted(c.id for c in taken) == ids  # each exactly once
        assert not (got_a and got_b)  # one transaction took them all
        first = got_a or got_b
        assert [c.kind for c in first] == ["approve", "cancel", "reject"]
        assert (first[0].run_id, first[0].step, first[0].by, first[0].comment) == (
            run1,
            "gate",
            "bob",
            "ok",
        )
        assert all([await cli.command_taken(i) for i in ids])
        assert await runner_a.take_commands([run1, run2]) == []
        assert await runner_a.take_commands([]) == []
        assert not await cli.command_taken(12345)

        later = await cli.add_command(run2, "cancel")
        assert [c.id for c in await runner_b.take_commands([run1])] == []
        assert [c.id for c in await runner_b.take_commands([run2])] == [later]
    finally:
        for s in (cli, runner_a, runner_b):
            await s.close()


async def test_listing_paging_and_counts(store: RunStore) -> None:
    ids = {"a": [], "b": []}
    for i in range(25):
        wf = "a" if i % 5 else "b"
        ids[wf].append(await store.create_run(workflow=wf, steps=[]))
    assert await store.count_runs() == 25
    assert await store.count_runs("a") == 20
    assert await store.latest_run_id() == max(ids["a"] + ids["b"])
    assert await store.latest_run_id("b") == max(ids["b"])
    assert await store.latest_run_id("none") is None

    pages: list[int] = []
    before = None
    while True:
        page = await store.list_runs("a", limit=7, before_id=before)
        if not page:
            break
        pages += [r.id for r in page]
        before = page[-1].id
    assert pages == sorted(ids["a"], reverse=True)

    await store.try_start_run(ids["b"][0], None)
    running = await store.list_runs(statuses=[R.RUNNING])
    assert [r.id for r in running] == [ids["b"][0]]
    assert await store.list_runs(statuses=[]) == []
    assert len(await store.list_runs(limit=3)) == 3


async def test_workflows_and_pause(store: RunStore) -> None:
    assert not await store.workflow_paused("wf")
    await store.upsert_workflow("wf", "/a.yaml", "h1")
    await store.set_paused("wf", True)
    assert await store.workflow_paused("wf")
    await store.upsert_workflow("wf", None, "h2")  # keeps path and pause
    assert await store.workflow_paused("wf")
    row = await store.db.fetchone("SELECT path, source_hash FROM workflows WHERE name = 'wf'")
    assert row is not None and tuple(row) == ("/a.yaml", "h2")
    await store.set_paused("wf", False)
    assert not await store.workflow_paused("wf")
    await store.set_paused("new", True)  # pausing an unseen workflow remembers it
    assert await store.workflow_paused("new")


async def test_a_run_records_its_workflow_in_its_own_write(store: RunStore) -> None:
    """The runner gives create_run the workflow's hash (#18: one transaction, not two)."""
    await store.set_paused("wf", True)
    run_id = await store.create_run(
        workflow="wf", steps=[], workflow_path="/b.yaml", source_hash="h3"
    )
    row = await store.db.fetchone("SELECT path, source_hash FROM workflows WHERE name = 'wf'")
    assert row is not None and tuple(row) == ("/b.yaml", "h3")
    assert await store.workflow_paused("wf")  # as upsert_workflow: the pause is kept
    assert (await store.get_run(run_id)) is not None
    await store.create_run(workflow="other", steps=[])  # no hash: no workflow row
    assert await store.db.fetchone("SELECT 1 FROM workflows WHERE name = 'other'") is None


async def test_heartbeat_claims_active_runs_only(store: RunStore) -> None:
    active = await store.create_run(workflow="wf", steps=[])
    done = await store.create_run(workflow="wf", steps=[])
    await store.apply([RunStatusChanged(done, "wf", R.CANCELLED, 1.0)])
    me = Owner.current()
    await store.heartbeat([active, done], me)
    a, d = await store.get_run(active), await store.get_run(done)
    assert a is not None and d is not None
    assert a.owner_pid == me.pid and a.heartbeat_at is not None
    assert d.owner_pid is None and d.heartbeat_at is None


async def test_tail_logs_returns_the_last_lines_in_order(store: RunStore) -> None:
    run_id = await store.create_run(workflow="wf", steps=plan("a", "b"))
    now = time.time()
    await store.apply(
        [StepLog(run_id, "a", 1, "stdout", f"a{i}", now) for i in range(10)]
        + [StepLog(run_id, "b", 1, "stdout", "b0", now)]
    )
    assert [r.line for r in await store.tail_logs(run_id, "a", limit=3)] == ["a7", "a8", "a9"]
    assert [r.line for r in await store.tail_logs(run_id, limit=2)] == ["a9", "b0"]
    assert len(await store.tail_logs(run_id, "a", limit=100)) == 10


async def test_events_after_gives_any_runs_status_changes_in_order(store: RunStore) -> None:
    """What a dashboard announces of other processes' runs (held steps, ended runs)."""
    first = await store.create_run(workflow="wf", steps=plan("plan", "approve"))
    start = await store.last_event_id()
    second = await store.create_run(workflow="other", steps=plan("x"))
    await store.apply(
        [
            RunStatusChanged(first, "wf", R.RUNNING, 1.0),
            StepStatusChanged(first, "approve", S.HELD, 2.0, message="look first"),
            RunStatusChanged(second, "other", R.RUNNING, 3.0),
            RunStatusChanged(second, "other", R.FAILED, 4.0, message="x failed"),
        ]
    )
    events = await store.events_after(start)
    seen = [(e.run_id, e.kind, e.step, e.status, e.message) for e in events]
    assert seen[-4:] == [
        (first, "run", None, "running", ""),
        (first, "step", "approve", "held", "look first"),
        (second, "run", None, "running", ""),
        (second, "run", None, "failed", "x failed"),
    ]
    assert all(e.id > start for e in events)
    assert [e.id for e in await store.events_after(start, limit=2)] == [e.id for e in events[:2]]
    assert await store.events_after(events[-1].id) == []


async def test_pages_of_older_log_lines_reach_the_first_line(store: RunStore) -> None:
    """The dashboard shows a tail and pages back by line id: every line once, in order."""
    run_id = await store.create_run(workflow="wf", steps=plan("a", "b"))
    now = time.time()
    await store.apply(
        [StepLog(run_id, "a" if i % 3 else "b", 1, "stdout", f"l{i}", now) for i in range(1_000)]
    )
    assert await store.count_logs(run_id) == 1_000
    assert await store.count_logs(run_id, "b") == 334
    page = await store.tail_logs(run_id, "a", limit=100)
    seen = [r.line for r in page]
    while page:
        older = await store.count_logs(run_id, "a", before_id=page[0].id)
        page = await store.tail_logs(run_id, "a", limit=100, before_id=page[0].id)
        assert len(page) == min(100, older)
        seen[:0] = [r.line for r in page]
    assert seen == [f"l{i}" for i in range(1_000) if i % 3]
    first = await store.get_logs(run_id, "a", limit=1)
    assert await store.count_logs(run_id, "a", before_id=first[0].id) == 0


async def test_log_omissions_up_to_a_line(store: RunStore) -> None:
    """The dashboard counts the cap's markers among the lines it read, and the later ones as
    they arrive: none counted twice."""
    run_id = await store.create_run(workflow="wf", steps=plan("a"))
    now = time.time()
    marker = "… 1,000 lines (1.0 kB) omitted …"
    await store.apply([StepLog(run_id, "a", 1, "stdout", "x", now)])
    [first] = await store.get_logs(run_id)
    await store.apply([StepLog(run_id, "a", 1, "system", marker, now)])
    assert await store.log_omissions(run_id, through_id=first.id) == {}
    assert await store.log_omissions(run_id) == {"a": [marker]}
    assert await store.log_omissions(run_id, through_id=first.id + 1) == {"a": [marker]}


async def test_newest_runs_are_each_workflows_newest_in_one_go(store: RunStore) -> None:
    """The dashboard list's read (every backend): per workflow its newest runs, newest
    first, as `list_runs` gives them; more workflows than one statement takes; none: []."""
    from flowtui.store.runstore import NEWEST_RUNS_CHUNK

    names = [f"w{i}" for i in range(NEWEST_RUNS_CHUNK + 2)]
    for name in (names[0], names[-1], names[0], names[0]):
        await store.create_run(workflow=name, steps=plan("a"))
    found = await store.newest_runs([*names, "none"], limit=2)
    for name in (names[0], names[-1]):
        expected = await store.list_runs(name, limit=2)
        assert [(r.id, r.status) for r in found[name]] == [(r.id, r.status) for r in expected]
    assert len(found[names[0]]) == 2 and found["none"] == [] and found[names[1]] == []
