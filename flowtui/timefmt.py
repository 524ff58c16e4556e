"""Human-readable durations and times, shared by the CLI and the dashboard."""

from __future__ import annotations

import time


def fmt_duration(seconds: float | None) -> str:
    """12.0s, 4m32s, 2h05m: short, and precise where precision matters."""
    if seconds is None:
        return "-"
    if seconds < 0:
        seconds = 0.0
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def fmt_limit(seconds: float | None) -> str:
    """A configured limit as a person wrote it: 10m, 1h, 45s."""
    if seconds is None:
        return "-"
    if seconds < 60 or seconds % 60:
        return f"{seconds:g}s"
    minutes = int(seconds // 60)
    if minutes < 60 or minutes % 60:
        return f"{minutes}m"
    return f"{minutes // 60}h"


def fmt_clock(at: float | None) -> str:
    if at is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))
