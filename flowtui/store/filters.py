"""What `flowtui history` and `flowtui logs` narrow the history to, turned into SQL `WHERE`s.

The filtering happens in the database (both dialects), so a long history is not read whole
to print the few runs or lines asked for.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RunFilter:
    """Runs by status, workflow, branch, trigger, and creation time (epoch seconds)."""

    statuses: Collection[str] = ()
    workflow: str | None = None
    branch: str | None = None
    trigger: str | None = None
    since: float | None = None
    until: float | None = None
    environment: str | None = None

    def sql(self) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if self.statuses:
            values = sorted(set(self.statuses))
            where.append(f"status IN ({', '.join('?' * len(values))})")
            params.extend(values)
        for column, value in (
            ("workflow", self.workflow),
            ("branch", self.branch),
            ("trigger", self.trigger),
            ("environment", self.environment),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if self.since is not None:
            where.append("created_at >= ?")
            params.append(self.since)
        if self.until is not None:
            where.append("created_at < ?")
            params.append(self.until)
        return where, params


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Log lines written since a time, and matching a regular expression."""

    since: float | None = None
    pattern: str | None = None
