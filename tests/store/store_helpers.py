"""Shared helpers for the store tests."""

from __future__ import annotations

from flowtui.engine.records import NewStep


def plan(*names: str) -> list[NewStep]:
    """A chain a -> b -> c of script steps."""
    return [
        NewStep(name=n, type="script", requires=[names[i - 1]] if i else [], position=i)
        for i, n in enumerate(names)
    ]
