"""The preview of a rerun from a step, on the run's own graph, before anything starts.

The plan is the one the runner then follows (`flowtui.engine.plan`, also printed by
`flowtui rerun --from STEP --dry-run`): the steps that run again are highlighted, the
reused ones dimmed, the skipped ones muted; below the graph, why the selected step does what
it does.  `y` reruns, `n` / escape leaves the run as it is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label, Static

from flowtui.engine.plan import Action, PlannedStep
from flowtui.tui.screens.dialogs import Dialog
from flowtui.tui.widgets.dag_view import DagView

# the status each action is drawn with, the word in its box (a reused box is only dimmed:
# short names leave no room) and the word for it below the graph
LOOK = {
    Action.RUN: ("planned", "rerun", "runs again"),
    Action.REUSE: ("reused", "", "reused"),
    Action.SKIP: ("skipped", "skip", "skipped"),
}
LEGEND = "↻ runs again   ✓ dimmed: reused as it was   ↷ skipped"


class RerunPreviewScreen(Dialog[bool]):
    """Rerun `run_id` from `step`?  Dismisses with True to rerun."""

    BINDINGS = [
        Binding("y", "answer(True)", "Rerun"),
        Binding("n,escape", "answer(False)", "Keep"),
    ]

    DEFAULT_CSS = """
    RerunPreviewScreen > Vertical { width: 95%; max-width: 100%; height: 90%; padding: 0 1; }
    RerunPreviewScreen .title { margin-bottom: 0; }
    RerunPreviewScreen #preview-dag { height: 1fr; border: round $primary 50%; }
    RerunPreviewScreen #preview-legend { height: auto; color: $text-muted; }
    RerunPreviewScreen #preview-reason { height: auto; }
    RerunPreviewScreen .buttons { margin-top: 0; }
    """

    def __init__(
        self,
        *,
        run_id: int,
        workflow: str,
        step: str,
        graph: Sequence[tuple[str, Sequence[str]]],
        plan: Sequence[PlannedStep],
    ) -> None:
        super().__init__()
        self.run_id = run_id
        self.workflow = workflow
        self.step = step
        self.graph = list(graph)
        self.plan = {p.name: p for p in plan}

    def compose(self) -> ComposeResult:
        counts = Counter(p.action for p in self.plan.values())
        with Vertical():
            yield Label(
                f"Rerun run #{self.run_id} ({self.workflow}) from {self.step}? "
                f"{counts[Action.RUN]} to run again, {counts[Action.REUSE]} reused"
                + (f", {counts[Action.SKIP]} skipped" if counts[Action.SKIP] else ""),
                classes="title",
                markup=False,
            )
            yield DagView(animate=False, id="preview-dag")
            yield Static(LEGEND, id="preview-legend")
            yield Static("", id="preview-reason", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Keep (n)", id="no")
                yield Button("Rerun (y)", id="yes", variant="primary")

    def on_mount(self) -> None:
        dag = self.query_one(DagView)
        dag.set_graph(self.graph)
        dag.set_states(
            {name: LOOK[p.action][0] for name, p in self.plan.items()},
            {name: LOOK[p.action][1] for name, p in self.plan.items()},
        )
        dag.selected = self.step
        self._explain(self.step)
        dag.focus()  # arrows walk the graph; y / n answer

    def on_dag_view_step_highlighted(self, event: DagView.StepHighlighted) -> None:
        event.stop()
        self._explain(event.name)

    def on_dag_view_step_selected(self, event: DagView.StepSelected) -> None:
        event.stop()  # enter in the preview opens nothing behind it

    def _explain(self, name: str) -> None:
        planned = self.plan.get(name)
        text = "" if planned is None else f"{name}: {LOOK[planned.action][2]}"
        if planned is not None and planned.reason:
            text += f" — {planned.reason}"
        self.query_one("#preview-reason", Static).update(text)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
