"""The process that starts one run's steps inside its sandbox (flowtui/engine/spawner.py).

Started once per run under bubblewrap, with the history's paths already covered, it starts
each step the runner asks for and tells it the step's pid and, later, its exit status.
Steps are its children, so they inherit its mount namespace: one namespace per run instead
of one bwrap per step.

It runs as a script (`python -I -S - flowtui-spawner FD`, its source on standard input as
the runner read it): standard library only, nothing of flowtui's imported, so it starts in
milliseconds and reads no file of the user's.

The protocol, over the SOCK_SEQPACKET socket FD (one message per packet):
- runner → here: marshal of (id, argv, executable, cwd, env), with the step's stdout and
  stderr pipes attached (SCM_RIGHTS) — marshal, not JSON: the same Python at both ends,
  a tenth of the time for an environment of fifty variables (issue #18);
- here → runner: JSON {"ready": pid} once; per request either `P` + its id and the step's
  pid, or JSON {"id", "errno", "strerror", "filename"}; `X` + its id and the exit code when
  that request's step exits (128 + N for a step killed by signal N, as a bwrap per step
  reports it).  `P` and `X` messages are REPLY (struct): what the runner reads most is
  never parsed as text.

It is not dumpable (a step, the same user, may not read its memory, environment or socket)
and each step gets a user namespace of its own before it executes (the run's steps may
not look into each other's /proc entries, as with a bwrap per step).
When the runner's end closes, no more steps start; it exits once its steps have exited
(a runner killed outright leaves its steps running, as without the sandbox: its orphan
recovery stops them).
"""

from __future__ import annotations

import array
import contextlib
import json
import marshal
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Callable
from typing import Any

MAX_MESSAGE = 1 << 20
_FDS = 2
REPLY = struct.Struct("<cqq")  # b"P", id, pid / b"X", id, exit code (flowtui/engine/spawner.py)


def _receive(sock: socket.socket) -> tuple[Any, list[int]]:
    fds = array.array("i")
    space = socket.CMSG_SPACE(_FDS * fds.itemsize)
    # close-on-exec as they arrive: a step gets them as its stdout and stderr only
    data, ancdata, _flags, _addr = sock.recvmsg(MAX_MESSAGE, space, socket.MSG_CMSG_CLOEXEC)
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % fds.itemsize
            fds.frombytes(payload[:usable])
    if not data:
        return None, list(fds)
    return marshal.loads(data), list(fds)


def _send(sock: socket.socket, message: dict[str, Any] | bytes) -> None:
    data = message if isinstance(message, bytes) else json.dumps(message).encode()
    with contextlib.suppress(OSError):  # the runner is gone: its steps still run to their end
        sock.sendall(data)


_PR_SET_DUMPABLE = 4
_PR_SET_SECUREBITS = 28
_SECBIT_NOROOT = 1 << 0  # and its lock: root gains no capabilities by exec
_SECBIT_NOROOT_LOCKED = 1 << 1
_SECBIT_NO_SETUID_FIXUP = 1 << 2
_SECBIT_NO_SETUID_FIXUP_LOCKED = 1 << 3
_SECBITS = _SECBIT_NOROOT | _SECBIT_NOROOT_LOCKED | _SECBIT_NO_SETUID_FIXUP
_SECBITS |= _SECBIT_NO_SETUID_FIXUP_LOCKED
_CLONE_NEWUSER = 0x10000000


