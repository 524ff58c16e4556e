"""The log view's pages read from the history: the lines of one run (or one of its steps)
around a window, by line id."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from flowtui.engine.records import LogRecord
from flowtui.store.filters import LogFilter
from flowtui.store.runstore import RunStore

LOG_TAIL = 5_000  # lines read when a log is opened; older ones are paged in on demand


@dataclass(frozen=True, slots=True)
class StoreLogPages:
    """`LogPages` for the log view, from the store."""

    store: RunStore
    run_id: int
    step: str | None

    async def before(self, before_id: int | None, limit: int) -> Sequence[LogRecord]:
        return await self.store.tail_logs(self.run_id, self.step, limit=limit, before_id=before_id)

    async def after(self, after_id: int, limit: int) -> Sequence[LogRecord]:
        return await self.store.get_logs(self.run_id, self.step, after_id=after_id, limit=limit)

    async def count_before(self, before_id: int) -> int:
        return await self.store.count_logs(self.run_id, self.step, before_id=before_id)

    async def find(
        self, needle: str, *, before_id: int | None = None, after_id: int | None = None
    ) -> LogRecord | None:
        """The stored line nearest to the window holding `needle` (any case): the newest
        older than `before_id`, else the oldest newer than `after_id`."""
        # a regular expression of the text (the store's filter: Python's `re` on SQLite,
        # POSIX on PostgreSQL, both read `(?i)` and a backslash before a punctuation mark)
        wanted = LogFilter(pattern="(?i)" + re.escape(needle))
        if before_id is not None:
            found = await self.store.tail_logs(
                self.run_id, self.step, limit=1, before_id=before_id, filters=wanted
            )
            if found:
                return found[0]
        if after_id is not None:
            found = await self.store.get_logs(
                self.run_id, self.step, after_id=after_id, limit=1, filters=wanted
            )
            if found:
                return found[0]
        return None
