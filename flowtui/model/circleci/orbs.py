"""Orbs: the jobs, commands and executors a config can name, its own and its orbs'.

An orb's source is available here when it is written inline (`orbs: {name: {jobs: ...}}`)
or saved as `<orbs dir>/NAMESPACE/NAME.yml` (what `circleci orb source NS/NAME@VERSION`
prints); the orbs dir is `--orbs-dir`, else the config's own `.circleci/orbs/`.  Orbs are
never fetched.  A name from an orb that is not available is reported, not refused: its
jobs become `orb-job` steps that are skipped, its commands skipped steps.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowtui.model.errors import Problem, WorkflowError
from flowtui.model.workflow import SourcePos
from flowtui.model.yamlsafe import MAX_FILE_BYTES, YMap, decode, parse_document

KINDS = ("jobs", "commands", "executors")
MAX_NESTING = 5  # orbs that import orbs: deeper than this is a loop or an oddity
_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_REF = re.compile(r"(?P<ns>[^/@\s]+)/(?P<name>[^/@\s]+)(?:@(?P<version>\S+))?")


@dataclass(frozen=True, slots=True)
class Orb:
    """One orb the config (or an orb) imports under `alias`."""

    alias: str  # its prefix in names: `node`, or `outer/inner` for an orb's own orb
    ref: str  # "circleci/node@5.1.0", or "inline"
    pos: SourcePos  # where it is imported
    available: bool
    where: str = ""  # the file its source came from; "" when inline or not available

    @property
    def name(self) -> str:
        """`namespace/name` without the version, or the alias of an inline orb."""
        match = _REF.fullmatch(self.ref)
        return f"{match['ns']}/{match['name']}" if match else self.alias

    def missing(self, orbs_dir: Path | None = None, *, how: bool = False) -> str:
        """Why its jobs do not run here; with `how`, also how to make them run."""
        match = _REF.fullmatch(self.ref)
        if match is None or not how:
            return f"orb `{self.alias}` ({self.ref}) is not available here"
        saved = f"{orbs_dir}/{self.name}.yml" if orbs_dir else f".circleci/orbs/{self.name}.yml"
        return (
            f"orb `{self.alias}` ({self.ref}) is not available here "
            f"(save `circleci orb source {self.ref}` as {saved} to run it)"
        )


@dataclass(frozen=True, slots=True)
class Definition:
    """A job, command or executor, and the orb prefix its own references resolve in."""

    body: Any
    pos: SourcePos
    context: str = ""
    orb: Orb | None = None


@dataclass
class Library:
    jobs: dict[str, Definition] = field(default_factory=dict)
    commands: dict[str, Definition] = field(default_factory=dict)
    executors: dict[str, Definition] = field(default_factory=dict)
    orbs: dict[str, Orb] = field(default_factory=dict)  # by alias
    orbs_dir: Path | None = None  # where saved orb sources are looked up

    def table(self, kind: str) -> dict[str, Definition]:
        tables: dict[str, dict[str, Definition]] = {
            "jobs": self.jobs,
            "commands": self.commands,
            "executors": self.executors,
        }
        return tables[kind]

    def resolve(self, kind: str, name: str, context: str = "") -> str | None:
        """The key `name` has among `kind`, seen from inside orb `context` ("" = the config).

        Inside an orb its own names need no prefix, so `context/name` (and the prefixes
        of the orbs around it) are tried before `name` itself.
        """
        table = self.table(kind)
        prefix = context
        while prefix:
            if f"{prefix}/{name}" in table:
                return f"{prefix}/{name}"
            prefix = prefix.rpartition("/")[0]
        return name if name in table else None

    def orb_of(self, name: str, context: str = "") -> Orb | None:
        """The imported orb a `prefix/name` reference points into, if any."""
        head, sep, _ = name.rpartition("/")
        if not sep:
            return None
        prefix = context
        while prefix:
            if f"{prefix}/{head}" in self.orbs:
                return self.orbs[f"{prefix}/{head}"]
            prefix = prefix.rpartition("/")[0]
        return self.orbs.get(head)


ErrorFn = Callable[[SourcePos, str], None]


def orbs_folder(config: Path | None, given: Path | None) -> Path | None:
    """Where saved orb sources are looked up: `given`, else `.circleci/orbs` by the config."""
    if given is not None:
        return given
    if config is None:
        return None
    return config.parent / "orbs"


def build_library(
    root: YMap, orbs_dir: Path | None, error: ErrorFn, problems: list[Problem]
) -> Library:
    """The config's own definitions and those of every orb whose source is available."""
    library = Library(orbs_dir=orbs_dir)
    _add_definitions(library, root, "", None, error)
    _import_orbs(library, root, "", orbs_dir, error, problems, 0)
    return library


