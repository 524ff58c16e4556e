"""Run CircleCI configs (`.circleci/config.yml`) as flowtui workflows; see docs/circleci.md.

Only the checks that tell a CircleCI config apart (`detect`) load with the package; the
translator (`config`, `select`: orbs, parameters, steps) loads on first use of one of its
names, so loading a flowtui file never imports it (issue #18: `flowtui run`'s start-up).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from flowtui.model.circleci.detect import (
    MARKER,
    is_circleci_path,
    looks_like_circleci,
    split_marker,
)

if TYPE_CHECKING:
    from flowtui.model.circleci.config import (
        JOB_STEP_TYPE,
        ORB_JOB_STEP_TYPE,
        STEP_TYPES,
        CircleConfig,
        Note,
        load_config_text,
        load_workflow_from_config,
    )
    from flowtui.model.circleci.select import config_of, load_config_file, pick

# the names loaded on first use, and the module each comes from
_LAZY = {
    "JOB_STEP_TYPE": "config",
    "ORB_JOB_STEP_TYPE": "config",
    "STEP_TYPES": "config",
    "CircleConfig": "config",
    "Note": "config",
    "load_config_text": "config",
    "load_workflow_from_config": "config",
    "config_of": "select",
    "load_config_file": "select",
    "pick": "select",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


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
