"""The log viewer under Pilot: follow mode, search, styles, the step detail, a snapshot."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from rich.color import Color
from textual import events
from textual.app import App, ComposeResult
from textual.widgets import Input, Static

from flowtui.engine.records import ApprovalRecord, AttemptRecord, LogRecord, StepRecord
from flowtui.engine.states import StepStatus
from flowtui.tui.widgets.log_lines import LogLine
from flowtui.tui.widgets.log_view import LogView, StepDetail

SIZE = (120, 40)


class LogApp(App[None]):
    def __init__(self, lines: list[LogLine] | None = None, detail: StepDetail | None = None):
        super().__init__()
        self.initial = lines or []
        self.detail = detail

    def compose(self) -> ComposeResult:
        yield LogView()

    def on_mount(self) -> None:
        view = self.query_one(LogView)
        view.show("deploy · attempt 1", self.initial)
        view.set_detail(self.detail)
        view.body.focus()


def numbered(start: int, count: int, step: str = "deploy") -> Iterator[LogLine]:
    for i in range(start, start + count):
        yield LogLine(f"line {i}", "stderr" if i % 10 == 9 else "stdout", step)


def screen_text(app: App[None]) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def status_text(app: App[None]) -> str:
    return str(app.query_one("#log-status", Static).render())


async def test_appending_20k_lines_in_batches_keeps_the_last_line_in_view() -> None:
    app = LogApp()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        for start in range(0, 20_000, 2_000):
            view.append(numbered(start, 2_000))
            await pilot.pause()
            assert view.line_count == start + 2_000
            assert view.line_count - 1 in view.visible_range
        assert view.follow
        assert "line 19999" in screen_text(app)
        assert "following" in status_text(app) and "20,000 lines" in status_text(app)


async def test_scrolling_up_pauses_follow_and_g_resumes_it() -> None:
    app = LogApp(list(numbered(0, 500)))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        assert view.follow and 499 in view.visible_range
        await pilot.press("up", "up")
        assert not view.follow
        assert "paused — G to follow" in status_text(app)
        before = view.visible_range
        view.append(numbered(500, 300))
        await pilot.pause()
        assert view.visible_range == before  # new lines do not pull the view down
        assert "line 799" not in screen_text(app)
        await pilot.press("G")
        await pilot.pause()
        assert view.follow and 799 in view.visible_range
        assert "line 799" in screen_text(app)
        view.action_toggle_follow()
        assert not view.follow
        view.action_toggle_follow()
        assert view.follow
        await pilot.press("pageup")
        await pilot.pause()
        assert not view.follow and 799 not in view.visible_range
        await pilot.press("end")
        await pilot.pause()
        assert view.follow and 799 in view.visible_range


async def test_mouse_wheel_up_pauses_follow() -> None:
    app = LogApp(list(numbered(0, 500)))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        wheel = events.MouseScrollUp(view.body, 5, 5, 0, -1, 0, False, False, False)
        view.body.post_message(wheel)
        await pilot.pause()
        assert not view.follow


async def test_appending_a_batch_renders_only_the_visible_lines() -> None:
    app = LogApp(list(numbered(0, 40_000)))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        built: list[int] = []
        original = view.body._build_strip

        def counting(index: int, base: object) -> object:
            built.append(index)
            return original(index, base)  # type: ignore[arg-type]

        view.body._build_strip = counting  # type: ignore[method-assign]
        view.append(numbered(40_000, 5_000))
        await pilot.pause()
        assert view.line_count == 45_000
        height = view.body.scrollable_content_region.height
        assert 0 < len(built) <= height
        assert min(built) >= 45_000 - height


async def test_search_highlights_and_jumps_between_matches() -> None:
    lines = [LogLine(f"row {i}", "stdout", "deploy") for i in range(3_000)]
    for at in (100, 1_500, 2_900):
        lines[at] = LogLine(f"found the NEEDLE at {at}", "stdout", "deploy")
    app = LogApp(lines)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        await pilot.press("slash")
        assert app.query_one("#log-search", Input).has_focus
        await pilot.press(*"needle")  # any case; n typed here is text, not "next match"
        await pilot.pause()
        assert view.matches == [100, 1_500, 2_900]
        assert view.current_match == 100  # the view was at the end: wraps to the first
        assert 100 in view.visible_range and not view.follow
        assert "NEEDLE at 100" in screen_text(app)
        assert "1/3 matches" in status_text(app)
        await pilot.press("enter")
        assert view.body.has_focus
        await pilot.press("n")
        await pilot.pause()
        assert view.current_match == 1_500 and 1_500 in view.visible_range
        await pilot.press("n", "n")
        await pilot.pause()
        assert view.current_match == 100  # wrapped around
        await pilot.press("N")
        await pilot.pause()
        assert view.current_match == 2_900 and 2_900 in view.visible_range
        assert "3/3 matches" in status_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert view.matches == [] and view.current_match is None
        assert not app.query_one("#log-search", Input).has_class("-shown")


async def test_search_highlights_only_the_matching_text() -> None:
    app = LogApp([LogLine("alpha beta ALPHA", "stdout", "s")])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"alpha", "enter")
        await pilot.pause()
        view = app.query_one(LogView)
        strip = view.body._build_strip(0, view.body.rich_style)
        backgrounds = [(seg.text, seg.style.bgcolor) for seg in strip if seg.style]
        plain = view.body.rich_style.bgcolor
        assert [text for text, bg in backgrounds if bg != plain] == ["alpha", "ALPHA"]


async def test_search_without_matches_says_so() -> None:
    app = LogApp(list(numbered(0, 50)))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"zzz")
        await pilot.pause()
        assert "no matches" in status_text(app)
        assert app.query_one(LogView).follow  # nothing to jump to


async def test_stderr_and_system_lines_take_theme_styles() -> None:
    lines = [
        LogLine("plain out", "stdout", "s"),
        LogLine("bad thing", "stderr", "s"),
        LogLine("attempt 2 of 3", "system", "s"),
    ]
    app = LogApp(lines)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        body = app.query_one(LogView).body
        styles = [next(iter(body._build_strip(i, body.rich_style))).style for i in range(3)]
        error = Color.parse(app.theme_variables["error"]).triplet
        assert styles[1].color.triplet == error
        assert styles[0].color.triplet != error
        assert styles[2].italic and not styles[0].italic
        app.theme = "nord"  # switching theme recolours
        await pilot.pause()
        style = next(iter(body._build_strip(1, body.rich_style))).style
        assert style.color.triplet == Color.parse(app.theme_variables["error"]).triplet
        assert style.color.triplet != error


async def test_control_codes_are_cleaned_and_tabs_expanded() -> None:
    app = LogApp([LogLine("\x1b[31mred\x1b[0m\tcol\x07", "stdout", "s")])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.query_one(LogView).lines == ["red     col�"]


async def test_a_whole_run_prefixes_lines_with_their_step() -> None:
    app = LogApp(list(numbered(0, 3, "plan")))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "plan" not in screen_text(app).split("line 0")[0].splitlines()[-1]
        view = app.query_one(LogView)
        view.append(numbered(3, 2, "apply_eu"))  # a second step: prefixes appear
        await pilot.pause()
        text = screen_text(app)
        assert "plan     line 0" in text and "apply_eu line 4" in text
        view.show("one step", numbered(0, 2, "plan"), with_step=True)
        await pilot.pause()
        assert "plan line 1" in screen_text(app)


async def test_show_replaces_the_content_and_follows_again() -> None:
    app = LogApp(list(numbered(0, 500)))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        await pilot.press("up")
        assert not view.follow
        view.show("other", [LogRecord(1, 7, "other", 1, "stdout", "from the store", 0.0)])
        await pilot.pause()
        assert view.follow and view.line_count == 1
        assert "from the store" in screen_text(app)
        assert "other" in str(app.query_one("#log-title", Static).render())


def detail() -> StepDetail:
    step = StepRecord(
        run_id=3, name="apply_eu", position=2, type="script", requires=["plan"],
        status=StepStatus.FAILED, attempt=2, started_at=100.0, ended_at=112.0, held_at=None,
        exit_code=3, message="exit status 3", reused_from=None, pid=None, pgid=None,
        proc_started=None,
    )  # fmt: skip
    attempts = [AttemptRecord(3, "apply_eu", n, StepStatus.FAILED, 0.0, 1.0, 3, "") for n in (1, 2)]
    approvals = [
        ApprovalRecord(3, "apply_eu", False, "bob", "old", 50.0),
        ApprovalRecord(3, "apply_eu", True, "alice", "ship it [b]now[/b]", 60.0),
    ]
    return StepDetail.from_records(step, {"region": "eu-west-1"}, approvals, attempts)


async def test_the_detail_header_shows_the_step_record() -> None:
    app = LogApp(list(numbered(0, 5)), detail=detail())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        header = app.query_one("#log-detail", Static)
        assert header.display
        text = str(header.render())
        for part in ("✗ failed", "apply_eu", "attempt 2", "exit 3", "12.0s", "exit status 3"):
            assert part in text
        assert "region = eu-west-1" in text
        # the audit trail: every decision, oldest first (a gate may need several)
        assert text.index("rejected by bob") < text.index("approved by alice")
        assert "ship it [b]now[/b]" in text  # a comment is text, never markup
        app.query_one(LogView).set_detail(None)
        await pilot.pause()
        assert not header.display


# -- snapshot ----------------------------------------------------------------------------


def snapshot_app() -> LogApp:
    step = "apply_eu"
    lines = [
        LogLine("attempt 1 of 2 started", "system", step),
        LogLine("Initializing provider plugins...", "stdout", step),
        LogLine("aws_instance.web[0]: Creating...", "stdout", step),
        LogLine("aws_instance.web[1]: Creating...", "stdout", step),
        LogLine("Warning: deprecated attribute \"region\"", "stderr", step),
        LogLine("aws_instance.web[0]: Creation complete after 41s", "stdout", step),
        LogLine("Error: timeout waiting for aws_instance.web[1]", "stderr", step),
        LogLine("exit status 1; retrying in 5s", "system", step),
        LogLine("attempt 2 of 2 started", "system", step),
        *(LogLine(f"aws_instance.web[1]: Still creating... [{s}s elapsed]", "stdout", step)
          for s in range(10, 60, 10)),
        LogLine("Apply complete! 2 added, 0 changed, 0 destroyed.", "stdout", step),
    ]  # fmt: skip
    step_detail = StepDetail(
        name="apply_eu",
        status="succeeded",
        attempts=2,
        exit_code=0,
        duration=272.4,
        outputs={"instance_ids": "i-0a1b, i-2c3d", "region": "eu-west-1"},
    )
    return LogApp(lines, step_detail)


def test_log_view_snapshot(snap_compare: Callable[..., bool]) -> None:
    """A step's log: stdout, stderr in the error colour, system lines dim italic; a search."""
    assert snap_compare(snapshot_app(), terminal_size=SIZE, press=["slash", *"creat", "enter", "n"])


