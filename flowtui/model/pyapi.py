"""The Python API for workflows written in Python (`from flowtui.workflows import Workflow`).

A `*.py` file of a workflow folder builds a `Workflow` with this API.  The API only collects
plain data — each step's keys exactly as YAML would spell them, and the file and line where
each step and workflow was declared; it checks nothing itself.  `flowtui.model.pyeval`
imports the file in a process of its own and prints that data; the loader turns it into a
YAML document and validates it like any workflow file, so the rules and the error messages
are the YAML ones, pinned to the Python line that declared the step.

This module imports nothing from flowtui and runs only in that child process (and in the
process of a decorated step, which imports the user's file again to find its function).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Literal, TypedDict, TypeVar, Unpack, overload

__all__ = [
    "DefinitionError",
    "StepOptions",
    "StepRef",
    "Workflow",
    "declared",
]

F = TypeVar("F", bound=Callable[..., Any])

# the module name a workflow file gets when its name is not one (`my-deploy.py`)
UNNAMED_MODULE = "_flowtui_workflow"

# where a workflow or step was declared: (file, line, column), 1-based
Origin = tuple[str, int, int]


class DefinitionError(Exception):
    """A value the API cannot turn into workflow data (raised where it was given)."""


@dataclass(frozen=True, slots=True)
class StepRef:
    """What every step method returns: use it in `requires=`, `then=`, `else_=` (as the
    step's name, or a function decorated with `@wf.step`)."""

    name: str

    def __str__(self) -> str:
        return self.name


# a step: its reference, its name, or a function decorated with `@wf.step`
StepLike = StepRef | str | Callable[..., Any]
Requires = StepLike | Sequence[StepLike]
STEP_ATTRIBUTE = "__flowtui_step__"  # a decorated function's step name


class StepOptions(TypedDict, total=False):
    """The keys every step type takes (docs/workflow-format.md, "Keys for every step type")."""

    requires: Requires
    env: Mapping[str, str | int | float | bool]
    when: str
    continue_on_failure: bool
    timeout: str | float
    retries: int | Mapping[str, Any]
    retry_delay: str | float
    description: str
    matrix: Mapping[str, Sequence[str | int | float | bool]]
    always: bool
    on_failure: bool
    kill_grace: str | float
    branches: str | Sequence[str] | Mapping[str, str | Sequence[str]]
    runs_on: str
    sandbox: bool


@dataclass(slots=True)
class StepData:
    name: str
    origin: Origin
    keys: dict[str, Any]


@dataclass(slots=True)
class WorkflowData:
    origin: Origin
    keys: dict[str, Any]
    steps: list[StepData] = field(default_factory=list)


# every Workflow built in this process, in order (pyeval reads it after importing a file)
declared: list[Workflow] = []


class Workflow:
    """A workflow: `Workflow("deploy", params={"version": {"required": True}})`.

    The keyword arguments are the top-level keys of a YAML workflow; a key left out (None)
    takes the YAML default.  Steps are added in order with the methods below.
    """

    def __init__(
        self,
        name: str,
        *,
        description: str | None = None,
        status: Literal["active", "paused", "draft"] | None = None,
        triggers: Sequence[str | Mapping[str, Any]] | None = None,
        concurrency: int | None = None,
        concurrency_group: str | None = None,
        env: Mapping[str, str | int | float | bool] | None = None,
        params: Mapping[str, Any] | None = None,
        fail_fast: bool | None = None,
        secrets: Mapping[str, Mapping[str, str]] | None = None,
        runs_on: str | None = None,
        sandbox: bool | None = None,
    ) -> None:
        keys = {
            "name": name,
            "description": description,
            "status": status,
            "triggers": triggers,
            "concurrency": concurrency,
            "concurrency_group": concurrency_group,
            "env": env,
            "params": params,
            "fail_fast": fail_fast,
            "secrets": secrets,
            "runs_on": runs_on,
            "sandbox": sandbox,
        }
        self.name = name
        self.data = WorkflowData(_origin(), _keys(keys))
        declared.append(self)

    # ------------------------------------------------------------------ step types

    def script(
        self,
        name: str,
        run: str,
        *,
        shell: Literal["bash", "sh", "python", "node"] | None = None,
        cwd: str | None = None,
        **options: Unpack[StepOptions],
    ) -> StepRef:
        """A `script` step: `run` is the script's text."""
        return self._add(name, None, {"run": run, "shell": shell, "cwd": cwd}, options)

    def http(
        self,
        name: str,
        url: str,
        *,
        method: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: str | None = None,
        json: Any = None,
        expect_status: int | Sequence[int] | None = None,
        expect_body: str | None = None,
        **options: Unpack[StepOptions],
    ) -> StepRef:
        """An `http` step: one request, checked against `expect_status` / `expect_body`."""
        keys = {
            "url": url,
            "method": method,
            "headers": headers,
            "body": body,
            "json": json,
            "expect_status": expect_status,
            "expect_body": expect_body,
        }
        return self._add(name, "http", keys, options)

    def approval(
        self,
        name: str,
        *,
        approvers: Sequence[str] | None = None,
        message: str | None = None,
        inputs: Mapping[str, Any] | None = None,
        required_approvals: int | None = None,
        allow_self_approval: bool | None = None,
        **options: Unpack[StepOptions],
    ) -> StepRef:
        """An `approval` gate: the run waits until a person approves (or rejects)."""
        keys = {
            "approvers": approvers,
            "message": message,
            "inputs": inputs,
            "required_approvals": required_approvals,
            "allow_self_approval": allow_self_approval,
        }
        return self._add(name, "approval", keys, options)

    def condition(
        self,
        name: str,
        if_: str,
        *,
        then: Requires | None = None,
        else_: Requires | None = None,
        **options: Unpack[StepOptions],
    ) -> StepRef:
        """A `condition` step: `if_` is the expression (`if`, `then`, `else` in YAML)."""
        return self._add(name, "condition", {"if": if_, "then": then, "else": else_}, options)

    def notify(self, name: str, url: str, message: str, **options: Unpack[StepOptions]) -> StepRef:
        """A `notify` step: post `message` to a chat webhook `url`."""
        return self._add(name, "notify", {"url": url, "message": message}, options)

    def workflow(
        self,
        name: str,
        workflow: str,
        *,
        params: Mapping[str, str | int | float | bool] | None = None,
        **options: Unpack[StepOptions],
    ) -> StepRef:
        """A `workflow` step: run another workflow (by name or file) and wait for it."""
        return self._add(name, "workflow", {"workflow": workflow, "params": params}, options)

    def ansible(
        self,
        name: str,
        playbook: str,
        *,
        inventory: str | Sequence[str] | None = None,
        extra_vars: Mapping[str, Any] | None = None,
        limit: str | None = None,
        check: bool | None = None,
        diff: bool | None = None,
        tags: str | Sequence[str] | None = None,
        skip_tags: str | Sequence[str] | None = None,
        binary: str | None = None,
        **options: Unpack[StepOptions],
    ) -> StepRef:
        """An `ansible` step (docs/integrations.md)."""
        keys = {
            "playbook": playbook,
            "inventory": inventory,
            "extra_vars": extra_vars,
            "limit": limit,
            "check": check,
            "diff": diff,
            "tags": tags,
            "skip_tags": skip_tags,
            "binary": binary,
        }
        return self._add(name, "ansible", keys, options)

    def terraform(
        self,
        name: str,
        *,
        action: Literal["plan", "apply", "destroy"] | None = None,
        dir: str | None = None,
        vars: Mapping[str, Any] | None = None,
        workspace: str | None = None,
        plan: str | None = None,
        init: bool | None = None,
        binary: str | None = None,
        tofu: bool = False,
        **options: Unpack[StepOptions],
    ) -> StepRef:
        """A `terraform` step (`tofu=True`: a `tofu` step) (docs/integrations.md)."""
        keys = {
            "action": action,
            "dir": dir,
            "vars": vars,
            "workspace": workspace,
            "plan": plan,
            "init": init,
            "binary": binary,
        }
        return self._add(name, "tofu" if tofu else "terraform", keys, options)

    def python(
        self,
        name: str,
        call: str | Callable[..., Any],
        *,
        args: Mapping[str, Any] | None = None,
        **options: Unpack[StepOptions],
    ) -> StepRef:
        """A `python` step: `call` is `package.module:function`, or a module-level function."""
        target = call if isinstance(call, str) else _call_of(call)
        return self._add(name, "python", {"call": target, "args": args}, options)

    def plugin(self, name: str, type: str, **keys: Any) -> StepRef:
        """A step of any other type (a plugin's): its keys as YAML would spell them."""
        return self._add(name, type, {}, keys)

    @overload
    def step(self, func: F, /) -> F: ...

    @overload
    def step(
        self,
        func: None = None,
        /,
        *,
        name: str | None = None,
        args: Mapping[str, Any] | None = None,
        **options: Unpack[StepOptions],
    ) -> Callable[[F], F]: ...

    def step(
        self,
        func: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        args: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Any:
        """`@wf.step` or `@wf.step(requires=[...])`: the function becomes a `python` step.

        It runs in a process of its own, like any `python` step: it receives the step's
        context (`ctx.params`, `ctx.outputs`, `ctx.args`, ...) and the dict it returns
        becomes the step's outputs.  The function must be defined at the module's top level.
        """

        def decorate(fn: F) -> F:
            code = getattr(fn, "__code__", None)
            origin = (code.co_filename, code.co_firstlineno, 1) if code is not None else _origin()
            keys = {"call": _call_of(fn), "args": args}
            ref = self._add(name or fn.__name__, "python", keys, options, origin)
            setattr(fn, STEP_ATTRIBUTE, ref.name)  # so `requires=[fn]` names its step
            return fn

        if func is not None:
            return decorate(func)
        return decorate

    # -------------------------------------------------------------------- plumbing

    def _add(
        self,
        name: str,
        type_: str | None,
        keys: Mapping[str, Any],
        options: Mapping[str, Any],
        origin: Origin | None = None,
    ) -> StepRef:
        spelled: dict[str, Any] = {}
        if type_ is not None:
            spelled["type"] = type_
        spelled.update(keys)
        spelled.update(options)
        step = StepData(str(name), origin or _origin(), _keys(spelled))
        self.data.steps.append(step)
        return StepRef(step.name)


def _call_of(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not module or not qualname or "<" in qualname or module == "__main__":
        raise DefinitionError(
            f"{fn!r} cannot be called by a step: define it at the top level of a module "
            "of the workflow folder"
        )
    if module == UNNAMED_MODULE:
        raise DefinitionError(
            f"`{qualname}` cannot be called by a step: the file's name is not a Python "
            "module name (rename it with letters, digits and _, e.g. deploy_prod.py)"
        )
    return f"{module}:{qualname}"


def _keys(keys: Mapping[str, Any]) -> dict[str, Any]:
    """The keys that were given (not None), as plain data."""
    return {key: _plain(value, key) for key, value in keys.items() if value is not None}


def _plain(value: Any, where: str) -> Any:
    """`value` as JSON data; step references become their names."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, StepRef):
        return value.name
    if isinstance(getattr(value, STEP_ATTRIBUTE, None), str):
        return getattr(value, STEP_ATTRIBUTE)
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool)):
                raise DefinitionError(f"`{where}`: the key {key!r} must be a string")
            result[str(key) if not isinstance(key, str) else key] = _plain(item, f"{where}.{key}")
        return result
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise DefinitionError(
        f"`{where}` must be plain data (text, numbers, booleans, lists, dicts), "
        f"got {type(value).__name__}"
    )


def _origin() -> Origin:
    """The file, line and column of the first caller outside this module."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
    if frame is None:  # pragma: no cover - there is always a caller
        return ("<unknown>", 1, 1)
    line, column = frame.f_lineno, 1
    positions = list(frame.f_code.co_positions())
    index = frame.f_lasti // 2
    if 0 <= index < len(positions):
        start_line, _, start_col, _ = positions[index]
        # a call spread over lines reports its last line; its first is where it was written
        if start_line is not None:
            line = start_line
        if start_col is not None:
            column = start_col + 1
    return (frame.f_code.co_filename, line, column)
