"""Workspace deltas: what a step changed, packed on one machine and applied on another."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from flowtui.engine.workspace import (
    MAX_ENV,
    HandOff,
    WorkspaceTooLarge,
    pack_changes,
    snapshot,
    unpack,
)


def test_added_changed_and_deleted_files_travel(tmp_path: Path) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    (here / "keep").mkdir(parents=True)
    (here / "keep" / "same.txt").write_text("same")
    (here / "old.txt").write_text("old")
    (here / "gone.txt").write_text("bye")
    unpack(there, pack_changes(here, {}) or b"")  # the other machine starts level
    before = snapshot(here)
    (here / "old.txt").write_text("changed, and longer")
    (here / "gone.txt").unlink()
    (here / "new" / "deep").mkdir(parents=True)
    (here / "new" / "deep" / "made.bin").write_bytes(bytes(range(256)))
    (here / ".flowtui").mkdir()
    (here / ".flowtui" / "scratch").write_text("never carried")
    data = pack_changes(here, before)
    assert data is not None
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = set(tar.getnames())
    assert "keep/same.txt" not in names and ".flowtui/scratch" not in names
    unpack(there, data)
    assert (there / "old.txt").read_text() == "changed, and longer"
    assert (there / "new" / "deep" / "made.bin").read_bytes() == bytes(range(256))
    assert not (there / "gone.txt").exists()
    assert (there / "keep" / "same.txt").read_text() == "same"


def test_nothing_changed_is_no_delta(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("a")
    assert pack_changes(tmp_path, snapshot(tmp_path)) is None


def test_over_the_cap_is_refused_with_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MAX_ENV, "1k")
    (tmp_path / "big").write_bytes(os.urandom(64 * 1024))  # random: gzip cannot shrink it
    refusal = r"over the 1\.0 kB that can be handed to other machines \(FLOWTUI_WORKSPACE_MAX\)"
    with pytest.raises(WorkspaceTooLarge, match=refusal):
        pack_changes(tmp_path, {})


def test_a_hostile_archive_cannot_write_outside(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    root = tmp_path / "ws"
    with pytest.raises(tarfile.FilterError):
        unpack(root, buffer.getvalue())
    assert not (tmp_path / "escaped.txt").exists()


def test_a_parallel_step_here_does_not_undo_a_change_made_elsewhere(tmp_path: Path) -> None:
    """The runner's `gen` writes version.txt; a worker's `bump` (after gen) rewrites it; the
    runner's `lint`, running beside gen the whole time, ends last. Its delta must not carry
    the runner's stale version.txt, or `ship` on a third machine would see gen's version."""
    runner = HandOff(tmp_path / "runner")
    worker = HandOff(tmp_path / "worker")
    shipper = HandOff(tmp_path / "shipper")
    deltas: list[tuple[int, bytes]] = []

    def give(side: HandOff) -> None:
        data = side.give()
        assert data is not None
        deltas.append((len(deltas) + 1, data))
        side.seen.add(len(deltas))

    runner.root.mkdir()
    (runner.root / "version.txt").write_text("gen")  # gen
    give(runner)
    worker.take([d for d in deltas if d[0] not in worker.seen])
    (worker.root / "version.txt").write_text("bump")  # bump, on the worker
    give(worker)
    (runner.root / "lint.txt").write_text("lint ok")  # lint, ends last, here
    give(runner)
    shipper.take(deltas)
    assert (shipper.root / "version.txt").read_text() == "bump"
    assert (shipper.root / "lint.txt").read_text() == "lint ok"


def test_untouched_is_told_without_a_walk_only_for_an_empty_workspace(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    hand = HandOff(root)
    assert hand.untouched()  # not made yet
    (root / ".flowtui" / "step.1").mkdir(parents=True)
    assert hand.untouched()  # scratch folders are never handed on
    (root / "made.txt").write_text("x")
    assert not hand.untouched()
    assert hand.give() is not None
    (root / "made.txt").unlink()
    # the others know a file here: whether it changed needs the walk (it was deleted)
    assert not hand.untouched()
    data = hand.give()
    assert data is not None and unpack(tmp_path / "there", data) == ["made.txt"]
    assert hand.untouched()
