"""Watching a local repository's branch: read its commit, and wake up when the ref moves.

The ref is re-read with `git rev-parse` (loose refs, packed refs and worktrees are git's
business, not ours); watchfiles only says *when* to look, on the ref file and
`packed-refs`, with a slow poll as a safety net for events the OS dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from flowtui.engine.gitinfo import git_output

GIT_TIMEOUT = 5.0
ARMED_CHECK = 1.0  # seconds: the branch is read again this soon after the watcher is armed


async def _git(repo: Path, *args: str) -> str | None:
    return await git_output(repo, *args, timeout=GIT_TIMEOUT)


async def branch_commit(repo: Path, branch: str) -> str | None:
    # `--` is not accepted by rev-parse --verify; the refs/heads/ prefix keeps a branch
    # named like an option from being read as one
    out = await _git(repo, "rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}")
    return out.strip() or None if out is not None else None


@dataclass(frozen=True, slots=True)
class CommitInfo:
    commit: str
    message: str
    author: str


async def commit_info(repo: Path, commit: str) -> CommitInfo:
    out = await _git(repo, "log", "-1", "--format=%an%x00%B", commit)
    author, _, message = (out or "").partition("\x00")
    return CommitInfo(commit, message.strip(), author.strip())


async def common_git_dir(repo: Path) -> Path | None:
    """Where the repository keeps its refs (shared by all its worktrees)."""
    out = await _git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir")
    return Path(out.strip()) if out and out.strip() else None


def _ref_filter(git_dir: Path, branch: str) -> Callable[[object, str], bool]:
    wanted = {
        str(git_dir / "refs" / "heads" / branch),
        str(git_dir / "packed-refs"),
    }

    def accept(_change: object, path: str) -> bool:
        return path in wanted

    return accept


async def watch_ref(
    repo: Path,
    branch: str,
    on_change: Callable[[], Awaitable[None]],
    *,
    poll: float = 30.0,
    stop: asyncio.Event | None = None,
) -> None:
    """Call `on_change` now, then whenever the branch's ref may have moved, until `stop`."""
    from watchfiles import awatch

    stop = stop or asyncio.Event()
    await on_change()
    while not stop.is_set():
        git_dir = await common_git_dir(repo)
        if git_dir is None or not git_dir.is_dir():
            # not a repository (yet): look again later rather than give up
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll)
            await on_change()
            continue
        # the watcher is armed inside its first wait: a commit between the check above and
        # then would wait for the next poll, so the first wake-up (within ARMED_CHECK) looks
        # again; later ones look on a change, or every `poll` seconds without one
        looked = -math.inf
        async for changes in awatch(
            git_dir,
            watch_filter=_ref_filter(git_dir, branch),
            debounce=100,
            step=20,
            stop_event=stop,
            rust_timeout=int(min(poll, ARMED_CHECK) * 1000),
            yield_on_timeout=True,
        ):
            now = time.monotonic()
            if changes or now - looked >= poll or looked == -math.inf:
                looked = now
                await on_change()
