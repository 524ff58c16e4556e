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
