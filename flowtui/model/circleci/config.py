"""Turn a CircleCI 2.0/2.1 config into flowtui `Workflow`s, one per CircleCI workflow.

Each job entry of a workflow becomes one step: `circleci-job` (run by
flowtui.engine.executors.circleci_job), `approval` for `type: approval`, or `orb-job` for
a job of an orb whose source is not available here (skipped when the run reaches it).
`requires`, `filters` and `matrix` map onto flowtui's own `requires`, `Step.branches` (a
`JobFilter`) and matrix copies.  Anything that needs CircleCI's cloud (executors, caches,
contexts) is reported as a `Note` instead of failing the load; see docs/circleci.md.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from msgspec import structs

from flowtui.model.branches import JobFilter, entry_error, normalize_filter
from flowtui.model.circleci.checkout import checkout_branch
from flowtui.model.circleci.detect import MARKER, split_marker
from flowtui.model.circleci.orbs import Definition, Library, Orb, build_library, orbs_folder
from flowtui.model.circleci.params import (
    PIPELINE_ENV,
    SETTABLE_PIPELINE_VALUES,
    bind,
    declared,
    from_command_line,
    local_pipeline_values,
    render,
    substitute,
    truthy,
)
from flowtui.model.circleci.setup import continuation_note
from flowtui.model.circleci.steps import StepExpander, environment
from flowtui.model.errors import Problem, WorkflowError
from flowtui.model.graph import find_cycle
from flowtui.model.workflow import SourcePos, Step, Workflow
from flowtui.model.yamlsafe import Document, YMap, YSeq, parse_document, to_plain

JOB_STEP_TYPE = "circleci-job"
ORB_JOB_STEP_TYPE = "orb-job"  # a job of an orb that is not available: skipped at run time
STEP_TYPES = (JOB_STEP_TYPE, ORB_JOB_STEP_TYPE)
DEFAULT_SHELL = "/bin/bash -eo pipefail"
DEFAULT_WORKING_DIRECTORY = "~/project"
# a rerun reloads the text its run recorded: a trailing comment (detect.MARKER) says which
# workflow it was, and this one, above it, the pipeline parameters given on the command line
# (JSON)
PARAMS_MARKER = "# flowtui: circleci pipeline parameters "
# ... and this one, above that, the `--orbs-dir` the run used
ORBS_DIR_MARKER = "# flowtui: circleci orbs dir "

ENTRY_KEYS = ("requires", "filters", "type", "name", "context", "matrix", "pre-steps", "post-steps")
EXECUTOR_KINDS = ("docker", "machine", "macos", "windows")
JOB_KEYS = (
    "steps",
    "parameters",
    "environment",
    "working_directory",
    "shell",
    "executor",
    "parallelism",
    "resource_class",
    "description",
    "circleci_ip_ranges",
    *EXECUTOR_KINDS,
)


@dataclass(frozen=True, slots=True)
class Note:
    """Something the config asks for that flowtui does not do; the rest still runs."""

    pos: SourcePos
    message: str

    def __str__(self) -> str:
        return f"{self.pos}: note: {self.message}"


@dataclass(frozen=True, slots=True)
class CircleConfig:
    workflows: dict[str, Workflow]  # runnable workflows, in file order
    notes: tuple[Note, ...] = ()
    disabled: dict[str, str] = field(default_factory=dict)  # name -> why it does not run

    def select(self, name: str | None, *, strict: bool = False) -> Workflow:
        """The workflow `name`; without a name the only one (or, unless strict, the first)."""
        if name is not None:
            if name in self.workflows:
                return self.workflows[name]
            why = self.disabled.get(name)
            if why:
                raise LookupError(f"CircleCI workflow `{name}` does not run: {why}")
            raise LookupError(f"no CircleCI workflow `{name}`; {self.listing()}")
        if len(self.workflows) == 1 or (self.workflows and not strict):
            return next(iter(self.workflows.values()))
        if not self.workflows:
            raise LookupError("the config has no workflow that runs")
        raise LookupError(
            f"the config has several workflows; pick one with --workflow NAME: "
            f"{', '.join(self.workflows)}"
        )

    def listing(self) -> str:
        return "workflows: " + (", ".join(self.workflows) or "none")


def _split_last_line(text: str, marker: str) -> tuple[str, str | None]:
    body = text.rstrip("\n")
    head, _, last = body.rpartition("\n")
    if last.startswith(marker):
        return head + "\n", last[len(marker) :].strip()
    return text, None


def split_parameters(text: str) -> tuple[str, dict[str, str]]:
    """(the config text, the pipeline parameters a trailing PARAMS_MARKER line records)."""
    body = text.rstrip("\n")
    head, _, last = body.rpartition("\n")
    if last.startswith(PARAMS_MARKER):
        try:
            recorded = json.loads(last[len(PARAMS_MARKER) :])
        except ValueError:
            recorded = None
        if isinstance(recorded, dict):
            return head + "\n", {str(k): str(v) for k, v in recorded.items()}
    return text, {}


def load_config_text(
    text: str,
    file: str,
    path: Path | None = None,
    document: Document | None = None,
    parameters: Mapping[str, str] | None = None,
    orbs_dir: Path | None = None,
) -> CircleConfig:
    """Every workflow of the config; raise WorkflowError (file:line) when it cannot run.

    `parameters` set pipeline parameters (`--param`); without them the ones a rerun's
    text records apply, else the defaults.  `orbs_dir` holds saved orb sources
    (`--orbs-dir`); without it the one a rerun's text records, else `.circleci/orbs`.
    """
    text, _ = split_marker(text)
    text, recorded = split_parameters(text)
    text, recorded_orbs = _split_last_line(text, ORBS_DIR_MARKER)
    if orbs_dir is None and recorded_orbs:
        orbs_dir = Path(recorded_orbs)
    if document is None:
        document = parse_document(text, file)
    builder = _Builder(file, text, path, dict(recorded if parameters is None else parameters))
    builder.orbs_dir = orbs_dir
    builder.problems.extend(document.problems)
    config = builder.build(document.value, document.pos)
    if builder.problems or config is None:
        raise WorkflowError(builder.problems)
    return config


def load_workflow_from_config(
    text: str,
    file: str,
    path: Path | None = None,
    workflow: str | None = None,
    document: Document | None = None,
) -> Workflow:
    """One workflow: `workflow`, else the one a rerun's MARKER names, else the first."""
    _, marked = split_marker(text)
    config = load_config_text(text, file, path, document)
    try:
        chosen = config.select(workflow or marked)
    except LookupError as exc:
        raise WorkflowError([Problem(SourcePos(file, 1, 1), str(exc))]) from None
    if workflow is None and marked is None and len(config.workflows) > 1:
        # a list that shows one entry per file shows the first; say where the others are
        others = ", ".join(n for n in config.workflows if n != chosen.name)
        note = f" (the config also has: {others}; run one with `flowtui run FILE --workflow NAME`)"
        chosen = structs.replace(chosen, description=chosen.description + note)
    return chosen


