"""The builder's dialogs: a step's form (its type's keys), a name, and a new workflow from a
template.  They return plain text; the builder turns it into edit operations."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, OptionList, Select, Static, TextArea

from flowtui.model import edit
from flowtui.model.checker import NAME_RE
from flowtui.model.yamlrt import parse_value
from flowtui.tui.screens.dialogs import Dialog

# offered on every step's form besides its type's own keys
COMMON_FORM_KEYS = ("description", "when", "timeout", "retries", "continue_on_failure")
TEXT_KEYS = ("run",)  # edited as text over several lines, never read as YAML
GRAPH_KEYS = ("type", "requires")  # changed on the graph (connect), not in the form


def value_text(value: Any) -> str:
    """A key's value as the form shows it: text that `parse_value` reads back the same."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        try:
            same = "\n" not in value and parse_value(value) == value
        except ValueError:
            same = False
        return value if same else json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_in_flow(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_in_flow(k)}: {_in_flow(v)}" for k, v in value.items()) + "}"
    return str(value)


def _in_flow(value: Any) -> str:
    """An item inside `[...]` / `{...}`: text with a flow indicator in it is quoted."""
    if isinstance(value, str) and any(c in value for c in ",[]{}:#"):
        return json.dumps(value)
    return value_text(value)


# what the form's last line says, by the kind of field that has the keys
HINTS = {
    "line": "enter: next field · ctrl+s: done · esc: cancel",
    "type": "enter: next field · space: list types · ctrl+s: done · esc: cancel",
    "text": "enter: new line · tab: next field · ctrl+s: done · esc: cancel",
}
_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*\n)+")


def without_leading_blank_lines(text: str) -> str:
    """A multi-line field's text without the empty lines before its first (an enter typed
    into it to move on is not a line of the script)."""
    return _LEADING_BLANK_LINES.sub("", text)


class TypeSelect(Select[str]):
    """The type field: enter moves on like every field's; space (or an arrow) opens the
    list of types."""

    BINDINGS = [Binding("enter", "next_field", "Next field", show=False)]

    def action_next_field(self) -> None:
        screen = self.screen
        if isinstance(screen, StepForm):
            screen.focus_next_field(self)


@dataclass(frozen=True, slots=True)
class StepFormResult:
    name: str
    type: str
    values: dict[str, str]  # every field's text ("" = not set)


