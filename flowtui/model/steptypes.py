"""Step types beyond the core ones, described as data so the loader can check them.

The core types (script, http, approval, condition, notify, workflow) are checked by the
loader's own code.  Every other type — the bundled integrations (ansible, terraform, tofu,
python) and third-party plugins found through the `flowtui.steps` entry-point group — is
described by a `StepTypeSchema`: the keys it accepts, the ones it needs, and an optional
`validate(spec)` on plain data.  Plugins are imported lazily, once, the first time a type
is looked up that is not known otherwise; nothing here imports the engine.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from msgspec import Struct

from flowtui.model.workflow import STEP_TYPES

ENTRY_POINT_GROUP = "flowtui.steps"

# A problem from `validate`: a message about the whole step, or (key, message[, hint])
# pinned to that key's position in the file.
SpecProblem = str | tuple[str, str] | tuple[str, str, str]
Validator = Callable[[Mapping[str, Any]], Iterable[SpecProblem]]


class StepTypeSchema(Struct, frozen=True):
    name: str
    keys: tuple[str, ...]  # the type's own keys (the common step keys are always allowed)
    required: tuple[str, ...] = ()
    validate: Validator | None = None
    origin: str = "flowtui"  # "flowtui", or the plugin's entry point
    # the plugin object (an executor class or instance) for the engine; None for bundled ones
    plugin: Any = None


class PluginError(Struct, frozen=True):
    entry_point: str  # "name = module:attr"
    message: str

    def __str__(self) -> str:
        return f"step type plugin `{self.entry_point}` could not be loaded: {self.message}"


_registered: dict[str, StepTypeSchema] = {}
_plugins: dict[str, StepTypeSchema] | None = None
_plugin_errors: dict[str, PluginError] = {}
_lock = threading.Lock()


def register_step_type(schema: StepTypeSchema) -> None:
    """Make a step type known to the loader (the bundled integrations use this too)."""
    _registered[schema.name] = schema


def get_step_type(name: str) -> StepTypeSchema | None:
    """The schema of a non-core step type, loading plugins on first need; None if unknown."""
    if name in _registered:
        return _registered[name]
    return _load_plugins().get(name)


def extra_type_names() -> tuple[str, ...]:
    """Every non-core type name: bundled integrations, then plugins (loads plugins)."""
    return (*_registered, *(n for n in _load_plugins() if n not in _registered))


def plugin_errors() -> dict[str, PluginError]:
    """Entry points that failed to load, by their name (loads plugins)."""
    _load_plugins()
    return dict(_plugin_errors)


def reset_plugins() -> None:
    """Forget loaded plugins so the next lookup scans entry points again (for tests)."""
    global _plugins
    with _lock:
        _plugins = None
        _plugin_errors.clear()


def split_problem(problem: SpecProblem) -> tuple[str, str, str]:
    """(key, message, hint) of a validate() problem; key is "" when it names none.

    A plain message that starts with a back-quoted key (`` `limit` must be ... ``) is
    pinned to that key too, so plugins get positions without returning tuples.
    """
    if isinstance(problem, tuple):
        key, message, *rest = problem
        return str(key), str(message), str(rest[0]) if rest else ""
    text = str(problem)
    if text.startswith("`") and "`" in text[1:]:
        return text[1 : text.index("`", 1)], text, ""
    return "", text, ""


# ----------------------------------------------------------------------------- plugins


def _load_plugins() -> dict[str, StepTypeSchema]:
    global _plugins
    if _plugins is not None:
        return _plugins
    with _lock:
        if _plugins is None:
            import importlib.metadata  # only when a workflow names a type not bundled

            found: dict[str, StepTypeSchema] = {}
            for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                label = f"{ep.name} = {ep.value}"
                try:
                    schema = schema_from_plugin(ep.load(), ep.name, label)
                except Exception as exc:  # a broken plugin must not break every workflow
                    _plugin_errors[ep.name] = PluginError(label, f"{type(exc).__name__}: {exc}")
                    continue
                if schema.name in (*STEP_TYPES, *_registered, *found):
                    _plugin_errors[ep.name] = PluginError(
                        label, f"step type `{schema.name}` is already defined"
                    )
                    continue
                found[schema.name] = schema
            _plugins = found
    return _plugins


def schema_from_plugin(obj: Any, default_name: str, origin: str) -> StepTypeSchema:
    """Describe a plugin object (an executor class or instance) as a StepTypeSchema."""
    instance = obj() if inspect.isclass(obj) else obj
    name = getattr(instance, "type_name", None) or default_name
    if not isinstance(name, str):
        raise TypeError("`type_name` must be a string")
    if not callable(getattr(instance, "execute", None)):
        raise TypeError("the plugin has no `execute(ctx)` method")
    keys = tuple(getattr(instance, "keys", ()) or ())
    required = tuple(getattr(instance, "required", ()) or ())
    if not all(isinstance(k, str) for k in (*keys, *required)):
        raise TypeError("`keys` and `required` must list strings")
    validate = getattr(instance, "validate", None)
    return StepTypeSchema(
        name=name,
        keys=tuple(dict.fromkeys((*keys, *required))),
        required=required,
        validate=validate if callable(validate) else None,
        origin=origin,
        plugin=obj,
    )


# ------------------------------------------------------------------ bundled integrations


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _check_str(spec: Mapping[str, Any], key: str) -> list[SpecProblem]:
    value = spec.get(key)
    if value is not None and not (isinstance(value, str) and value.strip()):
        return [(key, f"`{key}` must be a non-empty string")]
    return []


def _check_str_or_list(spec: Mapping[str, Any], key: str) -> list[SpecProblem]:
    value = spec.get(key)
    if value is None or (isinstance(value, str) and value.strip()) or _is_str_list(value):
        return []
    return [(key, f"`{key}` must be a string or a list of strings")]


def _check_bool(spec: Mapping[str, Any], key: str) -> list[SpecProblem]:
    value = spec.get(key)
    if value is not None and not isinstance(value, bool):
        return [(key, f"`{key}` must be true or false")]
    return []


def _check_json_map(spec: Mapping[str, Any], key: str, what: str) -> list[SpecProblem]:
    value = spec.get(key)
    if value is None:
        return []
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        return [(key, f"`{key}` must be a mapping of {what} names to values")]
    bad = _first_non_json(value)
    if bad:
        return [(key, f"`{key}`: {bad} cannot be passed as JSON", "quote dates and times")]
    return []


def _first_non_json(value: Any, where: str = "") -> str:
    if value is None or isinstance(value, (str, int, float, bool)):
        return ""
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                return f"the key {k!r}{where and ' in ' + where}"
            found = _first_non_json(v, f"{where}.{k}" if where else k)
            if found:
                return found
        return ""
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = _first_non_json(v, f"{where}[{i}]")
            if found:
                return found
        return ""
    return f"`{where}` ({type(value).__name__})"


def _validate_ansible(spec: Mapping[str, Any]) -> list[SpecProblem]:
    return [
        *_check_str(spec, "playbook"),
        *_check_str_or_list(spec, "inventory"),
        *_check_json_map(spec, "extra_vars", "variable"),
        *_check_str(spec, "limit"),
        *_check_bool(spec, "check"),
        *_check_bool(spec, "diff"),
        *_check_str_or_list(spec, "tags"),
        *_check_str_or_list(spec, "skip_tags"),
        *_check_str(spec, "binary"),
    ]


TERRAFORM_ACTIONS = ("plan", "apply", "destroy")


def _validate_terraform(spec: Mapping[str, Any]) -> list[SpecProblem]:
    problems: list[SpecProblem] = [
        *_check_str(spec, "dir"),
        *_check_json_map(spec, "vars", "variable"),
        *_check_str(spec, "workspace"),
        *_check_str(spec, "plan"),
        *_check_str(spec, "binary"),
        *_check_bool(spec, "init"),
    ]
    action = spec.get("action", "plan")
    if action not in TERRAFORM_ACTIONS:
        problems.append(
            ("action", f"`action` must be one of {', '.join(TERRAFORM_ACTIONS)}, got {action!r}")
        )
    elif spec.get("plan") is not None and action != "apply":
        problems.append(("plan", "`plan:` (a saved plan to apply) needs `action: apply`"))
    elif spec.get("plan") is not None and spec.get("vars") is not None:
        problems.append(
            ("vars", "a saved plan already holds its variables", "set `vars:` on the plan step")
        )
    return problems


def _validate_python(spec: Mapping[str, Any]) -> list[SpecProblem]:
    problems = [*_check_json_map(spec, "args", "argument")]
    call = spec.get("call")
    if isinstance(call, str):
        module, sep, func = call.partition(":")
        parts = [*module.split("."), *func.split(".")]
        if not sep or not all(p.isidentifier() for p in parts):
            problems.append(
                ("call", f"`call` must look like `package.module:function`, got {call!r}")
            )
    elif call is not None:
        problems.append(("call", "`call` must be a string like `package.module:function`"))
    return problems


_ANSIBLE_KEYS = (
    "playbook",
    "inventory",
    "extra_vars",
    "limit",
    "check",
    "diff",
    "tags",
    "skip_tags",
    "binary",
)
_TERRAFORM_KEYS = ("action", "dir", "vars", "workspace", "plan", "binary", "init")

for _schema in (
    StepTypeSchema("ansible", _ANSIBLE_KEYS, ("playbook",), _validate_ansible),
    StepTypeSchema("terraform", _TERRAFORM_KEYS, (), _validate_terraform),
    StepTypeSchema("tofu", _TERRAFORM_KEYS, (), _validate_terraform),
    StepTypeSchema("python", ("call", "args"), ("call",), _validate_python),
):
    register_step_type(_schema)


__all__ = [
    "ENTRY_POINT_GROUP",
    "TERRAFORM_ACTIONS",
    "PluginError",
    "SpecProblem",
    "StepTypeSchema",
    "extra_type_names",
    "get_step_type",
    "plugin_errors",
    "register_step_type",
    "reset_plugins",
    "schema_from_plugin",
    "split_problem",
]
