from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flowtui.store import NewStep, RunStore


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "history" / "flowtui.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[RunStore]:
    s = await RunStore.open(db_path)
    try:
        yield s
    finally:
        await s.close()


def plan(*names: str) -> list[NewStep]:
    """A chain a -> b -> c of script steps."""
    return [
        NewStep(name=n, type="script", requires=[names[i - 1]] if i else [], position=i)
        for i, n in enumerate(names)
    ]
