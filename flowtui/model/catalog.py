"""A folder of workflow files kept loaded: the last good version of each, and its error.

Used by the dashboard (and later by `flowtui serve`) to reload definitions the moment a file
changes without ever dying on a bad file: a file that stops parsing keeps its last good
workflow usable and carries the error (file:line) until it is fixed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from flowtui.model.clashes import name_clash_problem
from flowtui.model.environments import ENVIRONMENTS_FILES
from flowtui.model.errors import WorkflowError
from flowtui.model.loader import discover_workflows, is_workflow_file, load_workflow
from flowtui.model.workflow import Workflow


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    path: Path
    workflow: Workflow | None  # the last version that loaded, if any
    error: str | None = None  # why the file as it is now does not load

    @property
    def name(self) -> str:
        return self.workflow.name if self.workflow else self.path.stem

    @property
    def first_error_line(self) -> str:
        return self.error.splitlines()[0] if self.error else ""


# a file as `WorkflowCatalog.load` found it: its workflow, its error, or None (gone)
Loaded = tuple[Path, Workflow | str | None]


@dataclass(frozen=True, slots=True)
class CatalogChange:
    added: tuple[Path, ...] = ()
    updated: tuple[Path, ...] = ()
    removed: tuple[Path, ...] = ()
    broken: tuple[Path, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.broken)


class WorkflowCatalog:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._entries: dict[Path, CatalogEntry] = {}

    @property
    def entries(self) -> list[CatalogEntry]:
        """Entries sorted by workflow name (case-insensitive), then path."""
        return sorted(self._entries.values(), key=lambda e: (e.name.lower(), str(e.path)))

    def get(self, path: Path) -> CatalogEntry | None:
        return self._entries.get(path)

    def by_name(self, name: str) -> CatalogEntry | None:
        for entry in self._entries.values():
            if entry.workflow is not None and entry.workflow.name == name:
                return entry
        return None

    def scan(self) -> CatalogChange:
        """Load every workflow file of the folder; forget files that are gone."""
        return self.refresh(self.scan_paths())

    def scan_paths(self) -> list[Path]:
        """What `scan` reloads: the folder's workflow files, and the ones that are gone."""
        present = set(discover_workflows(self.folder)) if self.folder.is_dir() else set()
        return [*present, *(p for p in self._entries if p not in present)]

    def refresh(self, paths: Iterable[Path]) -> CatalogChange:
        """Reload the given files (created, modified or deleted)."""
        return self.apply(self.load(paths))

    def load(self, paths: Iterable[Path]) -> list[Loaded]:
        """Load the given files without changing the catalog (safe in a thread: evaluating
        a Python workflow file may take up to its timeout); `apply` takes the result.

        A change of the folder's `environments.yaml` reloads every workflow of the folder:
        each is validated, and bound to its environments, with that file."""
        paths = set(paths)
        if any(self._is_environments_file(path) for path in paths):
            paths.update(self.scan_paths())
        loaded: list[Loaded] = []
        for path in sorted(paths):
            if not is_workflow_file(path) or not path.exists():
                loaded.append((path, None))  # gone, or no longer a workflow file
                continue
            try:
                loaded.append((path, load_workflow(path)))
            except WorkflowError as exc:
                loaded.append((path, str(exc)))
            except OSError as exc:
                loaded.append((path, f"{path}:1:1: error: cannot read: {exc.strerror or exc}"))
        return loaded

    def apply(self, loaded: Iterable[Loaded]) -> CatalogChange:
        """Take what `load` found into the catalog; say what changed."""
        added: list[Path] = []
        updated: list[Path] = []
        removed: list[Path] = []
        broken: list[Path] = []
        for path, result in loaded:
            if result is None:
                if self._entries.pop(path, None) is not None:
                    removed.append(path)
                continue
            old = self._entries.get(path)
            if isinstance(result, str):
                self._entries[path] = CatalogEntry(path, old.workflow if old else None, result)
                broken.append(path)
                continue
            workflow = result
            entry = CatalogEntry(path, workflow)
            clash = self._name_clash(path, workflow.name)
            if clash is not None:
                entry = replace(
                    entry,
                    workflow=old.workflow if old else None,
                    error=str(name_clash_problem(path, workflow.name, clash)),
                )
                broken.append(path)
            elif old is None:
                added.append(path)
            elif _changed(old, workflow):
                updated.append(path)
            self._entries[path] = entry
        return CatalogChange(tuple(added), tuple(updated), tuple(removed), tuple(broken))

    def _is_environments_file(self, path: Path) -> bool:
        return path.name in ENVIRONMENTS_FILES and path.parent == self.folder

    def _name_clash(self, path: Path, name: str) -> Path | None:
        for other, entry in self._entries.items():
            if other != path and entry.workflow is not None and entry.workflow.name == name:
                return other
        return None


def _changed(old: CatalogEntry, workflow: Workflow) -> bool:
    """A new version of the file, or the same file with other environments (its folder's
    `environments.yaml` changed)."""
    return (
        bool(old.error)
        or old.workflow is None
        or old.workflow.source_hash != workflow.source_hash
        or old.workflow.environments != workflow.environments
    )
