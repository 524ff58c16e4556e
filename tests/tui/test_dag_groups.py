"""What a big graph shows: groups of look-alike steps, counts by status, the failure path."""

from __future__ import annotations

from flowtui.tui.dag_groups import failure_path, group_status, shape, summary
from flowtui.tui.glyphs import glyph

Nodes = list[tuple[str, tuple[str, ...]]]


def matrix(copies: int) -> Nodes:
    builds = [f"build[n={i}]" for i in range(1, copies + 1)]
    return [("checkout", ()), *((b, ("checkout",)) for b in builds), ("deploy", tuple(builds))]


def test_matrix_copies_become_one_group() -> None:
    shown = shape(matrix(20))
    assert shown.nodes == (
        ("checkout", ()),
        ("build ×20", ("checkout",)),
        ("deploy", ("build ×20",)),
    )
    assert shown.groups["build ×20"] == tuple(f"build[n={i}]" for i in range(1, 21))
    assert shape(matrix(4)).groups == {}  # a few copies are drawn one by one
    # expanded: every copy again
    assert shape(matrix(20), expanded={"build ×20"}).nodes == tuple(matrix(20))


def test_look_alike_steps_of_a_wide_layer_become_one_group() -> None:
    tests = [f"test_{i}" for i in range(1, 10)]
    nodes: Nodes = [("deps", ()), *((t, ("deps",)) for t in tests)]
    nodes += [("lint", ("deps",)), ("coverage", tuple(tests)), ("release", ("coverage", "lint"))]
    shown = shape(nodes)
    assert list(shown.groups) == ["test_ ×9"]
    assert ("coverage", ("test_ ×9",)) in shown.nodes
    assert ("lint", ("deps",)) in shown.nodes  # needed by another step: not alike


def test_a_group_shows_its_worst_status_and_counts() -> None:
    assert group_status(["succeeded"] * 18 + ["running"] * 2) == "running"
    assert group_status(["succeeded"] * 3 + ["failed", "running"]) == "failed"
    assert group_status(["succeeded", "pending"]) == "running"  # part done: under way
    assert group_status(["pending", "pending"]) == "pending"
    assert group_status(["succeeded", "skipped"]) == "succeeded"
    assert summary(["succeeded"] * 18 + ["running"] * 2, glyph) == "18✓ 2◐"
    assert summary(["failed", "succeeded", "pending"], glyph) == "1✓ 1· 1✗"


def test_the_path_to_a_failure() -> None:
    nodes: Nodes = [
        ("checkout", ()),
        ("lint", ("checkout",)),
        ("build", ("checkout",)),
        ("test", ("build",)),
        ("docs", ("checkout",)),
        ("release", ("test", "lint")),
    ]
    states = {"checkout": "succeeded", "build": "succeeded", "test": "failed", "docs": "running"}
    assert failure_path(nodes, states) == ["checkout", "build", "test"]
    assert failure_path(nodes, {"checkout": "succeeded"}) == []
    shown = shape(nodes, only=failure_path(nodes, states))
    assert shown.nodes == (("checkout", ()), ("build", ("checkout",)), ("test", ("build",)))
