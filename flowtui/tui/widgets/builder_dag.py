"""The builder's graph: the DAG view of a workflow's text, not of a run."""

from __future__ import annotations

from textual.binding import Binding

from flowtui.tui.widgets.dag_view import DagView


class BuilderDag(DagView):
    """A `DagView` whose enter edits the step and that hides the run-only keys (the
    failure path, following running steps): the builder's own keys take the footer."""

    BINDINGS = [
        Binding("enter", "open", "Edit step", tooltip="Edit the selected step's keys"),
        Binding("exclamation_mark", "toggle_failure_path", "Failure path", show=False),
        Binding("m", "toggle_compact", "Compact", id="builder.compact", show=False),
    ]
