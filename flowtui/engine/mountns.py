"""Keeping step processes away from the history with a mount namespace (bubblewrap).

A step's command runs under `bwrap`: the step sees the machine's whole file tree as it is
(`--dev-bind / /`), except that the history's private paths are covered — a folder that
holds nothing but flowtui's files (the data folder, by default `~/.local/share/flowtui`)
and every folder of run workspaces by an empty read-only tmpfs, with the run's own workspace bound
back in; each of the history's files kept among other files by `/dev/null`.  Every other
path stays as it was, so a step can create new folders in `$HOME` as usual.

The pid namespace and the session are shared (no `--unshare-pid`), so the step stays in
the process group the runner made for it: cancel, timeouts and orphan recovery reach it.
bwrap sets no_new_privs and the step runs with no capabilities (`--cap-drop ALL`, which
matters when the runner is root): it cannot unmount the covers, and in a user namespace of
its own (`--unshare-user`, also for a root runner) it sees them locked and may not look
into bwrap's or the runner's /proc entries (`/proc/PID/root` is the uncovered tree).
"""

from __future__ import annotations

import contextlib
import functools
import os
import select
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from flowtui.engine import bwrapverdict

BWRAP_ENV = "FLOWTUI_BWRAP"  # the bwrap program to use; empty: do not use bwrap

# no --die-with-parent: a step outlives a runner killed outright, as it does without
# bwrap (orphan recovery then stops its group); and bwrap, which dies of the first SIGINT
# of a cancel, must not take the step with it before its traps have run
# --unshare-user even where bwrap would not need it (a root runner): a step must not reach
# /proc/<bwrap>/root, the root as bwrap's own process sees it — outside the covers.  From a
# user namespace of its own, a process outside it is not its to inspect.
_BASE = ("--dev-bind", "/", "/", "--cap-drop", "ALL", "--unshare-user")
_PROBE_TIMEOUT = 10.0


@functools.cache
def bwrap_path() -> str | None:
    given = os.environ.get(BWRAP_ENV)
    if given is not None:
        return given or None
    return shutil.which("bwrap")


_probing = threading.Lock()


def usable() -> bool:
    """Whether bwrap is here and may make namespaces (a container, or a kernel that forbids
    unprivileged user namespaces, may refuse): one real try, once per process — or the
    verdict of an earlier one, where nothing it depends on has changed since
    (flowtui/engine/bwrapverdict.py)."""
    with _probing:  # a probe started by prefetch() is waited for, not run twice
        return _probe()


def prefetch() -> None:
    """Start that one try in a thread now, so that it overlaps the rest of start-up
    instead of delaying the first step (`flowtui run` calls it; issue #18)."""
    threading.Thread(target=usable, name="flowtui-bwrap-probe", daemon=True).start()


@functools.cache
def _probe() -> bool:
    tool = bwrap_path()
    if tool is None:
        return False
    key = bwrapverdict.verdict_key(tool)
    if key is not None and bwrapverdict.remembered(key):
        return True
    works = _try(tool)
    if works and key is not None:
        bwrapverdict.remember(key)
    return works


def _try(tool: str) -> bool:
    probe = [tool, *_BASE, "--tmpfs", tempfile.gettempdir(), "--", "true"]
    try:
        proc = subprocess.Popen(
            probe,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        return False
    # waited for through a pidfd: Popen.wait(timeout) polls with sleeps (up to 10 ms late
    # for a probe of a few ms, on the first step's path)
    try:
        pidfd = os.pidfd_open(proc.pid)
    except OSError:
        pidfd = None
    try:
        if pidfd is not None and not select.select([pidfd], [], [], _PROBE_TIMEOUT)[0]:
            proc.kill()
            proc.wait()
            return False
        return proc.wait(timeout=_PROBE_TIMEOUT) == 0
    except subprocess.SubprocessError:
        proc.kill()
        proc.wait()
        return False
    finally:
        if pidfd is not None:
            os.close(pidfd)


def covers(hidden: Iterable[Path], workspace: Path, cwd: Path) -> list[str]:
    """The bwrap options that hide `hidden` but `workspace` (and do not hide `cwd`)."""
    real = sorted({os.path.realpath(p) for p in hidden})
    own = os.path.realpath(workspace)
    here = os.path.realpath(cwd)
    folders = {p for p in real if os.path.isdir(p)}
    present = [p for p in real if p not in folders and os.path.lexists(p)]
    # a missing path is covered when it is the companion of a present file (the history's
    # -journal beside it): else a step could create it, e.g. a -journal that SQLite would
    # roll back into the history.  It needs a file to be covered: an empty one (0600, as
    # SQLite would make it), which SQLite ignores.
    files = [p for p in real if p not in folders and any(_companion(p, f) for f in present)]
    # a folder holding nothing but hidden entries (the data folder) is covered whole, so
    # nothing can be planted in it either (a hot -journal, a key of the step's own)
    for parent in sorted({os.path.dirname(p) for p in real}):
        names = {os.path.basename(p) for p in real if os.path.dirname(p) == parent}
        cwd_lost = _within(here, parent) and not _within(here, own)
        if parent != "/" and not cwd_lost and _holds_only(parent, names):
            folders = {f for f in folders if not _within(f, parent)} | {parent}
            files = [f for f in files if not _within(f, parent)]
    for path in files:
        if not os.path.lexists(path):
            _placeholder(path)
    options: list[str] = []
    for folder in sorted(folders):
        options += ["--tmpfs", folder]
    if any(_within(own, folder) and own != folder for folder in folders):
        options += ["--bind", own, own]
    for folder in sorted(folders):
        # read-only once the workspace is bound in: what a step writes there would be
        # lost, and an empty folder it cannot write says "not here" plainly
        options += ["--remount-ro", folder]
    for path in files:
        options += ["--ro-bind", "/dev/null", path]
    return options


def command(argv: Sequence[str], hidden: Iterable[Path], workspace: Path, cwd: Path) -> list[str]:
    """`argv` run under bwrap with the history's paths covered."""
    return [*wrapper(hidden, workspace, cwd), *argv]


def wrapper(hidden: Iterable[Path], workspace: Path, cwd: Path) -> list[str]:
    """bwrap and its options up to "--": what a command is put behind to run covered."""
    tool = bwrap_path()
    assert tool is not None
    return [tool, *_BASE, *covers(hidden, workspace, cwd), "--"]


def _placeholder(path: str) -> None:
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))


def _companion(path: str, of: str) -> bool:
    """`path` is `of`'s -journal, -wal, .key…"""
    return path == of or path.startswith((f"{of}-", f"{of}."))


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _holds_only(folder: str, names: set[str]) -> bool:
    with contextlib.suppress(OSError):
        return set(os.listdir(folder)) <= names
    return False
