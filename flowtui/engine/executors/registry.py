"""Which executor runs which step type.

The runner handles approval, condition and workflow steps itself; everything else goes
through `get_executor`.  `EXECUTORS` is a plain dict; `register` adds to it, and a type
found nowhere else is looked up among the plugins of the `flowtui.steps` entry-point
group (loaded once, by flowtui.model.steptypes; see docs/plugins.md).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import cast

from flowtui.engine.executors.base import StepExecutor
from flowtui.engine.executors.script import ScriptExecutor

ENTRY_POINT_GROUP = "flowtui.steps"


def _bundled(module: str, name: str) -> Callable[[], StepExecutor]:
    """A bundled executor whose module is imported when a step of its type first runs:
    `flowtui run` of shell steps starts without them (issue #18)."""

    def make() -> StepExecutor:
        factory = getattr(importlib.import_module(f"flowtui.engine.executors.{module}"), name)
        return cast("StepExecutor", factory())

    return make


EXECUTORS: dict[str, Callable[[], StepExecutor]] = {
    ScriptExecutor.type_name: ScriptExecutor,
    "http": _bundled("http", "HttpExecutor"),
    "notify": _bundled("notify", "NotifyExecutor"),
    "ansible": _bundled("ansible", "AnsibleExecutor"),
    "python": _bundled("python_call", "PythonCallExecutor"),
    "terraform": _bundled("terraform", "TerraformExecutor"),
    "tofu": _bundled("terraform", "TofuExecutor"),
    "circleci-job": _bundled("circleci_job", "CircleCIJobExecutor"),
}


def register(type_name: str, factory: Callable[[], StepExecutor]) -> None:
    EXECUTORS[type_name] = factory


def get_executor(step_type: str) -> StepExecutor:
    factory = EXECUTORS.get(step_type) or _plugin_factory(step_type)
    if factory is None:
        known = ", ".join(sorted(EXECUTORS))
        raise KeyError(f"no executor for step type {step_type!r} (known: {known})")
    return factory()


def _plugin_factory(step_type: str) -> Callable[[], StepExecutor] | None:
    from flowtui.model.steptypes import get_step_type  # loads plugins on first need

    schema = get_step_type(step_type)
    if schema is None or schema.plugin is None:
        return None
    plugin = schema.plugin
    # a class makes a fresh executor per step, like the bundled ones; an instance is shared
    if inspect.isclass(plugin):
        return cast("Callable[[], StepExecutor]", plugin)
    return lambda: cast("StepExecutor", plugin)
