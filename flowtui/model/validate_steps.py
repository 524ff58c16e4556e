"""Validation of a workflow's `steps:`: each step's keys, type, matrix and spec, then linking.

Steps are read into drafts first; `link` resolves `requires`/`then`/`else` to the expanded
(matrix) step names and checks the graph for cycles.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from msgspec import Struct, field

from flowtui.model import steptypes
from flowtui.model.checker import (
    ENV_NAME_RE,
    MISSING,
    NAME_RE,
    CheckerBase,
    Ref,
    dedupe,
    describe,
    is_scalar,
    suggest,
)
from flowtui.model.graph import find_cycle
from flowtui.model.validate_approval import APPROVAL_KEYS, approval_spec
from flowtui.model.workflow import RUNNER_ONLY_TYPES, SHELLS, STEP_TYPES, SourcePos, Step
from flowtui.model.yamlsafe import YMap, YSeq, to_plain

MAX_STEPS = 5000

_MATRIX_VALUE_BAD = re.compile(r"[\s\[\],=]")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

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
    "runs_on",
    "sandbox",
)
RETRY_KEYS = ("limit", "delay", "backoff", "max_delay", "on_exit_codes")
_CODES_HINT = "exit codes are whole numbers from 1 to 255, e.g. `on_exit_codes: [75, 143]`"
TYPE_KEYS: dict[str, tuple[str, ...]] = {
    "script": ("run", "shell", "cwd"),
    "http": ("url", "method", "headers", "body", "json", "expect_status", "expect_body"),
    "approval": APPROVAL_KEYS,
    "condition": ("if", "then", "else"),
    "notify": ("url", "message"),
    "workflow": ("workflow", "params"),
}


def _field_defaults() -> dict[str, Any]:
    """What `StepRules.fields` gives a step that sets none of _FIELD_KEYS (most steps: the
    getters would each find their key missing)."""
    return {
        "env": {},
        "when": None,
        "continue_on_failure": False,
        "timeout": None,
        "retry_delay": 1.0,
        "description": "",
        "always": False,
        "on_failure": False,
        "kill_grace": None,
        "branches": None,
        "runs_on": None,
        "sandbox": None,
    }


_FIELD_KEYS = frozenset(_field_defaults())


class _Draft(Struct):
    """A step as read from the file, before references are resolved and matrix expanded."""

    name: str
    pos: SourcePos
    type: str
    fields: dict[str, Any]
    spec: dict[str, Any]
    requires: list[Ref] = field(default_factory=list)
    branches: dict[str, list[Ref]] = field(default_factory=dict)  # condition then/else
    matrix: list[dict[str, str]] = field(default_factory=list)  # one dict per copy
    copies: list[str] = field(default_factory=list)  # expanded names
    implicit: list[str] = field(default_factory=list)  # added by conditions


class StepRules(CheckerBase):
    """Checks the `steps:` of a workflow and links them into `Step` objects."""

    def steps(self, root: YMap, sandbox: bool | None = None) -> dict[str, Step]:
        """The steps of the workflow; `sandbox` (the workflow's) for those that do not say."""
        if "steps" not in root:
            self.error(root.pos, "the workflow is missing `steps`", "add `steps:` with one step")
            return {}
        value = root["steps"]
        if not isinstance(value, YMap) or not value:
            what = "an empty mapping" if isinstance(value, YMap) else describe(value)
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
        return self.link(drafts, sandbox)

    def draft(self, key: Any, item: Any, steps: YMap) -> _Draft | None:
        pos = steps.key_pos(key)
        if not isinstance(key, str):
            entry = steps.entries[key]
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
                steps.value_pos(key),
                f"step `{key}` must be a mapping of step keys, got "
                + ("an empty mapping" if isinstance(item, YMap) else describe(item)),
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

        fields = _field_defaults() if _FIELD_KEYS.isdisjoint(item) else self.fields(item)
        fields.update(self.retries(item, where))
        if fields["runs_on"] and step_type in RUNNER_ONLY_TYPES:
            self.error(
                item.key_pos("runs_on"),
                f"{where}: {step_type} steps run in the runner, not on a worker queue",
                "remove `runs_on` from it",
            )
            fields["runs_on"] = None
        if fields["always"] and fields["on_failure"]:
            self.error(
                item.key_pos("on_failure"),
                f"{where} sets both `always` and `on_failure`",
                "keep `always: true` (runs whatever happened) or `on_failure: true` (only after "
                "a failure), not both",
            )
        draft = _Draft(key, pos, step_type or "script", fields, {})
        draft.requires = self.get_refs(item, "requires")
        draft.matrix = self.matrix(item)
        if step_type is not None:
            draft.spec = self.spec(step_type, item, where, draft)
        return draft

    def fields(self, item: YMap) -> dict[str, Any]:
        """The Step fields of a step's common keys (see _field_defaults when none is set)."""
        return {
            "env": self.get_scalar_map(
                item, "env", ENV_NAME_RE, "environment variable", "use letters, digits and _"
            ),
            "when": self.get_expression(item, "when"),
            "continue_on_failure": self.get_bool(item, "continue_on_failure", False),
            "timeout": self.get_duration(item, "timeout", None, positive=True),
            "retry_delay": self.get_duration(item, "retry_delay", 1.0),
            "description": self.get_str(item, "description", ""),
            "always": self.get_bool(item, "always", False),
            "on_failure": self.get_bool(item, "on_failure", False),
            "kill_grace": self.get_duration(item, "kill_grace", None),
            "branches": self.get_branches(item, "branches"),
            "runs_on": self.get_name(item, "runs_on", "queue name") if "runs_on" in item else None,
            "sandbox": self.get_bool(item, "sandbox", True) if "sandbox" in item else None,
        }

    def retries(self, item: YMap, where: str) -> dict[str, Any]:
        """`retries: N`, or a mapping `{limit, delay, backoff, max_delay, on_exit_codes}`,
        as the Step fields they set."""
        value = self._get(item, "retries")
        if not isinstance(value, YMap):
            return {"retries": self.get_int(item, "retries", 0, 0)} if value is not MISSING else {}
        self.check_keys(value, RETRY_KEYS, f"`retries` of {where}")
        fields: dict[str, Any] = {}
        if "limit" in value:
            fields["retries"] = self.get_int(value, "limit", 0, 0)
        else:
            self.error(
                value.pos, f"`retries` of {where} has no `limit`", "add `limit: N` (retries)"
            )
        if "delay" in value:
            if "retry_delay" in item:
                self.error(
                    item.key_pos("retry_delay"),
                    f"{where} gives both `retry_delay` and `retries: {{delay}}`",
                    "keep one of them",
                )
            fields["retry_delay"] = self.get_duration(value, "delay", 1.0)
        if "max_delay" in value:
            fields["retry_max_delay"] = self.get_duration(value, "max_delay", 300.0)
        backoff = self._get(value, "backoff")
        if backoff is not MISSING:
            if isinstance(backoff, bool) or not isinstance(backoff, int | float) or backoff < 1:
                self._wrong(value, "backoff", "a number >= 1 (1: the same delay each time)")
            else:
                fields["retry_backoff"] = float(backoff)
        codes = self._get(value, "on_exit_codes")
        if codes is not MISSING:
            fields["retry_on_exit_codes"] = self.exit_codes(value, codes)
        return fields

    def exit_codes(self, value: YMap, codes: Any) -> tuple[int, ...]:
        items = codes if isinstance(codes, YSeq) else None
        if items is None and isinstance(codes, int) and not isinstance(codes, bool):
            return (codes,) if 1 <= codes <= 255 else self._bad_codes(value)
        if items is None or not items:
            return self._bad_codes(value)
        found: list[int] = []
        for code, pos in zip(items, items.positions, strict=True):
            if isinstance(code, bool) or not isinstance(code, int) or not 1 <= code <= 255:
                self.error(
                    pos, f"`on_exit_codes` must list exit codes, got {describe(code)}", _CODES_HINT
                )
                return ()
            found.append(code)
        return tuple(found)

    def _bad_codes(self, value: YMap) -> tuple[int, ...]:
        self._wrong(value, "on_exit_codes", "a list of exit codes", _CODES_HINT)
        return ()

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
        shown = repr(value) if isinstance(value, str) else describe(value)
        broken = steptypes.plugin_errors().get(value) if isinstance(value, str) else None
        if broken is not None:
            self.error(item.value_pos("type"), f"unknown step type {shown}: {broken}")
            return None
        every = (*STEP_TYPES, *steptypes.extra_type_names())
        self.error(
            item.value_pos("type"),
            f"unknown step type {shown}",
            (suggest(value, every) if isinstance(value, str) else "")
            or f"use one of {', '.join(every)}",
        )
        return None

    def matrix(self, item: YMap) -> list[dict[str, str]]:
        value = self._get(item, "matrix")
        if value is MISSING:
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
                    + ("an empty list" if isinstance(values, YSeq) else describe(values)),
                )
                return []
            texts: list[str] = []
            for raw, one, pos in zip(values.raws, values, values.positions, strict=True):
                if not is_scalar(one) or raw is None:
                    self.error(pos, f"matrix values must be plain values, got {describe(one)}")
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
                    suggest(shell, SHELLS),
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
            return approval_spec(self, item, owner)
        if step_type == "condition":
            draft.branches = {
                "then": self.get_refs(item, "then"),
                "else": self.get_refs(item, "else"),
            }
            if isinstance(item.get("if"), bool):  # `if: false` is the expression `false`
                expression: str | None = "true" if item["if"] else "false"
            else:
                expression = self.require_str(item, "if", owner, "params.env == 'prod'")
                if expression is not None:
                    self.check_expression(item, "if", expression)
            return {"if": expression}
        if step_type == "notify":
            return {
                "url": self.web_url(item, owner, "https://hooks.example.com/x"),
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
            "url": self.web_url(item, owner, "http://127.0.0.1:8080/health"),
            "method": method,
            "headers": self.get_scalar_map(item, "headers", None, "header"),
            "body": body,
            "json": json_body,
            "expect_status": self.expect_status(item),
            "expect_body": self.get_str(item, "expect_body", None),
        }

    def web_url(self, item: YMap, owner: str, example: str) -> str | None:
        """`url` of an http or notify step, its scheme http or https (the runner's only
        ones), checked now unless a `${...}` placeholder gives the scheme at run time."""
        url = self.require_str(item, "url", owner, example)
        if url is None:
            return None
        scheme, sep, _ = url.strip().partition("://")
        if "${" in (scheme if sep else url):
            return url
        if not sep:
            self.error(
                item.value_pos("url"),
                f"URL {url!r} has no scheme",
                f"start it with http:// or https://, e.g. `url: {example}`",
            )
        elif scheme.lower() not in ("http", "https"):
            self.error(
                item.value_pos("url"),
                f"URL {url!r}: unsupported scheme {scheme + sep!r}",
                "use http:// or https://",
            )
        return url

    def expect_status(self, item: YMap) -> list[int]:
        value = self._get(item, "expect_status")
        if value is MISSING:
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
                    f"`expect_status` must be an HTTP status code (100-599), got {describe(code)}",
                )
                continue
            codes.append(code)
        return dedupe(codes) or [200]

    # --------------------------------------------------------------------- resolving

    def link(self, drafts: dict[str, _Draft], sandbox: bool | None = None) -> dict[str, Step]:
        """Resolve references to expanded names, expand matrices, and check for cycles;
        `sandbox` is given to the steps that do not say."""
        for draft in drafts.values():
            draft.copies = (
                [_copy_name(draft.name, combo) for combo in draft.matrix]
                if draft.matrix
                else [draft.name]
            )
        by_name = {copy: d for d in drafts.values() for copy in d.copies}

        def resolve(ref: Ref, owner: _Draft, key: str) -> list[str]:
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
                suggest(ref.name, [*drafts, *by_name]),
            )
            return []

        requires: dict[str, list[str]] = {}
        for draft in drafts.values():
            names: list[str] = []
            for ref in draft.requires:
                # another step by its name, as resolve() would say (a copy's name has
                # brackets, which no step name has)
                other = drafts.get(ref.name)
                if other is not None and other is not draft:
                    names.extend(other.copies)
                else:
                    names.extend(resolve(ref, draft, "requires"))
            requires[draft.name] = names
        for draft in drafts.values():
            for key, refs in draft.branches.items():
                names = []
                for ref in refs:
                    targets = resolve(ref, draft, key)
                    names.extend(targets)
                    for target in {by_name[t].name for t in targets}:
                        requires[target].extend(draft.copies)
                draft.spec[key] = dedupe(names)

        steps: dict[str, Step] = {}
        for draft in drafts.values():
            needs = tuple(dedupe(requires[draft.name]))
            fields = draft.fields
            if fields["sandbox"] is None and sandbox is not None:
                fields = {**fields, "sandbox": sandbox}
            for copy, combo in itertools.zip_longest(draft.copies, draft.matrix):
                steps[copy] = Step(
                    name=copy,
                    type=draft.type,
                    pos=draft.pos,
                    requires=needs,
                    spec=draft.spec,
                    base=draft.name if combo else "",
                    matrix=combo or {},
                    **fields,
                )

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
