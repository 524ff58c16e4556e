"""Load workflow files into `Workflow` objects, reporting every problem with file:line:col.

The format is documented in docs/workflow-format.md; keep the two in step.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from msgspec.structs import replace

from flowtui.model import circleci, clashes, pyworkflow
from flowtui.model.checker import ENV_NAME_RE, MISSING, NAME_RE, describe, is_scalar, suggest
from flowtui.model.environments import ENVIRONMENTS_FILES, Environment
from flowtui.model.errors import Problem, WorkflowError
from flowtui.model.exprnames import names_problems
from flowtui.model.gcpause import collector_paused
from flowtui.model.validate_environments import EnvironmentRules
from flowtui.model.validate_steps import (
    COMMON_STEP_KEYS,
    HTTP_METHODS,
    MAX_STEPS,
    TYPE_KEYS,
    StepRules,
)
from flowtui.model.validate_triggers import WORKFLOW_TRIGGER_ON, TriggerRules
from flowtui.model.workflow import (
    RUNNER_ONLY_TYPES,
    WORKFLOW_STATUSES,
    ParamSpec,
    SecretSpec,
    SourcePos,
    Step,
    Workflow,
)
from flowtui.model.yamlsafe import MAX_FILE_BYTES, YMap, decode, parse_document

__all__ = [
    "COMMON_STEP_KEYS",
    "ENV_NAME_RE",
    "HTTP_METHODS",
    "MAX_STEPS",
    "NAME_RE",
    "PARAM_KEYS",
    "TOP_KEYS",
    "TYPE_KEYS",
    "WORKFLOW_TRIGGER_ON",
    "discover_workflows",
    "is_workflow_file",
    "load_environments",
    "load_workflow",
    "load_workflow_text",
    "resolve_workflow",
]

TOP_KEYS = (
    "name",
    "description",
    "status",
    "triggers",
    "concurrency",
    "concurrency_group",
    "env",
    "params",
    "fail_fast",
    "steps",
    "secrets",
    "runs_on",
    "sandbox",
    "environments",
    "release",
    "report",
)
PARAM_KEYS = ("default", "required", "description")


# ---------------------------------------------------------------------------- public API


def load_workflow(path: str | Path) -> Workflow:
    """Load and validate one workflow file; raise WorkflowError listing every problem."""
    given = str(path)
    file_path = Path(path)
    if pyworkflow.is_python_workflow_file(file_path):
        try:  # a missing or unreadable file said as for YAML, not as the child's traceback
            with file_path.open("rb"):
                pass
        except OSError as exc:
            raise WorkflowError(
                [Problem(SourcePos(given, 1, 1), f"cannot read the file: {exc.strerror or exc}")]
            ) from None
        # evaluated in a child process; its normalised document is validated below
        return load_workflow_text(
            pyworkflow.evaluate(file_path, given), file=given, path=file_path.resolve()
        )
    try:
        size = file_path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise WorkflowError([_too_large(given, size)])
        with file_path.open("rb") as fh:
            # read one byte past the limit: stat() can lie (FIFOs, /proc, a growing file)
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise WorkflowError(
            [Problem(SourcePos(given, 1, 1), f"cannot read the file: {exc.strerror or exc}")]
        ) from None
    return load_workflow_text(data, file=given, path=file_path.resolve())


def load_workflow_text(
    text: str | bytes, file: str = "<string>", path: Path | None = None
) -> Workflow:
    """Load and validate a workflow from its text; `file` is used in error positions."""
    with collector_paused():  # see gcpause.py: a big file's objects all die together
        return _load_text(text, file, path)


def _load_text(text: str | bytes, file: str, path: Path | None) -> Workflow:
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    if len(data) > MAX_FILE_BYTES:
        raise WorkflowError([_too_large(file, len(data))])
    source = decode(data, file) if isinstance(text, bytes) else text
    line_map = pyworkflow.read_map(source)
    if line_map is not None:  # the normalised document of a Python workflow
        move = pyworkflow.mapper(line_map)
        try:
            workflow = _load_yaml(source, data, file, path)
        except WorkflowError as exc:
            raise pyworkflow.relocate_problems(exc.problems, move, source) from None
        return pyworkflow.relocate(workflow, move)
    return _load_yaml(source, data, file, path)


def _load_yaml(source: str, data: bytes, file: str, path: Path | None) -> Workflow:
    document = parse_document(source, file)
    if circleci.is_circleci_path(file) or circleci.looks_like_circleci(document.value):
        return circleci.load_workflow_from_config(source, file, path, document=document)
    checker = _Checker(file)
    checker.problems.extend(document.problems)
    if path is not None:  # the folder's environments.yaml, checked with the workflow
        checker.folder_environments = _folder_environments(path.parent, checker)
    workflow = checker.workflow(document.value, document.pos, path)
    if checker.problems or workflow is None:
        raise WorkflowError(checker.problems)
    return replace(workflow, source_hash=hashlib.sha256(data).hexdigest(), source=source)


def is_workflow_file(path: Path) -> bool:
    """A YAML file, or a Python file that uses `flowtui.workflows` (a deleted `.py` counts,
    so that its workflow is forgotten), that is not an editor's temporary or backup file (nor
    the folder's `environments.yaml`)."""
    if _is_temp_name(path.name) or path.name in ENVIRONMENTS_FILES:
        return False
    if path.suffix == ".py":
        return not path.exists() or pyworkflow.declares_workflows(path)
    return path.suffix in (".yaml", ".yml")


