"""The bwrap probe's verdict is remembered between processes, and probed again whenever
something it depends on changes (flowtui/engine/bwrapverdict.py, issue #18)."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowtui.engine import bwrapverdict, mountns

REAL_BWRAP = shutil.which("bwrap")


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    mountns.bwrap_path.cache_clear()
    mountns._probe.cache_clear()
    yield tmp_path / "state" / "flowtui"
    mountns.bwrap_path.cache_clear()
    mountns._probe.cache_clear()


def wrapper(folder: Path, monkeypatch: pytest.MonkeyPatch, *, then: str) -> tuple[Path, Path]:
    """A bwrap stand-in that notes each call in a file, then runs `then` (a real program)."""
    calls = folder / "calls"
    script = folder / "bwrap"
    script.write_text(f'#!/bin/sh\necho probed >> "{calls}"\nexec {then}\n')
    script.chmod(stat.S_IRWXU)
    monkeypatch.setenv(mountns.BWRAP_ENV, str(script))
    return script, calls


def probes(calls: Path) -> int:
    return len(calls.read_text().splitlines()) if calls.exists() else 0


def fresh_process() -> bool:
    """usable() as a new process asks it (the verdict is cached per process)."""
    mountns.bwrap_path.cache_clear()
    mountns._probe.cache_clear()
    return mountns.usable()


@pytest.mark.skipif(REAL_BWRAP is None, reason="bubblewrap is not installed")
def test_a_usable_verdict_is_kept_private_and_taken_by_the_next_process(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, calls = wrapper(tmp_path, monkeypatch, then=f'{REAL_BWRAP} "$@"')
    if not fresh_process():
        pytest.skip("bwrap cannot make namespaces here")
    assert probes(calls) == 1
    kept = state / bwrapverdict.FILE_NAME
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert fresh_process()
    assert probes(calls) == 1  # taken from the file


@pytest.mark.skipif(REAL_BWRAP is None, reason="bubblewrap is not installed")
def test_a_changed_key_or_an_old_verdict_probes_again(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script, calls = wrapper(tmp_path, monkeypatch, then=f'{REAL_BWRAP} "$@"')
    if not fresh_process():
        pytest.skip("bwrap cannot make namespaces here")
    assert probes(calls) == 1
    # the program changed (an upgrade): its size and times are in the key
    script.write_text(script.read_text() + "# upgraded\n")
    assert fresh_process()
    assert probes(calls) == 2
    assert fresh_process()
    assert probes(calls) == 2
    # a verdict older than MAX_AGE
    kept = state / bwrapverdict.FILE_NAME
    old = kept.stat().st_mtime - bwrapverdict.MAX_AGE - 60
    os.utime(kept, (old, old))
    assert fresh_process()
    assert probes(calls) == 3
    # another temp folder (the probe covers it): another key
    other_tmp = tmp_path / "tmp"
    other_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(other_tmp))
    monkeypatch.setattr("tempfile.tempdir", None)
    assert fresh_process()
    assert probes(calls) == 4


def test_a_failed_probe_is_not_remembered(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # never "not usable" from a file: a forged or stale one could turn the sandbox off
    _, calls = wrapper(tmp_path, monkeypatch, then="false")
    assert not fresh_process()
    assert not fresh_process()
    assert probes(calls) == 2
    assert not (state / bwrapverdict.FILE_NAME).exists()


def test_a_verdict_for_another_key_or_unreadable_is_not_taken(tmp_path: Path) -> None:
    bwrapverdict.remember("key one", tmp_path)
    assert bwrapverdict.remembered("key one", tmp_path)
    assert not bwrapverdict.remembered("key two", tmp_path)
    (tmp_path / bwrapverdict.FILE_NAME).write_text("{not json")
    assert not bwrapverdict.remembered("key one", tmp_path)
    assert not bwrapverdict.remembered("key one", tmp_path / "missing")


def test_what_a_step_plants_in_the_state_folder_is_neither_followed_nor_waited_on(
    state: Path, tmp_path: Path
) -> None:
    """The state folder is not covered from steps: a FIFO in the verdict's place must not
    hang the next run, a link must not be read or written through (found in review: a
    link to the history got the verdict written over it)."""
    key = "k"
    bwrapverdict.remember(key)
    kept = state / bwrapverdict.FILE_NAME
    assert bwrapverdict.remembered(key)
    # a FIFO: not opened for a blocking read (this test would hang), not taken
    kept.unlink()
    os.mkfifo(kept, 0o600)
    assert not bwrapverdict.remembered(key)
    # a link to a file that holds a good verdict: not followed
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text('{"usable": "k"}')
    elsewhere.chmod(0o600)
    kept.unlink()
    kept.symlink_to(elsewhere)
    assert not bwrapverdict.remembered(key)
    # links planted at every name a writer could pick: the history they point to is untouched
    history = tmp_path / "flowtui.db"
    history.write_bytes(b"SQLite format 3\0")
    kept.unlink()
    for n in range(32):
        (state / f".{bwrapverdict.FILE_NAME}.{os.getpid()}.{n}").symlink_to(history)
    bwrapverdict.remember(key)
    assert history.read_bytes() == b"SQLite format 3\0"
    assert bwrapverdict.remembered(key)
    # a file others may read, or a folder that is a link, is not trusted
    kept.chmod(0o644)
    assert not bwrapverdict.remembered(key)
    kept.chmod(0o600)
    moved = tmp_path / "moved"
    state.rename(moved)
    state.symlink_to(moved)
    assert not bwrapverdict.remembered(key)
