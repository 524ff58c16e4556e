"""Load workflow files into `Workflow` objects, reporting every problem with file:line:col.

The format is documented in docs/workflow-format.md; keep the two in step.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from flowtui.model import circleci, steptypes
from flowtui.model.branches import FILTER_KEYS, entry_error
from flowtui.model.durations import parse_duration
from flowtui.model.errors import Problem, WorkflowError
from flowtui.model.workflow import (
    SHELLS,
    STEP_TYPES,
    WORKFLOW_STATUSES,
    ParamSpec,
    SecretSpec,
    SourcePos,
    Step,
    Trigger,
    Workflow,
)
from flowtui.model.yamlsafe import MAX_FILE_BYTES, YMap, YSeq, decode, parse_document, to_plain

MAX_STEPS = 5000

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MATRIX_VALUE_BAD = re.compile(r"[\s\[\],=]")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
WORKFLOW_TRIGGER_ON = ("success", "failure", "any")

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
)
COMMON_STEP_KEYS = (
    "type",
    "requires",
    "env",
    "when",
    "continue_on_failure",
    "timeout",
    "retries",
    "retry_delay",
    "description",
    "matrix",
    "always",
    "on_failure",
    "kill_grace",
    "branches",
)
TYPE_KEYS: dict[str, tuple[str, ...]] = {
    "script": ("run", "shell", "cwd"),
    "http": ("url", "method", "headers", "body", "json", "expect_status", "expect_body"),
    "approval": ("approvers", "message"),
    "condition": ("if", "then", "else"),
    "notify": ("url", "message"),
    "workflow": ("workflow", "params"),
}
PARAM_KEYS = ("default", "required", "description")

_MISSING = object()
_T = TypeVar("_T")
_ON_MESSAGE = "use `triggers:` (YAML reads `on` as true)"


# ---------------------------------------------------------------------------- public API


def load_workflow(path: str | Path) -> Workflow:
    """Load and validate one workflow file; raise WorkflowError listing every problem."""
    given = str(path)
    file_path = Path(path)
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
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    if len(data) > MAX_FILE_BYTES:
        raise WorkflowError([_too_large(file, len(data))])
    source = decode(data, file) if isinstance(text, bytes) else text
    document = parse_document(source, file)
    if circleci.is_circleci_path(file) or circleci.looks_like_circleci(document.value):
        return circleci.load_workflow_from_config(source, file, path, document=document)
    checker = _Checker(file)
    checker.problems.extend(document.problems)
    workflow = checker.workflow(document.value, document.pos, path)
    if checker.problems or workflow is None:
        raise WorkflowError(checker.problems)
    return replace(workflow, source_hash=hashlib.sha256(data).hexdigest(), source=source)


def is_workflow_file(path: Path) -> bool:
    """A YAML file that is not an editor's temporary or backup file."""
    return path.suffix in (".yaml", ".yml") and not _is_temp_name(path.name)