class _Kernel:
    """The few system calls Python 3.11 has no function for (ctypes, resolved once)."""

    def __init__(self) -> None:
        import ctypes

        self.libc = ctypes.CDLL(None, use_errno=True)
        self.ctypes = ctypes

    def _check(self, result: int, what: str) -> None:
        if result != 0:
            err = self.ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    def not_dumpable(self) -> None:
        """No /proc/<pid>/environ, mem or fd of this process for the steps (same user):
        the requests it holds carry every step's environment, its socket the outcomes."""
        self._check(self.libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")

    def own_user_namespace(self, uid: int, gid: int) -> None:
        """In the step's child before exec: a user namespace of its own (as a bwrap per
        step gives it), so the run's steps cannot look into each other's /proc entries; its
        ids map to themselves; root gains no capabilities there by exec."""
        self._check(self.libc.unshare(_CLONE_NEWUSER), "unshare(CLONE_NEWUSER)")
        # its own /proc/self files are root's while it is not dumpable (a copy of the
        # spawner's state): made dumpable once in a namespace no other step is in, so
        # that it may write its maps; exec replaces what it holds
        self._check(self.libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")
        for name, text in (
            ("setgroups", "deny"),
            ("uid_map", f"{uid} {uid} 1"),
            ("gid_map", f"{gid} {gid} 1"),
        ):
            fd = os.open(f"/proc/self/{name}", os.O_WRONLY)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)
        self._check(self.libc.prctl(_PR_SET_SECUREBITS, _SECBITS, 0, 0, 0), "securebits")


def _start(
    request: Any, fds: list[int], isolate: Callable[[], None] | None
) -> tuple[int | None, dict[str, Any] | bytes]:
    """Start the request's step: (its pid, the reply) or (None, the reply telling why not)."""
    ident = request[0] if isinstance(request, tuple) and request else None
    try:
        if len(fds) != _FDS:
            raise OSError(22, "expected the step's two output pipes")
        ident, argv, executable, cwd, env = request
        if not isinstance(ident, int):
            raise TypeError(f"a request's id is a number, not {ident!r}")
        # relative to where this process started, not to the last step's cwd (_posix_spawn)
        cwd = os.path.join(_FIRST_CWD, cwd)
        pid = _posix_spawn(argv, executable, cwd, env, fds) if isolate is None else None
        if pid is None:
            proc = subprocess.Popen(
                argv,
                executable=executable,
                stdin=subprocess.DEVNULL,
                stdout=fds[0],
                stderr=fds[1],
                cwd=cwd,
                env=env,
                start_new_session=True,  # the step's pid is its process group's id
                preexec_fn=isolate,
            )
            # serve() reaps it (pidfd, waitpid): so that Popen's __del__ does not leave
            # it to subprocess's own reaping, which could take its exit status first
            proc.returncode = 0
            pid = proc.pid
    except OSError as exc:
        reply: dict[str, Any] = {"id": ident, "errno": exc.errno or 0}
        reply["strerror"] = exc.strerror
        reply["filename"] = None if exc.filename is None else os.fsdecode(exc.filename)
        return None, reply
    except Exception as exc:  # a bad request fails its step, not the run's others
        return None, {"id": ident, "errno": 22, "strerror": str(exc), "filename": None}
    finally:
        for fd in fds:
            os.close(fd)
    return pid, REPLY.pack(b"P", ident, pid)


def _posix_spawn(
    argv: list[str], executable: str | None, cwd: str, env: dict[str, str], fds: list[int]
) -> int | None:
    """Start the step as subprocess.Popen(argv, executable, stdin=DEVNULL, stdout, stderr,
    cwd, env, start_new_session=True) would, with posix_spawn (glibc: clone(CLONE_VM |
    CLONE_VFORK) and exec, none of Popen's Python; issue #18).  None where it would not be
    the same (a program looked up on the step's PATH): Popen starts it.

    What Popen does in its child is done here too: stdin /dev/null, the pipes as stdout
    and stderr, a new session, SIGPIPE and SIGXFSZ back to their default; every other
    descriptor of this process is close-on-exec (main(), _receive), as close_fds would
    have it.  The cwd is this process's own (it starts nothing else meanwhile); an error
    names the cwd or the program as Popen's does.  One difference: glibc leaves its two
    internal signals (32, 33) ignored in the child (docs/reliability.md)."""
    program = argv[0] if executable is None else executable
    if not isinstance(program, str) or "/" not in program:
        return None
    os.chdir(cwd)  # FileNotFoundError etc. name the cwd, as Popen's do
    try:
        return os.posix_spawn(
            program,
            argv,
            env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, fds[0], 1),
                (os.POSIX_SPAWN_DUP2, fds[1], 2),
            ],
            setsid=True,
            setsigdef=_DEFAULT_IN_STEPS,
        )
    except OSError as exc:
        raise OSError(exc.errno, os.strerror(exc.errno or 0), program) from None


_DEFAULT_IN_STEPS = (signal.SIGPIPE, signal.SIGXFSZ)  # Python ignores them; Popen restores
_FIRST_CWD = "/"  # where this process started (main())


def serve(sock: socket.socket, isolate: Callable[[], None] | None = None) -> None:
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ, None)
    running: dict[int, tuple[int, int]] = {}  # by pid: its pidfd, its request's id
    listening = True
    _send(sock, {"ready": os.getpid()})
    while listening or running:
        for key, _events in selector.select():
            if key.data is None:
                try:
                    request, fds = _receive(sock)
                except (OSError, ValueError, EOFError, TypeError):
                    request, fds = None, []
                if request is None:
                    for fd in fds:
                        os.close(fd)
                    selector.unregister(sock)
                    listening = False
                    continue
                pid, reply = _start(request, fds, isolate)
                if pid is not None:
                    pidfd = os.pidfd_open(pid)
                    running[pid] = (pidfd, request[0])
                    selector.register(pidfd, selectors.EVENT_READ, pid)
                _send(sock, reply)
            else:
                pid = key.data
                pidfd, ident = running.pop(pid)
                selector.unregister(pidfd)
                os.close(pidfd)
                code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
                if code < 0:  # as bwrap reports a step it started itself: 128 + the signal
                    code = 128 - code
                if listening:
                    _send(sock, REPLY.pack(b"X", ident, code))


def _close_on_exec() -> None:
    """Every descriptor this process holds beyond 0-2 (the socket the runner passed, any
    other it was given) is closed in the steps it starts, as Popen's close_fds did:
    posix_spawn closes only what is close-on-exec.  What Python opens later already is."""
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor, gone by now
            if int(name) > 2:
                os.set_inheritable(int(name), False)


def main() -> None:
    sock = socket.socket(fileno=int(sys.argv[-1]))
    sock.setblocking(True)
    _close_on_exec()
    global _FIRST_CWD
    with contextlib.suppress(OSError):  # removed meanwhile: relative cwds start from /
        _FIRST_CWD = os.getcwd()
    kernel = _Kernel()
    kernel.not_dumpable()
    uid, gid = os.getuid(), os.getgid()

    def isolate() -> None:
        kernel.own_user_namespace(uid, gid)

    try:
        subprocess.run(["true"], preexec_fn=isolate, check=True, env={"PATH": os.defpath})
    except (OSError, subprocess.SubprocessError):
        if uid != 0:
            return  # the runner does without this spawner: a bwrap per step
        # root may not map itself into a namespace made here (Linux 5.12+ asks for
        # CAP_SETFCAP, which the sandbox dropped): a root runner's steps share the run's
        serve(sock, None)
        return
    serve(sock, isolate)


if __name__ == "__main__":
    main()
