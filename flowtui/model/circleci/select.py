"""What the command line needs from a loaded CircleCI workflow: choosing one, describing it."""

from __future__ import annotations

from collections.abc import Mapping

from flowtui.model.circleci.config import CircleConfig, Note, load_config_text, split_marker
from flowtui.model.workflow import Workflow


def config_of(
    workflow: Workflow, parameters: Mapping[str, str] | None = None
) -> CircleConfig | None:
    """The whole CircleCI config `workflow` was loaded from, or None for a flowtui file.

    `parameters` (`--param`) set its pipeline parameters; raises WorkflowError for one it
    does not declare or a value of the wrong type.
    """
    text, marked = split_marker(workflow.source)
    if marked is None:
        return None
    file = str(workflow.path) if workflow.path else workflow.name
    return load_config_text(text, file, workflow.path, parameters=parameters)


def pick(
    workflow: Workflow, name: str | None, parameters: Mapping[str, str] | None = None
) -> tuple[Workflow, tuple[Note, ...]]:
    """The workflow `--workflow NAME` selects (or the config's only one), with its notes.

    Raises LookupError with a message listing the workflows when the choice is missing
    or wrong, or when NAME is given for a file that is not a CircleCI config; and
    WorkflowError when `parameters` do not fit the config's pipeline parameters.
    """
    config = config_of(workflow, parameters or None)
    if config is None:
        if name is not None:
            raise LookupError(
                f"--workflow {name}: `{workflow.name}` is a flowtui workflow file, not a "
                "CircleCI config; --workflow only chooses among a CircleCI config's workflows"
            )
        return workflow, ()
    return config.select(name, strict=True), config.notes


def describe(workflow: Workflow) -> list[str]:
    """Lines for `flowtui validate`: the config's workflows and what flowtui will not do."""
    config = config_of(workflow)
    if config is None:
        return []
    listed = ", ".join(f"{n} ({len(w.steps)} jobs)" for n, w in config.workflows.items())
    lines = [f"    CircleCI workflows: {listed or 'none'}"]
    lines += [f"    {note}" for note in config.notes]
    return lines
