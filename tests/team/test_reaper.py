"""The worker's reaper (flowtui.worker.reaper): one message per step, and a release that
waits for the next watch is never lost.  Real processes, real pipes."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator

import pytest

from flowtui.worker.reaper import Reaper


@pytest.fixture
def groups() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def step(groups: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """A step's process group: `sleep` in a session of its own."""
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    groups.append(proc)
    return proc


def worker_dies(reaper: Reaper) -> None:
    """What a SIGKILL of the worker does to the pipe: it closes, nothing more is said."""
    proc = reaper._proc
    assert proc.stdin is not None
    proc.stdin.close()  # (through its file object: its fd must not be closed twice)
    proc.wait(timeout=30)


def test_a_release_rides_with_the_next_watch(groups: list[subprocess.Popen[bytes]]) -> None:
    ended, running = step(groups), step(groups)

    async def two_steps() -> Reaper:
        # (this test's steps are its own children: stopped, they stay zombies until it
        # reaps them, so the reaper waits its whole grace: a short one)
        reaper = Reaper(grace=0.2)
        reaper.watch(ended.pid)
        reaper.release(ended.pid)  # waits for the next message
        reaper.watch(running.pid)  # "-ended" and "+running" in one write
        return reaper

    reaper = asyncio.run(two_steps())
    worker_dies(reaper)
    assert running.wait(timeout=30) != 0  # stopped by the reaper
    assert ended.poll() is None, "a released group was stopped"


def test_a_release_alone_is_sent_later(groups: list[subprocess.Popen[bytes]]) -> None:
    ended = step(groups)

    async def one_step() -> Reaper:
        reaper = Reaper(grace=5)
        reaper.watch(ended.pid)
        reaper.release(ended.pid)
        assert reaper._released == [ended.pid]  # not yet said
        while reaper._released:  # said on the loop a moment later, with no other message
            await asyncio.sleep(0.05)
        return reaper

    reaper = asyncio.run(one_step())
    worker_dies(reaper)
    assert ended.poll() is None, "a released group was stopped"


def test_close_sends_the_releases_that_wait(groups: list[subprocess.Popen[bytes]]) -> None:
    ended = step(groups)

    async def one_step() -> Reaper:
        reaper = Reaper(grace=5)
        reaper.watch(ended.pid)
        reaper.release(ended.pid)
        return reaper

    reaper = asyncio.run(one_step())
    reaper.close()
    assert reaper._proc.returncode is not None
    assert ended.poll() is None, "a released group was stopped"