def discover_workflows(folder: Path) -> list[Path]:
    """The workflow files directly in `folder` (*.yaml, *.yml), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [
        entry
        for entry in folder.iterdir()
        if entry.suffix in (".yaml", ".yml") and not _is_temp_name(entry.name) and entry.is_file()
    ]
    # a project folder's CircleCI config is listed too (after the folder's own files)
    circle = [folder / ".circleci" / n for n in ("config.yml", "config.yaml")]
    return sorted(found, key=lambda p: p.name) + [p for p in circle if p.is_file()][:1]


def resolve_workflow(ref: str, search_dirs: Sequence[Path]) -> Path:
    """Find a workflow file from a path or a workflow name; raise LookupError if none."""
    candidate = Path(ref).expanduser()
    if candidate.is_file():
        return candidate
    looks_like_path = "/" in ref or "\\" in ref or candidate.suffix in (".yaml", ".yml")
    if looks_like_path:
        for folder in search_dirs:
            inside = Path(folder) / ref
            if not candidate.is_absolute() and inside.is_file():
                return inside
        raise LookupError(f"no workflow file `{ref}`")

    known: list[str] = []
    for folder in search_dirs:
        files = discover_workflows(Path(folder))
        # a file named after the workflow is the likely match, so try it first
        files.sort(key=lambda p: p.stem != ref)
        for file in files:
            try:
                workflow = load_workflow(file)
            except WorkflowError:
                continue
            if workflow.name == ref:
                return file
            known.append(workflow.name)
    where = ", ".join(str(d) for d in search_dirs) or "(no folders)"
    names = ", ".join(sorted(set(known))) or "none"
    message = f"no workflow named `{ref}` in {where}; known workflows: {names}"
    close = difflib.get_close_matches(ref, known, n=1)
    if close:
        message += f" (did you mean `{close[0]}`?)"
    raise LookupError(message)


# ----------------------------------------------------------------------------- helpers


def _too_large(file: str, size: int) -> Problem:
    return Problem(
        SourcePos(file, 1, 1),
        f"the file is too large ({size:,} bytes; the limit is {MAX_FILE_BYTES:,})",
        "a workflow file should be small; split it into several workflows",
    )


def _is_temp_name(name: str) -> bool:
    # hidden files also cover editor droppings like `.#x` (emacs locks) and `.x.swp` (vim)
    return name.startswith((".", "#")) or name.endswith("~")


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"string {shown!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else ""


def _dedupe(items: Iterable[_T]) -> list[_T]:
    return list(dict.fromkeys(items))


@dataclass
class _Ref:
    name: str
    pos: SourcePos


@dataclass
class _Draft:
    """A step as read from the file, before references are resolved and matrix expanded."""

    name: str
    pos: SourcePos
    type: str
    fields: dict[str, Any]
    spec: dict[str, Any]
    requires: list[_Ref] = field(default_factory=list)
    branches: dict[str, list[_Ref]] = field(default_factory=dict)  # condition then/else
    matrix: list[dict[str, str]] = field(default_factory=list)  # one dict per copy
    copies: list[str] = field(default_factory=list)  # expanded names
    implicit: list[str] = field(default_factory=list)  # added by conditions


class _Checker:
    """Validates the parsed document, collecting every problem instead of stopping."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        # steps already reported as broken: references to them are not errors again
        self.broken: set[str] = set()

    def error(self, pos: SourcePos, message: str, hint: str = "") -> None:
        self.problems.append(Problem(pos, message, hint))

    # ------------------------------------------------------------------ typed getters

    def _get(self, m: YMap, key: str) -> Any:
        value = m.get(key, _MISSING)
        return _MISSING if value is None else value

    def _wrong(self, m: YMap, key: str, expected: str, hint: str = "") -> None:
        self.error(m.value_pos(key), f"`{key}` must be {expected}, got {_describe(m[key])}", hint)

    def get_str(self, m: YMap, key: str, default: Any = None) -> Any:
        value = self._get(m, key)
        if value is _MISSING:
            return default
        if not isinstance(value, str):
            self._wrong(m, key, "a string", "quote the value" if _is_scalar(value) else "")
            return default
        return value

    def get_expression(self, m: YMap, key: str) -> str | None:
        expression = self.get_str(m, key, None)
        if expression is not None:
            self.check_expression(m, key, expression)
        return expression

    def check_expression(self, m: YMap, key: str, expression: str) -> None:
        """Catch a mistyped expression when the file is saved, not when the step runs."""
        try:
            ast.parse(expression.strip(), mode="eval")
        except SyntaxError as exc:
            self.error(
                m.value_pos(key),
                f"`{key}` is not a valid expression: {exc.msg}",
                "e.g. \"params.branch == 'main'\" or \"steps.plan.status == 'succeeded'\"",
            )

    def require_str(self, m: YMap, key: str, owner: str, example: str) -> str | None:
        if key not in m:
            self.error(m.pos, f"{owner} is missing `{key}`", f"add `{key}: {example}`")
            return None
        value = m[key]
        if not isinstance(value, str) or not value.strip():
            expected = "a non-empty string" if isinstance(value, str) else "a string"
            self._wrong(m, key, expected)
            return None
        return value

    def get_bool(self, m: YMap, key: str, default: bool) -> bool:
        value = self._get(m, key)
        if value is _MISSING:
            return default
        if not isinstance(value, bool):
            self._wrong(m, key, "true or false")
            return default
        return value

    def get_int(self, m: YMap, key: str, minimum: int, default: Any) -> Any:
        value = self._get(m, key)
        if value is _MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self._wrong(m, key, "an integer")
            return default
        if value < minimum:
            self._wrong(m, key, f"an integer >= {minimum}")
            return default
        return value

    def get_duration(self, m: YMap, key: str, default: Any, positive: bool = False) -> Any:
        value = self._get(m, key)
        if value is _MISSING:
            return default
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.error(m.value_pos(key), f"`{key}`: {exc}")
            return default
        if positive and seconds <= 0:
            self._wrong(m, key, "a duration above zero")
            return default
        return seconds

    def get_refs(self, m: YMap, key: str) -> list[_Ref]:
        """A list of step names, or a single name."""
        value = self._get(m, key)
        if value is _MISSING:
            return []
        if isinstance(value, str):
            return [_Ref(value, m.value_pos(key))]
        if not isinstance(value, YSeq):
            self._wrong(m, key, "a list of step names")
            return []
        refs = []
        for item, pos in zip(value, value.positions, strict=True):
            if isinstance(item, str):
                refs.append(_Ref(item, pos))
            else:
                self.error(pos, f"`{key}` must list step names, got {_describe(item)}")
        return refs

    def get_str_list(self, m: YMap, key: str) -> list[str]:
        value = self._get(m, key)
        if value is _MISSING:
            return []
        if not isinstance(value, YSeq):
            self._wrong(m, key, "a list of strings")
            return []
        result = []
        for item, pos in zip(value, value.positions, strict=True):
            if isinstance(item, str):
                result.append(item)
            else:
                self.error(pos, f"`{key}` must list strings, got {_describe(item)}")
        return result

    def get_scalar_map(
        self,
        m: YMap,
        key: str,
        name_re: re.Pattern[str] | None,
        what: str,
        hint: str = "",
    ) -> dict[str, str]:
        """A mapping of names to scalars; values become their text as written."""
        value = self._get(m, key)
        if value is _MISSING:
            return {}
        if not isinstance(value, YMap):
            self._wrong(m, key, f"a mapping of {what} names to values")
            return {}
        result: dict[str, str] = {}
        for name, item in value.items():
            entry = value.entries[name]
            if not isinstance(name, str) or (name_re is not None and not name_re.fullmatch(name)):
                self.error(entry.key_pos, f"`{entry.key_text}` is not a valid {what} name", hint)
                continue
            if not _is_scalar(item) or entry.raw is None:
                self.error(
                    entry.value_pos,
                    f"{what} `{name}` must be a string or number, got {_describe(item)}",
                    'write `""` for an empty value' if item is None else "",
                )
                continue
            result[name] = entry.raw
        return result

    def get_branches(self, m: YMap, key: str) -> dict[str, tuple[str, ...]] | None:
        """A branch filter: `{only: [...], ignore: [...]}`, or a name / list meaning `only`."""
        value = self._get(m, key)
        if value is _MISSING:
            return None
        if isinstance(value, str | YSeq):
            return {"only": self._branch_entries(m, key), "ignore": ()}
        if not isinstance(value, YMap):
            self._wrong(m, key, "a branch name, a list of them, or {only: [...], ignore: [...]}")
            return None
        self.check_keys(value, FILTER_KEYS, f"`{key}`")
        return {k: self._branch_entries(value, k) for k in FILTER_KEYS}

    def _branch_entries(self, m: YMap, key: str) -> tuple[str, ...]:
        value = self._get(m, key)
        if value is _MISSING:
            return ()
        if isinstance(value, str):
            items = [(value, m.value_pos(key))]
        elif isinstance(value, YSeq):
            items = list(zip(value, value.positions, strict=True))
        else:
            self._wrong(m, key, "a branch name or a list of them")
            return ()
        entries = []
        for entry, pos in items:
            if not isinstance(entry, str):
                self.error(pos, f"`{key}` must list branch names, got {_describe(entry)}")
                continue
            problem = entry_error(entry)
            if problem is not None:
                self.error(pos, problem, "write a branch name, or /regex/ for a pattern")
                continue
            entries.append(entry)
        return tuple(entries)

    # --------------------------------------------------------------------- key checks

    def check_keys(
        self,
        m: YMap,
        allowed: Sequence[str],
        where: str,
        foreign: Callable[[str], str] | None = None,
    ) -> None:
        for key, entry in m.entries.items():
            if isinstance(key, str) and key in allowed:
                continue
            if key is True and entry.key_text.lower() == "on":
                if where == "the workflow":
                    self.error(entry.key_pos, f"unknown key `on`: {_ON_MESSAGE}")
                else:
                    self.error(
                        entry.key_pos,
                        f"unknown key `on` in {where}: triggers belong at the top level; "
                        + _ON_MESSAGE,
                    )
                continue
            if isinstance(key, bool):
                self.error(
                    entry.key_pos,
                    f"key `{entry.key_text}` is read by YAML as a boolean",
                    f'quote it (`"{entry.key_text}":`) or fix the spelling',
                )
                continue
            if not isinstance(key, str):
                self.error(entry.key_pos, f"unknown key `{entry.key_text}` in {where}")
                continue
            owner = foreign(key) if foreign is not None else ""
            if owner:
                self.error(entry.key_pos, f"`{key}` is not valid in {where}", owner)
                continue
            self.error(entry.key_pos, f"unknown key `{key}` in {where}", _suggest(key, allowed))

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
                f"the top level must be a mapping (name:, steps:, ...), got {_describe(root)}",
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
                _suggest(status, WORKFLOW_STATUSES),
            )
            status = "active"

        triggers = self.triggers(root)
        steps = self.steps(root)
        return Workflow(
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
                if self._get(root, "concurrency_group") is not _MISSING
                else None
            ),
            env=self.get_scalar_map(
                root, "env", ENV_NAME_RE, "environment variable", "use letters, digits and _"
            ),
            params=self.params(root),
            fail_fast=self.get_bool(root, "fail_fast", False),
            secrets=self.secrets(root),
        )

    def secrets(self, root: YMap) -> dict[str, SecretSpec]:
        """`secrets: {NAME: {env: VAR} | {file: path}}`: references only, never values."""
        value = self._get(root, "secrets")
        if value is _MISSING:
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

    def get_name(self, m: YMap, key: str, what: str) -> str | None:
        value = m[key]
        if not isinstance(value, str):
            self._wrong(m, key, "a string")
            return None
        if not NAME_RE.fullmatch(value):
            self.error(
                m.value_pos(key),
                f"invalid {what} {value!r}",
                "start with a letter or digit, then use letters, digits, `_`, `.` or `-`",
            )
            return None
        return value

    def params(self, root: YMap) -> dict[str, ParamSpec]:
        value = self._get(root, "params")
        if value is _MISSING:
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
            if item is None or _is_scalar(item):
                result[name] = ParamSpec(name, default=entry.raw if item is not None else None)
                continue
            if not isinstance(item, YMap):
                self.error(
                    entry.value_pos,
                    f"parameter `{name}` must be a default value or a mapping, "
                    f"got {_describe(item)}",
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

    # ---------------------------------------------------------------------- triggers

    def triggers(self, root: YMap) -> tuple[Trigger, ...]:
        value = self._get(root, "triggers")
        if value is _MISSING:
            return (Trigger("manual"),)
        if not isinstance(value, YSeq):
            self._wrong(root, "triggers", "a list", "write `triggers: [manual]`")
            return (Trigger("manual"),)
        result = []
        for item, pos in zip(value, value.positions, strict=True):
            trigger = self.trigger(item, pos)
            if trigger is not None:
                result.append(trigger)
        return tuple(result)

    def trigger(self, item: Any, pos: SourcePos) -> Trigger | None:
        simple = ("manual", "webhook", "incident")
        kinds = ("cron", "webhook", "git", "workflow", "incident", "manual")
        if isinstance(item, str):
            if item in simple:
                return Trigger(item, {}, pos)
            if item in kinds:
                example = {
                    "cron": '`- cron: "0 3 * * *"`',
                    "git": "`- git: {repo: ., branch: main}`",
                    "workflow": "`- workflow: {name: build, on: success}`",
                }[item]
                self.error(pos, f"a `{item}` trigger needs options", f"write {example}")
                return None
            self.error(pos, f"unknown trigger `{item}`", _suggest(item, kinds))
            return None
        if not isinstance(item, YMap):
            self.error(pos, f"a trigger must be a name or a mapping, got {_describe(item)}")
            return None
        present = [k for k in item if isinstance(k, str) and k in kinds]
        if len(present) != 1:
            found = ", ".join(f"`{k}`" for k in present) or "none"
            self.error(
                item.pos,
                f"a trigger mapping needs exactly one kind key ({', '.join(kinds)}); found {found}",
            )
            return None
        kind = present[0]
        if kind == "cron":
            return self.cron_trigger(item, pos)
        self.check_keys(item, (kind,), f"a `{kind}` trigger")
        options = item[kind]
        if options is None:
            options = YMap(item.value_pos(kind))
        if not isinstance(options, YMap):
            self.error(
                item.value_pos(kind),
                f"the options of a `{kind}` trigger must be a mapping, got {_describe(options)}",
            )
            return None
        if kind == "manual":
            self.check_keys(options, (), "a `manual` trigger")
            return Trigger("manual", {}, pos)
        if kind == "git":
            self.check_keys(options, ("repo", "branch", "branches"), "a `git` trigger")
            repo = self.require_str(options, "repo", "a `git` trigger", "path/to/repo")
            branch = self.get_str(options, "branch", "main")
            git = {"repo": repo, "branch": branch}
            return Trigger("git", self._with_branches(git, options), pos)
        if kind == "workflow":
            return self.workflow_trigger(options, pos)
        for key, entry in options.entries.items():
            if not isinstance(key, str):
                self.error(entry.key_pos, f"option `{entry.key_text}` must be a string key")
        return Trigger(kind, self._with_branches(to_plain(options), options), pos)

    def _with_branches(self, plain: dict[str, Any], options: YMap) -> dict[str, Any]:
        """Trigger options with a `branches` filter normalised to {"only": [...], ...}."""
        found = self.get_branches(options, "branches")
        if found is not None:
            plain["branches"] = {k: list(v) for k, v in found.items()}
        else:
            plain.pop("branches", None)
        return plain

    def cron_trigger(self, item: YMap, pos: SourcePos) -> Trigger | None:
        self.check_keys(item, ("cron", "timezone", "catchup", "branches"), "a `cron` trigger")
        schedule = item["cron"]
        if not isinstance(schedule, str) or len(schedule.split()) not in (5, 6):
            self.error(
                item.value_pos("cron"),
                f"`cron` must be a schedule of 5 or 6 fields, got {_describe(schedule)}",
                'for example `cron: "0 3 * * *"` (quote it)',
            )
            return None
        timezone = self.get_str(item, "timezone", None)
        if timezone is not None and not _known_timezone(timezone):
            self.error(
                item.value_pos("timezone"),
                f"unknown timezone {timezone!r}",
                "use an IANA name such as `UTC` or `Europe/Paris`",
            )
        options = {
            "schedule": schedule,
            "timezone": timezone,
            "catchup": self.get_bool(item, "catchup", False),
        }
        return Trigger("cron", self._with_branches(options, item), pos)

    def workflow_trigger(self, options: YMap, pos: SourcePos) -> Trigger | None:
        # `on:` is read by YAML as True; here it is the documented key, so accept it
        if True in options.entries and options.entries[True].key_text.lower() == "on":
            options["on"] = options.pop(True)
            options.entries["on"] = options.entries.pop(True)
        self.check_keys(options, ("name", "on", "branches"), "a `workflow` trigger")
        name = self.require_str(options, "name", "a `workflow` trigger", "build")
        on = self.get_str(options, "on", "success")
        if on not in WORKFLOW_TRIGGER_ON:
            self.error(
                options.value_pos("on"),
                f"`on` must be one of {', '.join(WORKFLOW_TRIGGER_ON)}, got {on!r}",
            )
            return None
        if name is None:
            return None
        return Trigger("workflow", self._with_branches({"name": name, "on": on}, options), pos)

    # ------------------------------------------------------------------------- steps

    def steps(self, root: YMap) -> dict[str, Step]:
        if "steps" not in root:
            self.error(root.pos, "the workflow is missing `steps`", "add `steps:` with one step")
            return {}
        value = root["steps"]
        if not isinstance(value, YMap) or not value:
            what = "an empty mapping" if isinstance(value, YMap) else _describe(value)
            self.error(
                root.value_pos("steps"),
                f"`steps` must be a non-empty mapping of step names, got {what}",
                "add steps such as `build: {run: make}`",
            )
            return {}
        if len(value) > MAX_STEPS:
            self.error(
                root.value_pos("steps"),
                f"too many steps ({len(value):,}; the limit is {MAX_STEPS:,})",
                "split the workflow into several, chained with `type: workflow`",
            )
            return {}

        drafts: dict[str, _Draft] = {}
        for key, item in value.items():
            draft = self.draft(key, item, value)
            if draft is not None:
                drafts[draft.name] = draft
        if sum(len(d.matrix) or 1 for d in drafts.values()) > MAX_STEPS:
            self.error(
                root.value_pos("steps"),
                f"the matrix steps expand to more than {MAX_STEPS:,} steps",
                "use fewer matrix values",
            )
            return {}
        return self.link(drafts)

    def draft(self, key: Any, item: Any, steps: YMap) -> _Draft | None:
        entry = steps.entries[key]
        pos = entry.key_pos
        if not isinstance(key, str):
            hint = f'quote it: `"{entry.key_text}":`'
            if key is True and entry.key_text.lower() == "on":
                self.error(pos, "step name `on` is read by YAML as true", hint)
            else:
                self.error(pos, f"step name `{entry.key_text}` must be a string", hint)
            return None
        self.broken.add(key)
        if not NAME_RE.fullmatch(key):
            self.error(
                pos,
                f"invalid step name {key!r}",
                "start with a letter or digit, then use letters, digits, `_`, `.` or `-`",
            )
            return None
        if not isinstance(item, YMap) or not item:
            self.error(
                entry.value_pos,
                f"step `{key}` must be a mapping of step keys, got "
                + ("an empty mapping" if isinstance(item, YMap) else _describe(item)),
                "add `run: <command>` for a script step, or `type:` for another kind",
            )
            return None

        self.broken.discard(key)
        where = f"step `{key}`"
        step_type = self.step_type(item, key)
        if step_type is None:
            # still check the common keys; keys of any type are left alone
            every = {k for keys in TYPE_KEYS.values() for k in keys}
            self.check_keys(item, (*COMMON_STEP_KEYS, *every), where)
        else:
            own = (*COMMON_STEP_KEYS, *_type_keys(step_type))
            self.check_keys(item, own, where, lambda k: _foreign_hint(k, step_type))

        fields = {
            "env": self.get_scalar_map(
                item, "env", ENV_NAME_RE, "environment variable", "use letters, digits and _"
            ),
            "when": self.get_expression(item, "when"),
            "continue_on_failure": self.get_bool(item, "continue_on_failure", False),
            "timeout": self.get_duration(item, "timeout", None, positive=True),
            "retries": self.get_int(item, "retries", 0, 0),
            "retry_delay": self.get_duration(item, "retry_delay", 1.0),
            "description": self.get_str(item, "description", ""),
            "always": self.get_bool(item, "always", False),
            "on_failure": self.get_bool(item, "on_failure", False),
            "kill_grace": self.get_duration(item, "kill_grace", None),
            "branches": self.get_branches(item, "branches"),
        }
        draft = _Draft(key, pos, step_type or "script", fields, {})
        draft.requires = self.get_refs(item, "requires")
        draft.matrix = self.matrix(item)
        if step_type is not None:
            draft.spec = self.spec(step_type, item, where, draft)
        return draft

    def step_type(self, item: YMap, name: str) -> str | None:
        if "type" not in item:
            if "run" in item:
                return "script"
            self.error(
                item.pos,
                f"step `{name}` has no `run:` or `type:`",
                f"add `run: <command>` for a script step, or `type:` ({', '.join(STEP_TYPES)})",
            )
            return None
        value = item["type"]
        if isinstance(value, str) and (value in STEP_TYPES or steptypes.get_step_type(value)):
            return value
        shown = repr(value) if isinstance(value, str) else _describe(value)
        broken = steptypes.plugin_errors().get(value) if isinstance(value, str) else None
        if broken is not None:
            self.error(item.value_pos("type"), f"unknown step type {shown}: {broken}")
            return None
        every = (*STEP_TYPES, *steptypes.extra_type_names())
        self.error(
            item.value_pos("type"),
            f"unknown step type {shown}",
            (_suggest(value, every) if isinstance(value, str) else "")
            or f"use one of {', '.join(every)}",
        )
        return None

    def matrix(self, item: YMap) -> list[dict[str, str]]:
        value = self._get(item, "matrix")
        if value is _MISSING:
            return []
        if not isinstance(value, YMap) or not value:
            self._wrong(item, "matrix", "a mapping of names to lists of values")
            return []
        axes: list[tuple[str, list[str]]] = []
        total = 1
        for key, values in value.items():
            entry = value.entries[key]
            if not isinstance(key, str) or not ENV_NAME_RE.fullmatch(key):
                self.error(
                    entry.key_pos,
                    f"`{entry.key_text}` is not a valid matrix name",
                    "use letters, digits and _ (it becomes $MATRIX_<NAME>)",
                )
                return []
            if not isinstance(values, YSeq) or not values:
                self.error(
                    entry.value_pos,
                    f"matrix `{key}` must be a non-empty list of values, got "
                    + ("an empty list" if isinstance(values, YSeq) else _describe(values)),
                )
                return []
            texts: list[str] = []
            for raw, one, pos in zip(values.raws, values, values.positions, strict=True):
                if not _is_scalar(one) or raw is None:
                    self.error(pos, f"matrix values must be plain values, got {_describe(one)}")
                    return []
                if not raw or _MATRIX_VALUE_BAD.search(raw):
                    self.error(
                        pos,
                        f"matrix value {raw!r} cannot be used in a step name",
                        "avoid spaces and the characters [ ] , =",
                    )
                    return []
                if raw in texts:
                    self.error(pos, f"matrix value {raw!r} is listed twice")
                    return []
                texts.append(raw)
            axes.append((key, texts))
            total *= len(texts)
            if total > MAX_STEPS:
                self.error(
                    item.value_pos("matrix"),
                    f"the matrix makes more than {MAX_STEPS:,} copies of the step",
                )
                return []
        names = [name for name, _ in axes]
        return [dict(zip(names, combo, strict=True)) for combo in _product(axes)]

    # -------------------------------------------------------------------- type specs

    def spec(self, step_type: str, item: YMap, where: str, draft: _Draft) -> dict[str, Any]:
        owner = f"{where} (type {step_type})"
        schema = None if step_type in TYPE_KEYS else steptypes.get_step_type(step_type)
        if schema is not None:
            return self.schema_spec(schema, item, owner)
        if step_type == "script":
            shell = self.get_str(item, "shell", "bash")
            if shell not in SHELLS:
                self.error(
                    item.value_pos("shell"),
                    f"`shell` must be one of {', '.join(SHELLS)}, got {shell!r}",
                    _suggest(shell, SHELLS),
                )
                shell = "bash"
            return {
                "run": self.require_str(item, "run", owner, "./script.sh"),
                "shell": shell,
                "cwd": self.get_str(item, "cwd", None),
            }
        if step_type == "http":
            return self.http_spec(item, owner)
        if step_type == "approval":
            return {
                "approvers": self.get_str_list(item, "approvers"),
                "message": self.get_str(item, "message", ""),
            }
        if step_type == "condition":
            draft.branches = {
                "then": self.get_refs(item, "then"),
                "else": self.get_refs(item, "else"),
            }
            expression = self.require_str(item, "if", owner, "params.env == 'prod'")
            if expression is not None:
                self.check_expression(item, "if", expression)
            return {"if": expression}
        if step_type == "notify":
            return {
                "url": self.require_str(item, "url", owner, "https://hooks.example.com/x"),
                "message": self.require_str(item, "message", owner, "deploy finished"),
            }
        return {
            "workflow": self.require_str(item, "workflow", owner, "build"),
            "params": self.get_scalar_map(item, "params", ENV_NAME_RE, "parameter"),
        }

    def schema_spec(
        self, schema: steptypes.StepTypeSchema, item: YMap, owner: str
    ) -> dict[str, Any]:
        """Plain data of a non-core step's own keys, checked by its schema."""
        spec = {k: to_plain(item[k]) for k in schema.keys if item.get(k) is not None}
        for key in schema.required:
            if key not in spec:
                self.error(item.pos, f"{owner} is missing `{key}`", f"add `{key}: ...`")
        if schema.validate is None:
            return spec
        try:
            found = list(schema.validate(dict(spec)))
        except Exception as exc:  # a plugin's bug is reported, not raised at the user
            found = [f"the `{schema.name}` step type's validate() failed: {exc!r}"]
        for problem in found:
            key, message, hint = steptypes.split_problem(problem)
            pos = item.value_pos(key) if key in item.entries else item.pos
            self.error(pos, message, hint)
        return spec

    def http_spec(self, item: YMap, owner: str) -> dict[str, Any]:
        method = self.get_str(item, "method", "GET").upper()
        if method not in HTTP_METHODS:
            self.error(
                item.value_pos("method"),
                f"unknown HTTP method {method!r}",
                f"use one of {', '.join(HTTP_METHODS)}",
            )
            method = "GET"
        body = self.get_str(item, "body", None)
        json_body = to_plain(item.get("json"))
        if body is not None and json_body is not None:
            self.error(
                item.key_pos("json"),
                "an http step takes `body` or `json`, not both",
                "remove one of them",
            )
        return {
            "url": self.require_str(item, "url", owner, "http://127.0.0.1:8080/health"),
            "method": method,
            "headers": self.get_scalar_map(item, "headers", None, "header"),
            "body": body,
            "json": json_body,
            "expect_status": self.expect_status(item),
            "expect_body": self.get_str(item, "expect_body", None),
        }

    def expect_status(self, item: YMap) -> list[int]:
        value = self._get(item, "expect_status")
        if value is _MISSING:
            return [200]
        items = list(zip(value, value.positions, strict=True)) if isinstance(value, YSeq) else None
        if items is None:
            items = [(value, item.value_pos("expect_status"))]
        if not items:
            self._wrong(item, "expect_status", "an HTTP status or a non-empty list of them")
            return [200]
        codes = []
        for code, pos in items:
            if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
                self.error(
                    pos,
                    f"`expect_status` must be an HTTP status code (100-599), got {_describe(code)}",
                )
                continue
            codes.append(code)
        return _dedupe(codes) or [200]

    # --------------------------------------------------------------------- resolving

    def link(self, drafts: dict[str, _Draft]) -> dict[str, Step]:
        """Resolve references to expanded names, expand matrices, and check for cycles."""
        for draft in drafts.values():
            draft.copies = (
                [_copy_name(draft.name, combo) for combo in draft.matrix]
                if draft.matrix
                else [draft.name]
            )
        by_name = {copy: d for d in drafts.values() for copy in d.copies}

        def resolve(ref: _Ref, owner: _Draft, key: str) -> list[str]:
            if ref.name == owner.name or ref.name in owner.copies:
                self.error(ref.pos, f"step `{owner.name}` {_VERB[key]} itself")
                return []
            if ref.name in drafts:
                return drafts[ref.name].copies
            if ref.name in by_name:
                return [ref.name]
            if ref.name in self.broken:
                return []
            self.error(
                ref.pos,
                f"step `{owner.name}` {_VERB[key]} unknown step `{ref.name}`",
                _suggest(ref.name, [*drafts, *by_name]),
            )
            return []

        requires: dict[str, list[str]] = {}
        for draft in drafts.values():
            requires[draft.name] = [
                n for r in draft.requires for n in resolve(r, draft, "requires")
            ]
        for draft in drafts.values():
            for key, refs in draft.branches.items():
                names = []
                for ref in refs:
                    targets = resolve(ref, draft, key)
                    names.extend(targets)
                    for target in {by_name[t].name for t in targets}:
                        requires[target].extend(draft.copies)
                draft.spec[key] = _dedupe(names)

        steps: dict[str, Step] = {}
        for draft in drafts.values():
            needs = tuple(_dedupe(requires[draft.name]))
            for copy, combo in itertools.zip_longest(draft.copies, draft.matrix):
                steps[copy] = Step(
                    name=copy,
                    type=draft.type,
                    pos=draft.pos,
                    requires=needs,
                    spec=draft.spec,
                    base=draft.name if combo else "",
                    matrix=combo or {},
                    **draft.fields,
                )

        from flowtui.engine.dag import find_cycle

        cycle = find_cycle(steps)
        if cycle:
            ring = [*cycle, cycle[0]]
            links = ", ".join(f"`{b}` requires `{a}`" for a, b in itertools.pairwise(ring))
            self.error(
                steps[cycle[0]].pos,
                "cycle: " + " → ".join(ring),
                f"{links}; remove one of these so the steps can run in order",
            )
        return steps


_VERB = {"requires": "requires", "then": "names in `then`", "else": "names in `else`"}


def _type_keys(step_type: str) -> tuple[str, ...]:
    if step_type in TYPE_KEYS:
        return TYPE_KEYS[step_type]
    schema = steptypes.get_step_type(step_type)
    return schema.keys if schema is not None else ()


def _foreign_hint(key: str, step_type: str) -> str:
    owners = [t for t, keys in TYPE_KEYS.items() if key in keys]
    owners += [t for t in steptypes.extra_type_names() if key in _type_keys(t)]
    if not owners:
        return ""
    names = " and ".join(f"`{t}`" for t in owners)
    return f"`{key}` belongs to {names} steps; this step has type `{step_type}`"


def _copy_name(base: str, combo: dict[str, str]) -> str:
    return base + "[" + ",".join(f"{k}={v}" for k, v in combo.items()) + "]"


def _product(axes: list[tuple[str, list[str]]]) -> list[tuple[str, ...]]:
    return list(itertools.product(*(values for _, values in axes)))


def _known_timezone(name: str) -> bool:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        # without a timezone database nothing can be checked, so do not blame the file
        try:
            zoneinfo.ZoneInfo("UTC")
        except zoneinfo.ZoneInfoNotFoundError:
            return True
        return False
    return True
