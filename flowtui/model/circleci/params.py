"""CircleCI 2.1 parameters: declaring them, binding arguments, `<< ... >>` substitution.

Substitution happens when the config is loaded, on the config's own text: the values come
from the same file (defaults, or arguments written in a workflow's job entry), never from
the command line, so nothing outside the file is spliced into a command.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

PARAM_TYPES = ("string", "boolean", "integer", "enum", "steps", "env_var_name", "executor")

# only these roots are CircleCI's: a shell heredoc like `cat <<EOF >>out` must stay as it is
REF_RE = re.compile(r"<<\s*((?:parameters|pipeline|matrix)\.[A-Za-z0-9_.-]+)\s*>>")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# pipeline values known only when the job runs: they become shell variable references
PIPELINE_ENV = {
    "pipeline.git.branch": "${CIRCLE_BRANCH}",
    "pipeline.git.tag": "${CIRCLE_TAG}",
    "pipeline.git.revision": "${CIRCLE_SHA1}",
    "pipeline.number": "${CIRCLE_BUILD_NUM}",
    "pipeline.id": "${CIRCLE_WORKFLOW_ID}",
}
# the `-p pipeline.NAME=VALUE` a run may set: the values above, and those with a local
# meaning (local_pipeline_values)
SETTABLE_PIPELINE_VALUES = (
    *PIPELINE_ENV,
    "pipeline.project.slug",
    "pipeline.project.git_url",
    "pipeline.project.type",
    "pipeline.trigger_source",
    "pipeline.schedule.name",
    "pipeline.schedule.id",
    "pipeline.git.base_revision",
)


def local_pipeline_values(project: str) -> dict[str, str]:
    """What pipeline values that only CircleCI's cloud knows mean on this machine.

    `project` is the project folder's name.  A run started here is like one started by
    hand through CircleCI's API: not scheduled, no previous build to compare with.
    """
    return {
        "pipeline.project.slug": f"local/{project}",
        "pipeline.project.git_url": "",
        "pipeline.project.type": "local",
        "pipeline.trigger_source": "api",
        "pipeline.schedule.name": "",
        "pipeline.schedule.id": "",
        "pipeline.git.base_revision": "",
    }


ErrorFn = Callable[[str], None]


def render(value: Any) -> str:
    """A scalar as CircleCI writes it into text (booleans lowercase)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def substitute(value: Any, scope: Mapping[str, Any], error: ErrorFn) -> Any:
    """Replace `<< parameters.x >>` (and pipeline./matrix. refs) throughout `value`.

    A string that is exactly one reference takes the parameter's own value (a boolean
    stays a boolean, a `steps` list stays a list); inside longer text it is rendered.
    """
    if isinstance(value, str):
        return _substitute_text(value, scope, error)
    if isinstance(value, Mapping):
        return {k: substitute(v, scope, error) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, scope, error) for v in value]
    return value


def _lookup(ref: str, scope: Mapping[str, Any], error: ErrorFn) -> Any:
    if ref in scope:
        return scope[ref]
    if ref in PIPELINE_ENV:
        return PIPELINE_ENV[ref]
    if ref.startswith("pipeline.parameters."):
        error(f"`<< {ref} >>`: no pipeline parameter `{ref[20:]}` in the top-level `parameters`")
    elif ref.startswith("parameters."):
        error(f"`<< {ref} >>`: no parameter `{ref[11:]}` is declared here")
    elif ref.startswith("matrix."):
        error(f"`<< {ref} >>`: no matrix parameter `{ref[7:]}` here")
    else:
        error(f"`<< {ref} >>` is not supported by flowtui")
    return ""


def _substitute_text(text: str, scope: Mapping[str, Any], error: ErrorFn) -> Any:
    whole = REF_RE.fullmatch(text.strip())
    if whole:
        return _lookup(whole.group(1), scope, error)
    return REF_RE.sub(lambda m: render(_lookup(m.group(1), scope, error)), text)


def declared(definitions: Any, error: ErrorFn) -> dict[str, dict[str, Any]]:
    """Check a `parameters:` block; return {name: {type, default?, enum?}}."""
    if definitions is None:
        return {}
    if not isinstance(definitions, Mapping):
        error("`parameters` must be a mapping of parameter names to their definitions")
        return {}
    result: dict[str, dict[str, Any]] = {}
    for name, spec in definitions.items():
        if not isinstance(spec, Mapping):
            error(f"parameter `{name}` must be a mapping with at least `type:`")
            continue
        kind = spec.get("type")
        if kind not in PARAM_TYPES:
            error(f"parameter `{name}`: `type` must be one of {', '.join(PARAM_TYPES)}")
            continue
        entry: dict[str, Any] = {"type": kind}
        if kind == "enum":
            choices = spec.get("enum")
            if not isinstance(choices, list) or not choices:
                error(f"enum parameter `{name}` needs a non-empty `enum:` list")
                continue
            entry["enum"] = [render(c) for c in choices]
        if "default" in spec:
            entry["default"] = spec["default"]
        result[str(name)] = entry
    return result


