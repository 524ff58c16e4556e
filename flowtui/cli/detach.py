"""`flowtui run --detach`: the run goes on in a process of its own, in a new session.

The parent starts `flowtui run …` again (without --detach) with its output in a private
log file under the data dir, waits until the child has recorded the run, prints the id
and returns. The child survives the terminal: a new session gets no SIGHUP when it closes.
The child tells the run id back through a pipe named by `FLOWTUI_RUN_ID_FD`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

RUN_ID_FD = "FLOWTUI_RUN_ID_FD"
DETACH_FLAGS = frozenset({"--detach", "-d"})


class DetachError(Exception):
    """The background run did not start; the message holds what it printed."""


def is_detached_child() -> bool:
    return RUN_ID_FD in os.environ


def announce_run_id(run_id: int) -> None:
    """In a detached child: tell the parent the run is recorded (once; a no-op otherwise)."""
    fd = os.environ.pop(RUN_ID_FD, None)
    if fd is None:
        return
    with contextlib.suppress(OSError, ValueError):
        os.write(int(fd), f"{run_id}\n".encode())
        os.close(int(fd))


def log_folder() -> Path:
    import platformdirs  # `flowtui run` without --detach starts without it (issue #18)

    return Path(platformdirs.user_data_dir("flowtui")) / "detached"


def _private_log() -> tuple[Path, int]:
    """A new log file only its owner can read (step output may be sensitive)."""
    folder = log_folder()
    folder.mkdir(parents=True, mode=0o700, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(100):
        path = folder / f"run-{stamp}-{os.getpid()}{f'-{n}' if n else ''}.log"
        try:
            return path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
    raise DetachError(f"cannot create a log file in {folder}")


def start_detached(argv: Sequence[str]) -> tuple[int, int, Path]:
    """Run `flowtui ARGV` (a `run` command line, --detach removed) in the background.

    Returns (run id, pid, log file) once the run is recorded; raises DetachError with the
    child's output when it ends without recording one (e.g. a workflow that does not load).
    """
    args = [a for a in argv if a not in DETACH_FLAGS]
    path, log_fd = _private_log()
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flowtui", *args],
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=log_fd,
            start_new_session=True,
            pass_fds=(write_fd,),
            env={**os.environ, RUN_ID_FD: str(write_fd)},
        )
    finally:
        os.close(log_fd)
        os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        answer = pipe.readline().strip()  # "" once the child ended without a run
    if not answer.isdigit():
        proc.wait()
        said = path.read_text(errors="replace").strip()
        raise DetachError(said or f"the background run exited with status {proc.returncode}")
    return int(answer), proc.pid, path
