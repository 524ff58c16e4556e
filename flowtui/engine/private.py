"""Folders and files only their owner can open, whatever the umask.

Run workspaces hold what steps hand each other (outputs files, scripts, call requests with
the step's environment); with the history in an ordinary folder, another local user could
read them if they were made with the usual 0755/0644.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def make_private_dir(path: Path) -> Path:
    """Create `path` and its missing parents as 0700 (mkdir's mode is cut by the umask and
    `parents=True` ignores it for the parents), and make `path` itself 0700 if it existed."""
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=DIR_MODE)
        os.chmod(folder, DIR_MODE)
    if not missing:
        os.chmod(path, DIR_MODE)
    return path


def write_private(path: Path, data: str) -> None:
    """Write `data` (UTF-8) to a file readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), FILE_MODE)
        out.write(data)
