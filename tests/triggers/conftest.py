from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.triggers.helpers import Env


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    e = Env(tmp_path, tmp_path / "history.db")
    try:
        yield e
    finally:
        await e.close()
