"""A job's `steps:` turned into flat, plain step dicts the circleci-job executor runs.

Each result has a `kind`: `run`, `checkout`, `persist_to_workspace`, `attach_workspace`,
or `unsupported` (skipped at run time with a log line saying why).  Reusable `commands:`
and `when`/`unless` blocks are expanded here, with their parameters substituted.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Any

from flowtui.model.circleci.orbs import Library
from flowtui.model.circleci.params import bind, declared, render, substitute, truthy

# CircleCI's own step kinds that need its cloud (or a Docker daemon) to mean anything
CLOUD_STEPS = {
    "setup_remote_docker": "needs CircleCI's remote Docker engine",
    "save_cache": "CircleCI caches are not kept between flowtui runs",
    "restore_cache": "CircleCI caches are not kept between flowtui runs",
    "store_artifacts": "artifacts are not uploaded anywhere",
    "store_test_results": "test results are not collected",
    "add_ssh_keys": "CircleCI's project SSH keys are not available here",
    "continuation/continue": "dynamic configuration is not supported",
}
BUILTIN = ("run", "checkout", "persist_to_workspace", "attach_workspace", "when", "unless")
RUN_KEYS = (
    "command",
    "name",
    "working_directory",
    "environment",
    "shell",
    "when",
    "background",
    "no_output_timeout",
    "max_auto_reruns",
    "auto_rerun_delay",
)
RUN_WHEN = ("on_success", "on_fail", "always")
MAX_COMMAND_DEPTH = 20

ErrorFn = Callable[[str], None]
NoteFn = Callable[[str], None]


def environment(value: Any, what: str, error: ErrorFn) -> dict[str, str]:
    """`environment:` as a mapping, a list of mappings, or a list of `KEY=value` strings."""
    if value is None:
        return {}
    items: list[tuple[Any, Any]] = []
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, list):
        for entry in value:
            if isinstance(entry, Mapping):
                items.extend(entry.items())
            elif isinstance(entry, str) and "=" in entry:
                key, _, val = entry.partition("=")
                items.append((key, val))
            else:
                error(f"{what}: `environment` entries must be KEY: value")
    else:
        error(f"{what}: `environment` must be a mapping of names to values")
    result: dict[str, str] = {}
    for key, val in items:
        if isinstance(val, Mapping | list):
            error(f"{what}: environment variable `{key}` must be a single value")
            continue
        result[str(key)] = render(val)
    return result


class StepExpander:
    """Expands one job's steps with the reusable 2.1 commands of the config and its orbs.

    `pipeline` holds the pipeline parameters and values, which a command's body may use
    like a job's; `context` is the orb the job comes from ("" for the config's own), in
    which its steps' command names resolve.
    """

    def __init__(
        self,
        library: Library,
        error: ErrorFn,
        note: NoteFn,
        pipeline: Mapping[str, Any] | None = None,
        context: str = "",
    ) -> None:
        self.library = library
        self.error = error
        self.note = note
        self.pipeline = dict(pipeline or {})
        self.context = context

    def expand(
        self, steps: Any, where: str, depth: int = 0, context: str | None = None
    ) -> list[dict[str, Any]]:
        context = self.context if context is None else context
        if steps is None:
            return []
        if not isinstance(steps, list):
            self.error(f"{where}: `steps` must be a list")
            return []
        result: list[dict[str, Any]] = []
        for item in steps:
            if isinstance(item, list):  # a `steps` parameter spliced in place
                result.extend(self.expand(item, where, depth, context))
                continue
            if isinstance(item, str):
                kind, args = item, None
            elif isinstance(item, Mapping) and len(item) == 1:
                ((kind, args),) = item.items()
                kind = str(kind)
            else:
                self.error(f"{where}: a step must be a name or a mapping with one key")
                continue
            result.extend(self._one(kind, args, where, depth, context))
        return result

    def _one(
        self, kind: str, args: Any, where: str, depth: int, context: str
    ) -> list[dict[str, Any]]:
        if kind in ("run", "deploy"):  # `deploy` is CircleCI's deprecated alias of `run`
            step = self._run(args, where)
            return [step] if step else []
        if kind == "checkout":
            path = args.get("path") if isinstance(args, Mapping) else None
            return [{"kind": "checkout", "name": "Checkout code", "path": render(path) or None}]
        if kind == "persist_to_workspace":
            return self._persist(args, where)
        if kind == "attach_workspace":
            at = args.get("at") if isinstance(args, Mapping) else None
            if not isinstance(at, str) or not at:
                self.error(f"{where}: `attach_workspace` needs `at:` (a directory)")
                return []
            return [{"kind": "attach_workspace", "name": "Attaching Workspace", "at": at}]
        if kind in ("when", "unless"):
            return self._conditional(kind, args, where, depth, context)
        key = self.library.resolve("commands", kind, context)
        if key is not None:
            return self._command(key, args, where, depth)
        return [self._unsupported(kind, where, context)]

    def _run(self, args: Any, where: str) -> dict[str, Any] | None:
        if isinstance(args, str):
            args = {"command": args}
        if not isinstance(args, Mapping):
            self.error(f"{where}: `run` takes a command string or a mapping with `command:`")
            return None
        command = args.get("command")
        if not isinstance(command, str) or not command.strip():
            self.error(f"{where}: `run` is missing `command:`")
            return None
        for key in args:
            if key not in RUN_KEYS:
                self.error(f"{where}: unknown key `{key}` in `run`" + _did_you_mean(key, RUN_KEYS))
        when = render(args.get("when") or "on_success")
        if when not in RUN_WHEN:
            self.error(f"{where}: `run.when` must be one of {', '.join(RUN_WHEN)}, got {when!r}")
            when = "on_success"
        first_line = command.strip().splitlines()[0]
        return {
            "kind": "run",
            "name": render(args.get("name")) or first_line,
            "command": command,
            "working_directory": render(args.get("working_directory")) or None,
            "environment": environment(args.get("environment"), where, self.error),
            "shell": render(args.get("shell")) or None,
            "when": when,
            "background": args.get("background") is True,
        }

    def _persist(self, args: Any, where: str) -> list[dict[str, Any]]:
        if not isinstance(args, Mapping) or not isinstance(args.get("root"), str):
            self.error(f"{where}: `persist_to_workspace` needs `root:` and `paths:`")
            return []
        paths = args.get("paths")
        if isinstance(paths, str):
            paths = [paths]
        if not isinstance(paths, list) or not paths:
            self.error(f"{where}: `persist_to_workspace.paths` must be a list of paths")
            return []
        return [
            {
                "kind": "persist_to_workspace",
                "name": "Persisting to Workspace",
                "root": args["root"],
                "paths": [render(p) for p in paths],
            }
        ]

    def _conditional(
        self, kind: str, args: Any, where: str, depth: int, context: str
    ) -> list[dict[str, Any]]:
        if not isinstance(args, Mapping) or "condition" not in args or "steps" not in args:
            self.error(f"{where}: `{kind}` needs `condition:` and `steps:`")
            return []
        holds = truthy(args["condition"], self.error)
        if holds == (kind == "when"):
            return self.expand(args["steps"], where, depth, context)
        return []

    def _command(self, name: str, args: Any, where: str, depth: int) -> list[dict[str, Any]]:
        if depth >= MAX_COMMAND_DEPTH:
            self.error(f"{where}: commands nest more than {MAX_COMMAND_DEPTH} deep (a loop?)")
            return []
        definition = self.library.commands[name]
        body = definition.body
        if not isinstance(body, Mapping):
            self.error(f"command `{name}` must be a mapping with `steps:`")
            return []
        if args is not None and not isinstance(args, Mapping):
            self.error(f"{where}: arguments of command `{name}` must be a mapping")
            args = None
        inner = f"command `{name}`"
        values = bind(declared(body.get("parameters"), self.error), args or {}, inner, self.error)
        # a command's body sees the pipeline's parameters and values, like a job's steps
        scope = {**self.pipeline, **{f"parameters.{k}": v for k, v in values.items()}}
        steps = substitute(body.get("steps"), scope, lambda m: self.error(f"{inner}: {m}"))
        # a note about a command's own step is said once, not once per job using it
        return self.expand(steps, inner, depth + 1, definition.context)

    def _unsupported(self, kind: str, where: str, context: str) -> dict[str, Any]:
        orb = self.library.orb_of(kind, context)
        if kind in CLOUD_STEPS:
            reason = f"`{kind}` is not supported by flowtui ({CLOUD_STEPS[kind]})"
        elif orb is not None and not orb.available:
            reason = f"orb command `{kind}` is not run: {orb.missing()}"
        elif orb is not None:
            reason = f"orb `{orb.alias}` ({orb.ref}) has no command `{kind.rpartition('/')[2]}`"
        elif "/" in kind:
            reason = f"orb command `{kind}`: no orb `{kind.rpartition('/')[0]}` is imported"
        else:
            known = [*BUILTIN, *CLOUD_STEPS, *self.library.commands]
            reason = f"unknown step `{kind}`{_did_you_mean(kind, known)}"
        self.note(f"{where}: {reason}; it is skipped")
        return {"kind": "unsupported", "name": kind, "reason": reason}


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.7)
    return f" (did you mean `{close[0]}`?)" if close else ""
