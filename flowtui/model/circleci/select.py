"""What the command line needs from a CircleCI config: loading it whole, choosing a workflow."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from flowtui.model.circleci.config import CircleConfig, Note, load_config_text
from flowtui.model.circleci.detect import split_marker
from flowtui.model.errors import Problem, WorkflowError
from flowtui.model.workflow import SourcePos, Workflow
from flowtui.model.yamlsafe import MAX_FILE_BYTES, decode


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


def load_config_file(
    path: Path,
    parameters: Mapping[str, str] | None = None,
    orbs_dir: Path | None = None,
) -> CircleConfig:
    """Every workflow of the CircleCI config at `path`, even when none runs by default.

    Raises WorkflowError (file:line) for a config that cannot be read or does not load.
    """
    file = str(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        problem = Problem(SourcePos(file, 1, 1), f"cannot read the file: {exc.strerror or exc}")
        raise WorkflowError([problem]) from None
    if len(data) > MAX_FILE_BYTES:
        raise WorkflowError([Problem(SourcePos(file, 1, 1), "the file is too large")])
    return load_config_text(
        decode(data, file), file, path.resolve(), parameters=parameters, orbs_dir=orbs_dir
    )


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