@dataclass
class _Instance:
    """One job entry of a workflow after matrix expansion."""

    name: str
    job: str
    pos: SourcePos
    args: dict[str, Any]
    requires: list[str]
    base: str = ""
    matrix: dict[str, str] = field(default_factory=dict)
    approval: bool = False
    branches: JobFilter = field(default_factory=JobFilter)
    pre: Any = None
    post: Any = None
    orb: Orb | None = None  # the orb the job comes from
    serial_group: str = ""


class _Builder:
    def __init__(
        self, file: str, text: str, path: Path | None, overrides: Mapping[str, str] | None = None
    ) -> None:
        self.file = file
        self.text = text
        self.path = path
        self.overrides = dict(overrides or {})
        self.problems: list[Problem] = []
        self.notes: list[Note] = []
        self.pipeline: dict[str, Any] = {}
        self.conditions: dict[str, Any] = {}  # the pipeline scope of `when`/`unless`
        self.orbs_dir: Path | None = None
        self.library = Library()
        self.hosts: dict[str, SourcePos] = {}  # "docker (cimg/base)" -> first place it is used
        self.seen_notes: set[str] = set()
        self.workflow_hosts: dict[str, SourcePos] = {}

    # -- reporting -----------------------------------------------------------------
    def error(self, pos: SourcePos, message: str, hint: str = "") -> None:
        self.problems.append(Problem(pos, message, hint))

    def _error_at(self, pos: SourcePos, prefix: str = "") -> Callable[[str], None]:
        return lambda message: self.error(pos, prefix + message)

    def note(self, pos: SourcePos, message: str) -> None:
        if message not in self.seen_notes:  # a command used by many jobs is named once
            self.seen_notes.add(message)
            self.notes.append(Note(pos, message))

    def _params_line(self) -> str:
        """Lines recording `--orbs-dir` and `--param` values, so a rerun uses them too."""
        lines = ""
        if self.orbs_dir is not None:
            lines += ORBS_DIR_MARKER + str(self.orbs_dir.resolve()) + "\n"
        if self.overrides:
            lines += PARAMS_MARKER + json.dumps(self.overrides, sort_keys=True) + "\n"
        return lines

    @staticmethod
    def _key_pos(m: Any, key: Any, default: SourcePos) -> SourcePos:
        if isinstance(m, YMap) and key in m.entries:
            return m.key_pos(key)
        return default

    # -- the whole config ------------------------------------------------------------
    def build(self, root: Any, pos: SourcePos) -> CircleConfig | None:
        if not isinstance(root, YMap):
            self.error(pos, "a CircleCI config must be a mapping (version:, jobs:, workflows:)")
            return None
        version = render(root.get("version"))
        if version not in ("2", "2.0", "2.1"):
            where = root.value_pos("version") if "version" in root else root.pos
            self.error(
                where,
                f"unsupported CircleCI config version {version or '(missing)'!r}",
                "flowtui reads `version: 2` and `version: 2.1` configs",
            )
            return None
        self._pipeline_parameters(root)
        folder = orbs_folder(self.path if self.path else Path(self.file), self.orbs_dir)
        self.library = build_library(root, folder, self.error, self.problems)
        for orb in self.library.orbs.values():
            if not orb.available:
                why = orb.missing(self.library.orbs_dir, how=True)
                self.note(orb.pos, why + "; its jobs are skipped")
        setup = root.get("setup") is True
        if "jobs" not in root and not self.library.orbs:
            self.error(root.pos, "the config has no `jobs:` mapping")
            return None
        if root.get("jobs") is not None and not isinstance(root["jobs"], Mapping):
            return None  # reported by build_library; every workflow job would be unknown

        workflows: dict[str, Workflow] = {}
        disabled: dict[str, str] = {}
        body = root.get("workflows")
        if body is None and "build" in self.library.jobs:
            # a 2.0 config without workflows runs its `build` job
            body = {"build": {"jobs": ["build"]}}
        if not isinstance(body, Mapping) or not body:
            self.error(root.pos, "the config has no `workflows:`")
            return None
        for name, spec in body.items():
            if name == "version":
                continue
            wpos = self._key_pos(body, name, root.pos)
            built = self._workflow(str(name), spec, wpos, disabled)
            if built is not None:
                workflows[str(name)] = built
        if self.hosts:
            first = min(self.hosts.values(), key=lambda p: (p.line, p.column))
            self.notes.append(
                Note(
                    first,
                    "executors are not used, every job runs on this host: " + ", ".join(self.hosts),
                )
            )
        if setup:
            self.note(root.key_pos("setup"), continuation_note(to_plain(root)))
        if self.problems:
            return None
        # the config's own notes first, then those in saved orb sources
        notes = tuple(
            sorted(
                self.notes,
                key=lambda n: (n.pos.file != self.file, n.pos.file, n.pos.line, n.pos.column),
            )
        )
        return CircleConfig(workflows, notes, disabled)

    def _pipeline_parameters(self, root: YMap) -> None:
        pos = self._key_pos(root, "parameters", root.pos)
        error = self._error_at(pos, "pipeline parameters: ")
        definitions = declared(to_plain(root.get("parameters")), error)
        given = from_command_line(definitions, self.overrides, self._error_at(pos))
        values = bind(definitions, given, "the pipeline", error)
        project = self.path.parent if self.path else Path(self.file).resolve().parent
        if project.name == ".circleci":
            project = project.parent
        self.pipeline = {
            **local_pipeline_values(project.name),
            **{f"pipeline.parameters.{k}": v for k, v in values.items()},
        }
        for name, value in self.overrides.items():
            if not name.startswith("pipeline."):
                continue
            if name not in SETTABLE_PIPELINE_VALUES:
                self._error_at(pos)(
                    f"--param {name}: not a pipeline value flowtui knows "
                    f"({', '.join(SETTABLE_PIPELINE_VALUES)})"
                )
                continue
            self.pipeline[name] = value
        # a condition is decided when the file is loaded: a value known only when a job
        # runs is empty there, but for the branch: the run's, else the checkout's
        self.conditions = {**{k: "" for k in PIPELINE_ENV}, **self.pipeline}
        if "pipeline.git.branch" not in self.pipeline and "pipeline.git.tag" not in self.pipeline:
            self.conditions["pipeline.git.branch"] = checkout_branch(project) or ""

    # -- one workflow ------------------------------------------------------------------
    def _workflow(
        self, name: str, spec: Any, pos: SourcePos, disabled: dict[str, str]
    ) -> Workflow | None:
        if not isinstance(spec, Mapping) or not isinstance(spec.get("jobs"), list):
            self.error(pos, f"workflow `{name}` needs a `jobs:` list")
            return None
        if "triggers" in spec:
            self.note(
                self._key_pos(spec, "triggers", pos),
                f"workflow `{name}`: `triggers` (schedules) are not run by flowtui; "
                "run it by hand or with a flowtui trigger",
            )
        for key in ("when", "unless"):
            if key in spec:
                error = self._error_at(self._key_pos(spec, key, pos), f"workflow `{name}`: ")
                holds = truthy(substitute(to_plain(spec[key]), self.conditions, error), error)
                if holds != (key == "when"):
                    disabled[name] = f"its `{key}` condition is {'true' if holds else 'false'}"
                    self.note(pos, f"workflow `{name}` does not run: {disabled[name]}")
                    return None
        instances: list[_Instance] = []
        jobs = spec["jobs"]
        positions = jobs.positions if isinstance(jobs, YSeq) else [pos] * len(jobs)
        for item, ipos in zip(jobs, positions, strict=True):
            instances.extend(self._entry(item, ipos))
        if not instances:
            return None
        steps = self._steps(name, instances)
        if steps is None:
            return None
        group = self._serial_group(name, instances)
        return Workflow(
            name=name,
            steps=steps,
            path=self.path,
            pos=pos,
            concurrency=1 if group else None,
            concurrency_group=group,
            description=f"CircleCI workflow `{name}`",
            source_hash=hashlib.sha256(self.text.encode("utf-8")).hexdigest(),
            source=self.text.rstrip("\n") + "\n" + self._params_line() + MARKER + name + "\n",
        )

    def _serial_group(self, workflow: str, instances: list[_Instance]) -> str | None:
        """The concurrency group standing in for the workflow's jobs' `serial-group`s.

        flowtui queues whole runs, not single jobs: a run of a workflow with a serial
        group waits until no other run of that group is going (one at a time).
        """
        groups = sorted({i.serial_group for i in instances if i.serial_group})
        if not groups:
            return None
        if len(groups) > 1:
            first = next(i for i in instances if i.serial_group)
            self.note(
                first.pos,
                f"workflow `{workflow}` has several serial groups ({', '.join(groups)}): "
                "its runs queue on all of them as one group",
            )
        return "circleci-serial:" + "+".join(groups)

    def _entry(self, item: Any, pos: SourcePos) -> list[_Instance]:
        if isinstance(item, str):
            job, entry = item, YMap(pos)
        elif isinstance(item, Mapping) and len(item) == 1:
            ((job, entry),) = item.items()
            entry = entry if entry is not None else YMap(pos)
            if not isinstance(entry, Mapping):
                self.error(pos, f"the entry of job `{job}` must be a mapping")
                return []
        else:
            self.error(pos, "a workflow job must be a job name or `name: {requires: ...}`")
            return []
        job = str(job)
        approval = entry.get("type") == "approval"
        if "type" in entry and not approval:
            self.error(pos, f"job `{job}`: `type` can only be `approval`")
        orb: Orb | None = None
        if not approval:
            key = self.library.resolve("jobs", job)
            if key is not None:
                job, orb = key, self.library.jobs[key].orb
            else:
                orb = self.library.orb_of(job)
                if orb is None or orb.available:
                    self._unknown_job(job, orb, pos)
                    return []
        if "context" in entry:
            self.note(
                pos,
                f"job `{job}`: contexts are not available here "
                "(their environment variables are not set)",
            )
        if "override-with" in entry:
            self.note(pos, f"job `{job}`: `override-with` is ignored")
        plain = to_plain(entry)
        matrix = plain.pop("matrix", None)
        if matrix is None:
            found = self._instances([(plain, {})], job, pos, approval, base="")
        else:
            found = self._matrix(job, plain, matrix, pos, approval)
        for inst in found:
            inst.orb = orb
        return found

    def _unknown_job(self, job: str, orb: Orb | None, pos: SourcePos) -> None:
        if orb is not None:
            names = [
                k.rpartition("/")[2] for k in self.library.jobs if k.startswith(orb.alias + "/")
            ]
            close = difflib.get_close_matches(job.rpartition("/")[2], names, n=1)
            where = f"{orb.ref}, read from {orb.where}" if orb.where else orb.ref
            self.error(
                pos,
                f"orb `{orb.alias}` ({where}) has no job `{job.rpartition('/')[2]}`",
                f"did you mean `{orb.alias}/{close[0]}`?" if close else "",
            )
            return
        own = [k for k in self.library.jobs if "/" not in k]
        close = difflib.get_close_matches(job, own, n=1)
        hint = f"did you mean `{close[0]}`?" if close else "define it under `jobs:`"
        if "/" in job:
            hint = f"import the orb `{job.rpartition('/')[0]}` under `orbs:`"
        self.error(pos, f"workflow job `{job}` is not defined under `jobs:`", hint)

    def _matrix(
        self, job: str, plain: dict[str, Any], matrix: Any, pos: SourcePos, approval: bool
    ) -> list[_Instance]:
        params = matrix.get("parameters") if isinstance(matrix, Mapping) else None
        if not isinstance(params, Mapping) or not params:
            self.error(pos, f"job `{job}`: `matrix` needs `parameters:` with lists of values")
            return []
        keys = sorted(str(k) for k in params)  # CircleCI names copies in parameter-name order
        lists = [v if isinstance(v, list) else [v] for v in (params[k] for k in keys)]
        excluded = matrix.get("exclude") or []
        combos: list[tuple[dict[str, Any], dict[str, str]]] = []
        for values in itertools.product(*lists):
            chosen = dict(zip(keys, values, strict=True))
            if any(
                all(render(chosen.get(k)) == render(v) for k, v in ex.items())
                for ex in excluded
                if isinstance(ex, Mapping)
            ):
                continue
            scope = {f"matrix.{k}": v for k, v in chosen.items()}
            entry = substitute(plain, scope, self._error_at(pos, f"job `{job}`: "))
            if "name" not in plain:
                entry["name"] = "-".join([job, *(render(chosen[k]) for k in keys)])
            entry.update(chosen)  # the matrix values are the job's arguments
            combos.append((entry, {k: render(v) for k, v in chosen.items()}))
        base = render(matrix.get("alias")) or render(plain.get("name")) or job
        return self._instances(combos, job, pos, approval, base=base)

    def _instances(
        self,
        entries: list[tuple[dict[str, Any], dict[str, str]]],
        job: str,
        pos: SourcePos,
        approval: bool,
        base: str,
    ) -> list[_Instance]:
        result = []
        for entry, matrix in entries:
            entry = substitute(entry, self.pipeline, self._error_at(pos, f"job `{job}`: "))
            requires = entry.get("requires") or []
            if isinstance(requires, str):
                requires = [requires]
            if not isinstance(requires, list):
                self.error(pos, f"job `{job}`: `requires` must be a list of job names")
                requires = []
            names: list[str] = []
            for req in requires:
                if isinstance(req, Mapping):  # {job: [success, failed]}: status ignored
                    names.extend(str(k) for k in req)
                    self.note(
                        pos,
                        f"job `{job}`: `requires` statuses are ignored (a job waits for success)",
                    )
                else:
                    names.append(render(req))
            args = {k: v for k, v in entry.items() if k not in ENTRY_KEYS}
            group = args.pop("serial-group", None)
            if isinstance(group, Mapping | list):
                self.error(pos, f"job `{job}`: `serial-group` must be a name")
                group = None
            result.append(
                _Instance(
                    name=render(entry.get("name")) or job,
                    job=job,
                    pos=pos,
                    args=args,
                    requires=names,
                    base=base,
                    matrix=matrix,
                    approval=approval,
                    branches=self._filters(entry.get("filters"), job, pos),
                    pre=entry.get("pre-steps"),
                    post=entry.get("post-steps"),
                    serial_group=render(group),
                )
            )
        return result

    def _filters(self, filters: Any, job: str, pos: SourcePos) -> JobFilter:
        if filters is None:
            return JobFilter()
        if not isinstance(filters, Mapping):
            hint = ""
            if isinstance(filters, str):
                hint = "expression filters are not supported by flowtui; use `branches:`/`tags:`"
            self.error(pos, f"job `{job}`: `filters` must be a mapping (branches:, tags:)", hint)
            return JobFilter()
        for key in filters:
            if key not in ("branches", "tags"):
                self.error(
                    pos, f"job `{job}`: `filters` takes `branches:` and `tags:`, not `{key}`"
                )
        parts: dict[str, tuple[str, ...]] = {}
        for key in ("branches", "tags"):
            if key not in filters:
                continue
            entries = normalize_filter(filters[key]) if filters[key] is not None else None
            if entries is None:
                self.error(
                    pos,
                    f"job `{job}`: `filters.{key}` takes `only:` and/or `ignore:`",
                    f"e.g. `{key}: {{only: [main, /release-.*/]}}`",
                )
                continue
            for entry in (*entries["only"], *entries["ignore"]):
                why = entry_error(entry)
                if why:
                    self.error(pos, f"job `{job}`: {why}")
            prefix = "" if key == "branches" else "tags_"
            parts[prefix + "only"] = entries["only"]
            parts[prefix + "ignore"] = entries["ignore"]
        return JobFilter(
            only=parts.get("only", ()),
            ignore=parts.get("ignore", ()),
            tags_only=parts.get("tags_only", ()),
            tags_ignore=parts.get("tags_ignore", ()),
        )

    # -- steps of a workflow --------------------------------------------------------------
    def _number_duplicates(self, workflow: str, instances: list[_Instance]) -> dict[str, list[str]]:
        """Name a job listed several times under one name `name-1`, `name-2`, ... as
        CircleCI does; return {the shared name: the numbered names} for `requires`."""
        counts: dict[str, int] = {}
        for inst in instances:
            counts[inst.name] = counts.get(inst.name, 0) + 1
        taken = set(counts)
        renamed: dict[str, list[str]] = {}
        for inst in instances:
            if counts[inst.name] < 2:
                continue
            shared = inst.name
            number = len(renamed.get(shared, [])) + 1
            while f"{shared}-{number}" in taken:
                number += 1
            inst.name = f"{shared}-{number}"
            taken.add(inst.name)
            renamed.setdefault(shared, []).append(inst.name)
        for shared, numbered in renamed.items():
            first = next(i for i in instances if i.name == numbered[0])
            self.note(
                first.pos,
                f"workflow `{workflow}` lists `{shared}` {len(numbered)} times: they run as "
                f"{', '.join(numbered)} (CircleCI numbers them the same way); "
                f"`requires: [{shared}]` waits for all of them",
            )
        return renamed

    def _steps(self, workflow: str, instances: list[_Instance]) -> dict[str, Step] | None:
        names: dict[str, _Instance] = {}
        aliases = self._number_duplicates(workflow, instances)
        ok = True
        for inst in instances:
            names[inst.name] = inst
            if inst.base:
                aliases.setdefault(inst.base, []).append(inst.name)
        resolved: dict[str, tuple[str, ...]] = {}
        for inst in names.values():
            deps: list[str] = []
            for req in inst.requires:
                if req in names:
                    deps.append(req)
                elif req in aliases:
                    deps.extend(aliases[req])
                else:
                    close = difflib.get_close_matches(req, [*names, *aliases], n=1)
                    self.error(
                        inst.pos,
                        f"job `{inst.name}` requires `{req}`, which is not a job "
                        f"of workflow `{workflow}`",
                        f"did you mean `{close[0]}`?" if close else "",
                    )
                    ok = False
            resolved[inst.name] = tuple(dict.fromkeys(deps))
        cycle = (find_cycle(resolved) or []) if ok else []
        if cycle:
            self.error(
                names[cycle[0]].pos,
                "cycle: " + " → ".join([*cycle, cycle[0]]),
                "remove one of these `requires`",
            )
            return None
        steps: dict[str, Step] = {}
        self.workflow_hosts = {}
        first_job: dict[str, Any] | None = None
        for inst in names.values():
            spec: dict[str, Any]
            branches = inst.branches
            if inst.approval:
                kind = "approval"
                spec = {"approvers": [], "message": f"waiting for approval of `{inst.name}`"}
            elif inst.orb is not None and not inst.orb.available:
                kind = ORB_JOB_STEP_TYPE
                spec = {"job": inst.job, "orb": inst.orb.name, "orb_ref": inst.orb.ref}
                why = inst.orb.missing(self.library.orbs_dir, how=True)
                branches = replace(branches, unavailable=why)
            else:
                kind = JOB_STEP_TYPE
                spec = self._job_spec(inst)
                if inst.orb is not None:
                    spec["orb"] = inst.orb.name
                if first_job is None and not resolved[inst.name]:
                    first_job = spec
            steps[inst.name] = Step(
                name=inst.name,
                type=kind,
                pos=inst.pos,
                requires=resolved[inst.name],
                spec=spec,
                description=f"CircleCI job `{inst.job}`"
                + (f" from orb {inst.orb.ref}" if inst.orb is not None else ""),
                base=inst.base if inst.matrix else "",
                matrix=inst.matrix,
                branches=branches,
            )
        if first_job is not None and self.workflow_hosts:
            # said once per run, in the log of the job that starts first
            first_job["notes"] = [
                "executors are not used, every job runs on this host: "
                + ", ".join(self.workflow_hosts)
            ]
        return steps if ok else None

    # -- one job ------------------------------------------------------------------------
    def _job_spec(self, inst: _Instance) -> dict[str, Any]:
        definition: Definition = self.library.jobs[inst.job]
        job = definition.body
        jpos = definition.pos
        if not isinstance(job, Mapping):
            self.error(jpos, f"job `{inst.job}` must be a mapping with `steps:`")
            return {}
        where = f"job `{inst.name}`"
        plain = to_plain(job)
        job_type = render(plain.pop("type", None)) or "build"
        if job_type not in ("build", "no-op"):
            self.error(
                self._key_pos(job, "type", jpos),
                f"job `{inst.job}`: `type` must be build or no-op, got {job_type!r}",
            )
        if job_type == "no-op":
            # a job that does nothing, to shape the graph: it succeeds at once
            for key in plain:
                if key not in ("description", "parameters"):
                    self.note(
                        self._key_pos(job, key, jpos), f"no-op job `{inst.job}`: `{key}` is ignored"
                    )
            return {"job": inst.job, "no_op": True, "steps": [], "environment": {}}
        definitions = declared(plain.pop("parameters", None), self._error_at(jpos, f"{where}: "))
        values = bind(definitions, inst.args, where, self._error_at(inst.pos))
        scope = {**self.pipeline, **{f"parameters.{k}": v for k, v in values.items()}}
        body = substitute(plain, scope, self._error_at(jpos, f"{where}: "))
        for key in body:
            if key not in JOB_KEYS:
                self.note(
                    self._key_pos(job, key, jpos), f"job `{inst.job}`: key `{key}` is ignored"
                )
        if isinstance(body.get("parallelism"), int) and body["parallelism"] > 1:
            self.note(
                self._key_pos(job, "parallelism", jpos),
                f"job `{inst.job}`: `parallelism` is ignored (the job runs once)",
            )
        executor = self._executor(body, inst.job, jpos, definition.context)
        error = self._error_at(jpos)
        env = {
            **executor.get("environment", {}),
            **environment(body.get("environment"), where, error),
        }
        expander = StepExpander(
            self.library,
            error,
            lambda message: self.note(jpos, message),
            pipeline=self.pipeline,
            context=definition.context,
        )
        steps = [  # pre- and post-steps are the workflow's, named as in the config
            *expander.expand(inst.pre, f"{where} pre-steps", context=""),
            # named by the job, not the copy: matrix copies share their notes
            *expander.expand(body.get("steps"), f"job `{inst.job}`"),
            *expander.expand(inst.post, f"{where} post-steps", context=""),
        ]
        if not steps:
            self.error(jpos, f"job `{inst.job}` has no steps")
        return {
            "job": inst.job,
            "steps": steps,
            "working_directory": render(body.get("working_directory"))
            or executor.get("working_directory")
            or DEFAULT_WORKING_DIRECTORY,
            "environment": env,
            "shell": render(body.get("shell")) or executor.get("shell") or DEFAULT_SHELL,
        }

    def _executor(
        self, body: Mapping[str, Any], job: str, pos: SourcePos, context: str = ""
    ) -> dict[str, Any]:
        """What the job's executor contributes here (env, working dir, shell); note the rest."""
        result: dict[str, Any] = {}
        spec: Any = body
        name = body.get("executor")
        if name is not None:
            args: dict[str, Any] = {}
            if isinstance(name, Mapping):
                args = {k: v for k, v in name.items() if k != "name"}
                name = name.get("name")
            key = self.library.resolve("executors", str(name), context) if name else None
            definition = self.library.executors[key].body if key is not None else None
            orb = self.library.orb_of(str(name), context) if name else None
            if key is None and orb is not None and not orb.available:
                self.note(
                    pos,
                    f"job `{job}`: executor `{name}` is not used ({orb.missing()})",
                )
                return result
            if not isinstance(definition, Mapping):
                self.error(pos, f"job `{job}`: executor `{name}` is not defined under `executors:`")
                return result
            error = self._error_at(pos, f"executor `{name}`: ")
            plain = to_plain(definition)
            values = bind(
                declared(plain.pop("parameters", None), error), args, f"executor `{name}`", error
            )
            spec = substitute(
                plain, {**self.pipeline, **{f"parameters.{k}": v for k, v in values.items()}}, error
            )
            result["environment"] = environment(
                spec.get("environment"), f"executor `{name}`", error
            )
            for key in ("working_directory", "shell"):
                if spec.get(key):
                    result[key] = render(spec[key])
        for kind in EXECUTOR_KINDS:
            if kind not in spec:
                continue
            value = spec[kind]
            label = kind
            if kind == "docker" and isinstance(value, list) and value:
                primary = value[0] if isinstance(value[0], Mapping) else {}
                label = f"docker ({primary.get('image', '?')})"
                env = environment(primary.get("environment"), f"job `{job}`", self._error_at(pos))
                result["environment"] = {**env, **result.get("environment", {})}
            elif isinstance(value, Mapping) and value.get("image"):
                label = f"{kind} ({value['image']})"
            self.hosts.setdefault(label, pos)
            self.workflow_hosts.setdefault(label, pos)
        return result
