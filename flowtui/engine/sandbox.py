"""Keeping step processes away from the history.

A step runs as the same OS user as its runner, so without more it could open the history
file and write anything there — an approval in someone else's name, a status, a log line.
So each step's process is kept away from the history file, its -wal/-shm/-journal files,
the key that seals decisions and the folder of run workspaces (but its own run's), by the
first of these that works here:

- a mount namespace made by bubblewrap (flowtui/engine/mountns.py): exactly those paths
  are covered, every other path stays as it was;
- Linux Landlock (kernel 5.13+, no privileges needed), below.  Landlock is an allow-list
  of file hierarchies, so "everything but these paths" is built as: each folder on the way
  from `/` to a hidden path may be listed (only), and every other entry in those folders
  is allowed in full.  What this costs a step: it cannot create new entries *directly* in
  a folder on the way to a hidden path (`$HOME`, `~/.local`, … for the default data
  folder) — a tool that makes a dot-folder in `$HOME` on first use fails.  Install
  bubblewrap to lift this.

Where neither works, steps run unrestricted and the runner says so once, in its first
run's log (`warning()`).  A step (or workflow) with `sandbox: false` runs unrestricted on
purpose: no_new_privs, which both ways set, forbids sudo.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowtui.engine import mountns
from flowtui.engine.private import make_private_dir
from flowtui.engine.spawner import Spawner
from flowtui.engine.workspace import SCRATCH

if TYPE_CHECKING:
    import ctypes

SPAWNER_ENV = "FLOWTUI_SPAWNER"
_SPAWNER_MODES = ("1", "0", "wait")
_MAX_SPAWNERS = 4
_MAX_FOLDERS = 256
_SYS_CREATE_RULESET = 444  # the same number on every architecture (asm-generic)
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5
_ABI1 = (1 << 13) - 1  # execute … make_sym
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV


@functools.cache
def _structures() -> tuple[type[ctypes.Structure], type[ctypes.Structure]]:
    """Landlock's ruleset_attr and path_beneath_attr (ctypes is imported only where Landlock
    is the way: not on bwrap's path, issue #18)."""
    import ctypes

    class RulesetAttr(ctypes.Structure):
        _fields_ = [("handled_access_fs", ctypes.c_uint64)]

    class PathBeneathAttr(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    return RulesetAttr, PathBeneathAttr


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library, once asked for (Linux only).  CDLL(None) is the running program's own
    symbols, libc's among them: ctypes.util.find_library would run `ldconfig -p` (~5 ms of
    every start-up)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


