"""Modal dialogs: confirm, run parameters, and the key help (approvals: `approval`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

ResultT = TypeVar("ResultT")


class Dialog(ModalScreen[ResultT]):
    """The look every flowtui dialog shares: a bordered box in the middle of the screen."""

    DEFAULT_CSS = """
Dialog {
    align: center middle;
}
Dialog > Vertical {
    width: 70;
    max-width: 90%;
    height: auto;
    max-height: 90%;
    border: thick $primary;
    background: $surface;
    padding: 1 2;
}
Dialog .title {
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
"""


class ConfirmScreen(Dialog[bool]):
    """Yes/no. `y`/enter confirms, `n`/escape declines."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, *, confirm_label: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, classes="title")
            with Horizontal(classes="buttons"):
                yield Button("No", id="no")
                yield Button(self.confirm_label, id="yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class ParamsScreen(Dialog[dict[str, str] | None]):
    """A form with one input per declared parameter, prefilled with its default."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, workflow: str, params: Mapping[str, tuple[str, bool, str]]) -> None:
        """`params`: name -> (default, required, description)."""
        super().__init__()
        self.workflow = workflow
        self.params = dict(params)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Run {self.workflow}", classes="title")
            for name, (default, required, description) in self.params.items():
                label = name + (" (required)" if required else "")
                if description:
                    label += f" — {description}"
                yield Label(label)
                yield Input(value=default, id=f"param-{name}", name=name)
            yield Static("", id="params-error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Run", id="run", variant="primary")

    def on_mount(self) -> None:
        inputs = list(self.query(Input))
        if inputs:
            inputs[0].focus()

    def _values(self) -> dict[str, str] | None:
        values: dict[str, str] = {}
        for field in self.query(Input):
            name = field.name or ""
            if not field.value and self.params[name][1]:
                self.query_one("#params-error", Static).update(f"{name} is required")
                field.focus()
                return None
            if field.value or self.params[name][0]:
                values[name] = field.value
        return values

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
    """Every key of the dashboard. Any of escape, q or ? closes it."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, keys: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = list(keys)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("flowtui keys", classes="title")
            with VerticalScroll():
                width = max(len(k) for k, _ in self.keys)
                text = "\n".join(f"{k.ljust(width)}  {d}" for k, d in self.keys)
                yield Static(text)

    def action_close(self) -> None:
        self.dismiss(None)