# -- wrap and times --------------------------------------------------------------------

LONG = "deploy plan: " + " ".join(f"word{i:02d}" for i in range(40)) + " then: flowtui-end"


async def test_w_wraps_long_lines_and_unwrapped_lines_scroll_sideways() -> None:
    lines = [LogLine("first", "stdout", "s"), LogLine(LONG, "stdout", "s"), LogLine("last")]
    app = LogApp(lines)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        assert "flowtui-end" not in screen_text(app)  # cut at the edge
        await pilot.press("right", "right", "right")
        assert view.body.scroll_x > 0  # sideways scrolling moves the text
        await pilot.press("w")
        await pilot.pause()
        assert view.wrap and view.body.scroll_x == 0
        rows = screen_text(app).splitlines()[2:]
        lead, width = view.body.lead, view.body.scrollable_content_region.width
        body = [row[lead:width] for row in rows[:5]]  # one line over five rows
        assert "".join(body).rstrip() == LONG
        assert rows[5][lead:].startswith("last")
        assert view.visible_range == range(0, 3)
        view.append([LogLine(LONG, "stdout", "s")] * 30)  # rows, not lines, fill the view
        await pilot.pause()
        assert view.follow and view.line_count - 1 in view.visible_range
        assert screen_text(app).count("flowtui-end") < 20
        await pilot.press("w")
        await pilot.pause()
        assert not view.wrap and view.line_count - 1 in view.visible_range


