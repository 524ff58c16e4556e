"""Watching a folder and its `.circleci/`: the helper itself, and `flowtui serve` using it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from flowtui.model.catalog import WorkflowCatalog
from flowtui.model.circleci.watch import as_given, watch_catalog, watched_folders
from tests.triggers.test_serve import Lines, serve_watching
from tests.watching import aprobe_until_seen, probe_path, remove_probe

CONFIG = """\
version: 2.1
jobs:
  build: {steps: [{run: echo build}]}
workflows:
  ci:
    jobs: [build]
"""


def test_changed_paths_are_spelled_as_the_folder_was_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wf").mkdir()
    folder = Path("wf")
    assert as_given(folder, str(tmp_path / "wf" / "a.yaml")) == Path("wf/a.yaml")
    assert as_given(folder, f"{tmp_path}/wf/./.circleci/config.yml") == Path(
        "wf/.circleci/config.yml"
    )
    assert as_given(folder, "/elsewhere/b.yaml") == Path("/elsewhere/b.yaml")
    assert watched_folders(folder) == (folder,)
    (tmp_path / "wf" / ".circleci").mkdir()
    assert watched_folders(folder) == (folder, folder / ".circleci")


async def test_a_circleci_folder_made_later_is_watched_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = Path("project")
    folder.mkdir()
    catalog = WorkflowCatalog(folder)
    catalog.scan()
    stop = asyncio.Event()
    seen: list[Path] = []

    async def consume() -> None:
        async for paths in watch_catalog(folder, stop_event=stop, debounce=50, step=20):
            seen.extend(paths)
            catalog.refresh(paths)

    async def until(condition: object) -> None:
        async with asyncio.timeout(5):
            while not condition():  # type: ignore[operator]
                await asyncio.sleep(0.02)

    async def watching(where: Path) -> None:
        # the watch on `where` is on once a probe written into it is reported; its removal
        # is reported too before the test goes on (tests/watching.py)
        probe, written = probe_path(where), len(seen)
        await aprobe_until_seen(where, lambda: probe in seen[written:])
        removed = len(seen)
        remove_probe(where)
        await until(lambda: probe in seen[removed:])
        assert catalog.get(probe) is None

    task = asyncio.create_task(consume())
    try:
        await watching(folder)
        (folder / ".circleci").mkdir()
        config = folder / ".circleci" / "config.yml"
        config.write_text(CONFIG)
        await until(lambda: catalog.by_name("ci") is not None)
        entry = catalog.by_name("ci")
        assert entry is not None and entry.path == config, "one entry, spelled as scanned"
        assert len(catalog.entries) == 1

        await watching(folder / ".circleci")  # the watch was started again, with it
        config.write_text(CONFIG.replace("jobs: [build]", "jobs: [bild]"))
        await until(lambda: catalog.get(config) is not None and catalog.get(config).error)
        assert f"{config}:6:" in (catalog.get(config).error or "")
        assert catalog.get(config).workflow is not None, "the last good version stays"
    finally:
        stop.set()
        async with asyncio.timeout(5):
            await task
    assert all(not p.is_absolute() for p in seen)


def test_serve_reloads_the_circleci_config(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    config = folder / ".circleci" / "config.yml"
    config.parent.mkdir(parents=True)
    config.write_text(CONFIG)
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowtui", "serve", str(folder), "--no-webhooks"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "FLOWTUI_DB": str(tmp_path / "h.db"), "NO_COLOR": "1"},
    )
    try:
        lines = Lines(proc)
        lines.wait_for(r"serving 1 workflow")
        lines.seen.clear()  # the first `loaded ci` came from the start-up scan
        serve_watching(lines, folder)  # the watch starts just after that line
        config.write_text(CONFIG.replace("echo build", "echo built"))
        lines.wait_for(r"loaded ci \(config\.yml")
        config.write_text(CONFIG.replace("jobs: [build]", "jobs: [bild]"))
        lines.wait_for(rf"{config}:6:\d+: error: .*bild.*\(keeping the last good version\)")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
