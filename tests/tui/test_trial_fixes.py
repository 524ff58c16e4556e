"""What a new user's trial of the dashboard found, each fixed and kept fixed (Pilot, real
runs of real files, 80x24)."""

from __future__ import annotations

from pathlib import Path

from msgspec.structs import replace
from textual.app import App, ComposeResult
from textual.message import Message
from textual.notifications import Notify
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Input, Label

from flowtui.engine.states import RunStatus
from flowtui.tui.app import FlowApp
from flowtui.tui.screens.approval import ApprovalScreen
from flowtui.tui.screens.builder import BuilderScreen
from flowtui.tui.screens.compare import CompareScreen
from flowtui.tui.screens.dialogs import HelpScreen
from flowtui.tui.screens.step_form import StepForm, TemplateList, TemplateScreen, TypeSelect
from flowtui.tui.widgets.dag_view import DagView
from flowtui.tui.widgets.run_history import PRIORITY, RunHistory
from flowtui.tui.widgets.timeline import TimelineView
from tests.cli.test_approval_inputs import SHIP
from tests.tui.test_any_size import a_run
from tests.tui.test_app import header, run_status, select, step_status, until, write
from tests.tui.test_keys import help_text
from tests.tui.test_python_workflows import FLOW

SMALL = (80, 24)


async def test_the_last_run_of_an_earlier_file_is_drawn_on_its_own_graph(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    path = write(folder, "ship.yaml", "name: ship\nsteps:\n  plan: {run: 'true'}\n")
    write(folder, "other.yaml", "name: other\nsteps:\n  a: {run: 'true'}\n")
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=SMALL) as pilot:
        await app.ready.wait()
        await select(pilot, app, "ship")
        await pilot.press("r")
        await until(pilot, lambda: run_status(app, 1) == "succeeded")
        await until(pilot, lambda: "succeeded" in header(app))
        assert "earlier version" not in header(app)
        # the file changes: `plan` dropped, two steps added
        write(
            folder,
            "ship.yaml",
            "name: ship\nsteps:\n  build: {run: 'true'}\n  test: {run: 'true'}\n",
        )
        app.catalog.apply(app.catalog.load([path]))
        await select(pilot, app, "other")  # and back: the run shown is the last one, not pinned
        await select(pilot, app, "ship")
        await until(pilot, lambda: "run #1" in header(app))
        dag = app.query_one(DagView)
        assert dag.node_names == ["plan"]
        assert "an earlier version of the file" in header(app)
        # back to the text the run had: the file's graph, no note
        write(folder, "ship.yaml", "name: ship\nsteps:\n  plan: {run: 'true'}\n")
        app.catalog.apply(app.catalog.load([path]))
        await app.refresh_view()
        assert dag.node_names == ["plan"]
        assert "earlier version" not in header(app)


def in_sight(screen: Screen[object], widget: Widget) -> bool:
    """Whether `widget`'s first cell is drawn on the screen (not scrolled away or covered)."""
    region = widget.region
    if not region.area:
        return False
    try:
        return screen.get_widget_at(region.x, region.y)[0] is widget
    except Exception:
        return False


async def test_the_approval_dialog_opens_on_its_question_with_its_buttons_in_sight(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(folder, "ship.yaml", SHIP)
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=SMALL) as pilot:
        await app.ready.wait()
        await select(pilot, app, "ship")
        await pilot.press("r")
        await until(pilot, lambda: step_status(app, 1, "approve") == "held")
        await until(pilot, lambda: "waiting: approve" in header(app))  # its toast is up
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        screen = app.screen
        await pilot.pause()
        assert app.focused is screen.query_one("#input-version", Input)
        assert in_sight(screen, screen.query_one(".title", Label))
        assert in_sight(screen, screen.query_one("#gate-message"))
        assert in_sight(screen, screen.query_one("#ok", Button))
        assert in_sight(screen, screen.query_one("#cancel", Button))
        # the comment, below the inputs, is reached by scrolling the middle
        await pilot.press("tab", "tab", "tab")
        assert app.focused is screen.query_one("#prompt", Input)
        await pilot.pause()
        assert in_sight(screen, screen.query_one("#prompt", Input))
        assert in_sight(screen, screen.query_one(".title", Label))


