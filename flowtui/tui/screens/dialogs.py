"""Modal dialogs: confirm, run parameters (and environment), and the key help (approvals:
`approval`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

ResultT = TypeVar("ResultT")


class Dialog(ModalScreen[ResultT]):
    """The look every flowtui dialog shares: a bordered box in the middle of the screen."""

    DEFAULT_CSS = """
Dialog {
    align: center middle;
}
Dialog > Vertical {
    layer: dialog;  /* above the toasts: a toast never hides a dialog's fields or buttons */
    width: 70;
    max-width: 90%;
    height: auto;
    max-height: 90%;
    border: thick $primary;
    background: $surface;
    padding: 1 2;
}
Dialog .title {
    width: 1fr;  /* wraps: a long question (a file's path) is never cut */
    text-style: bold;
    margin-bottom: 1;
}
Dialog .buttons {
    height: auto;
    align-horizontal: right;
    margin-top: 1;
}
Dialog Button {
    margin-left: 2;
}
Dialog Input {
    margin-bottom: 1;
}
/* a compact field has no frame, and its background is the box's ($surface): a shade of
   its own shows where to type (the approval's comment, the builder's form) */
Dialog Input.-textual-compact, Dialog TextArea.-textual-compact {
    background: $panel;
    &:focus { background: $panel-lighten-1; }
    &:disabled { background: $surface; }
}
"""

    @property
    def layers(self) -> tuple[str, ...]:
        # Textual puts its toasts' layer last (topmost); the dialog's box goes above it
        return (*super().layers, "dialog")


class ConfirmScreen(Dialog[bool]):
    """Yes/no. `y` confirms, `n`/escape declines; enter presses the focused button, and the
    focus starts on the harmless one (an enter typed ahead never deletes or cancels)."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(
        self, question: str, *, confirm_label: str = "Yes", decline_label: str = "No"
    ) -> None:
        super().__init__()
        self.question = question
        self.confirm_label = confirm_label
        self.decline_label = decline_label

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, classes="title", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(f"{self.decline_label} (n)", id="no")
                yield Button(f"{self.confirm_label} (y)", id="yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


NO_ENVIRONMENT = ""  # the environment choice of a run bound to none


@dataclass(frozen=True, slots=True)
class RunRequest:
    """What the run dialog asks for: the params, and the environment (None: none)."""

    params: dict[str, str]
    environment: str | None = None


class ParamsScreen(Dialog[RunRequest | None]):
    """A form with one input per declared parameter, prefilled with its default, and,
    when the workflow has environments, a choice of one (or none) to run in."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        workflow: str,
        params: Mapping[str, tuple[str, bool, str]],
        environments: Sequence[tuple[str, str]] = (),
        *,
        environment: str | None = None,
    ) -> None:
        """`params`: name -> (default, required, description); `environments`: (name,
        label) to choose from; `environment`: the one chosen at first (None: none)."""
        super().__init__()
        self.workflow = workflow
        self.params = dict(params)
        self.environments = list(environments)
        self.environment = environment

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Run {self.workflow}", classes="title", markup=False)
            if self.environments:
                yield Label("Environment")
                yield Select(
                    [("none", NO_ENVIRONMENT), *((label, n) for n, label in self.environments)],
                    value=self.environment or NO_ENVIRONMENT,
                    allow_blank=False,
                    id="run-environment",
                )
            for name, (default, required, description) in self.params.items():
                label = name + (" (required)" if required else "")
                if description:
                    label += f" — {description}"
                yield Label(label, markup=False)
                yield Input(value=default, id=f"param-{name}", name=name)
            yield Static("", id="params-error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Run", id="run", variant="primary")

    def on_mount(self) -> None:
        inputs = list(self.query(Input))
        if inputs:
            inputs[0].focus()
        elif self.environments:
            self.query_one(Select).focus()

    def _values(self) -> RunRequest | None:
        values: dict[str, str] = {}
        for field in self.query(Input):
            name = field.name or ""
            if not field.value and self.params[name][1]:
                self.query_one("#params-error", Static).update(Content(f"{name} is required"))
                field.focus()
                return None
            if field.value or self.params[name][0]:
                values[name] = field.value
        chosen = None
        if self.environments:
            value = self.query_one(Select).value
            chosen = value if isinstance(value, str) and value != NO_ENVIRONMENT else None
        return RunRequest(values, chosen)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        inputs = list(self.query(Input))
        index = inputs.index(event.input)
        if index + 1 < len(inputs):
            inputs[index + 1].focus()
            return
        values = self._values()
        if values is not None:
            self.dismiss(values)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "run":
            self.dismiss(None)
            return
        values = self._values()
        if values is not None:
            self.dismiss(values)

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(Dialog[None]):
    """Every key of the dashboard, by section (made from the bindings: `tui.keys`). Any of
    escape, q or ? closes it; arrows, j / k and page keys scroll it."""

    BINDINGS = [
        Binding("escape,q,question_mark", "close", "Close"),
        Binding("j", "scroll('down')", "Down", show=False),
        Binding("k", "scroll('up')", "Up", show=False),
    ]
    DEFAULT_CSS = """
    HelpScreen > Vertical { width: 90; }
    HelpScreen VerticalScroll { height: auto; max-height: 1fr; }
    """

    @property
    def layers(self) -> tuple[str, ...]:
        # Textual puts its toasts' layer last (topmost); the dialog's box goes above it
        return (*super().layers, "dialog")

    def __init__(self, sections: Sequence[tuple[str, Sequence[tuple[str, str]]]]) -> None:
        super().__init__()
        self.sections = [(title, list(rows)) for title, rows in sections]

    def compose(self) -> ComposeResult:
        # a grid per section: a description that wraps goes on under itself, not under
        # the keys
        parts: list[RenderableType] = []
        for title, rows in self.sections:
            if parts:
                parts.append(Text(""))
            parts.append(Text(title, style="bold"))
            grid = Table.grid(padding=(0, 2))
            grid.add_column(no_wrap=True)
            grid.add_column(ratio=1)
            for key, description in rows:
                grid.add_row(Text(key), Text(description))  # never read as markup
            parts.append(grid)
        with Vertical():
            yield Label("flowtui keys", classes="title")
            with VerticalScroll():
                yield Static(Group(*parts))

    def action_scroll(self, direction: str) -> None:
        scroll = self.query_one(VerticalScroll)
        scroll.scroll_relative(y=1 if direction == "down" else -1, animate=False)

    def action_close(self) -> None:
        self.dismiss(None)
