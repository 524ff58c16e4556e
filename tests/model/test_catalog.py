"""A folder of workflows reloaded file by file, keeping the last good version."""

from __future__ import annotations

from pathlib import Path

from flowtui.model.catalog import CatalogChange, WorkflowCatalog

GOOD = "name: {name}\nsteps:\n  a: {{run: 'true'}}\n"


def test_scan_update_break_fix_delete(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD.format(name="alpha"))
    (tmp_path / "b.yml").write_text(GOOD.format(name="beta"))
    (tmp_path / ".#a.yaml").write_text("editor lock file")
    (tmp_path / "notes.txt").write_text("not a workflow")
    catalog = WorkflowCatalog(tmp_path)
    change = catalog.scan()
    assert sorted(p.name for p in change.added) == ["a.yaml", "b.yml"]
    assert [e.name for e in catalog.entries] == ["alpha", "beta"]

    path = tmp_path / "a.yaml"
    path.write_text(GOOD.format(name="alpha") + "  b: {run: 'true', requires: [a]}\n")
    change = catalog.refresh([path])
    assert change.updated == (path,)
    entry = catalog.get(path)
    assert entry is not None and list(entry.workflow.steps) == ["a", "b"]

    path.write_text("name: alpha\nsteps:\n  a: {run: 'true', requires: [zzz]}\n")
    change = catalog.refresh([path])
    assert change.broken == (path,)
    entry = catalog.get(path)
    assert entry is not None
    assert entry.workflow is not None and list(entry.workflow.steps) == ["a", "b"], "last good kept"
    assert entry.error is not None and f"{path}:3:" in entry.error
    assert entry.first_error_line.startswith(f"{path}:3:")

    path.write_text(GOOD.format(name="alpha"))
    change = catalog.refresh([path])
    assert change.updated == (path,)
    assert catalog.get(path).error is None  # type: ignore[union-attr]

    path.unlink()
    change = catalog.refresh([path])
    assert change.removed == (path,)
    assert [e.name for e in catalog.entries] == ["beta"]


def test_a_new_broken_file_is_listed_with_its_error(tmp_path: Path) -> None:
    catalog = WorkflowCatalog(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsteps: [1, 2\n")
    change = catalog.scan()
    assert change.broken == (bad,)
    (entry,) = catalog.entries
    assert entry.workflow is None and entry.name == "bad" and entry.error


def test_duplicate_workflow_names_are_reported(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD.format(name="same"))
    (tmp_path / "b.yaml").write_text(GOOD.format(name="same"))
    catalog = WorkflowCatalog(tmp_path)
    change = catalog.scan()
    assert change.broken == (tmp_path / "b.yaml",)
    assert "already used" in (catalog.get(tmp_path / "b.yaml").error or "")  # type: ignore[union-attr]
    assert catalog.by_name("same").path == tmp_path / "a.yaml"  # type: ignore[union-attr]


def test_a_change_of_environments_yaml_reloads_the_folders_workflows(tmp_path: Path) -> None:
    """What the dashboard's watcher and `flowtui serve`'s hand the catalog: only the path of
    `environments.yaml`; every workflow of the folder is reloaded with it."""
    (tmp_path / "a.yaml").write_text(GOOD.format(name="alpha"))
    (tmp_path / "b.yaml").write_text(
        GOOD.format(name="beta") + "triggers:\n  - webhook: {environment: qa}\n"
    )
    envs = tmp_path / "environments.yaml"
    envs.write_text("environments:\n  qa: {}\n")
    catalog = WorkflowCatalog(tmp_path)
    catalog.scan()
    assert catalog.refresh([envs]) == CatalogChange(), "nothing changed: nothing to say"

    envs.write_text("environments:\n  qa: {}\n  prod: {variables: {A: b}}\n")
    change = catalog.refresh([envs])
    assert sorted(p.name for p in change.updated) == ["a.yaml", "b.yaml"]
    alpha = catalog.by_name("alpha")
    assert alpha is not None and alpha.workflow is not None
    assert list(alpha.workflow.environments) == ["qa", "prod"]

    envs.write_text("environments:\n  prod: {}\n")  # beta's trigger names qa: broken
    change = catalog.refresh([envs])
    assert [p.name for p in change.broken] == ["b.yaml"]
    beta = catalog.get(tmp_path / "b.yaml")
    assert beta is not None and beta.error is not None and "unknown environment 'qa'" in beta.error