async def test_wrapped_lines_keep_search_jumps_in_view() -> None:
    lines = [LogLine(LONG, "stdout", "s") for _ in range(200)]
    lines[150] = LogLine("the NEEDLE", "stdout", "s")
    app = LogApp(lines)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(LogView)
        await pilot.press("w", "slash", *"needle", "enter")
        await pilot.pause()
        assert view.current_match == 150 and 150 in view.visible_range
        assert "the NEEDLE" in screen_text(app)


async def test_t_shows_each_lines_time() -> None:
    at = 1_700_000_000.25
    clock = time.strftime("%H:%M:%S", time.localtime(at)) + ".250"
    app = LogApp([LogLine("hello", "stdout", "s", at), LogLine("no time", "stdout", "s")])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert clock not in screen_text(app)
        await pilot.press("t")
        await pilot.pause()
        assert app.query_one(LogView).timestamps
        assert f"{clock} hello" in screen_text(app)
        await pilot.press("t")
        await pilot.pause()
        assert clock not in screen_text(app)


async def test_time_and_wrap_keys_are_in_the_footer_with_ids() -> None:
    app = LogApp(list(numbered(0, 5)))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        shown = {b.binding.id: b.binding for b in app.active_bindings.values()}
        for binding_id, key in (("log.timestamps", "t"), ("log.wrap", "w")):
            assert shown[binding_id].key == key and shown[binding_id].show
            assert shown[binding_id].tooltip


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_wrapped_log_snapshot(snap_compare: Callable[..., bool], size: tuple[int, int]) -> None:
    """`w`: a long line wraps under its step prefix instead of being cut at the edge."""
    lines = [
        LogLine("Planning 3 changes", "stdout", "plan"),
        LogLine(LONG, "stdout", "plan"),
        LogLine("Error: " + LONG, "stderr", "apply_eu"),
        LogLine("exit status 1", "system", "apply_eu"),
    ]
    assert snap_compare(LogApp(lines), terminal_size=size, press=["w"])


