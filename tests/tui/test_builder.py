"""The builder driven by keys alone at 80×24 (Pilot): add a step with its form, connect,
a refused connection marked on its node, undo/redo, rename, remove, save, and a new
workflow from a template."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from flowtui.model.loader import load_workflow
from flowtui.tui.app import FlowApp
from flowtui.tui.screens.builder import BuilderScreen
from flowtui.tui.screens.dialogs import ConfirmScreen
from flowtui.tui.screens.step_form import StepForm, TemplateScreen
from flowtui.tui.widgets.dag_view import DagView

SIZE = (80, 24)
GATE = """\
# shipped by hand -- keep this comment
name: gate
steps:
  plan: {run: ./plan.sh}   # the plan
  approve: {type: approval, requires: [plan]}
  apply:
    requires: [approve]
    run: ./apply.sh
"""


def status(screen: BuilderScreen) -> str:
    return str(screen.query_one("#builder-status", Static).render())


async def test_builder_shapes_a_workflow_by_keys_and_saves_it(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    path = folder / "gate.yaml"
    path.write_text(GATE)
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False, triggers=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await pilot.press("b")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, BuilderScreen)
        dag = screen.query_one(DagView)
        assert dag.node_names == ["plan", "approve", "apply"]
        assert dag.selected == "plan"

        # add a step after plan: its form, by keys (name, then the script's run, then done)
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, StepForm)
        await pilot.press(*["backspace"] * 4, *"lint", "enter", "enter")  # name, type
        await pilot.press(*"make lint")
        await pilot.press("tab", *"sh", "ctrl+s")  # run, then shell
        await pilot.pause()
        assert app.screen is screen
        assert dag.node_names == ["plan", "lint", "approve", "apply"]
        assert dag.selected == "lint"
        assert "added step `lint`" in status(screen)
        assert path.read_text() == GATE  # nothing written before save

        # connect: lint → apply (apply now requires lint)
        await pilot.press("c", "right")
        await pilot.pause()
        assert dag.selected == "apply"
        await pilot.press("enter")
        await pilot.pause()
        assert "`apply` now requires `lint`" in status(screen)

        # a cycle is refused, said, and marked on the node; the text stays
        before = screen.state.text
        await pilot.press("c", "left", "left")
        await pilot.pause()
        source = screen.connect_from
        await pilot.press("enter")
        await pilot.pause()
        assert "refused" in status(screen) and "cycle" in status(screen)
        assert screen.state.error_step is not None
        assert dag._states[screen.state.error_step] == "failed"
        assert screen.state.text == before, source

        # undo the connection, redo it
        await pilot.press("u")
        await pilot.pause()
        assert "lint" not in dict(screen.state.nodes())["apply"]
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert "lint" in dict(screen.state.nodes())["apply"]

        # rename lint → check (apply's requires follows)
        assert dag.selected == "plan"
        await pilot.press("right")
        assert dag.selected == "lint"
        await pilot.press("n", *["backspace"] * 4, *"check", "enter")
        await pilot.pause()
        assert dict(screen.state.nodes())["apply"] == ("approve", "check")

        # edit its form: a retry count
        await pilot.press("enter")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, StepForm)
        form.query_one("#field-retries").focus()
        await pilot.press(*"3", "ctrl+s")
        await pilot.pause()

        # save: written, loads, the untouched lines are as they were
        await pilot.press("w")
        await pilot.pause()
        saved = load_workflow(path)
        assert saved.steps["check"].retries == 3
        assert saved.steps["apply"].requires == ("approve", "check")
        text = path.read_text()
        assert text.startswith("# shipped by hand -- keep this comment\nname: gate\n")
        assert "  plan: {run: ./plan.sh}   # the plan\n" in text

        # someone else saves the file: the builder asks before overwriting it
        path.write_text(text + "# someone else\n")
        await pilot.press("y", "w")  # duplicate `check`, then save
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert path.read_text().endswith("# someone else\n")
        assert "check-copy" not in load_workflow(path).steps
        await pilot.press("u")  # the duplicate undone: back to the saved text
        await pilot.pause()
        assert not screen.state.dirty
        assert dag.selected == "plan"  # the selected copy is gone: back to the first step
        await pilot.press("right")
        assert dag.selected == "check"

        # delete a step others need: asks, then detaches them
        await pilot.press("delete")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        assert "check" not in dag.node_names
        # leaving with unsaved changes asks; discarding keeps the saved file
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        assert not isinstance(app.screen, BuilderScreen)
        assert "check" in load_workflow(path).steps


async def test_a_new_workflow_from_a_template_opens_in_the_builder(tmp_path: Path) -> None:
    """Also: the builder's keys (not the dashboard's) in the palette, and live validation."""
    folder = tmp_path / "workflows"
    folder.mkdir()
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False, triggers=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Run" in titles and "Builder" in titles and "Undo" not in titles
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, TemplateScreen)
        await pilot.press(*"release", "enter", "down", "enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, BuilderScreen)
        assert screen.query_one(DagView).node_names == ["build", "test", "deploy"]
        assert load_workflow(folder / "release.yaml").name == "release"

        commands = {c.title: c for c in app.get_system_commands(screen)}
        assert "Run" not in commands and "Undo" in commands and "Connect" in commands
        await pilot.press("r")  # the dashboard's run key waits while the builder is open
        await pilot.pause()
        assert app.screen is screen and not screen.state.dirty
        await commands["Duplicate"].callback()  # as the palette runs it
        await pilot.pause()
        assert "build-copy" in screen.query_one(DagView).node_names

        # live validation: an http step without its url keeps the form open, saying why
        await pilot.press("a", "backspace", "backspace", "backspace", "backspace", *"smoke")
        await pilot.press("tab", "space", "down", "enter")  # the type: http
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, StepForm)
        assert "missing `url`" in str(form.query_one("#form-error", Static).render())
        await pilot.press("tab", *"http://127.0.0.1:9/", "ctrl+s")
        await pilot.pause()
        assert app.screen is screen
        assert "smoke" in screen.query_one(DagView).node_names
        await pilot.press("ctrl+s", "q")  # saved: leaving does not ask
        await pilot.pause()
        assert not isinstance(app.screen, BuilderScreen)
        assert "smoke" in load_workflow(folder / "release.yaml").steps
        assert app.selected_entry is not None and app.selected_entry.name == "release"
