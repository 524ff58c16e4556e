"""The one glyph per status that the CLI and the dashboard both show."""

from __future__ import annotations

GLYPHS: dict[str, str] = {
    "pending": "·",
    "queued": "·",
    "running": "◐",
    "held": "⏸",
    "succeeded": "✓",
    "reused": "✓",
    "failed": "✗",
    "timed_out": "✗",
    "rejected": "✗",
    "cancelled": "⊘",
    "skipped": "↷",
    "interrupted": "⚡",
}