def load_environments(folder: Path) -> dict[str, Environment]:
    """The environments of a folder's `environments.yaml` ({} without one); WorkflowError
    lists its problems."""
    checker = _Checker("")
    found = _folder_environments(Path(folder), checker)
    if checker.problems:
        raise WorkflowError(checker.problems)
    return found


def _folder_environments(folder: Path, checker: _Checker) -> dict[str, Environment]:
    for name in ENVIRONMENTS_FILES:
        file = folder / name
        if not file.is_file():
            continue
        shown = str(file)
        try:
            data = file.read_bytes()[: MAX_FILE_BYTES + 1]
        except OSError as exc:
            checker.error(SourcePos(shown, 1, 1), f"cannot read the file: {exc.strerror or exc}")
            return {}
        if len(data) > MAX_FILE_BYTES:
            checker.error(_too_large(shown, len(data)).pos, "the file is too large")
            return {}
        try:
            document = parse_document(decode(data, shown), shown)
        except WorkflowError as exc:
            checker.problems.extend(exc.problems)
            return {}
        checker.problems.extend(document.problems)
        root = document.value
        if root is None:
            return {}
        if not isinstance(root, YMap):
            checker.error(
                document.pos,
                f"the top level must be a mapping with `environments:`, got {describe(root)}",
            )
            return {}
        checker.check_keys(root, ("environments",), shown)
        return checker.environments(root)
    return {}


