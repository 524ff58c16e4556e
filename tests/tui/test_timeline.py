"""The run timeline: pure scaling and critical-path maths, the widget under Pilot, a snapshot."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable

import pytest
from rich.cells import cell_len
from textual.app import App, ComposeResult

from flowtui.timefmt import fmt_duration
from flowtui.tui.timeline_scale import (
    BLANK,
    HELD,
    RUN,
    TimelineRow,
    axis_lines,
    axis_ticks,
    critical_path,
    scale,
)
from flowtui.tui.widgets.timeline import HEADER_LINES, TimelineView

SIZE = (120, 40)
T0 = 1_700_000_000.0


def row(name: str, status: str = "succeeded", **kw: object) -> TimelineRow:
    times = {k: (T0 + v if isinstance(v, int | float) else v) for k, v in kw.items()}
    requires = times.pop("requires", ())
    return TimelineRow(name, status, requires=tuple(requires), **times)  # type: ignore[arg-type]


# -- scale -------------------------------------------------------------------------------


def test_bars_are_exactly_the_width_and_stay_inside_it() -> None:
    rng = random.Random(7)
    for _ in range(300):
        width = rng.randint(1, 150)
        span = rng.choice([0.0, 0.001, 1.0, 37.5, 86_400.0])
        rows = []
        for i in range(6):
            a = rng.uniform(-5, span + 5)
            b = a + rng.uniform(0, span + 1)
            held = a - rng.uniform(0, 3) if rng.random() < 0.3 else None
            rows.append(TimelineRow(f"s{i}", "succeeded", held, T0 + a, T0 + b))
        for bar in scale(rows, T0, T0 + span, width):
            assert sum(len(text) for text, _ in bar.runs) == width
            assert len(bar.text) == width
            for seg in bar.segments:
                assert 0.0 <= seg.start <= seg.end <= width


def test_a_step_ending_at_the_run_end_reaches_the_last_column() -> None:
    rows = [row("plan", started_at=0, ended_at=10), row("apply", started_at=10, ended_at=30)]
    for width in (1, 7, 33, 80, 101):
        plan, apply = scale(rows, T0, T0 + 30, width)
        assert apply.text[-1] == "█"
        assert apply.text.rstrip() == apply.text
        assert plan.text[0] != " "  # starts at the run start


def test_running_step_grows_to_now() -> None:
    rows = [row("build", "running", started_at=5)]
    early = scale(rows, T0, T0 + 10, 40)[0]
    later = scale(rows, T0, T0 + 100, 40)[0]
    assert early.text[-1] == later.text[-1] == "█"
    assert early.duration == pytest.approx(5.0)
    assert later.duration == pytest.approx(95.0)


def test_eighth_blocks_give_sub_cell_precision() -> None:
    # 10 cells for 10 s: a step of 2.5 s ends half-way through its third cell
    bar = scale([row("a", started_at=0, ended_at=2.5)], T0, T0 + 10, 10)[0]
    assert bar.text == "██▌       "
    bar = scale([row("a", started_at=0, ended_at=2.125)], T0, T0 + 10, 10)[0]
    assert bar.text == "██▏       "


def test_held_time_is_drawn_apart_from_running_time() -> None:
    rows = [
        row("approve", "succeeded", held_at=0, ended_at=4),
        row("gated", "running", held_at=0, started_at=4),
        row("waiting", "held", held_at=6),
    ]
    approve, gated, waiting = scale(rows, T0, T0 + 10, 10)
    assert approve.runs == (("░░░░", HELD), ("      ", BLANK))
    assert gated.runs == (("░░░░", HELD), ("██████", RUN))
    assert waiting.runs == (("      ", BLANK), ("░░░░", HELD))
    assert waiting.duration == pytest.approx(4.0)


def test_steps_that_did_not_run_have_no_bar() -> None:
    rows = [row("a", "reused"), row("b", "skipped"), row("c", "pending"), row("d", "cancelled")]
    for bar in scale(rows, T0, T0 + 10, 20):
        assert not bar.has_bar
        assert bar.duration is None
        assert bar.text == " " * 20


def test_a_step_too_short_to_see_still_leaves_a_sliver() -> None:
    bar = scale([row("blip", started_at=50, ended_at=50.001)], T0, T0 + 3600, 60)[0]
    assert bar.text.strip() == "▏"
    assert bar.text.index("▏") == 0  # 50 s of an hour on 60 cells is in the first cell


def test_zero_length_runs_do_not_divide_by_zero() -> None:
    rows = [row("a", started_at=0, ended_at=0), row("b", "held", held_at=0)]
    bars = scale(rows, T0, T0, 30)
    assert [len(b.text) for b in bars] == [30, 30]
    assert bars[0].text.strip() == "▏"
    assert scale(rows, None, T0, 30)[0].text.strip() == "▏"  # no run start: earliest step
    assert scale(rows, T0, T0, 0)[0].runs == ()
    assert axis_lines(0.0, 30)[0].rstrip().endswith("0.0s")


def test_times_outside_the_run_are_clamped() -> None:
    bar = scale([row("early", started_at=-20, ended_at=50)], T0, T0 + 10, 10)[0]
    assert bar.text == "██████████"
    assert all(0 <= s.start <= s.end <= 10 for s in bar.segments)


# -- critical path -----------------------------------------------------------------------

MULTI_REGION = [
    row("plan", started_at=0, ended_at=10),
    row("apply_us", started_at=10, ended_at=40, requires=("plan",)),
    row("apply_eu", started_at=10, ended_at=55, requires=("plan",)),
    row("verify", started_at=55, ended_at=60, requires=("apply_us", "apply_eu")),
]


def test_critical_path_follows_the_requirement_that_finished_last() -> None:
    assert critical_path(MULTI_REGION) == ["plan", "apply_eu", "verify"]


def test_critical_path_of_a_live_run_ends_at_what_is_still_running() -> None:
    rows = [*MULTI_REGION[:2], row("apply_eu", "running", started_at=10, requires=("plan",))]
    rows.append(row("verify", "pending", requires=("apply_us", "apply_eu")))
    assert critical_path(rows) == ["plan", "apply_eu"]


def test_critical_path_goes_through_a_held_approval() -> None:
    rows = [
        row("plan", started_at=0, ended_at=10),
        row("approve", held_at=10, ended_at=200, requires=("plan",)),
        row("lint", started_at=0, ended_at=50),
        row("deploy", started_at=200, ended_at=230, requires=("approve", "lint")),
    ]
    assert critical_path(rows) == ["plan", "approve", "deploy"]


def test_critical_path_ignores_unknown_unrun_and_cyclic_requirements() -> None:
    assert critical_path([]) == []
    assert critical_path([row("a", "pending")]) == []
    rows = [
        row("cached", "reused", requires=()),
        row("a", started_at=0, ended_at=5, requires=("ghost", "cached", "b")),
        row("b", started_at=0, ended_at=3, requires=("a",)),
    ]
    assert critical_path(rows) == ["b", "a"]


# -- axis --------------------------------------------------------------------------------


@pytest.mark.parametrize("total", [0.0, 0.4, 5.0, 12.0, 59.9, 272.0, 3700.0, 90_000.0, 1e7])
@pytest.mark.parametrize("width", [1, 12, 25, 60, 97])
def test_axis_labels_fit_do_not_overlap_and_end_with_the_total(total: float, width: int) -> None:
    ticks = axis_ticks(total, width)
    labels, ruler = axis_lines(total, width)
    assert len(labels) == len(ruler) == width
    end = fmt_duration(total)
    if width >= len(end):
        assert labels.endswith(end)
    previous_end = -1
    for column, label in ticks:
        assert column > previous_end
        assert column + len(label) <= width
        previous_end = column + len(label)
    if width >= 20:
        assert labels.startswith("0s")


def test_axis_ticks_are_round_values() -> None:
    assert [label for _, label in axis_ticks(272.0, 60)] == ["0s", "1m", "2m", "3m", "4m32s"]


# -- the widget --------------------------------------------------------------------------

REGION_NOW = T0 + 150.0


def region_rows() -> list[TimelineRow]:
    """plan → apply_us ∥ (approve_eu → apply_eu) → verify, mid-run."""
    return [
        row("lint", "reused"),
        row("plan", started_at=0.4, ended_at=42.0),
        row("apply_us", "running", started_at=42.5, requires=("plan",)),
        row("approve_eu", "held", held_at=42.2, requires=("plan",)),
        row("apply_eu", "pending", requires=("approve_eu",)),
        row("notify", "skipped", requires=("plan",)),
        row("verify", "pending", requires=("apply_us", "apply_eu")),
    ]


class TimelineApp(App[None]):
    def __init__(
        self,
        rows: list[TimelineRow],
        *,
        clock: Callable[[], float],
        run_ended: float | None = None,
    ) -> None:
        super().__init__()
        self.rows = rows
        self.clock = clock
        self.run_ended = run_ended
        self.selected: list[str] = []

    def compose(self) -> ComposeResult:
        yield TimelineView(clock=self.clock)

    def on_mount(self) -> None:
        view = self.query_one(TimelineView)
        view.set_run(self.rows, run_started=T0, run_ended=self.run_ended, now=self.clock())
        view.focus()

    def on_timeline_view_step_selected(self, event: TimelineView.StepSelected) -> None:
        self.selected.append(event.name)


def line_of(view: TimelineView, name: str) -> str:
    index = [r.name for r in view.rows].index(name)
    return view.render_line(HEADER_LINES + index).text


async def test_keys_move_the_selection_and_enter_opens_the_step() -> None:
    app = TimelineApp(region_rows(), clock=lambda: REGION_NOW)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(TimelineView)
        assert view.selected_step == "lint"
        await pilot.press("down", "j", "j")
        assert view.selected_step == "approve_eu"
        await pilot.press("k")
        assert view.selected_step == "apply_us"
        await pilot.press("enter")
        await pilot.pause()
        assert app.selected == ["apply_us"]
        await pilot.press("up", "up", "up", "k")  # stops at the first row
        assert view.selected_step == "lint"
        view.cursor = len(view.rows) - 2
        await pilot.press("j", "j")  # ... and at the last
        assert view.selected_step == "verify"


async def test_rows_show_bars_durations_status_and_the_critical_path() -> None:
    app = TimelineApp(region_rows(), clock=lambda: REGION_NOW)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        view = app.query_one(TimelineView)
        # two steps still going: the later row wins the tie
        assert view.critical == {"plan", "approve_eu"}
        plan = line_of(view, "plan")
        assert plan.startswith("◆ ✓ plan")
        assert plan.rstrip().endswith("41.6s")
        running = line_of(view, "apply_us")
        assert running.startswith("  ◐ apply_us")
        assert re.search(r"█ +1m48s$", running.rstrip())  # grows to now: the last bar column
        held = line_of(view, "approve_eu")
        assert held.startswith("◆ ⏸ approve_eu")
        assert "░" in held and "█" not in held
        assert "reused" in line_of(view, "lint") and "█" not in line_of(view, "lint")
        assert "skipped" in line_of(view, "notify")
        header = view.render_line(0).text + view.render_line(1).text
        assert "0s" in header and "2m30s" in header


async def test_selection_survives_new_data_for_the_same_step() -> None:
    app = TimelineApp(region_rows(), clock=lambda: REGION_NOW)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(TimelineView)
        await pilot.press("j", "j")
        assert view.selected_step == "apply_us"
        view.set_run(
            [region_rows()[0], *region_rows()[2:]],  # plan disappeared
            run_started=T0,
            run_ended=None,
            now=REGION_NOW,
        )
        assert view.selected_step == "apply_us"


async def test_a_live_run_redraws_itself_as_time_passes() -> None:
    now = [REGION_NOW]
    app = TimelineApp(region_rows(), clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(TimelineView)
        assert line_of(view, "apply_us").rstrip().endswith("1m48s")
        now[0] += 60.0
        for _ in range(100):
            if line_of(view, "apply_us").rstrip().endswith("2m48s"):
                break
            await asyncio.sleep(0.05)
        assert line_of(view, "apply_us").rstrip().endswith("2m48s")
        assert view.render_line(1).text.rstrip().endswith("3m30s")  # total of the run so far
        await pilot.pause()


class LiveAndFinishedApp(App[None]):
    """A live run and a finished one side by side, each view with a clock counting its ticks
    (a view reads its clock only to tick)."""

    def __init__(self) -> None:
        super().__init__()
        self.ticks = {"live": 0, "finished": 0}

    def clock(self, which: str) -> Callable[[], float]:
        def now() -> float:
            self.ticks[which] += 1
            return REGION_NOW + 600

        return now

    def compose(self) -> ComposeResult:
        yield TimelineView(clock=self.clock("live"), id="live")
        yield TimelineView(clock=self.clock("finished"), id="finished")

    def on_mount(self) -> None:
        live, finished = self.query(TimelineView)
        live.set_run(region_rows(), run_started=T0, run_ended=None, now=REGION_NOW)
        rows = [row("plan", started_at=0, ended_at=60)]
        finished.set_run(rows, run_started=T0, run_ended=T0 + 60.0, now=T0 + 60.0)


async def test_a_finished_run_does_not_tick() -> None:
    app = LiveAndFinishedApp()
    async with app.run_test(size=SIZE) as pilot:
        live = app.query_one("#live", TimelineView)
        view = app.query_one("#finished", TimelineView)
        assert live.is_live and not view.is_live
        # the live view's timer, started with the finished one's, has fired twice: had the
        # finished one's timer been running, it would have fired by now too
        async with asyncio.timeout(10):
            while app.ticks["live"] < 2:
                await pilot.pause(0.05)
        assert app.ticks["finished"] == 0
        assert view.total == pytest.approx(60.0)
        assert line_of(view, "plan").rstrip().endswith("1m00s")


async def test_clicking_a_row_selects_and_opens_it() -> None:
    app = TimelineApp(region_rows(), clock=lambda: REGION_NOW)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click(TimelineView, offset=(5, HEADER_LINES + 1))
        await pilot.pause()
        assert app.query_one(TimelineView).selected_step == "plan"
        assert app.selected == ["plan"]


async def test_the_selection_stays_in_view_in_a_long_run() -> None:
    rows = [row(f"step_{i:02}", started_at=i, ended_at=i + 1) for i in range(60)]
    app = TimelineApp(rows, clock=lambda: T0 + 60, run_ended=T0 + 60)
    async with app.run_test(size=(120, 20)) as pilot:
        view = app.query_one(TimelineView)
        view.cursor = 44
        await pilot.press("j")
        await pilot.pause()
        assert view.selected_step == "step_45"
        assert "step_45" in "\n".join(s.text for s in app.screen._compositor.render_strips())
        assert view.render_line(0).text.lstrip().startswith("step")  # the axis stays on top
        view.cursor = 1
        await pilot.press("k")
        await pilot.pause()
        assert view.scroll_y == 0


async def test_switching_theme_recolours_the_bars() -> None:
    app = TimelineApp(region_rows(), clock=lambda: REGION_NOW)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(TimelineView)
        index = HEADER_LINES + [r.name for r in view.rows].index("plan")

        def bar_colour() -> str:
            segment = next(seg for seg in view.render_line(index) if "█" in seg.text)
            assert segment.style is not None and segment.style.color is not None
            return segment.style.color.name

        before = bar_colour()
        assert before.lower() == str(app.current_theme.success).lower()
        app.theme = "nord"
        await pilot.pause()
        assert bar_colour().lower() == str(app.current_theme.success).lower() != before.lower()


def test_timeline_snapshot(snap_compare: Callable[..., bool]) -> None:
    """Multi-region run, mid-way: plan done, apply_us running, approve_eu held (frozen now)."""
    app = TimelineApp(region_rows(), clock=lambda: REGION_NOW)
    assert snap_compare(app, terminal_size=SIZE, press=["j", "j"])


async def test_wide_names_keep_the_bars_aligned() -> None:
    rows = [
        row("deploy[region=東京東京東京東京東京東京]", started_at=0, ended_at=10),
        row("deploy[region=osaka]", started_at=0, ended_at=10),
        row("🚀launch", started_at=0, ended_at=10),
    ]
    app = TimelineApp(rows, clock=lambda: T0 + 10, run_ended=T0 + 10)
    async with app.run_test(size=(80, 10)) as pilot:
        await pilot.pause()
        view = app.query_one(TimelineView)
        lines = [line_of(view, r.name) for r in rows]
        starts = set()
        for line in lines:
            assert cell_len(line) == view.scrollable_content_region.width
            starts.add(cell_len(line[: line.index("█")]))
            assert line.rstrip().endswith("10.0s")
        assert len(starts) == 1, lines  # the bars start in one column
