"""The git commit a workflow file is checked out at, recorded with each run."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path


def _inside_repository(folder: Path) -> bool:
    return any((p / ".git").exists() for p in (folder, *folder.parents))


async def head_commit(folder: Path, timeout: float = 2.0) -> str | None:
    """`git rev-parse HEAD` in `folder`, or None outside a repository / without git."""
    if not _inside_repository(folder):
        return None
    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            "-C",
            str(folder),
            "rev-parse",
            "--verify",
            "-q",
            "HEAD",
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
    commit = out.decode(errors="replace").strip()
    return commit if proc.returncode == 0 and commit else None
