"""Workspace copies and `~` paths of the circleci-job executor, on real folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowtui.engine.executors.circleci_job import JobFailed, attach, expand, persist


def test_persist_globs_and_attach_copies_everything(tmp_path: Path) -> None:
    root = tmp_path / "work"
    (root / "dist" / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / "b.txt").write_text("b")
    (root / "c.log").write_text("c")
    (root / "dist" / "sub" / "app").write_text("app")
    store = tmp_path / "ws"
    persist(root, ["*.txt", "dist"], store)
    assert sorted(p.relative_to(store).as_posix() for p in store.rglob("*") if p.is_file()) == [
        "a.txt",
        "b.txt",
        "dist/sub/app",
    ]
    target = tmp_path / "elsewhere"
    attach(store, target)
    assert (target / "dist" / "sub" / "app").read_text() == "app"


def test_persist_refuses_paths_outside_the_root_and_missing_ones(tmp_path: Path) -> None:
    root = tmp_path / "work"
    root.mkdir()
    (tmp_path / "secret").write_text("x")
    with pytest.raises(JobFailed, match="leaves the root"):
        persist(root, ["../secret"], tmp_path / "ws")
    with pytest.raises(JobFailed, match="matches nothing"):
        persist(root, ["nothing-*"], tmp_path / "ws")
    assert not (tmp_path / "ws" / "secret").exists()


def test_tilde_is_the_job_home(tmp_path: Path) -> None:
    home, base = tmp_path / "home", tmp_path / "home" / "project"
    assert expand("~/project", home, base) == home / "project"
    assert expand("~", home, base) == home
    assert expand("out", home, base) == base / "out"
    assert expand("/tmp/workspace", home, base) == Path("/tmp/workspace")
