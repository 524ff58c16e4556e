"""Asking git about a folder: the commit and branch a workflow file is checked out at.

Every question goes through `git_output`, which never raises: no git, no repository, a
failing command or one that hangs all read as None.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path


def inside_repository(folder: Path) -> bool:
    return any((p / ".git").exists() for p in (folder, *folder.parents))


async def git_output(folder: Path, *args: str, timeout: float = 2.0) -> str | None:
    """stdout of `git -C folder ARGS`, or None when git fails, is missing or hangs."""
    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            "-C",
            str(folder),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            stdin=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return None
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return None
    return out.decode("utf-8", errors="replace") if proc.returncode == 0 else None


async def _first_line(folder: Path, *args: str, timeout: float) -> str | None:
    if not inside_repository(folder):
        return None
    out = await git_output(folder, *args, timeout=timeout)
    return out.strip() or None if out is not None else None


async def head_commit(folder: Path, timeout: float = 2.0) -> str | None:
    """`git rev-parse HEAD` in `folder`, or None outside a repository / without git."""
    return await _first_line(folder, "rev-parse", "--verify", "-q", "HEAD", timeout=timeout)


async def current_branch(folder: Path, timeout: float = 2.0) -> str | None:
    """The branch checked out in `folder`; None when detached, outside a repository, or
    without git.  A run's default branch."""
    return await _first_line(folder, "symbolic-ref", "--short", "-q", "HEAD", timeout=timeout)
