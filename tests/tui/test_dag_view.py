"""The DagView widget under Pilot, and snapshots of two graphs."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping, Sequence

import pytest
from textual.app import App, ComposeResult
from textual.message import Message
from textual.pilot import Pilot

from flowtui.tui.widgets.dag_view import DagView

SIZE = (120, 40)
DEPLOY = [
    ("plan", ()),
    ("approve", ("plan",)),
    ("apply_us", ("approve",)),
    ("apply_eu", ("approve",)),
    ("verify", ("apply_us", "apply_eu")),
    ("notify", ("verify",)),
]
DEPLOY_STATES = {
    "plan": "succeeded",
    "approve": "succeeded",
    "apply_us": "running",
    "apply_eu": "failed",
    "verify": "pending",
    "notify": "skipped",
}


def thirty_steps() -> list[tuple[str, tuple[str, ...]]]:
    """A CI-like pipeline: fan-out to tests and builds, fan-in to a release, skip edges."""
    nodes: list[tuple[str, tuple[str, ...]]] = [("checkout", ()), ("deps", ("checkout",))]
    nodes += [(f"lint_{k}", ("deps",)) for k in ("py", "js")]
    nodes += [(f"test_{i}", ("deps",)) for i in range(1, 7)]
    nodes += [(f"build_{os}", ("deps",)) for os in ("linux", "mac", "win")]
    nodes += [(f"sign_{os}", (f"build_{os}",)) for os in ("linux", "mac", "win")]
    nodes += [("coverage", tuple(f"test_{i}" for i in range(1, 7)))]
    nodes += [("security_scan", ("deps",)), ("sbom", ("build_linux",))]
    nodes += [("docs", ("checkout",))]
    nodes += [("package", ("sign_linux", "sign_mac", "sign_win", "lint_py", "lint_js"))]
    nodes += [("release_notes", ("docs", "coverage"))]
    nodes += [("approve", ("package", "release_notes"))]
    nodes += [(f"publish_{r}", ("approve",)) for r in ("pypi", "npm", "ghcr")]
    nodes += [("smoke", ("publish_pypi", "publish_npm", "publish_ghcr"))]
    nodes += [("announce", ("smoke", "docs"))]
    nodes += [("archive", ("package", "sbom", "security_scan"))]
    nodes += [("cleanup", ("announce", "archive", "checkout"))]
    assert len(nodes) == 30
    return nodes


THIRTY_STATES = {name: "succeeded" for name, _ in thirty_steps()[:14]} | {
    "test_3": "failed",
    "sign_mac": "running",
    "sign_win": "held",
    "coverage": "cancelled",
    "docs": "reused",
    "package": "pending",
}


class DagApp(App[None]):
    """Only a DagView, fed once on mount."""

    def __init__(
        self,
        nodes: Sequence[tuple[str, Sequence[str]]],
        states: Mapping[str, str] | None = None,
        durations: Mapping[str, str] | None = None,
        *,
        animate: bool = False,
        compact: bool | None = None,
    ) -> None:
        super().__init__()
        self.compact = compact
        self.nodes, self.states, self.durations = nodes, states or {}, durations
        self.animate = animate
        self.seen: list[Message] = []

    def compose(self) -> ComposeResult:
        yield DagView(animate=self.animate)

    def on_mount(self) -> None:
        view = self.query_one(DagView)
        view.set_graph(self.nodes)
        if self.compact is not None:
            view.set_compact(self.compact)
        view.set_states(self.states, self.durations)
        view.focus()

    def on_dag_view_step_highlighted(self, message: DagView.StepHighlighted) -> None:
        self.seen.append(message)

    def on_dag_view_step_selected(self, message: DagView.StepSelected) -> None:
        self.seen.append(message)


def screen_lines(view: DagView) -> list[str]:
    return [
        "".join(seg.text for seg in view.render_line(y)).rstrip() for y in range(view.size.height)
    ]


async def until(pilot: Pilot[None], check: Callable[[], bool], timeout: float = 3.0) -> None:
    async def wait() -> None:
        while not check():
            await pilot.pause(0.02)

    await asyncio.wait_for(wait(), timeout)


async def test_arrows_move_the_selection_and_enter_opens_it() -> None:
    app = DagApp(DEPLOY, DEPLOY_STATES)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(DagView)
        assert view.selected == "plan"
        await pilot.press("right", "right", "down")
        assert view.selected == "apply_eu"
        await pilot.press("right", "left", "k", "enter")  # k: nothing above apply_us
        await pilot.pause()
        got = [(type(m).__name__, m.name) for m in app.seen]  # type: ignore[attr-defined]
        assert got == [
            ("StepHighlighted", "approve"),
            ("StepHighlighted", "apply_us"),
            ("StepHighlighted", "apply_eu"),
            ("StepHighlighted", "verify"),
            ("StepHighlighted", "apply_us"),
            ("StepSelected", "apply_us"),
        ]
        # the selected box is drawn with a heavy frame
        assert any("┃ ◐ apply_us" in line for line in screen_lines(view))


async def test_status_changes_repaint_without_a_new_layout() -> None:
    app = DagApp(DEPLOY, DEPLOY_STATES)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(DagView)
        layout = view.layout_info
        assert "· verify" in "\n".join(screen_lines(view))
        view.set_graph(list(DEPLOY))  # the same graph again: kept as is
        view.set_states({**DEPLOY_STATES, "verify": "succeeded"}, {"verify": "3s"})
        await pilot.pause()
        text = "\n".join(screen_lines(view))
        assert "✓ verify" in text and " 3s " in text
        assert view.layout_info is layout


async def test_compact_toggle_and_auto_switch() -> None:
    app = DagApp(DEPLOY, DEPLOY_STATES)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(DagView)
        assert not view.compact
        await pilot.press("m")
        assert view.compact
        lines = screen_lines(view)
        assert lines[0].startswith("L1   ✓ plan")
        assert lines[3].startswith("     ✗ apply_eu")
        await pilot.press("j", "j")
        assert view.selected == "apply_us"
        await pilot.press("m")
        assert not view.compact

        # many steps: compact by itself, unless the user asked for the graph
        many = [(f"s{i}", (f"s{i - 1}",) if i else ()) for i in range(80)]
        view.set_graph(many)
        await pilot.pause()
        assert view.compact
        view.set_compact(False)
        await pilot.pause()
        assert not view.compact
        assert view.virtual_size.width > 3 * view.size.width


def big_graph(
    layers: int = 10, width: int = 20, seed: int = 3
) -> list[tuple[str, tuple[str, ...]]]:
    """`layers` × `width` steps, each needing one or two random steps of the layer before."""
    rng = random.Random(seed)
    nodes: list[tuple[str, tuple[str, ...]]] = []
    for layer in range(layers):
        for i in range(width):
            reqs = {f"s{layer - 1}_{rng.randrange(width):02d}" for _ in range(rng.randint(1, 2))}
            nodes.append((f"s{layer}_{i:02d}", tuple(sorted(reqs)) if layer else ()))
    return nodes


async def test_a_graph_that_does_not_fit_opens_compact() -> None:
    app = DagApp(big_graph())
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(DagView)
        await pilot.pause()
        assert view.compact  # 200 steps
        view.set_graph(DEPLOY)
        await pilot.pause()
        assert not view.compact  # fits in 120 × 40
        await pilot.resize_terminal(50, 20)
        await until(pilot, lambda: view.compact)  # no longer fits
        await pilot.resize_terminal(*SIZE)
        await until(pilot, lambda: not view.compact)


async def test_the_mode_chosen_is_kept_per_workflow() -> None:
    big, chain = big_graph(), [(f"c{i}", (f"c{i - 1}",) if i else ()) for i in range(5)]
    app = DagApp(big)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(DagView)
        await pilot.pause()
        assert view.compact
        await pilot.press("m")  # the user wants the graph of this one
        assert not view.compact
        view.set_graph(chain)
        await pilot.pause()
        assert not view.compact
        await pilot.press("m")  # and the list of this one
        assert view.compact
        view.set_graph(DEPLOY)  # not chosen: by size
        await pilot.pause()
        assert not view.compact
        view.set_graph(big)
        await pilot.pause()
        assert not view.compact
        view.set_graph(chain)
        await pilot.pause()
        assert view.compact


async def test_the_selection_scrolls_into_view() -> None:
    chain = [(f"step_{i}", (f"step_{i - 1}",) if i else ()) for i in range(40)]
    app = DagApp(chain)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(DagView)
        view.set_compact(False)
        await pilot.pause()
        assert view.scroll_x == 0
        for _ in range(20):
            await pilot.press("right")
        assert view.selected == "step_20"
        box = view.layout_info.boxes["step_20"]  # type: ignore[union-attr]
        assert view.scroll_x <= box.x and box.x + box.w <= view.scroll_x + view.size.width
        assert any("step_20" in line for line in screen_lines(view))


async def test_a_running_step_spins() -> None:
    app = DagApp(DEPLOY, {"plan": "running"}, animate=True)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(DagView)
        glyphs: set[str] = set()

        def spun() -> bool:
            glyphs.add(screen_lines(view)[1][2])
            return len(glyphs) >= 2

        await until(pilot, spun)
        assert glyphs <= set("◐◓◑◒")


async def test_a_cycle_is_reported_not_drawn() -> None:
    app = DagApp([("a", ("b",)), ("b", ("a",))])
    async with app.run_test(size=SIZE):
        view = app.query_one(DagView)
        assert "cycle" in screen_lines(view)[0]


def test_snapshot_deploy_graph(snap_compare: Callable[..., bool]) -> None:
    durations = {"plan": "1.2s", "approve": "4m 2s", "apply_eu": "31s"}
    app = DagApp(DEPLOY, DEPLOY_STATES, durations)
    assert snap_compare(app, terminal_size=SIZE, press=["right", "right", "down"])


def test_snapshot_thirty_steps(snap_compare: Callable[..., bool]) -> None:
    app = DagApp(thirty_steps(), THIRTY_STATES, compact=False)  # the boxes, though not all fit
    assert snap_compare(app, terminal_size=SIZE)


def matrix_graph(copies: int = 20) -> list[tuple[str, tuple[str, ...]]]:
    builds = [f"build[n={i}]" for i in range(1, copies + 1)]
    return [("checkout", ()), *((b, ("checkout",)) for b in builds), ("deploy", tuple(builds))]


async def test_matrix_copies_are_one_box_until_expanded() -> None:
    states = {f"build[n={i}]": "succeeded" for i in range(1, 19)}
    states |= {"checkout": "succeeded", "build[n=19]": "running", "build[n=20]": "running"}
    app = DagApp(matrix_graph(), states)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(DagView)
        await pilot.pause()
        assert view.shown_names == ["checkout", "build ×20", "deploy"]
        assert not view.compact
        text = "\n".join(screen_lines(view))
        assert "◐ build ×20" in text and "18✓ 2◐" in text
        await pilot.press("right")
        assert view.selected == "build ×20"
        await pilot.press("enter")  # a group opens into its steps, not into a log
        await pilot.pause()
        assert "build[n=7]" in view.shown_names and "build ×20" not in view.shown_names
        assert view.selected == "build[n=1]"
        await pilot.press("j", "space")  # a step of an open group: closes it
        await pilot.pause()
        assert view.shown_names == ["checkout", "build ×20", "deploy"]
        assert view.selected == "build ×20"
        await pilot.press("right", "space")  # not in a group: says so
        await pilot.pause()
        assert view.shown_names == ["checkout", "build ×20", "deploy"]
        got = [(type(m).__name__, m.name) for m in app.seen]  # type: ignore[attr-defined]
        assert got == [
            ("StepHighlighted", "build[n=1]"),
            ("StepHighlighted", "build[n=2]"),
            ("StepHighlighted", "deploy"),
        ]
        assert any("not in a group" in n.message for n in app._notifications)


async def test_the_path_to_the_failure_filter() -> None:
    states = {**DEPLOY_STATES}
    app = DagApp(DEPLOY, states)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(DagView)
        await pilot.press("exclamation_mark")
        await pilot.pause()
        assert view.shown_names == ["plan", "approve", "apply_eu"]
        assert view.selected == "apply_eu"  # the failed step
        lines = "\n".join(screen_lines(view))
        assert "apply_us" not in lines and "✗ apply_eu" in lines
        view.set_states({**states, "apply_eu": "succeeded", "verify": "failed"})
        await pilot.pause()  # another failure: its path
        assert view.shown_names == ["plan", "approve", "apply_us", "apply_eu", "verify"]
        await pilot.press("exclamation_mark")  # again: every step
        assert view.shown_names == [name for name, _ in DEPLOY]
        view.set_states({"plan": "succeeded"})
        await pilot.press("exclamation_mark")  # nothing failed: says so, shows all
        await pilot.pause()
        assert not view.failure_only
        assert any("No failed step" in n.message for n in app._notifications)


async def test_the_view_follows_running_steps_until_the_user_scrolls() -> None:
    nodes = big_graph()
    app = DagApp(nodes, compact=False)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(DagView)
        await pilot.pause()
        layout = view.layout_info
        assert layout is not None

        def in_view(name: str) -> bool:
            box = layout.boxes[name]
            return (
                view.scroll_x <= box.x
                and box.x + box.w <= view.scroll_x + view.size.width
                and view.scroll_y <= box.y
                and box.y + box.h <= view.scroll_y + view.size.height
            )

        far = max(layout.boxes.values(), key=lambda b: (b.x, b.y)).name
        assert not in_view(far)
        view.set_states({far: "running"})
        await pilot.pause()
        assert in_view(far)
        await pilot.press("shift+left", "shift+up")  # the user looks elsewhere: left there
        await pilot.pause()
        assert not in_view(far)
        other = max((b for b in layout.boxes.values() if b.layer == 5), key=lambda b: b.y).name
        view.set_states({far: "succeeded", other: "running"})
        await pilot.pause()
        assert not in_view(other) and not in_view(far)
        await pilot.press("full_stop")  # follow again
        await pilot.pause()
        assert in_view(other)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_snapshot_big_matrix_run(snap_compare: Callable[..., bool], size: tuple[int, int]) -> None:
    """A live 20-copy matrix between two steps: one box (or row) counted by status."""
    states = {f"build[n={i}]": "succeeded" for i in range(1, 18)}
    states |= {"checkout": "succeeded", "build[n=18]": "failed"}
    states |= {"build[n=19]": "running", "build[n=20]": "running"}
    app = DagApp(matrix_graph(), states, {"checkout": "2.1s"})
    assert snap_compare(app, terminal_size=size)
