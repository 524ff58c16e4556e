"""Finding workflow files in a folder, and resolving a name or a path to a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowtui.model.loader import discover_workflows, resolve_workflow


def write(folder: Path, filename: str, name: str) -> Path:
    path = folder / filename
    path.write_text(f"name: {name}\nsteps:\n  a: {{run: echo {name}}}\n")
    return path


def test_discover_lists_yaml_files_sorted_skipping_hidden_and_temp(tmp_path: Path) -> None:
    for filename in ["b.yml", "a.yaml", "c.yaml"]:
        write(tmp_path, filename, filename.split(".")[0])
    for junk in [".hidden.yaml", ".#a.yaml", "a.yaml~", ".a.yaml.swp", "#a.yaml#", "notes.txt"]:
        (tmp_path / junk).write_text("junk")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "deep.yaml", "deep")  # not recursive
    (tmp_path / "dir.yaml").mkdir()  # a folder, not a file
    assert discover_workflows(tmp_path) == [
        tmp_path / "a.yaml",
        tmp_path / "b.yml",
        tmp_path / "c.yaml",
    ]


def test_discover_missing_folder_is_empty(tmp_path: Path) -> None:
    assert discover_workflows(tmp_path / "nope") == []


def test_resolve_a_path(tmp_path: Path) -> None:
    path = write(tmp_path, "x.yaml", "x")
    assert resolve_workflow(str(path), []) == path


def test_resolve_a_path_relative_to_a_search_dir(tmp_path: Path) -> None:
    path = write(tmp_path, "x.yaml", "x")
    assert resolve_workflow("x.yaml", [tmp_path / "other", tmp_path]) == tmp_path / "x.yaml"
    assert path.exists()


def test_resolve_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match=r"no workflow file `missing\.yaml`"):
        resolve_workflow("missing.yaml", [tmp_path])


def test_resolve_by_name_skipping_broken_files(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    (first / "broken.yaml").write_text("name: [\n")
    write(first, "build.yaml", "build")
    target = write(second, "whatever.yaml", "production-deploy")
    assert resolve_workflow("production-deploy", [first, second]) == target
    assert resolve_workflow("build", [first, second]) == first / "build.yaml"


def test_resolve_unknown_name_lists_known_names(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "build")
    write(tmp_path, "b.yaml", "deploy")
    with pytest.raises(LookupError) as caught:
        resolve_workflow("deplyo", [tmp_path])
    message = str(caught.value)
    assert "no workflow named `deplyo`" in message
    assert "known workflows: build, deploy" in message
    assert "did you mean `deploy`?" in message