def discover_workflows(folder: Path) -> list[Path]:
    """The workflow files directly in `folder` (*.yaml, *.yml, and *.py files that use
    `flowtui.workflows`), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [entry for entry in folder.iterdir() if is_workflow_file(entry) and entry.is_file()]
    # a project folder's CircleCI config is listed too (after the folder's own files)
    circle = [folder / ".circleci" / n for n in ("config.yml", "config.yaml")]
    return sorted(found, key=lambda p: p.name) + [p for p in circle if p.is_file()][:1]


def resolve_workflow(ref: str, search_dirs: Sequence[Path]) -> Path:
    """Find a workflow file from a path or a workflow name; raise LookupError if none."""
    candidate = Path(ref).expanduser()
    if candidate.is_file():
        return candidate
    looks_like_path = "/" in ref or "\\" in ref or candidate.suffix in (".yaml", ".yml", ".py")
    if looks_like_path:
        for folder in search_dirs:
            inside = Path(folder) / ref
            if not candidate.is_absolute() and inside.is_file():
                return inside
        raise LookupError(f"no workflow file `{ref}`")

    known: list[str] = []
    broken: list[tuple[Path, WorkflowError]] = []
    for folder in search_dirs:
        files = discover_workflows(Path(folder))
        # the files whose text says they declare `ref` first (a cheap look, no Python
        # evaluated): all of them are loaded, as two with the name make it ambiguous;
        # the others only when none of those is it
        likely = [f for f in files if clashes.declares_name(f, ref)]
        matches = _named(likely, ref, known, broken)
        if not matches:
            rest = [f for f in files if f not in likely]
            matches = _named(rest, ref, known, broken)
        if len(matches) > 1:
            listed = " and ".join(str(m) for m in matches)
            raise LookupError(
                f"workflow name `{ref}` is ambiguous: {listed} both declare it; "
                f"{clashes.HINT} (or run one by its path)"
            )
        if matches:
            return matches[0]
    for file, error in broken:
        if clashes.declares_name(file, ref):
            first = str(error.problems[0]) if error.problems else str(error)
            raise LookupError(f"{file} looks like it declares `{ref}` but does not load: {first}")
    where = ", ".join(str(d) for d in search_dirs) or "(no folders)"
    names = ", ".join(sorted(set(known))) or "none"
    message = f"no workflow named `{ref}` in {where}; known workflows: {names}"
    close = difflib.get_close_matches(ref, known, n=1)
    if close:
        message += f" (did you mean `{close[0]}`?)"
    raise LookupError(message)


# ----------------------------------------------------------------------------- helpers


def _named(
    files: Sequence[Path],
    ref: str,
    known: list[str],
    broken: list[tuple[Path, WorkflowError]],
) -> list[Path]:
    """The `files` whose workflow is named `ref`; every name seen goes to `known`, every
    file that does not load to `broken`."""
    matches: list[Path] = []
    for file in files:
        try:
            workflow = load_workflow(file)
        except WorkflowError as exc:
            broken.append((file, exc))
            continue
        except OSError:
            continue
        if workflow.name == ref:
            matches.append(file)
        known.append(workflow.name)
    return matches


def _too_large(file: str, size: int) -> Problem:
    return Problem(
        SourcePos(file, 1, 1),
        f"the file is too large ({size:,} bytes; the limit is {MAX_FILE_BYTES:,})",
        "a workflow file should be small; split it into several workflows",
    )


def _is_temp_name(name: str) -> bool:
    # hidden files also cover editor droppings like `.#x` (emacs locks) and `.x.swp` (vim)
    return name.startswith((".", "#")) or name.endswith("~")


class _Checker(TriggerRules, StepRules, EnvironmentRules):
    """Validates the parsed document, collecting every problem instead of stopping."""

    folder_environments: dict[str, Environment] = {}

    # ---------------------------------------------------------------------- workflow

    def workflow(self, root: Any, pos: SourcePos, path: Path | None) -> Workflow | None:
        if root is None:
            self.error(
                SourcePos(self.file, 1, 1),
                "the file is empty",
                "a workflow needs at least `name:` and `steps:`",
            )
            return None
        if not isinstance(root, YMap):
            self.error(
                pos,
                f"the top level must be a mapping (name:, steps:, ...), got {describe(root)}",
                "see docs/workflow-format.md for the format",
            )
            return None
        self.check_keys(root, TOP_KEYS, "the workflow")

        name = ""
        if "name" not in root:
            self.error(root.pos, "the workflow is missing `name`", "add `name: my-workflow`")
        else:
            name = self.get_name(root, "name", "workflow name") or ""

        status = self.get_str(root, "status", "active")
        if status not in WORKFLOW_STATUSES:
            self.error(
                root.value_pos("status"),
                f"`status` must be one of {', '.join(WORKFLOW_STATUSES)}, got {status!r}",
                suggest(status, WORKFLOW_STATUSES),
            )
            status = "active"

        triggers = self.triggers(root)
        sandbox = self.get_bool(root, "sandbox", True)
        steps = self.steps(root, sandbox)
        runs_on = (
            self.get_name(root, "runs_on", "queue name")
            if self._get(root, "runs_on") is not MISSING
            else None
        )
        if runs_on:  # the default of every step that may run on a worker
            steps = {
                name: step
                if step.runs_on or step.type in RUNNER_ONLY_TYPES
                else replace(step, runs_on=runs_on)
                for name, step in steps.items()
            }
        environments = {**self.folder_environments, **self.environments(root)}
        self.check_environment_refs(environments)
        self.check_trigger_environments(root, triggers, environments)
        before = len(self.problems)
        params = self.params(root)
        # a broken `params:` block: which params exist is unknown, so `params.X` is not checked
        self.check_expression_names(params if len(self.problems) == before else None, steps)
        return Workflow(
            runs_on=runs_on,
            sandbox=sandbox,
            name=name,
            steps=steps,
            path=path,
            pos=root.pos,
            description=self.get_str(root, "description", ""),
            status=status,
            triggers=triggers,
            concurrency=self.get_int(root, "concurrency", 1, None),
            concurrency_group=(
                self.get_name(root, "concurrency_group", "concurrency group")
                if self._get(root, "concurrency_group") is not MISSING
                else None
            ),
            env=self.get_scalar_map(
                root, "env", ENV_NAME_RE, "environment variable", "use letters, digits and _"
            ),
            params=params,
            fail_fast=self.get_bool(root, "fail_fast", False),
            secrets=self.secrets(root),
            environments=environments,
            release=self.release(root, steps),
            report=self.report(root),
        )

    def check_expression_names(
        self, params: dict[str, ParamSpec] | None, steps: dict[str, Step]
    ) -> None:
        """Names in `when:`/`if:` that would fail the step at run time, reported now."""
        for pos, key, expression in self.expressions:
            for message, hint in names_problems(expression, params, steps):
                self.error(pos, f"`{key}`: {message}", hint)

    def secrets(self, root: YMap) -> dict[str, SecretSpec]:
        """`secrets: {NAME: {env: VAR} | {file: path}}`: references only, never values."""
        value = self._get(root, "secrets")
        if value is MISSING:
            return {}
        if not isinstance(value, YMap):
            self._wrong(root, "secrets", "a mapping", "write `secrets: {TOKEN: {env: MY_TOKEN}}`")
            return {}
        result: dict[str, SecretSpec] = {}
        for name, item in value.items():
            entry = value.entries[name]
            if not isinstance(name, str) or not ENV_NAME_RE.fullmatch(name):
                self.error(
                    entry.key_pos,
                    f"`{entry.key_text}` is not a valid secret name",
                    "use letters, digits and _ (steps see it as the environment variable NAME)",
                )
                continue
            kinds = [k for k in ("env", "file") if isinstance(item, YMap) and k in item]
            if not isinstance(item, YMap) or len(kinds) != 1 or len(item) != 1:
                self.error(
                    entry.value_pos,
                    f"secret `{name}` must be `{{env: VARIABLE}}` or `{{file: path}}`",
                    "the value itself never goes in the workflow file",
                )
                continue
            ref = item[kinds[0]]
            if not isinstance(ref, str) or not ref:
                self._wrong(item, kinds[0], "a non-empty string")
                continue
            result[name] = SecretSpec(name, kinds[0], ref, entry.key_pos)
        return result

    def params(self, root: YMap) -> dict[str, ParamSpec]:
        value = self._get(root, "params")
        if value is MISSING:
            return {}
        if not isinstance(value, YMap):
            self._wrong(root, "params", "a mapping of parameter names")
            return {}
        result: dict[str, ParamSpec] = {}
        for name, item in value.items():
            entry = value.entries[name]
            if not isinstance(name, str) or not ENV_NAME_RE.fullmatch(name):
                self.error(
                    entry.key_pos,
                    f"`{entry.key_text}` is not a valid parameter name",
                    "use letters, digits and _ (it becomes $PARAM_<NAME>)",
                )
                continue
            if item is None or is_scalar(item):
                result[name] = ParamSpec(name, default=entry.raw if item is not None else None)
                continue
            if not isinstance(item, YMap):
                self.error(
                    entry.value_pos,
                    f"parameter `{name}` must be a default value or a mapping, "
                    f"got {describe(item)}",
                    "write `{default: ..., required: false, description: ...}`",
                )
                continue
            self.check_keys(item, PARAM_KEYS, f"parameter `{name}`")
            default = None
            if item.get("default") is not None:
                raw = item.entries["default"].raw
                if raw is None:
                    self._wrong(item, "default", "a string or number")
                default = raw
            required = self.get_bool(item, "required", False)
            if required and default is not None:
                self.error(
                    item.key_pos("required"),
                    f"parameter `{name}` is required but has a default",
                    "remove `default:` or `required: true`",
                )
            result[name] = ParamSpec(
                name,
                default=default,
                required=required,
                description=self.get_str(item, "description", ""),
            )
        return result