def _add_definitions(
    library: Library, source: YMap, prefix: str, orb: Orb | None, error: ErrorFn
) -> None:
    for kind in KINDS:
        block = source.get(kind)
        if block is None:
            continue
        if not isinstance(block, YMap):
            error(source.value_pos(kind), f"`{kind}` must be a mapping")
            continue
        table = library.table(kind)
        for name, body in block.items():
            key = f"{prefix}/{name}" if prefix else str(name)
            table[key] = Definition(body, block.key_pos(name), prefix, orb)


def _import_orbs(
    library: Library,
    source: YMap,
    prefix: str,
    orbs_dir: Path | None,
    error: ErrorFn,
    problems: list[Problem],
    depth: int,
) -> None:
    imports = source.get("orbs")
    if imports is None:
        return
    if not isinstance(imports, YMap):
        error(source.value_pos("orbs"), "`orbs` must map names to orb references or orb bodies")
        return
    if depth >= MAX_NESTING:
        error(source.key_pos("orbs"), f"orbs import orbs more than {MAX_NESTING} deep")
        return
    for alias, value in imports.items():
        pos = imports.key_pos(alias)
        full = f"{prefix}/{alias}" if prefix else str(alias)
        if isinstance(value, YMap):
            orb = Orb(full, "inline", pos, available=True)
            body: YMap | None = value
        elif isinstance(value, str) and _REF.fullmatch(value.strip()):
            ref = value.strip()
            body, where = _saved_source(ref, orbs_dir, pos, problems)
            orb = Orb(full, ref, pos, available=body is not None, where=where)
        else:
            error(pos, f"orb `{alias}`: expected `namespace/name@version` or an inline orb")
            continue
        library.orbs[full] = orb
        if body is not None:
            _add_definitions(library, body, full, orb, error)
            _import_orbs(library, body, full, orbs_dir, error, problems, depth + 1)


def _saved_source(
    ref: str, orbs_dir: Path | None, pos: SourcePos, problems: list[Problem]
) -> tuple[YMap | None, str]:
    """The orb's saved source (and its file), or (None, "") when there is none here."""
    match = _REF.fullmatch(ref)
    if orbs_dir is None or match is None:
        return None, ""
    ns, name = match["ns"], match["name"]
    if not (_PART.fullmatch(ns) and _PART.fullmatch(name)) or ".." in (ns, name):
        return None, ""  # not a name that can be a file under the orbs dir
    for suffix in (".yml", ".yaml"):
        path = orbs_dir / ns / f"{name}{suffix}"
        if path.is_file():
            break
    else:
        return None, ""
    file = str(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        problems.append(Problem(pos, f"cannot read the saved orb {file}: {exc.strerror or exc}"))
        return None, ""
    if len(data) > MAX_FILE_BYTES:
        problems.append(Problem(SourcePos(file, 1, 1), "the saved orb is too large"))
        return None, ""
    try:
        document = parse_document(decode(data, file), file)
    except WorkflowError as exc:
        problems.extend(exc.problems)
        return None, ""
    problems.extend(document.problems)
    if not isinstance(document.value, YMap):
        problems.append(Problem(document.pos, "a saved orb must be a mapping (jobs:, commands:)"))
        return None, ""
    return document.value, file
