"""The process that starts one run's steps inside its sandbox (flowtui/engine/spawner.py).

Started once per run under bubblewrap, with the history's paths already covered, it starts
each step the runner asks for and tells it the step's pid and, later, its exit status.
Steps are its children, so they inherit its mount namespace: one namespace per run instead
of one bwrap per step.

It runs as a script (`python -I -S spawnerd.py FD`): standard library only, nothing of
flowtui's imported, so it starts in milliseconds and reads no file of the user's.

The protocol, over the SOCK_SEQPACKET socket FD (one message per packet, JSON):
- runner → here: {"id", "argv", "executable", "cwd", "env"}, with the step's stdout and
  stderr pipes attached (SCM_RIGHTS);
- here → runner: {"ready": pid} once; {"id", "pid"} or {"id", "errno", "strerror",
  "filename"} per request; {"exit": pid, "code": exit code} when a step exits (128 + N
  for a step killed by signal N, as a bwrap per step reports it).
When the runner's end closes, no more steps start; it exits once its steps have exited
(a runner killed outright leaves its steps running, as without the sandbox: its orphan
recovery stops them).
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import selectors
import socket
import subprocess
import sys
from typing import Any

MAX_MESSAGE = 1 << 20
_FDS = 2


def _receive(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    fds = array.array("i")
    data, ancdata, _flags, _addr = sock.recvmsg(MAX_MESSAGE, socket.CMSG_SPACE(_FDS * fds.itemsize))
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % fds.itemsize
            fds.frombytes(payload[:usable])
    if not data:
        return None, list(fds)
    return json.loads(data), list(fds)


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # the runner is gone: its steps still run to their end
        sock.sendall(json.dumps(message).encode())


def _start(
    request: dict[str, Any], fds: list[int]
) -> tuple[subprocess.Popen[bytes] | None, dict[str, Any]]:
    try:
        if len(fds) != _FDS:
            raise OSError(22, "expected the step's two output pipes")
        proc = subprocess.Popen(
            request["argv"],
            executable=request.get("executable"),
            stdin=subprocess.DEVNULL,
            stdout=fds[0],
            stderr=fds[1],
            cwd=request["cwd"],
            env=request["env"],
            start_new_session=True,  # the step's pid is its process group's id
        )
    except OSError as exc:
        reply: dict[str, Any] = {"id": request.get("id"), "errno": exc.errno or 0}
        reply["strerror"] = exc.strerror
        reply["filename"] = None if exc.filename is None else os.fsdecode(exc.filename)
        return None, reply
    finally:
        for fd in fds:
            os.close(fd)
    return proc, {"id": request.get("id"), "pid": proc.pid}


def serve(sock: socket.socket) -> None:
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ, None)
    running: dict[int, tuple[subprocess.Popen[bytes], int]] = {}
    listening = True
    _send(sock, {"ready": os.getpid()})
    while listening or running:
        for key, _events in selector.select():
            if key.data is None:
                try:
                    request, fds = _receive(sock)
                except (OSError, ValueError):
                    request, fds = None, []
                if request is None:
                    for fd in fds:
                        os.close(fd)
                    selector.unregister(sock)
                    listening = False
                    continue
                proc, reply = _start(request, fds)
                if proc is not None:
                    pidfd = os.pidfd_open(proc.pid)
                    running[proc.pid] = (proc, pidfd)
                    selector.register(pidfd, selectors.EVENT_READ, proc.pid)
                _send(sock, reply)
            else:
                proc, pidfd = running.pop(key.data)
                selector.unregister(pidfd)
                os.close(pidfd)
                code = proc.wait()
                if code < 0:  # as bwrap reports a step it started itself: 128 + the signal
                    code = 128 - code
                if listening:
                    _send(sock, {"exit": proc.pid, "code": code})


def main() -> None:
    sock = socket.socket(fileno=int(sys.argv[1]))
    sock.setblocking(True)
    serve(sock)


if __name__ == "__main__":
    main()
