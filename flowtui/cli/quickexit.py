"""Ending a `flowtui run` process without tearing the interpreter down (issue #18).

Once `flowtui run` (or `rerun`) has returned, the history is closed — every transaction
committed and synced, the connection's thread joined (docs/reliability.md) — and what is
left of an ordinary exit is: waiting for other threads, the atexit handlers, flushing
stdout and stderr, then freeing every module, class and function one by one (a tenth of a
one-step run's time, for memory the operating system takes back with the process anyway).

`leave(code)` does the first three, in that order, and ends the process with `code`; where
the usual exit would have more to do — a thread other than daemons still running, a stream
that cannot be flushed (a closed pipe: the usual exit reports it, status 120) — it returns
and the process exits the usual way.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

COMMANDS = frozenset({"run", "rerun"})  # their ends are closed and synced when they return


def leave(code: int) -> int:
    """End the process with `code` now, or return `code` when the usual exit has work left."""
    main = threading.main_thread()
    if any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate()):
        return code  # the usual exit waits for it
    if not 0 <= code <= 255:
        return code
    if not _flushed():
        return code  # a closed pipe: the usual exit says so (status 120)
    atexit._run_exitfuncs()  # logging's flush, temporary folders' clean-up, gcpolicy's freeze
    if not _flushed():  # what a handler printed; they have run, and are not run again
        return code
    os._exit(code)


def _flushed() -> bool:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is None:
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            return False
    return True
