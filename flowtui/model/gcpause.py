"""The cyclic garbage collector held off while a workflow file loads.

Loading a big file makes a few hundred thousand short-lived objects (composed nodes,
mappings, positions, drafts of steps) that all die together when the load returns, and
form no cycles the collector would have to find.  While they are alive, each collection
of the oldest generation walks all of them, again and again as they grow: a third of the
load of a 2,000-step file went there.  Their memory is freed by reference counting alone
either way; only the collector's passes are put off, and the previous state is restored
when the outermost load ends (loads nest: a workflow file and its folder's
environments.yaml; the dashboard loads in threads).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0  # loads under way, in any thread
_paused = False  # whether the first of them turned the collector off


@contextmanager
def collector_paused() -> Iterator[None]:
    """Hold off the cyclic collector until the outermost such block ends."""
    global _holders, _paused
    with _lock:
        if _holders == 0:
            _paused = gc.isenabled()
            if _paused:
                gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _paused:
                _paused = False
                gc.enable()
