"""Cron schedules: when a trigger is due, and whether a due time was missed.

Pure functions over an injectable clock, so tests move time instead of waiting for it.
A fire time is "missed" when it passed more than `grace` seconds before anyone looked
(the service was down): with `catchup: false` (the default) missed fires are skipped; with
`catchup: true` the newest missed one fires once, however many were missed (Airflow's rule
of not replaying a backlog one run per period).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

DEFAULT_GRACE = 60.0


def utcnow() -> datetime:
    return datetime.now(UTC)


def _zone(timezone: str | None) -> ZoneInfo:
    return ZoneInfo(timezone or "UTC")


def next_fire(schedule: str, after: datetime, timezone: str | None = None) -> datetime:
    """The first fire time strictly after `after` (aware), in UTC."""
    local = after.astimezone(_zone(timezone))
    nxt: datetime = croniter(schedule, local).get_next(datetime)
    return nxt.astimezone(UTC)


def latest_fire(schedule: str, now: datetime, timezone: str | None = None) -> datetime:
    """The last fire time at or before `now`, in UTC."""
    local = now.astimezone(_zone(timezone))
    prev: datetime = croniter(schedule, local).get_prev(datetime)
    # croniter's get_prev is strictly before its start: `now` itself may be a fire time
    again: datetime = croniter(schedule, prev).get_next(datetime)
    return (again if again <= local else prev).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class CronDecision:
    due: datetime | None  # the fire time to act on, None when nothing is due
    fire: bool = False  # start a run for `due`
    missed: bool = False  # `due` passed while nobody was looking

    @property
    def occurrence(self) -> str:
        return self.due.isoformat() if self.due else ""


def decide(
    schedule: str,
    *,
    last: datetime,
    now: datetime,
    timezone: str | None = None,
    catchup: bool = False,
    grace: float = DEFAULT_GRACE,
) -> CronDecision:
    """What to do at `now`, given that every fire time up to `last` has been handled."""
    if next_fire(schedule, last, timezone) > now:
        return CronDecision(None)
    due = latest_fire(schedule, now, timezone)
    missed = now - due > timedelta(seconds=grace)
    return CronDecision(due, fire=catchup or not missed, missed=missed)


def parse_instant(text: str) -> datetime:
    """An ISO time stored by `CronDecision.occurrence` (always aware)."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
