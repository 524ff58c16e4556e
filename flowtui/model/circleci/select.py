"""What the command line needs from a loaded CircleCI workflow: choosing one, describing it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from flowtui.model.circleci.config import CircleConfig, Note, load_config_text, split_marker
from flowtui.model.workflow import Workflow


def config_of(
    workflow: Workflow,
    parameters: Mapping[str, str] | None = None,
    orbs_dir: Path | None = None,
) -> CircleConfig | None:
    """The whole CircleCI config `workflow` was loaded from, or None for a flowtui file.

    `parameters` (`--param`) set its pipeline parameters; raises WorkflowError for one it
    does not declare or a value of the wrong type.  `orbs_dir` holds saved orb sources.
    """
    text, marked = split_marker(workflow.source)
    if marked is None:
        return None
    file = str(workflow.path) if workflow.path else workflow.name
    return load_config_text(text, file, workflow.path, parameters=parameters, orbs_dir=orbs_dir)


def pick(
    workflow: Workflow,
    name: str | None,
    parameters: Mapping[str, str] | None = None,
    orbs_dir: Path | None = None,
) -> tuple[Workflow, tuple[Note, ...]]:
    """The workflow `--workflow NAME` selects (or the config's only one), with its notes.

    Raises LookupError with a message listing the workflows when the choice is missing
    or wrong, or when NAME is given for a file that is not a CircleCI config; and
    WorkflowError when `parameters` do not fit the config's pipeline parameters.
    """
    config = config_of(workflow, parameters or None, orbs_dir)
    if config is None:
        if name is not None:
            raise LookupError(
                f"--workflow {name}: `{workflow.name}` is a flowtui workflow file, not a "
                "CircleCI config; --workflow only chooses among a CircleCI config's workflows"
            )
        return workflow, ()
    return config.select(name, strict=True), config.notes
