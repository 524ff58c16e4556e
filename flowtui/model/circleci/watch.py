"""Watching a workflow folder for the dashboard and `flowtui serve`, `.circleci/` included.

A folder's catalog shows its own workflow files and `.circleci/config.yml`.  Watching the
folder recursively would put a watch on every sub-folder of a project (node_modules, .git
objects, ...), so the folder and its `.circleci/` are each watched flat, and the watch is
restarted when `.circleci/` appears or goes away.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

CONFIG_NAMES = ("config.yml", "config.yaml")


def watched_folders(folder: Path) -> tuple[Path, ...]:
    """The folders whose files the catalog of `folder` lists: it, and `.circleci/` if present."""
    circle = folder / ".circleci"
    return (folder, circle) if circle.is_dir() else (folder,)


def config_paths(folder: Path) -> list[Path]:
    """Where `folder`'s CircleCI config can be (to reload after `.circleci/` came or went)."""
    return [folder / ".circleci" / name for name in CONFIG_NAMES]


def as_given(folder: Path, changed: str) -> Path:
    """`changed` (an absolute path from the watcher) spelled from `folder` as the catalog is.

    The catalog keys files by `folder / name` with `folder` as the user gave it (often
    relative); an absolute spelling of the same file would look like a second workflow.
    """
    path = Path(os.path.normpath(changed))
    for base in (Path(os.path.abspath(folder)), folder.resolve()):
        try:
            return folder / path.relative_to(base)
        except ValueError:
            continue
    return path


async def watch_catalog(
    folder: Path,
    *,
    stop_event: asyncio.Event | None = None,
    debounce: int = 150,
    step: int = 50,
) -> AsyncIterator[list[Path]]:
    """Batches of changed paths under `folder` and `folder/.circleci/`, until `stop_event`."""
    from watchfiles import awatch

    while stop_event is None or not stop_event.is_set():
        targets = watched_folders(folder)
        if not folder.is_dir():
            return
        changes = awatch(
            *targets, debounce=debounce, step=step, recursive=False, stop_event=stop_event
        )
        try:
            async for batch in changes:
                paths = [as_given(folder, p) for _, p in batch]
                if watched_folders(folder) != targets:
                    # `.circleci/` came or went: its config may have changed before a
                    # watch was on it, so reload it, and watch again with it (or without)
                    yield [*paths, *config_paths(folder)]
                    break
                yield paths
            else:
                return  # stopped
        except FileNotFoundError:
            # `.circleci/` vanished between looking and watching: look again
            await asyncio.sleep(step / 1000)
        finally:
            await changes.aclose()
