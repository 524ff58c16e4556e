"""The bwrap probe's verdict, remembered between processes (issue #18: start-up).

Whether bubblewrap may make namespaces here (flowtui/engine/mountns.py) is known only by
trying: a bwrap process that every `flowtui run` would start.  The answer depends on the
bwrap program, the kernel and its settings, the user and the namespaces the runner is in —
all of which this module reads (a few stat and /proc reads) into a key.  A *usable* verdict
is kept in a private file (0600, in a 0700 folder) under the user's flowtui state folder,
`$XDG_STATE_HOME/flowtui` (`~/.local/state/flowtui`), with that key; a process whose key is
the same, within a day, takes the verdict instead of probing.  Anything else — another key,
an older file, an unreadable one — probes again.

Only "usable" is remembered, never "not usable": a stale or forged verdict can only make a
step start under a bwrap that then refuses to run it (the step fails, it is not let out of
its sandbox); it can never turn the sandbox off.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from flowtui.engine.private import make_private_dir

FILE_NAME = "bwrap-verdict.json"
MAX_AGE = 24 * 3600.0  # seconds: whatever the key misses is probed again within a day
_FORMAT = 1
# the kernel's settings that allow or forbid unprivileged user namespaces (Debian's
# switch, the namespace limit, Ubuntu's AppArmor restriction)
_SYSCTLS = (
    "/proc/sys/kernel/unprivileged_userns_clone",
    "/proc/sys/user/max_user_namespaces",
    "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
    "/proc/sys/kernel/unprivileged_userns_apparmor_policy",
)
_NAMESPACES = ("user", "mnt", "pid")
_APPARMOR = "/etc/apparmor.d"  # a profile added or removed (Ubuntu's bwrap profile)


def state_dir() -> Path:
    """flowtui's state folder: `$XDG_STATE_HOME/flowtui`, else `~/.local/state/flowtui`
    (platformdirs' user_state_dir on Linux, where bwrap runs, without importing it)."""
    base = os.environ.get("XDG_STATE_HOME", "").strip()
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "flowtui"


def verdict_key(tool: str) -> str | None:
    """What the probe's verdict for the bwrap program `tool` depends on, as text; None when
    the program cannot be found (then it is probed, which fails)."""
    found = tool if "/" in tool else shutil.which(tool)
    if found is None:
        return None
    try:
        real = os.path.realpath(found)
        info = os.stat(real)
    except OSError:
        return None
    system = os.uname()
    parts: list[object] = [
        _FORMAT,
        real,
        [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns],
        [info.st_mode, info.st_uid],
        [system.release, system.version, system.machine],
        [os.getuid(), os.geteuid(), os.getgid()],
        tempfile.gettempdir(),  # the probe covers it with a tmpfs
        [_readlink(f"/proc/self/ns/{name}") for name in _NAMESPACES],
        [_read(path) for path in _SYSCTLS],
        _confinement(),
        _mtime(_APPARMOR),
    ]
    return json.dumps(parts)


_MAX_SIZE = 64 * 1024  # a verdict is one key: anything bigger is not one of ours


def remembered(key: str, folder: Path | None = None) -> bool:
    """Whether a usable verdict for `key` is kept, younger than MAX_AGE.

    The state folder is not covered from steps (only the history's paths are), so what is
    in it is not trusted to be what `remember` made: the folder must be a real one (not a
    symlink) of this user, 0700; the file a regular one of this user, 0600, small.  It is
    opened without following a link and without blocking (a FIFO put there by a step
    would hang every later run)."""
    where = folder or state_dir()
    try:
        dir_fd = _open_own_dir(where)
    except OSError:
        return False
    try:
        fd = os.open(FILE_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return False
    finally:
        os.close(dir_fd)
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        if not _own_private(info, stat.S_ISREG) or info.st_size > _MAX_SIZE:
            return False
        age = time.time() - info.st_mtime
        try:
            kept = json.loads(file.read(_MAX_SIZE + 1))
        except (OSError, ValueError):
            return False
    return 0 <= age < MAX_AGE and isinstance(kept, dict) and kept.get("usable") == key


def remember(key: str, folder: Path | None = None) -> None:
    """Keep a usable verdict for `key` (written whole to a new file, then renamed: a reader
    sees the old file or the new one).  The new file is made with O_EXCL in the folder
    opened without following links, so nothing planted there (a symlink to the history)
    is written through.  A folder that cannot be written, or is not this user's own,
    only means probing next time."""
    where = folder or state_dir()
    with contextlib.suppress(OSError):
        if not os.path.lexists(where):
            make_private_dir(where)
        dir_fd = _open_own_dir(where)
        try:
            part = f".{FILE_NAME}.{os.getpid()}.{os.urandom(8).hex()}"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            fd = os.open(part, flags, 0o600, dir_fd=dir_fd)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    os.fchmod(out.fileno(), 0o600)
                    out.write(json.dumps({"usable": key}))
                os.replace(part, FILE_NAME, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(part, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)


def _open_own_dir(path: Path) -> int:
    """`path` opened as a folder (not through a symlink), when it is this user's and 0700;
    else OSError."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    if not _own_private(os.fstat(fd), stat.S_ISDIR):
        os.close(fd)
        raise PermissionError(f"{path} is not a private folder of this user")
    return fd


def _own_private(info: os.stat_result, kind: Callable[[int], bool]) -> bool:
    return kind(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o077


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read().strip()
    except OSError:
        return None


def _readlink(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _confinement() -> list[str]:
    """The runner's seccomp mode and no_new_privs (a container's filter may forbid
    namespaces)."""
    status = _read("/proc/self/status") or ""
    return [line for line in status.splitlines() if line.startswith(("Seccomp", "NoNewPrivs"))]