GATE = """\
name: gate
steps:
  plan: {run: 'true'}
  approve: {type: approval, requires: [plan]}
  apply: {requires: [approve], run: 'true'}
"""


async def test_a_held_run_s_eta_is_the_time_left_after_approval(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(folder, "gate.yaml", GATE)
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=SMALL) as pilot:
        await app.ready.wait()
        await select(pilot, app, "gate")
        for run_id in (1, 2):  # the first run gives the steps their usual times
            await pilot.press("r")
            await until(pilot, lambda r=run_id: step_status(app, r, "approve") == "held")
            await until(pilot, lambda r=run_id: f"run #{r}" in header(app))
            await until(pilot, lambda: "waiting: approve" in header(app))
            if run_id == 1:
                await pilot.press("a")
                await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
                await pilot.press("enter")
                await until(pilot, lambda: run_status(app, 1) == "succeeded")
        await until(pilot, lambda: "after approval" in header(app))
        assert "ETA ~" not in header(app) and "ETA any moment" not in header(app)


class Toasts:
    """Every toast posted, as (title, message, severity) (pass as `message_hook`)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def __call__(self, message: Message) -> None:
        if isinstance(message, Notify):
            note = message.notification
            self.seen.append((note.title, str(note.message), note.severity))


async def test_b_on_a_python_workflow_says_the_builder_edits_yaml(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "deploy.py").write_text(FLOW)
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    toasts = Toasts()
    async with app.run_test(size=SMALL, message_hook=toasts) as pilot:
        await app.ready.wait()
        await select(pilot, app, "pyflow")
        await pilot.press("b")
        await until(pilot, lambda: toasts.seen)
        title, text, severity = toasts.seen[-1]
        assert title == "the builder edits YAML files"
        assert text == "deploy.py: a Python workflow — edit it in $EDITOR (e)"
        assert severity == "warning"


async def test_enter_moves_through_the_step_form_in_order_and_tab_leaves_run(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(folder, "gate.yaml", GATE)
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False, triggers=False)
    async with app.run_test(size=SMALL) as pilot:
        await app.ready.wait()
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, BuilderScreen))
        builder = app.screen
        assert isinstance(builder, BuilderScreen)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, StepForm))
        form = app.screen
        hint = form.query_one("#form-hint")
        await pilot.press(*["backspace"] * 8, *"check", "enter")
        assert isinstance(app.focused, TypeSelect)  # name ⏎: the type, not skipped
        assert "space: list types" in str(hint.render())
        await pilot.press("enter")  # type ⏎: the next field, the script's run
        assert app.focused is form.query_one("#field-run")
        assert "tab: next field" in str(hint.render())
        await pilot.press("enter", *"echo checking", "tab")  # an enter too many, then on
        assert app.focused is not form.query_one("#field-run")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is builder)
        assert "run: echo checking" in builder.state.text


async def test_the_new_workflow_dialog_checks_the_name_as_typed_and_keeps_it(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(folder, "gate.yaml", GATE)
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False, triggers=False)
    async with app.run_test(size=SMALL) as pilot:
        await app.ready.wait()
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, TemplateScreen))
        dialog = app.screen
        assert dialog.query_one("#cancel", Button).label.plain == "Cancel"
        error = dialog.query_one("#template-error")
        await pilot.press(*"my flow")
        assert "letters, digits" in str(error.render()) and error.display
        await pilot.press("enter")  # refused: the name keeps the keys, the dialog stays
        assert app.screen is dialog and app.focused is dialog.query_one("#new-name", Input)
        await pilot.press(*["backspace"] * 7, *"gate")
        assert "gate.yaml already exists" in str(error.render())
        await pilot.press("backspace", *"es", "enter")  # `gates`: fine, on to the list
        assert not error.display
        templates = dialog.query_one(TemplateList)
        assert app.focused is templates
        start = templates.highlighted or 0
        await pilot.press("j")
        assert templates.highlighted == start + 1
        await pilot.press("k", "j")
        await pilot.click("#create")
        await until(pilot, lambda: isinstance(app.screen, BuilderScreen))
        text = (folder / "gates.yaml").read_text()
        assert text.startswith("name: gates") and "hello from" not in text  # the 2nd template


class ApprovedHistory(App[None]):
    """Runs with a long approver list and a short branch."""

    def compose(self) -> ComposeResult:
        yield RunHistory()

    def on_mount(self) -> None:
        runs = [replace(a_run(i, RunStatus.SUCCEEDED), branch="main") for i in range(3, 0, -1)]
        approvers = {2: "release-manager-on-call, second.approver@example.org"}
        self.query_one(RunHistory).add_runs(runs, approvers)


async def test_history_columns_are_left_out_in_the_readme_s_order() -> None:
    labels = {"Run": "id", "Status": "status", "Started": "started", "Duration": "duration"}
    labels |= {"Trigger": "trigger", "Approved by": "approved", "Branch": "branch"}
    app = ApprovedHistory()
    async with app.run_test(size=SMALL) as pilot:
        table = app.query_one(RunHistory)
        for width in (80, 120, 160, 200):
            await pilot.resize_terminal(width, 24)
            await pilot.pause()
            shown = {labels[str(c.label)] for c in table.columns.values()}
            kept = [key for key in PRIORITY if key in shown]
            # what is shown is a head of the priority order: nothing after a left-out one
            assert kept == [key for key in PRIORITY if key != "environment"][: len(kept)], width
            assert PRIORITY[-2:] == ("approved", "branch")  # the README's: branch first
            if width == 120:
                assert "approved" not in shown and "branch" not in shown
            if width == 200:
                assert {"approved", "branch"} <= shown


async def test_a_help_line_that_wraps_goes_on_under_its_description(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(folder, "gate.yaml", GATE)
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=SMALL) as pilot:
        await app.ready.wait()
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        await pilot.pause()
        lines = help_text(app).splitlines()
        titles = {title for title, _ in screen.sections}
        rows = sum(len(rows) for _, rows in screen.sections)
        starts = [line for line in lines if line and not line[0].isspace()]
        wrapped = [line for line in lines if line.startswith("   ")]
        assert wrapped  # at 80 columns some descriptions do wrap
        # a line that starts at column 0 is a title or a key; a wrapped one is indented
        assert len(starts) == rows + len(titles), starts


def line_text(widget: TimelineView, y: int) -> str:
    return "".join(segment.text for segment in widget.render_line(y))


async def test_an_invalid_or_never_run_workflow_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(folder, "broken.yaml", "name: broken\nsteps:\n  a: {run: 'true', requires: [nope]}\n")
    write(folder, "gate.yaml", GATE)
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=SMALL) as pilot:
        await app.ready.wait()
        await select(pilot, app, "broken")
        await until(pilot, lambda: "invalid" in header(app))
        assert "broken.yaml:3:" in header(app) and "press r" not in header(app)
        await select(pilot, app, "gate")
        await until(pilot, lambda: "never run — press r" in header(app))
        await pilot.press("t")
        timeline = app.query_one(TimelineView)
        await until(pilot, lambda: "no runs yet" in line_text(timeline, 0))
        assert "total" not in line_text(timeline, 0) and not line_text(timeline, 1).strip()


async def test_compare_shows_an_output_that_became_empty_as_none(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    mark = tmp_path / "ran-once"
    write(
        folder,
        "review.yaml",
        "name: review\nsteps:\n  check:\n    run: |\n"
        f"      if [ -f {mark} ]; then v=; else v='looks good'; touch {mark}; fi\n"
        '      echo "verdict=$v" >> "$FLOWTUI_OUTPUT"\n',
    )
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False)
    async with app.run_test(size=SMALL) as pilot:
        await app.ready.wait()
        await select(pilot, app, "review")
        for run_id in (1, 2):
            await pilot.press("r")
            await until(pilot, lambda r=run_id: run_status(app, r) == "succeeded")
            await until(pilot, lambda r=run_id: f"run #{r}" in header(app))
        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen))
        text = str(app.screen.query_one("#compare-lines").render())
        assert "check.verdict  looks good → (none)" in text
