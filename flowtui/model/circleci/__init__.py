"""Run CircleCI configs (`.circleci/config.yml`) as flowtui workflows; see docs/circleci.md."""

from flowtui.model.circleci.config import (
    JOB_STEP_TYPE,
    MARKER,
    ORB_JOB_STEP_TYPE,
    STEP_TYPES,
    CircleConfig,
    Note,
    is_circleci_path,
    load_config_text,
    load_workflow_from_config,
    looks_like_circleci,
    split_marker,
)
from flowtui.model.circleci.select import config_of, load_config_file, pick

__all__ = [
    "JOB_STEP_TYPE",
    "MARKER",
    "ORB_JOB_STEP_TYPE",
    "STEP_TYPES",
    "CircleConfig",
    "Note",
    "config_of",
    "is_circleci_path",
    "load_config_file",
    "load_config_text",
    "load_workflow_from_config",
    "looks_like_circleci",
    "pick",
    "split_marker",
]
