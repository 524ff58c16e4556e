from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest


class Cli:
    """Runs `python -m flowtui` as a real process against one database."""

    def __init__(self, tmp_path: Path) -> None:
        self.db = tmp_path / "history.db"
        self.cwd = tmp_path
        self.env = {**os.environ, "FLOWTUI_DB": str(self.db), "NO_COLOR": "1"}

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "flowtui", *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.cwd,
            timeout=timeout,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "flowtui", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            cwd=self.cwd,
        )

    def query(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        if not self.db.exists():
            return []
        with sqlite3.connect(self.db, timeout=10) as conn:
            return conn.execute(sql, params).fetchall()

    def wait_for(self, predicate: Callable[[], object], timeout: float = 15) -> object:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                value = predicate()
            except sqlite3.OperationalError:
                value = None
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError("condition not reached in time")

    def step_status(self, run_id: int, step: str) -> str | None:
        rows = self.query("SELECT status FROM steps WHERE run_id=? AND name=?", run_id, step)
        return str(rows[0][0]) if rows else None


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)