class StepForm(Dialog[StepFormResult | None]):
    """A step's keys, one line each (a script's `run` gets a few).  enter moves to the next
    field (name, type, then the type's keys) and on the last one saves; in the multi-line
    `run` enter is a new line and tab moves on; ctrl+s saves from anywhere; escape cancels."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Done", priority=True),
    ]
    DEFAULT_CSS = """
    StepForm > Vertical { width: 76; max-height: 100%; padding: 0 1; }
    StepForm #fields { height: auto; max-height: 12; }
    StepForm .row { height: auto; }
    StepForm .row Label { width: 20; color: $text-muted; }
    StepForm .row Input { width: 1fr; margin: 0; }
    StepForm .row Select { width: 1fr; }
    StepForm .row TextArea { width: 1fr; height: 3; }
    StepForm #form-error { color: $error; height: auto; max-height: 4; }
    StepForm #form-hint { color: $text-muted; }
    """

    def __init__(
        self,
        title: str,
        *,
        name: str = "",
        step_type: str = "script",
        values: Mapping[str, Any] | None = None,
        new: bool = True,
        types: Sequence[str] = (),
        check: Callable[[StepFormResult], str | None] | None = None,
    ) -> None:
        """`check` tries the result (the builder makes the change): None when taken, else
        why not — the form stays open with the reason, its fields as typed."""
        super().__init__()
        self.title_text = title
        self.step_name = name
        self.step_type = step_type
        self.texts = {k: value_text(v) for k, v in (values or {}).items() if k not in GRAPH_KEYS}
        self.new = new
        self.types = tuple(types) or edit.step_types()
        self.check = check

    def keys_for(self, step_type: str) -> list[tuple[str, bool]]:
        """(key, required) for the form: the type's keys, the common ones, and any other
        key the step already has."""
        try:
            own, required = edit.type_keys(step_type)
        except edit.EditRefused:
            own, required = (), ()
        keys = dict.fromkeys((*own, *COMMON_FORM_KEYS, *self.texts))
        return [(k, k in required) for k in keys]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title", markup=False)
            with Horizontal(classes="row"):
                yield Label("name")
                yield Input(self.step_name, id="field-name", disabled=not self.new, compact=True)
            with Horizontal(classes="row"):
                yield Label("type")
                yield TypeSelect(
                    [(t, t) for t in self.types],
                    value=self.step_type if self.step_type in self.types else self.types[0],
                    allow_blank=False,
                    id="field-type",
                    compact=True,
                )
            fields = VerticalScroll(id="fields")
            fields.can_focus = False  # tab goes from field to field, not to the box
            yield fields
            yield Static("", id="form-error")
            yield Static(HINTS["line"], id="form-hint")

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        kind = "line"
        if isinstance(event.widget, TextArea):
            kind = "text"
        elif any(isinstance(w, Select) for w in event.widget.ancestors_with_self):
            kind = "type"  # the type field, or its open list
        self.query_one("#form-hint", Static).update(HINTS[kind])

    async def on_mount(self) -> None:
        await self._show_fields(self.step_type)
        first = self.query_one("#field-name", Input)
        if self.new:
            first.focus()
        else:
            self.focus_next_field(first)

    async def _show_fields(self, step_type: str) -> None:
        self._keep_texts()
        box = self.query_one("#fields", VerticalScroll)
        await box.remove_children()
        rows = []
        for key, required in self.keys_for(step_type):
            label = Label(key + (" *" if required else ""))
            text = self.texts.get(key, "")
            field: Input | TextArea
            if key in TEXT_KEYS:
                field = TextArea(
                    text, id=f"field-{key}", name=key, tab_behavior="focus", compact=True
                )
            else:
                field = Input(text, id=f"field-{key}", name=key, compact=True)
            rows.append(Horizontal(label, field, classes="row"))
        await box.mount_all(rows)
        self.step_type = step_type

    def _keep_texts(self) -> None:
        for field in self.query("#fields Input, #fields TextArea"):
            if isinstance(field, Input):
                self.texts[field.name or ""] = field.value
            elif isinstance(field, TextArea):
                self.texts[field.name or ""] = field.text

    async def on_select_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.step_type:
            await self._show_fields(event.value)

    def focus_next_field(self, after: Any) -> None:
        fields = [f for f in self.query("Input, TextArea, TypeSelect") if not f.disabled]
        if after in fields and fields.index(after) + 1 < len(fields):
            fields[fields.index(after) + 1].focus()
        elif after not in fields and fields:
            fields[0].focus()
        else:
            self.action_submit()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.focus_next_field(event.input)

    def action_submit(self) -> None:
        self._keep_texts()
        name = self.query_one("#field-name", Input).value.strip()
        if not name:
            self.query_one("#form-error", Static).update("the step needs a name")
            return
        wanted = {k for k, _ in self.keys_for(self.step_type)}
        values = {
            k: without_leading_blank_lines(v) if k in TEXT_KEYS else v
            for k, v in self.texts.items()
            if k in wanted
        }
        for key, text in values.items():
            if text.strip() and key not in TEXT_KEYS:
                try:
                    parse_value(text)
                except ValueError as exc:
                    self.query_one("#form-error", Static).update(Text(f"{key}: {exc}"))
                    return
        result = StepFormResult(name, self.step_type, values)
        problem = self.check(result) if self.check is not None else None
        if problem:
            self.query_one("#form-error", Static).update(Text(problem))
            return
        self.dismiss(result)

    def action_cancel(self) -> None:
        self.dismiss(None)


class NameScreen(Dialog[str | None]):
    """One line of text (a step's new name, a new workflow's name)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, value: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title", markup=False)
            yield Input(self.value, id="name")
            yield Static("enter: done · esc: cancel", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value.strip()
        if value:
            self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class TemplateList(OptionList):
    """The templates: arrows, or j/k as in the dashboard's lists."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]


def name_problem(name: str, folder: Path | None) -> str | None:
    """Why `name` cannot name a new workflow file in `folder`, or None when it can."""
    if not name:
        return "type a name first"
    if not NAME_RE.fullmatch(name):
        return f"`{name}`: letters, digits, - _ . only, starting with a letter or digit"
    if folder is not None and (folder / f"{name}.yaml").exists():
        return f"{name}.yaml already exists in {folder}"
    return None


class TemplateScreen(Dialog[tuple[str, str] | None]):
    """A new workflow: its name (checked as it is typed), then one of the templates (enter
    or Create picks the highlighted one); a name that cannot be used keeps it open."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    TemplateScreen OptionList { height: auto; max-height: 8; }
    TemplateScreen #template-error { color: $error; }
    TemplateScreen #template-error.-empty { display: none; }
    """

    def __init__(self, templates: Sequence[str], folder: Path | None = None) -> None:
        """`folder`: where the file is made (a name taken there is refused as typed)."""
        super().__init__()
        self.templates = list(templates)
        self.folder = folder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("New workflow: its name, then a template", classes="title")
            yield Input(placeholder="name (letters, digits, - _ .)", id="new-name")
            yield Static("", id="template-error", classes="-empty")
            yield TemplateList(*self.templates, id="templates")
            yield Static("enter: next · j/k or ↑/↓: template · esc: cancel", classes="hint")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Create", id="create", variant="primary", compact=True)

    def _say(self, problem: str | None) -> None:
        error = self.query_one("#template-error", Static)
        error.update(Text(problem or ""))
        error.set_class(not problem, "-empty")

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        name = event.value.strip()
        self._say(name_problem(name, self.folder) if name else None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        problem = name_problem(event.value.strip(), self.folder)
        self._say(problem)
        if problem is None:
            self.query_one(TemplateList).focus()

    def _create(self, index: int | None) -> None:
        name_box = self.query_one("#new-name", Input)
        name = name_box.value.strip()
        problem = name_problem(name, self.folder)
        if problem is not None:
            self._say(problem)
            name_box.focus()
            return
        self.dismiss((name, self.templates[index or 0]))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._create(event.option_index)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "create":
            self._create(self.query_one(TemplateList).highlighted)
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


__all__ = ["NameScreen", "StepForm", "StepFormResult", "TemplateScreen", "value_text"]