async def test_wrapped_lines_follow_a_terminal_resize() -> None:
    app = LogApp([LogLine(LONG, "stdout", "s") for _ in range(100)])
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        await pilot.press("w")
        await pilot.pause()
        wide_rows = view.body.virtual_size.height
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.pause()
        body = view.body
        assert body.virtual_size.width == body.scrollable_content_region.width
        assert body.virtual_size.height > wide_rows  # narrower: more rows per line
        assert view.follow and 99 in view.visible_range
        assert screen_text(app).splitlines()[-2].rstrip().endswith("flowtui-end")


async def test_a_progress_bar_shows_its_last_text() -> None:
    """Carriage returns rewrite a line on a terminal: the log shows what it left (as CI logs
    do), a CRLF line its text."""
    app = LogApp(
        [
            LogLine("progress 10%\rprogress 50%\rprogress 100%", "stdout", "s"),
            LogLine("windows line\r", "stdout", "s"),
            LogLine("kept\r\r", "stdout", "s"),
            # flowtui's own line ending in a step's words: every part kept
            LogLine("FAILED web1\rok: all hosts", "system", "s"),
        ]
    )
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.query_one(LogView).lines == [
            "progress 100%",
            "windows line",
            "kept",
            "FAILED web1�ok: all hosts",
        ]
