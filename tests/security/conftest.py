"""Fixtures shared by the security tests.

NOTE (h1a, webhook engineer): this file was accidentally overwritten while adding the
webhook tests; `write`, `db_text` and the `cli` / `http_server` imports were rebuilt from
how test_secrets.py uses them.  The owner of test_secrets.py should check them.
"""

from __future__ import annotations

import sqlite3
import textwrap
from pathlib import Path

from tests.cli.conftest import cli  # noqa: F401  (fixture)
from tests.engine.conftest import http_server  # noqa: F401  (fixture)
from tests.triggers.conftest import env  # noqa: F401  (fixture: store, runner, trigger service)


def write(path: Path, text: str) -> Path:
    """Write a workflow file (the text may be indented like the test that holds it)."""
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def db_text(db: Path) -> str:
    """Every value of every row of every table of the database, as one text."""
    parts: list[str] = []
    with sqlite3.connect(db, timeout=10) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                parts.extend(str(v) for v in row if v is not None)
    return "\n".join(parts)
