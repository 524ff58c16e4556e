"""Fixtures of the team-mode tests (helpers in teamkit.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.team.teamkit import Team


@pytest.fixture
def team(pg_url: str, tmp_path: Path) -> Iterator[Team]:
    team = Team(pg_url, tmp_path)
    try:
        yield team
    finally:
        team.close()
