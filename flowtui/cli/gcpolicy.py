"""The cyclic garbage collector around a `flowtui` process's start and exit (issue #18).

Starting (imports, the argument parser, the command's own imports) makes some 30,000
long-lived objects — modules, classes, functions — and next to no garbage, yet CPython's
collector walks them some 60 times on the way; and interpreter finalization collects the
whole heap again. Together that was a fifth of a one-step `flowtui run`. So a process
that *is* flowtui (the console script, `python -m flowtui`; not a caller of `main(argv)`,
such as a test):

- collects nothing while it starts (`starting`);
- moves everything made by then into the permanent generation (`gc.freeze`) and turns
  the collector back on before the command runs (`started`): later collections — a long
  run, the dashboard, `flowtui serve` — walk only what the command makes;
- freezes once more at exit, after the other atexit handlers (`starting` registers it
  first, so it runs last), so finalization does not walk the heap either. Nothing is lost
  by it: the history is closed (and synced) by the command before it returns, streams are
  flushed and atexit handlers run as before; only garbage cycles left at exit stay
  unfreed, which the operating system reclaims with the process.
"""

from __future__ import annotations

import atexit
import gc


def starting() -> None:
    gc.disable()
    atexit.register(gc.freeze)


def started() -> None:
    gc.freeze()
    gc.enable()
