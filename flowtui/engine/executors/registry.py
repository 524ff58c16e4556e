"""Which executor runs which step type.

The runner handles approval, condition and workflow steps itself; everything else goes
through `get_executor`.  `EXECUTORS` is a plain dict so that plugins (a future
`flowtui.steps` entry-point group) can add types with `register`.
"""

from __future__ import annotations

from collections.abc import Callable

from flowtui.engine.executors.base import StepExecutor
from flowtui.engine.executors.http import HttpExecutor
from flowtui.engine.executors.notify import NotifyExecutor
from flowtui.engine.executors.script import ScriptExecutor

ENTRY_POINT_GROUP = "flowtui.steps"

EXECUTORS: dict[str, Callable[[], StepExecutor]] = {
    ScriptExecutor.type_name: ScriptExecutor,
    HttpExecutor.type_name: HttpExecutor,
    NotifyExecutor.type_name: NotifyExecutor,
}


def register(type_name: str, factory: Callable[[], StepExecutor]) -> None:
    EXECUTORS[type_name] = factory


def get_executor(step_type: str) -> StepExecutor:
    try:
        factory = EXECUTORS[step_type]
    except KeyError:
        known = ", ".join(sorted(EXECUTORS))
        raise KeyError(f"no executor for step type {step_type!r} (known: {known})") from None
    return factory()
