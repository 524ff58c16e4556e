"""Problems found in a workflow file, each pointing at file:line:col."""

from __future__ import annotations

from collections.abc import Iterable

from msgspec import Struct

from flowtui.model.workflow import SourcePos


class Problem(Struct, frozen=True):
    pos: SourcePos
    message: str
    hint: str = ""
    excerpt: str = ""  # the offending line with a caret under the column, when known

    def __str__(self) -> str:
        text = f"{self.pos}: error: {self.message}"
        if self.excerpt:
            text += "".join(f"\n    {line}" for line in self.excerpt.splitlines())
        if self.hint:
            text += "\n    hint: " + self.hint.replace("\n", "\n    ")
        return text


class WorkflowError(Exception):
    """A workflow file could not be loaded; `problems` lists everything found, by line."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = sorted(
            problems, key=lambda p: (p.pos.file, p.pos.line, p.pos.column)
        )
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)
