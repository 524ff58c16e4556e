from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flowtui.store import RunStore


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