@functools.cache
def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 where there is none (or it is disabled)."""
    libc = _libc()
    if libc is None:
        return 0
    import ctypes

    libc.syscall.restype = ctypes.c_long
    version = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION)
    return max(0, int(version))


def handled_rights(abi: int) -> int:
    rights = _ABI1
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def mechanism() -> str:
    """How steps are kept away from the history here: "bwrap", "landlock" or "none"."""
    if mountns.usable():
        return "bwrap"
    if abi_version() > 0:
        return "landlock"
    return "none"


def warning() -> str | None:
    """What to tell the user when steps cannot be kept away from the history here, or only
    with Landlock's limit (a step then fails with "Permission denied" where it tries to
    create a new entry in a folder above the history: this says why)."""
    way = mechanism()
    if way == "bwrap":
        return None
    if way == "landlock":
        return (
            "note: steps are sandboxed with Landlock (bubblewrap is not installed or may not "
            "make namespaces here): a step cannot create new files or folders directly in "
            "the folders that hold the history (such as $HOME when it is under "
            "~/.local/share/flowtui); install bubblewrap (bwrap) to lift this"
        )
    return (
        "warning: steps run unrestricted: bubblewrap (bwrap) is not installed or may not "
        "make namespaces here, and this kernel offers no Landlock (Linux 5.13+ with it "
        "enabled), so a step could read or change the history database and its decision key"
    )


def _syscall_error(what: str) -> OSError:
    import ctypes

    err = ctypes.get_errno()
    return OSError(err, f"landlock {what}: {os.strerror(err)}")


class _Ruleset:
    def __init__(self, abi: int) -> None:
        import ctypes

        libc = _libc()
        assert libc is not None
        self.handled = handled_rights(abi)
        attr = _structures()[0](self.handled)
        fd = libc.syscall(
            _SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)), 0
        )
        if fd < 0:
            raise _syscall_error("create_ruleset")
        self.fd = int(fd)

    def allow(self, path: str, rights: int, *, is_dir: bool) -> None:
        import ctypes

        rights &= self.handled if is_dir else self.handled & _FILE_RIGHTS
        libc = _libc()
        assert libc is not None
        try:
            target = os.open(path, os.O_PATH | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            return  # gone meanwhile, or not ours to see: not allowed, which is safe
        try:
            rule = _structures()[1](rights, target)
            done = libc.syscall(_SYS_ADD_RULE, self.fd, _RULE_PATH_BENEATH, ctypes.byref(rule), 0)
            if done < 0:
                raise _syscall_error(f"add_rule {path}")
        finally:
            os.close(target)

    def close(self) -> None:
        os.close(self.fd)


def build_ruleset(hidden: Iterable[Path], allowed: Iterable[Path], abi: int) -> _Ruleset:
    """A ruleset that allows everything but the `hidden` paths (and what is below them),
    except the `allowed` paths below those."""
    secret = {os.path.realpath(p) for p in hidden}
    ancestors: set[str] = set()
    for path in secret:
        parent = os.path.dirname(path)
        while parent not in ancestors:
            ancestors.add(parent)
            if parent == "/":
                break
            parent = os.path.dirname(parent)
    ruleset = _Ruleset(abi)
    try:
        for folder in sorted(ancestors):
            ruleset.allow(folder, READ_DIR, is_dir=True)  # listing it, nothing beneath
            with contextlib.suppress(OSError), os.scandir(folder) as entries:
                for entry in entries:
                    if entry.path in ancestors or entry.path in secret:
                        continue
                    if entry.is_symlink():
                        continue  # its target is allowed or not on its own
                    is_dir = entry.is_dir(follow_symlinks=False)
                    ruleset.allow(entry.path, ruleset.handled, is_dir=is_dir)
        for extra in allowed:
            real = os.path.realpath(extra)
            with contextlib.suppress(OSError):
                is_dir = stat.S_ISDIR(os.stat(real).st_mode)
                ruleset.allow(real, ruleset.handled, is_dir=is_dir)
    except BaseException:
        ruleset.close()
        raise
    return ruleset


def restrictor(ruleset_fd: int) -> Callable[[], None]:
    """What the child runs between fork and exec: no new privileges, then the ruleset.
    Only two system calls through functions resolved here, in the parent."""
    import ctypes

    libc = _libc()
    assert libc is not None
    prctl = libc.prctl
    syscall = libc.syscall
    get_errno = ctypes.get_errno

    def restrict() -> None:
        if prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if syscall(_SYS_RESTRICT_SELF, ruleset_fd, 0) != 0:
            raise OSError(get_errno(), "landlock_restrict_self failed")

    return restrict


class StepSandbox:
    """What one run's step processes are kept away from (the history's private paths but
    the run's own workspace).  With bubblewrap it also holds the run's spawners
    (flowtui/engine/spawner.py): one namespace for the run's steps, closed by `aclose`."""

    def __init__(
        self, hidden: Iterable[Path], workspace: Path, *, spawner_first: bool = False
    ) -> None:
        self.hidden = tuple(hidden)
        self.workspace = workspace
        # FLOWTUI_SPAWNER=1 acts as "wait": no step is forked from this process (the
        # dashboard's loop would wait for each fork of its big process, ~10 ms a step)
        self.spawner_first = spawner_first
        # one per set of covers (a step whose cwd is in a covered folder needs other ones)
        self._spawners: dict[tuple[str, ...], Spawner] = {}
        self._starting: set[asyncio.Task[None]] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self._wrappers: dict[str, tuple[str, ...]] = {}  # a step's cwd → its spawner's key
        self._asked = False

    async def spawner(self, cwd: str | Path) -> Spawner | None:
        """The run's spawner for a step in `cwd` once it is ready; None until then (the
        second call starts it in the background; FLOWTUI_SPAWNER=wait: the first, and waits
        for it) and where there is none (not bwrap, or FLOWTUI_SPAWNER=0).

        The run's first step never waits for a spawner, so it is not started for it: a
        one-step run would start (and, at its end, wait out) a whole Python for nothing
        (issue #18); from the second step on the run has steps to share it."""
        mode = spawner_mode()
        if not self.hidden or mode == "0" or mechanism() != "bwrap":
            return None
        if mode == "1" and self.spawner_first:
            mode = "wait"
        if mode == "1" and not self._asked:
            self._asked = True
            return None
        where = os.fspath(cwd)
        key = self._wrappers.get(where)
        if key is None:  # its spawner's covers are fixed when it starts: worked out once
            key = tuple(mountns.wrapper(self.hidden, self.workspace, Path(cwd)))
            if len(self._wrappers) < _MAX_FOLDERS:
                self._wrappers[where] = key
        found = self._spawners.get(key)
        if found is None:
            if len(self._spawners) >= _MAX_SPAWNERS:
                return None
            found = self._spawners[key] = Spawner()
            found.on_idle = functools.partial(self._retire, key, found)
            _in_background(self._starting, found.start(key))
        if mode == "wait":
            await found.wait_ready()
        return found if found.ready else None

    def _retire(self, key: tuple[str, ...], spawner: Spawner) -> None:
        """Close an idle spawner; the next step of the run starts another."""
        if self._spawners.get(key) is spawner and not spawner.busy:
            del self._spawners[key]
            _in_background(self._closing, spawner.aclose())

    @property
    def busy(self) -> bool:
        """Whether a step started by one of its spawners still runs."""
        return any(spawner.busy for spawner in self._spawners.values())

    async def aclose(self) -> None:
        """Stop the run's spawners (once its steps are over)."""
        for task in list(self._starting):
            task.cancel()
        spawners = list(self._spawners.values())
        self._spawners.clear()
        for spawner in spawners:
            await spawner.aclose()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        """`env`, with a TMPDIR the step may write to when its temp folder holds a hidden
        path (then new files cannot be made directly in it): `.flowtui/tmp` in the run's
        workspace."""
        out = dict(env)
        if not self.hidden or mechanism() != "landlock":
            return out
        temp = os.path.realpath(out.get("TMPDIR") or tempfile.gettempdir())
        if any(_is_within(os.path.realpath(h), temp) for h in self.hidden):
            private = make_private_dir(self.workspace / SCRATCH / "tmp")
            out["TMPDIR"] = str(private)
        return out

    def note_for(self, cwd: str | Path) -> str | None:
        """What to tell a step whose working folder holds a hidden path (it cannot create
        files directly there), or None."""
        if not self.hidden or mechanism() != "landlock":
            return None
        folder = os.path.realpath(cwd)
        inside = [h for h in self.hidden if _is_within(os.path.realpath(h), folder)]
        if not inside:
            return None
        return (
            f"note: this step cannot create files directly in its working folder {folder}: "
            f"it holds flowtui's history ({inside[0]}), which steps cannot reach; keep the "
            "history in a folder of its own (--db) or set the step's cwd:"
        )

    @contextlib.contextmanager
    def spawn_hook(self) -> Iterator[Callable[[], None] | None]:
        """The child-side hook for one spawn (None: nothing to hide, or not Landlock)."""
        if not self.hidden or mechanism() != "landlock":
            yield None
            return
        ruleset = build_ruleset(self.hidden, [self.workspace], abi_version())
        try:
            yield restrictor(ruleset.fd)
        finally:
            ruleset.close()

    def command(self, argv: Sequence[str], cwd: str | Path, env: Mapping[str, str]) -> list[str]:
        """`argv`, run under bwrap when that is the way here.  A program that cannot be
        found still raises FileNotFoundError here, in the runner, as without bwrap."""
        if not self.hidden or mechanism() != "bwrap":
            return list(argv)
        _check_program(argv[0], Path(cwd), env)
        return mountns.command(argv, self.hidden, self.workspace, Path(cwd))


