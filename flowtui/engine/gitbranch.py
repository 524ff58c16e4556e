"""The git branch a workflow file is checked out on: a run's default branch."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path


async def current_branch(folder: Path, timeout: float = 2.0) -> str | None:
    """`git symbolic-ref --short HEAD` in `folder`; None when detached, outside a
    repository, or without git."""
    if not any((p / ".git").exists() for p in (folder, *folder.parents)):
        return None
    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            "-C",
            str(folder),
            "symbolic-ref",
            "--short",
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
    branch = out.decode(errors="replace").strip()
    return branch if proc.returncode == 0 and branch else None