def check_value(name: str, spec: Mapping[str, Any], value: Any, error: ErrorFn) -> Any:
    """`value` converted to the parameter's type, or None after reporting a mismatch."""
    kind = spec["type"]
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        error(f"parameter `{name}` is a boolean, got {render(value)!r}")
        return None
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        error(f"parameter `{name}` is an integer, got {render(value)!r}")
        return None
    if kind == "steps":
        if isinstance(value, list):
            return value
        if isinstance(value, Mapping):
            return [value]
        error(f"parameter `{name}` takes a list of steps")
        return None
    if isinstance(value, Mapping | list):
        error(f"parameter `{name}` takes a single value, not a list or mapping")
        return None
    text = render(value)
    if kind == "enum" and text not in spec["enum"]:
        error(f"parameter `{name}` must be one of {', '.join(spec['enum'])}, got {text!r}")
        return None
    if kind == "env_var_name" and not _ENV_NAME.fullmatch(text):
        error(f"parameter `{name}` must be an environment variable name, got {text!r}")
        return None
    return text


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def from_command_line(
    definitions: Mapping[str, Mapping[str, Any]], given: Mapping[str, str], error: ErrorFn
) -> dict[str, Any]:
    """`--param NAME=VALUE` texts as values of the declared pipeline parameters' types.

    Only declared parameters can be set, and `steps`/`executor` ones cannot be set at
    all: a command line only ever picks a value, it never adds config.
    """
    values: dict[str, Any] = {}
    for name, text in given.items():
        spec = definitions.get(name)
        if spec is None and (name == "branch" or name.startswith("pipeline.")):
            continue  # flowtui's own `branch` param (as --branch); pipeline values
        if spec is None:
            known = ", ".join(definitions) or "none"
            error(
                f"--param {name}: the config declares no pipeline parameter `{name}` "
                f"(declared: {known})"
            )
            continue
        kind = spec["type"]
        if kind == "boolean":
            word = text.strip().lower()
            if word not in (*_TRUE, *_FALSE):
                error(f"--param {name}: a boolean, give true or false (got {text!r})")
                continue
            values[name] = word in _TRUE
        elif kind == "integer":
            try:
                values[name] = int(text.strip())
            except ValueError:
                error(f"--param {name}: an integer, got {text!r}")
        elif kind in ("steps", "executor"):
            error(f"--param {name}: a `{kind}` parameter cannot be set from the command line")
        else:
            values[name] = text
    return values


def bind(
    definitions: Mapping[str, Mapping[str, Any]],
    arguments: Mapping[str, Any],
    what: str,
    error: ErrorFn,
) -> dict[str, Any]:
    """Arguments checked against declared parameters, defaults filled in: {name: value}."""
    values: dict[str, Any] = {}
    for name in arguments:
        if name not in definitions:
            known = ", ".join(definitions) or "none"
            error(f"{what} has no parameter `{name}` (declared: {known})")
    for name, spec in definitions.items():
        if name in arguments:
            value = arguments[name]
        elif "default" in spec:
            value = spec["default"]
        else:
            error(f"{what} needs a value for its parameter `{name}` (it has no default)")
            values[name] = ""  # reported: its `<< >>` references are not "undeclared" too
            continue
        checked = check_value(name, spec, value, error)
        # a wrong value is reported once; its references still resolve (to the wrong
        # value: the config does not load, so it never runs) rather than being reported
        # again as a parameter that is not declared
        values[name] = checked if checked is not None else value
    return values


def truthy(condition: Any, error: ErrorFn) -> bool:
    """A 2.1 logic statement (`equal`, `and`, `or`, `not`, `matches`, or a literal)."""
    if isinstance(condition, Mapping):
        if len(condition) != 1:
            error("a condition must have exactly one of equal, and, or, not, matches")
            return False
        ((op, arg),) = condition.items()
        if op == "equal" and isinstance(arg, list):
            return all(render(a) == render(arg[0]) for a in arg)
        if op == "and" and isinstance(arg, list):
            return all(truthy(a, error) for a in arg)
        if op == "or" and isinstance(arg, list):
            return any(truthy(a, error) for a in arg)
        if op == "not":
            return not truthy(arg, error)
        if op == "matches" and isinstance(arg, Mapping):
            try:
                return re.fullmatch(str(arg.get("pattern")), render(arg.get("value"))) is not None
            except re.error as exc:
                error(f"`matches` pattern is not a valid regex: {exc}")
                return False
        error(f"unsupported condition `{op}` (use equal, and, or, not, matches)")
        return False
    if isinstance(condition, list):
        return bool(condition)
    return condition not in (None, False, 0, "", "false")
