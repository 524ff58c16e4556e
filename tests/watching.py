"""Knowing that a folder watcher is on, without guessing how long it takes to start.

watchfiles sets its watch up inside the `awatch` generator and says nothing when it is on,
so a change made too early is silently missed.  The tests prove the watch is on with a
probe: a workflow file written (atomically, again and again) until whatever consumes the
watcher reports it, then deleted and its removal seen, so the folder is as it was.  A
change made after that is seen by the same watch.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

PROBE = "zz-watch-probe"  # sorts after every workflow the tests list
REWRITE_EVERY = 0.25  # seconds between probe writes while the watcher is not on yet
POLL = 0.05
PROBE_TIMEOUT = 20.0


def probe_path(folder: Path) -> Path:
    return folder / f"{PROBE}.yaml"


def write_probe(folder: Path, n: int) -> Path:
    """Write the probe workflow, version `n`, as one rename: it is never read half-written."""
    temp = folder / f".{PROBE}.tmp"  # not a workflow file: the catalog ignores it
    temp.write_text(f"name: {PROBE}\nsteps:\n  probe: {{run: 'true'}}  # write {n}\n")
    path = probe_path(folder)
    os.replace(temp, path)
    return path


def remove_probe(folder: Path) -> None:
    probe_path(folder).unlink()


def probe_until_seen(folder: Path, seen: Callable[[float], bool]) -> None:
    """Write the probe into `folder` until `seen(wait)` says the watcher reported it.

    `seen` waits up to `wait` seconds for the report (a line of a process's output, say).
    """
    deadline = time.monotonic() + PROBE_TIMEOUT
    n = 0
    while True:
        n += 1
        write_probe(folder, n)
        if seen(REWRITE_EVERY):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the watcher never reported {probe_path(folder)}")


async def aprobe_until_seen(
    folder: Path,
    seen: Callable[[], bool],
    pause: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> None:
    """`probe_until_seen` in an event loop: `seen()` is looked at every `POLL` seconds,
    waited for with `pause` (`pilot.pause` in a Textual test)."""
    n = 0
    async with asyncio.timeout(PROBE_TIMEOUT):
        while not seen():
            n += 1
            write_probe(folder, n)
            for _ in range(round(REWRITE_EVERY / POLL)):
                await pause(POLL)
                if seen():
                    return
