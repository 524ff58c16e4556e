"""`flowtui validate`: check workflow files and CircleCI configs, as text or as JSON.

The JSON document (`--json`, described in docs/json.md) is the graph each file gives:
its workflows, their steps with type, requires and branch/tag filters, and every problem
and note at its file:line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowtui.cli.circleci_args import loader_parameters, orbs_dir
from flowtui.cli.commands import CliError, parse_params
from flowtui.cli.console import Painter, plural, use_colour
from flowtui.model import circleci
from flowtui.model.branches import JobFilter
from flowtui.model.clashes import name_clash_problem, name_clashes
from flowtui.model.errors import Problem, WorkflowError
from flowtui.model.loader import discover_workflows, load_workflow
from flowtui.model.workflow import Step, Workflow

JSON_VERSION = 1


@dataclass
class Checked:
    """One file's outcome: the workflows it gives, or the problems that stop it."""

    path: Path
    workflows: list[Workflow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: tuple[circleci.Note, ...] = ()
    skipped: dict[str, str] = field(default_factory=dict)  # workflow -> why it is not offered
    unreadable: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems and not self.unreadable


def _expand_paths(paths: Sequence[str]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from discover_workflows(path)
        else:
            yield path


def check(path: Path, parameters: Mapping[str, str], orbs_dir: Path | None) -> Checked:
    result = Checked(path)
    workflow: Workflow | None = None
    config: circleci.CircleConfig | None = None
    try:
        if circleci.is_circleci_path(path):  # valid too when no workflow runs by default
            config = circleci.load_config_file(path, parameters or None, orbs_dir)
        else:
            workflow = load_workflow(path)
            config = circleci.config_of(workflow, parameters or None, orbs_dir)
    except WorkflowError as exc:
        result.problems = list(exc.problems)
        return result
    except OSError as exc:
        result.unreadable = f"cannot read: {exc.strerror or exc}"
        return result
    if config is None:
        result.workflows = [workflow] if workflow is not None else []
    else:
        result.workflows = list(config.workflows.values())
        result.notes, result.skipped = config.notes, dict(config.disabled)
    return result


def cmd_validate(args: argparse.Namespace) -> int:
    files = list(_expand_paths(args.paths))
    if not files:
        raise CliError("no workflow files found")
    try:
        parameters = loader_parameters(parse_params(args.param), args)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    checked = [check(path, parameters, orbs_dir(args)) for path in files]
    _mark_name_clashes(checked)
    warnings = _group_warnings(checked) + _plugin_warnings()
    if getattr(args, "json", False):
        document = json_document(checked, warnings)
        json.dump(document, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        _print_text(checked, warnings, Painter(use_colour(sys.stdout)))
    return 0 if all(c.ok for c in checked) else 1


def _mark_name_clashes(checked: list[Checked]) -> None:
    """A later file of a folder reusing a workflow name is invalid (the dashboard's rule)."""
    own = [
        (c.path, c.workflows[0])
        for c in checked
        if c.ok and len(c.workflows) == 1 and not circleci.is_circleci_path(c.path)
    ]
    by_path = {c.path: c for c in checked}
    for path, earlier in name_clashes(own).items():
        by_path[path].problems.append(
            name_clash_problem(path, by_path[path].workflows[0].name, earlier)
        )


# -- text ------------------------------------------------------------------------------
def _print_text(checked: list[Checked], warnings: list[str], paint: Painter) -> None:
    for item in checked:
        if item.unreadable:
            print(paint("✗", "31"), f"{item.path}: {item.unreadable}")
            continue
        if item.problems:
            print(paint("✗", "31"), item.path)
            print(str(WorkflowError(item.problems)))
            continue
        first = item.workflows[0] if item.workflows else None
        if first is None:  # a CircleCI config none of whose workflows runs
            print(paint("✓", "32"), f"{item.path}: no workflow runs")
        else:
            count = plural(len(first.steps), "step")
            print(paint("✓", "32"), f"{item.path}: {first.name} ({count})")
        if _kind(item) == "circleci":
            listed = ", ".join(f"{w.name} ({plural(len(w.steps), 'job')})" for w in item.workflows)
            print(f"    CircleCI workflows: {listed or 'none'}")
            for note in item.notes:
                print(f"    {note}")
    for warning in warnings:
        print(paint("!", "33"), warning)
    if len(checked) > 1:
        bad = sum(1 for c in checked if not c.ok)
        print(f"{len(checked) - bad} valid, {bad} invalid")


def _group_warnings(checked: list[Checked]) -> list[str]:
    groups: dict[str, dict[str, int | None]] = {}
    for item in checked:
        for workflow in item.workflows:
            if workflow.concurrency_group:
                limits = groups.setdefault(workflow.concurrency_group, {})
                limits[workflow.name] = workflow.concurrency
    warnings = []
    for group, limits in sorted(groups.items()):
        if len(set(limits.values())) > 1:
            listed = ", ".join(f"{name}: {n or 'none'}" for name, n in sorted(limits.items()))
            smallest = min((n for n in limits.values() if n is not None), default=1)
            warnings.append(
                f"concurrency group {group}: its workflows disagree on `concurrency` "
                f"({listed}); the smallest, {smallest}, applies to the whole group"
            )
    return warnings


def _plugin_warnings() -> list[str]:
    """Every step type plugin that does not load, used or not (a warning only).

    A workflow that uses one already failed to load and counts in the exit code.
    """
    from flowtui.model.steptypes import plugin_errors

    return [f"warning: {error}" for _, error in sorted(plugin_errors().items())]


# -- JSON ------------------------------------------------------------------------------
def json_document(checked: list[Checked], warnings: list[str]) -> dict[str, Any]:
    return {
        "version": JSON_VERSION,
        "files": [_file_view(item) for item in checked],
        "warnings": warnings,
    }


def _file_view(item: Checked) -> dict[str, Any]:
    problems = [
        _problem(p.pos.file, p.pos.line, p.pos.column, "error", p.message, p.hint)
        for p in item.problems
    ]
    if item.unreadable:
        problems.append(_problem(str(item.path), 1, 1, "error", item.unreadable))
    problems += [
        _problem(n.pos.file, n.pos.line, n.pos.column, "note", n.message) for n in item.notes
    ]
    return {
        "path": str(item.path),
        "ok": item.ok,
        "kind": _kind(item),
        "problems": problems,
        "workflows": [_workflow_view(w) for w in item.workflows] if item.ok else [],
        "skipped_workflows": [{"name": n, "reason": r} for n, r in item.skipped.items()],
    }


def _kind(item: Checked) -> str | None:
    if not item.ok:
        return None
    if item.skipped or any(circleci.split_marker(w.source)[1] for w in item.workflows):
        return "circleci"
    return "flowtui"


def _problem(
    file: str, line: int, col: int, severity: str, message: str, hint: str = ""
) -> dict[str, Any]:
    return {
        "file": file,
        "line": line,
        "col": col,
        "severity": severity,
        "message": message,
        "hint": hint or None,
    }


def _workflow_view(workflow: Workflow) -> dict[str, Any]:
    return {
        "name": workflow.name,
        "line": workflow.pos.line if workflow.pos else None,
        "concurrency_group": workflow.concurrency_group,
        "steps": [_step_view(step) for step in workflow.steps.values()],
    }


def _entries(only: Sequence[str], ignore: Sequence[str]) -> dict[str, list[str]] | None:
    return {"only": list(only), "ignore": list(ignore)} if only or ignore else None


def _step_view(step: Step) -> dict[str, Any]:
    branches = tags = None
    unavailable = None
    spec = step.spec
    if isinstance(step.branches, JobFilter):
        branches = _entries(step.branches.only, step.branches.ignore)
        tags = _entries(step.branches.tags_only, step.branches.tags_ignore)
        unavailable = step.branches.unavailable or None
    elif step.branches:
        branches = _entries(step.branches.get("only", ()), step.branches.get("ignore", ()))
    return {
        "name": step.name,
        "type": step.type,
        "line": step.pos.line,
        "requires": list(step.requires),
        "branches": branches,
        "tags": tags,
        "orb": spec.get("orb") if step.type in circleci.STEP_TYPES else None,
        "job": spec.get("job") if step.type in circleci.STEP_TYPES else None,
        "matrix": dict(step.matrix) or None,
        "no_op": bool(spec.get("no_op")) if step.type == circleci.JOB_STEP_TYPE else None,
        "unavailable": unavailable,
    }
