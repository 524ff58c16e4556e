"""The `:` command line at the bottom of the dashboard, with completion as you type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from textual.binding import Binding
from textual.message import Message
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import Input

from flowtui.tui.commands import COMMANDS, completion, wants

# (command name or "command", argument index) -> what may come there
Candidates = Callable[[str, int, Sequence[str]], Awaitable[Sequence[str]]]


class CommandSuggester(Suggester):
    """Completes command names, then each command's arguments from `candidates` (asked
    every time: workflows, runs and themes change while the dashboard is open)."""

    def __init__(self, candidates: Candidates) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.candidates = candidates

    async def get_suggestion(self, value: str) -> str | None:
        wanted = wants(value)
        if wanted is None:
            return None
        kind, index = wanted
        if kind == "command":
            return completion(value, list(COMMANDS))
        words = value.split(" ")
        return completion(value, await self.candidates(kind, index, words[1:-1]))


class CommandLine(Input):
    """A one-line command prompt, hidden until `open()`.

    | Key | Action |
    | :- | :- |
    | tab / → | take the completion shown |
    | enter | run the command |
    | escape | close |
    """

    BINDINGS = [
        Binding("tab", "complete", "Complete"),
        Binding("escape", "close", "Close"),
    ]

    DEFAULT_CSS = """
    CommandLine {
        display: none;
        height: 1;
        border: none;
        padding: 0 1;
        background: $boost;
        &.-open { display: block; }
        &:focus { border: none; background-tint: $foreground 5%; }
    }
    """

    class Entered(Message):
        """A command line was entered (the text without the `:`)."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, candidates: Candidates, *, id: str | None = None) -> None:
        super().__init__(
            placeholder=":run NAME · :approve RUN [STEP] · :theme NAME · :q — tab completes",
            suggester=CommandSuggester(candidates),
            id=id,
        )
        self._return_to: Widget | None = None  # what had the keys before `:`

    def open(self) -> None:
        self._return_to = self.app.focused
        self.value = ""
        self.add_class("-open")
        self.app.set_focus(self)  # at once: the keys typed right after `:` are the command

    def action_complete(self) -> None:
        self.action_cursor_right()  # at the end of the line: takes the suggestion

    def action_close(self) -> None:
        self._give_back()
        self._hide()

    async def action_submit(self) -> None:
        self.end()

    def end(self) -> None:
        """Enter: the keys go back at once to the panel that had them (what is typed behind
        the enter, `:run x⏎j`, is that panel's); the command runs once the keys typed before
        the enter, still queued here, are in the line."""
        self._give_back()
        self.call_later(self._enter)

    def _enter(self) -> None:
        text = self.value.strip()
        self._hide()
        if text:
            self.post_message(self.Entered(text))

    def _give_back(self) -> None:
        back = self._return_to
        if back is not None and back.is_attached and back is not self:
            self.app.set_focus(back)
        elif self.has_focus:
            self.screen.set_focus(None)

    def _hide(self) -> None:
        self.remove_class("-open")
        self.value = ""
