"""Builder mode: shape the selected workflow on its graph, by keys alone.

The screen shows the workflow's steps (a `DagView` of the text being shaped, not of a run),
the selected step's keys, and what the last change did, or why it was refused, the step
it is about marked on the graph.  Every change is an operation of `flowtui.model.edit`
(the same as `flowtui edit`), checked by the loader before it is taken; nothing is written
until save (`ctrl+s` / `w`), which refuses to overwrite a file changed on disk without
asking.

| Key | Action |
| :- | :- |
| a / A | add a step after / before the selected one (a form for its type's keys) |
| enter | edit the selected step's form |
| c | connect: then pick the step that requires the selected one, enter (again: disconnect) |
| n | rename the selected step (requires and `steps.X` follow) |
| y | duplicate the selected step |
| delete | remove the selected step (asks to detach the steps that need it) |
| < / > | move the step earlier / later in the file |
| u / ctrl+r | undo / redo |
| ctrl+s / w | save the file |
| escape / q | leave the builder (asks when there are unsaved changes) |
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from flowtui.model import edit
from flowtui.model.editfile import FileChanged
from flowtui.model.yamlrt import parse_value
from flowtui.tui.builder_state import BuilderState
from flowtui.tui.keys import describe
from flowtui.tui.screens.dialogs import ConfirmScreen, HelpScreen
from flowtui.tui.screens.step_form import (
    TEXT_KEYS,
    NameScreen,
    StepForm,
    StepFormResult,
    value_text,
)
from flowtui.tui.widgets.builder_dag import BuilderDag
from flowtui.tui.widgets.dag_view import DagView
from flowtui.tui.widgets.footer import KeyFooter


class BuilderScreen(Screen[bool]):
    """Dismissed with True when the file was saved (the dashboard reloads it)."""

    keeps_keys = True  # the dashboard's own keys wait while the builder is open

    BINDINGS = [
        Binding("a", "add('after')", "Add", id="builder.add", tooltip="Add a step after this one"),
        Binding(
            "A",
            "add('before')",
            "Add before",
            id="builder.add_before",
            show=False,
            tooltip="Add a step before this one",
        ),
        Binding(
            "enter", "edit_step", "Edit", id="builder.edit", show=False, tooltip="Edit the step"
        ),
        Binding(
            "c",
            "connect",
            "Connect",
            id="builder.connect",
            tooltip="Connect: pick the step that requires this one, enter (again: disconnect)",
        ),
        Binding(
            "n", "rename", "Rename", id="builder.rename", show=False, tooltip="Rename the step"
        ),
        Binding(
            "y",
            "duplicate",
            "Duplicate",
            id="builder.duplicate",
            show=False,
            tooltip="Duplicate the step",
        ),
        Binding(
            "delete",
            "remove",
            "Delete",
            id="builder.delete",
            show=False,
            tooltip="Remove the step (asks when others need it)",
        ),
        Binding(
            "less_than_sign",
            "move('before')",
            "Earlier",
            id="builder.earlier",
            show=False,
            tooltip="Move the step earlier in the file",
        ),
        Binding(
            "greater_than_sign",
            "move('after')",
            "Later",
            id="builder.later",
            show=False,
            tooltip="Move the step later in the file",
        ),
        Binding("u", "undo", "Undo", id="builder.undo", tooltip="Undo the last change"),
        Binding(
            "ctrl+r", "redo", "Redo", id="builder.redo", show=False, tooltip="Redo what was undone"
        ),
        Binding("ctrl+s,w", "save", "Save", id="builder.save", tooltip="Write the file"),
        Binding(
            "escape,q",
            "leave",
            "Leave",
            id="builder.leave",
            tooltip="Leave the builder (asks when changes are not saved)",
        ),
        Binding("question_mark", "help", "Help", id="builder.help", tooltip="The builder's keys"),
    ]

    DEFAULT_CSS = """
    BuilderScreen { layout: vertical; }
    BuilderScreen #builder-title { height: 1; background: $primary; color: $text; padding: 0 1; }
    BuilderScreen DagView { height: 1fr; }
    BuilderScreen #builder-step { height: auto; max-height: 6; padding: 0 1; color: $text-muted; }
    BuilderScreen #builder-status { height: auto; max-height: 4; padding: 0 1; }
    BuilderScreen #builder-status.-error { color: $error; }
    """

    def __init__(self, state: BuilderState) -> None:
        super().__init__()
        self.state = state
        self.connect_from: str | None = None
        self.saved = False

    def compose(self) -> ComposeResult:
        yield Static("", id="builder-title", markup=False)
        yield BuilderDag(id="builder-dag", animate=False)
        yield Static("", id="builder-step")
        yield Static("", id="builder-status", markup=False)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.show()
        self.query_one(DagView).focus()

    # -- drawing ---------------------------------------------------------------------
    @property
    def dag(self) -> DagView:
        return self.query_one(DagView)

    @property
    def selected(self) -> str | None:
        name = self.dag.selected
        return name if name in self.dag.node_names else None

    def show(self, select: str | None = None) -> None:
        state = self.state
        mark = " · modified (ctrl+s saves)" if state.dirty else ""
        self.query_one("#builder-title", Static).update(
            f"Builder · {state.workflow.name} · {state.path.name}{mark}"
        )
        dag = self.dag
        dag.set_graph(state.nodes())
        states = {n: "pending" for n in dag.node_names}
        if self.connect_from in states:
            states[self.connect_from] = "held"
        if state.error_step in states:
            states[state.error_step] = "failed"
        dag.set_states(states)
        if select is not None and select in dag.node_names:
            dag.selected = select
        status = self.query_one("#builder-status", Static)
        status.set_class(bool(state.error), "-error")
        if self.connect_from is not None:
            status.update(
                f"connect: move to the step that requires `{self.connect_from}` and press "
                "enter (or c); esc cancels"
            )
        elif state.error:
            on_graph = state.error_step in dag.node_names
            where = f"`{state.error_step}`: " if on_graph else ""
            status.update(Text(f"refused: {where}{state.error}"))
        else:
            status.update(Text(state.last_change or "a add · enter edit · c connect · ? keys"))
        self.show_step()

    def show_step(self) -> None:
        name = self.selected
        text = Text()
        if name is not None:
            keys = self.state.step_keys(name)
            text.append(name, style="bold")
            for key, value in keys.items():
                shown = value_text(value).replace("\n", "⏎")
                text.append(f"  {key}: ")
                text.append(shown if len(shown) < 40 else shown[:37] + "…")
        self.query_one("#builder-step", Static).update(text)

    def on_dag_view_step_highlighted(self, message: DagView.StepHighlighted) -> None:
        self.show_step()

    def on_dag_view_step_selected(self, message: DagView.StepSelected) -> None:
        message.stop()
        if self.connect_from is not None:
            self.finish_connect(message.name)
        else:
            self.action_edit_step()

    def change(self, *operations: edit.Operation, select: str | None = None) -> bool:
        done = self.state.apply(*operations)
        self.show(select if done else None)
        return done

    # -- actions ---------------------------------------------------------------------
    def action_add(self, where: str) -> None:
        anchor = self.selected
        name = _free_name(self.state, "step")

        def check(result: StepFormResult) -> str | None:
            values = _values(result.values, {})
            requires = [anchor] if anchor and where == "after" else []
            ops: list[edit.Operation] = [
                edit.AddStep(
                    result.name,
                    result.type,
                    values,
                    requires,
                    after=anchor if where == "after" else None,
                    before=anchor if where == "before" else None,
                )
            ]
            if anchor and where == "before":
                ops.append(edit.Connect(result.name, anchor))
            return self.try_change(ops, result.name)

        title = f"New step {where} `{anchor}`" if anchor else "New step"
        self.app.push_screen(StepForm(title, name=name, check=check))

    def action_edit_step(self) -> None:
        name = self.selected
        if name is None:
            return
        keys = self.state.step_keys(name)
        step_type = str(keys.get("type") or "script")

        def check(result: StepFormResult) -> str | None:
            old = {k: value_text(v) for k, v in keys.items()}
            values = _values(result.values, old)
            unset = [k for k, text in result.values.items() if not text.strip() and k in keys]
            if result.type != step_type:
                values["type"] = result.type
                unset += [k for k in keys if k not in result.values and k != "requires"]
            if not values and not unset:
                return None
            return self.try_change([edit.SetKeys(name, values, unset)], name)

        form = StepForm(
            f"Step `{name}`",
            name=name,
            step_type=step_type,
            values=keys,
            new=False,
            check=check,
        )
        self.app.push_screen(form)

    def try_change(self, operations: list[edit.Operation], select: str) -> str | None:
        """A form's change: None when taken, else why not (the graph stays as it was)."""
        try:
            done = self.change(*operations, select=select)
        except ValueError as exc:  # a field that is not a YAML value
            return str(exc)
        if done:
            return None
        problem = self.state.error
        self.state.error, self.state.error_step = "", None
        self.show()
        return problem

    def action_connect(self) -> None:
        if self.connect_from is not None:
            if self.selected is not None:
                self.finish_connect(self.selected)
            return
        self.connect_from = self.selected
        self.show()

    def finish_connect(self, target: str) -> None:
        source, self.connect_from = self.connect_from, None
        if source is None or target == source:
            self.show()
            return
        requires = {n: r for n, r in self.state.nodes()}
        if source in requires.get(target, ()):
            self.change(edit.Disconnect(source, target), select=target)
        else:
            self.change(edit.Connect(source, target), select=target)

    def action_rename(self) -> None:
        name = self.selected
        if name is None:
            return

        def renamed(new: str | None) -> None:
            if new and new != name:
                self.change(edit.Rename(name, new), select=new)

        self.app.push_screen(NameScreen(f"Rename `{name}` to", name), renamed)

    def action_duplicate(self) -> None:
        name = self.selected
        if name is not None:
            new = _free_name(self.state, f"{name}-copy")
            self.change(edit.Duplicate(name, new), select=new)

    def action_remove(self) -> None:
        name = self.selected
        if name is None:
            return
        users = [n for n, needs in self.state.nodes() if name in needs]
        if not users:
            self.change(edit.RemoveStep(name))
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.change(edit.RemoveStep(name, detach=True))

        listed = ", ".join(users)
        question = f"Remove `{name}`? {listed} require it; they will no longer."
        self.app.push_screen(ConfirmScreen(question, confirm_label="Remove"), answered)

    def action_move(self, where: str) -> None:
        name = self.selected
        order = list(self.state.nodes())
        names = [n for n, _ in order]
        if name is None:
            return
        index = names.index(name) + (1 if where == "after" else -1)
        if 0 <= index < len(names):
            other = names[index]
            self.change(
                edit.MoveStep(name, after=other if where == "after" else None,
                              before=other if where == "before" else None),
                select=name,
            )  # fmt: skip

    def action_undo(self) -> None:
        if not self.state.undo():
            self.notify("nothing to undo", severity="warning")
        self.show()

    def action_redo(self) -> None:
        if not self.state.redo():
            self.notify("nothing to redo", severity="warning")
        self.show()

    def action_save(self, force: bool = False) -> None:
        try:
            self.state.save(force=force)
        except FileChanged:

            def answered(yes: bool | None) -> None:
                if yes:
                    self.action_save(force=True)

            question = (
                f"{self.state.path} was changed on disk since the builder opened it. "
                "Overwrite it with the builder's version?"
            )
            self.app.push_screen(ConfirmScreen(question, confirm_label="Overwrite"), answered)
            return
        except (edit.EditRefused, OSError) as exc:
            self.notify(f"not saved: {exc}", severity="error")
            return
        self.saved = True
        self.notify(f"saved {self.state.path.name}")
        self.show()

    def action_leave(self) -> None:
        if self.connect_from is not None:
            self.connect_from = None
            self.show()
            return
        saved = self.saved
        if not self.state.dirty:
            self.dismiss(saved)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.dismiss(saved)

        question = "Leave the builder? The changes not saved are lost."
        self.app.push_screen(ConfirmScreen(question, confirm_label="Discard"), answered)

    def action_help(self) -> None:
        keymap: dict[str, str] = getattr(self.app, "keymap", {})
        rows = [(k.keys, k.text) for k in describe(self.BINDINGS, keymap)]
        self.app.push_screen(HelpScreen([("Builder", rows)]))


def _values(texts: dict[str, str], old: dict[str, str]) -> dict[str, Any]:
    """The fields that changed, as values (`run` stays text; others are read as YAML)."""
    values: dict[str, Any] = {}
    for key, text in texts.items():
        if not text.strip() or text == old.get(key):
            continue
        values[key] = text if key in TEXT_KEYS else parse_value(text)
    return values


def _free_name(state: BuilderState, stem: str) -> str:
    taken = {n for n, _ in state.nodes()}
    if stem not in taken:
        return stem
    return next(f"{stem}{i}" for i in range(2, 10_000) if f"{stem}{i}" not in taken)


__all__ = ["BuilderScreen"]
