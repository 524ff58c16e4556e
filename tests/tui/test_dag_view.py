"""The DagView widget under Pilot, and snapshots of two graphs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

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
    ) -> None:
        super().__init__()
        self.nodes, self.states, self.durations = nodes, states or {}, durations
        self.animate = animate
        self.seen: list[Message] = []

    def compose(self) -> ComposeResult:
        yield DagView(animate=self.animate)

    def on_mount(self) -> None:
        view = self.query_one(DagView)
        view.set_graph(self.nodes)
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
        view.set_compact(None)
        view.set_graph(many)
        await pilot.pause()
        assert view.compact
        view.set_compact(False)
        view.set_graph([*many, ("extra", ("s0",))])
        await pilot.pause()
        assert not view.compact
        assert view.virtual_size.width > 3 * view.size.width


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
    app = DagApp(thirty_steps(), THIRTY_STATES)
    assert snap_compare(app, terminal_size=SIZE)
