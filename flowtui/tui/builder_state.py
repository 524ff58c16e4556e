"""The builder's state, without Textual: the file as opened, the text being shaped, undo and
redo, and the last refusal (with the step it is about, to mark that node).

Every change goes through `flowtui.model.edit`, so the text held here always loads; a
refused operation changes nothing and is kept as `error`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowtui.model import circleci, edit
from flowtui.model.editfile import OpenedFile
from flowtui.model.workflow import Workflow
from flowtui.model.yamlrt import RoundTrip, RoundTripError

MAX_UNDO = 200


class NotShapedHere(edit.EditRefused):
    """A file the builder does not shape (a Python workflow, a CircleCI config): nothing is
    wrong with it, it is edited in `$EDITOR`. `title` says so in a toast's title."""

    def __init__(self, message: str, title: str = "the builder edits YAML files") -> None:
        super().__init__(message)
        self.title = title


@dataclass
class BuilderState:
    opened: OpenedFile
    text: str
    workflow: Workflow
    undo_stack: list[str] = field(default_factory=list)
    redo_stack: list[str] = field(default_factory=list)
    error: str = ""
    error_step: str | None = None
    last_change: str = ""
    _tree: tuple[str, Any] | None = field(default=None, repr=False)

    @classmethod
    def open(cls, path: Path) -> BuilderState:
        """The file, loaded; EditRefused when it does not load (fix it first)."""
        if circleci.is_circleci_path(str(path)):
            raise NotShapedHere(
                f"{path.name}: a CircleCI config — edit it in $EDITOR (e)",
                title="the builder edits flowtui's own YAML files",
            )
        if path.suffix not in (".yaml", ".yml"):
            kind = "a Python workflow" if path.suffix == ".py" else "not a YAML file"
            raise NotShapedHere(f"{path.name}: {kind} — edit it in $EDITOR (e)")
        opened = OpenedFile.open(path)
        workflow = edit.check(opened.text, str(path), path.resolve())
        return cls(opened, opened.text, workflow)

    @property
    def path(self) -> Path:
        return self.opened.path

    @property
    def dirty(self) -> bool:
        return self.text != self.opened.text

    def nodes(self) -> list[tuple[str, tuple[str, ...]]]:
        """The steps as written in the file (a matrix step is one node) with their requires."""
        found: dict[str, list[str]] = {}
        for name, step in self.workflow.steps.items():
            base = step.base or name
            needs = found.setdefault(base, [])
            for required in step.requires:
                other = self.workflow.steps[required].base or required
                if other != base and other not in needs:
                    needs.append(other)
        return [(name, tuple(needs)) for name, needs in found.items()]

    def step_keys(self, name: str) -> dict[str, object]:
        """The step's keys as written (the editable tree's values)."""
        if self._tree is None or self._tree[0] != self.text:  # parsed once per text
            try:
                self._tree = (self.text, RoundTrip(self.text).data)
            except RoundTripError:
                return {}
        item = self._tree[1].get("steps", {}).get(name)
        return dict(item) if isinstance(item, dict) else {}

    def apply(self, *operations: edit.Operation) -> bool:
        """Make the change; False (and `error` says why) when it is refused."""
        file = str(self.path)
        try:
            result = edit.apply_all(self.text, operations, file, self.path.resolve())
        except edit.EditRefused as exc:
            self.error = str(exc)
            self.error_step = _step_named(exc, operations)
            return False
        self.undo_stack.append(self.text)
        del self.undo_stack[:-MAX_UNDO]
        self.redo_stack.clear()
        self._show(result.text, result.workflow)
        self.last_change = "; ".join(result.changes + result.notes)
        return True

    def undo(self) -> bool:
        if not self.undo_stack:
            return False
        self.redo_stack.append(self.text)
        self._back_to(self.undo_stack.pop(), "undone")
        return True

    def redo(self) -> bool:
        if not self.redo_stack:
            return False
        self.undo_stack.append(self.text)
        self._back_to(self.redo_stack.pop(), "redone")
        return True

    def save(self, *, force: bool = False) -> None:
        """Write the text; FileChanged when someone else saved the file meanwhile."""
        self.opened = self.opened.save(self.text, force=force)
        self.last_change = f"saved {self.path.name}"

    def _back_to(self, text: str, what: str) -> None:
        self._show(text, edit.check(text, str(self.path), self.path.resolve()))
        self.last_change = what

    def _show(self, text: str, workflow: Workflow) -> None:
        self.text = text
        self.workflow = workflow
        self.error = ""
        self.error_step = None


def _step_named(exc: edit.EditRefused, operations: tuple[edit.Operation, ...]) -> str | None:
    """The step a refusal is about: the one the loader's first problem sits in (its name
    in the message), else the step the operation changed."""
    names = [n for n in _operation_steps(operations) if f"`{n}`" in str(exc)]
    if names:
        return names[0]
    steps = _operation_steps(operations)
    return steps[0] if steps else None


def _operation_steps(operations: tuple[edit.Operation, ...]) -> list[str]:
    found: list[str] = []
    for op in operations:
        if isinstance(op, (edit.Connect, edit.Disconnect)):
            found += [op.target, op.source]
        elif isinstance(op, edit.SetKeys):
            found.append(op.step)
        elif isinstance(op, edit.Rename):
            found.append(op.old)
        elif isinstance(op, (edit.RemoveStep, edit.Duplicate, edit.MoveStep)):
            found.append(op.name)
        elif isinstance(op, edit.AddStep):
            found += [op.after or op.before or ""]
    return [n for n in found if n]


__all__ = ["BuilderState"]
