"""The dashboard's full garbage collections, held for a quiet moment (issue #18).

Once the dashboard has settled, what it loaded is frozen (`gc.freeze`); what it makes
afterwards is not, and a full collection walks all of it: 70-120 ms with the loop stopped,
measured in the middle of a log flood (Textual's strips and their caches refer to each
other, so every repaint leaves cyclic garbage behind, some of it old enough to reach the
oldest generation).  CPython starts a full collection whenever enough has survived — in the
middle of a key's repaint as likely as anywhere.

So the automatic full collections are turned off (the youngest two generations are still
collected as before: a few ms each) and the dashboard makes one itself: every
`FULL_EVERY` seconds, at the first check that finds no key or mouse event in the last
`QUIET` seconds — or after `LATEST` seconds in any case, so a stream of keys cannot hold
it off for ever and the old garbage stays bounded.  The thresholds are put back when the
app ends (a test process runs many apps).
"""

from __future__ import annotations

import gc
import time

FULL_EVERY = 30.0  # seconds between full collections, at least
# ... made only once no input came for this long: a key right after a pause is the one that
# can meet the collection, so the pause asked for is longer than a reader's between keys
QUIET = 2.0
LATEST = 60.0  # ... or, input or not, once this much time has passed
CHECK_EVERY = 1.0  # how often the app asks `tick` (a Textual interval)
NEVER = 1 << 30  # a third threshold CPython never reaches: no automatic full collection
CPYTHON_OLDEST = 10  # CPython's own third threshold


class IdleCollector:
    """Owns the full collections while the dashboard runs: `start` once settled,
    `saw_input` on every input event, `tick` every CHECK_EVERY s, `stop` at the end."""

    def __init__(self) -> None:
        self._thresholds: tuple[int, int, int] | None = None
        self._last_input = time.monotonic()
        self._last_full = time.monotonic()
        self.full_collections = 0  # made by `tick` (for tests)

    @property
    def started(self) -> bool:
        return self._thresholds is not None

    def start(self) -> None:
        """Collect and freeze what is there, then hold the full collections."""
        gc.collect()
        gc.freeze()
        if self._thresholds is None:
            young, middle, oldest = gc.get_threshold()
            # another dashboard of this process (tests) holds them already: CPython's own
            # setting is what comes back after the last one
            self._thresholds = (young, middle, CPYTHON_OLDEST if oldest == NEVER else oldest)
            gc.set_threshold(young, middle, NEVER)
        self._last_full = time.monotonic()

    def saw_input(self) -> None:
        self._last_input = time.monotonic()

    def tick(self) -> bool:
        """Make a full collection if it is time (see the module); True when made."""
        if self._thresholds is None:
            return False
        now = time.monotonic()
        since = now - self._last_full
        if since < FULL_EVERY or (now - self._last_input < QUIET and since < LATEST):
            return False
        gc.collect()
        self._last_full = time.monotonic()
        self.full_collections += 1
        return True

    def stop(self) -> None:
        """Automatic full collections again, as before `start`, and what `start` froze
        back in their reach (a test process runs many apps, one after another)."""
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None
            gc.unfreeze()
