"""Expected durations (`store.usual`): the median of each step's last 20 successes, on every
backend; and the comparison of two runs (`store.compare`)."""

from __future__ import annotations

from msgspec.structs import replace

from flowtui.engine.records import NewStep, StepRecord
from flowtui.engine.states import StepStatus
from flowtui.store import RunStore
from flowtui.store.compare import compare_runs
from flowtui.store.usual import pace_note, projected_end, step_pace


def _step(
    name: str, took: float | None, *, status: StepStatus = StepStatus.SUCCEEDED, at: float = 1000.0
) -> NewStep:
    return NewStep(
        name=name,
        type="script",
        requires=[],
        position=0,
        status=status,
        started_at=at if took is not None else None,
        ended_at=at + took if took is not None else None,
    )


async def test_usual_is_the_median_of_the_last_20_successes(store: RunStore) -> None:
    # 25 runs of build: the first five took 100 s (too old to count), then 1 s .. 20 s
    for took in [100.0] * 5 + [float(n) for n in range(1, 21)]:
        await store.create_run(workflow="wf", steps=[_step("build", took)])
    # failures, reused copies and other workflows do not count
    await store.create_run(workflow="wf", steps=[_step("build", 900.0, status=StepStatus.FAILED)])
    await store.create_run(workflow="other", steps=[_step("build", 900.0)])
    reused = NewStep(
        name="build", type="script", requires=[], position=0, status=StepStatus.REUSED,
        reused_from=1, started_at=0.0, ended_at=800.0,
    )  # fmt: skip
    await store.create_run(workflow="wf", steps=[reused])
    usual = await store.usual_durations("wf")
    assert usual == {"build": 10.5}
    # only runs before run 6: the five 100 s runs
    assert await store.usual_durations("wf", before_run=6) == {"build": 100.0}
    assert await store.usual_durations("nothing") == {}


async def test_compare_names_slower_steps_and_changed_outputs(store: RunStore) -> None:
    plan = _step("plan", 0.2)
    green = await store.create_run(
        workflow="wf",
        steps=[replace(plan, outputs={"version": "1.0", "same": "x"}), _step("apply", 10.0),
               _step("gone", 1.0)],
    )  # fmt: skip
    plan = replace(_step("plan", 2.5), outputs={"version": "1.1", "same": "x"})
    now = await store.create_run(workflow="wf", steps=[plan, _step("apply", 2.0)])
    run, other = await store.get_run(now), await store.get_run(green)
    assert run is not None and other is not None
    comparison = await compare_runs(store, run, other)
    assert [d.name for d in comparison.slower] == ["plan"]
    assert [d.name for d in comparison.faster] == ["apply"]
    assert [(d.name, d.status, d.other_status) for d in comparison.status_changed] == [
        ("gone", None, "succeeded")
    ]
    text = "\n".join(comparison.lines())
    assert "Slower: plan  2.5 s, was 0.2 s" in text
    assert "Output: plan.version  1.0 → 1.1" in text
    assert [(c.step, c.key) for c in comparison.outputs] == [("plan", "version")]
    paces = {s["name"]: s["pace"] for s in comparison.as_json()["steps"]}
    assert paces == {"apply": "faster", "plan": "slower", "gone": None}


def test_pace_notes_and_projected_end() -> None:
    assert pace_note(2.5, 0.2) == "slower than usual (2.5 s, usually 0.2 s)"
    assert pace_note(0.3, 0.2) == ""  # noise
    assert pace_note(0.4, 1.0) == "faster than usual (0.4 s, usually 1.0 s)"
    assert pace_note(0.01, 0.5) == ""  # faster, but it does not matter
    assert pace_note(1.0, None) == ""
    still = _rec("b", StepStatus.RUNNING, 0.0, None)
    assert step_pace(still, 0.2, now=5.0) == "running longer than usual (5.0 s, usually 0.2 s)"
    assert step_pace(still, 3.0, now=5.0) == ""  # not yet twice its usual time
    assert step_pace(_rec("b", StepStatus.SUCCEEDED, 0.0, 0.05), 3.0, now=9.0).startswith(
        "faster than usual (0.05 s, usually 3.0 s)"
    )
    running = [
        _rec("build", StepStatus.SUCCEEDED, 0.0, 10.0),
        _rec("test", StepStatus.RUNNING, 10.0, None, ["build"]),
        _rec("deploy", StepStatus.PENDING, None, None, ["test"]),
    ]
    # test usually 30 s (ends at 40), deploy 5 s after it
    assert projected_end(running, {"test": 30.0, "deploy": 5.0}, now=12.0) == 45.0
    # running past its usual time: it ends no earlier than now
    assert projected_end(running, {"test": 1.0, "deploy": 5.0}, now=20.0) == 25.0
    assert projected_end(running, {}, now=12.0) is None


def _rec(
    name: str, status: StepStatus, start: float | None, end: float | None,
    requires: list[str] | None = None,
) -> StepRecord:  # fmt: skip
    return StepRecord(
        run_id=1, name=name, position=0, type="script", requires=requires or [], status=status,
        attempt=1, started_at=start, ended_at=end, held_at=None, exit_code=None, message="",
        reused_from=None, pid=None, pgid=None, proc_started=None,
    )  # fmt: skip