class SandboxPool:
    """The sandboxes of the runs whose steps a long-lived process (a worker) starts: one per
    run, kept for its later steps, the least recently used idle ones closed beyond `size`."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._boxes: dict[tuple[tuple[Path, ...], Path], StepSandbox] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def get(self, hidden: Iterable[Path], workspace: Path) -> StepSandbox:
        key = (tuple(hidden), workspace)
        box = self._boxes.pop(key, None) or StepSandbox(key[0], workspace)
        self._boxes[key] = box  # the most recently used last
        idle = [k for k, b in self._boxes.items() if k != key and not b.busy]
        for old in idle[: max(0, len(self._boxes) - self.size)]:
            _in_background(self._closing, self._boxes.pop(old).aclose())
        return box

    async def aclose(self) -> None:
        boxes = list(self._boxes.values())
        self._boxes.clear()
        for box in boxes:
            await box.aclose()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


def _in_background(tasks: set[asyncio.Task[None]], work: Coroutine[Any, Any, None]) -> None:
    """Run `work` as a task kept in `tasks` until it is done (to be cancelled or awaited
    when its owner closes)."""
    task = asyncio.get_running_loop().create_task(work)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


def spawner_mode() -> str:
    """FLOWTUI_SPAWNER: "1" (the default) one sandbox per run, its first steps started
    under bwraps of their own until it is up (the dashboard's runs: as "wait",
    `StepSandbox.spawner_first`); "wait": every step waits for it (tests); "0": every step
    under a bwrap of its own, as before."""
    mode = os.environ.get(SPAWNER_ENV, "1")
    if mode not in _SPAWNER_MODES:
        raise ValueError(f"{SPAWNER_ENV} must be one of 1, 0, wait (got {mode!r})")
    return mode


def _check_program(program: str, cwd: Path, env: Mapping[str, str]) -> None:
    if "/" in program:
        path = cwd / program
        if not path.exists():
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
        if not os.access(path, os.X_OK) or path.is_dir():
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), program)
    elif shutil.which(program, path=env.get("PATH", os.defpath)) is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)


def _is_within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


# Set by the run around each step's executor: the processes it spawns are restricted.
STEP_SANDBOX: ContextVar[StepSandbox | None] = ContextVar("flowtui_step_sandbox", default=None)
