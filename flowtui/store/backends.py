"""Which history a `--db` value (or `$FLOWTUI_DB`) names, and opening it.

- a path, or `sqlite://PATH` (`sqlite:///abs/flowtui.db`, `sqlite://rel/flowtui.db`): the
  SQLite history (the embedded default: `flowtui.db` in the user data folder);
- `postgresql://USER@HOST:PORT/DB` (or `postgres://`): the PostgreSQL history (team mode;
  psycopg is imported only then);
- any other `scheme://`: an error naming what is supported, never a file by that name.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from flowtui.store.db import Database, StoreError, default_db_path

if TYPE_CHECKING:  # flowtui/store/pg.py is imported when a URL is given (issue #18)
    from flowtui.store.pg import PgDatabase

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
PG_SCHEMES = ("postgresql", "postgres")

HistoryDb: TypeAlias = "Database | PgDatabase"


def resolve_target(given: str | Path | None) -> str | Path:
    """The PostgreSQL URL or the SQLite file path that `given` (else $FLOWTUI_DB) names."""
    raw = given if given is not None else os.environ.get("FLOWTUI_DB")
    if raw is None or str(raw) == "":
        return default_db_path()
    if isinstance(raw, Path):
        return raw.expanduser()
    match = _URL.match(raw)
    if match is None:
        return Path(raw).expanduser()
    scheme = match.group(1).lower()
    if scheme in PG_SCHEMES:
        return raw
    if scheme == "sqlite":
        rest = raw[match.end() :]
        if not rest or rest.endswith("/"):
            raise StoreError(f"{raw}: a SQLite URL names a file: sqlite:///path/to/flowtui.db")
        return Path(rest).expanduser()
    from flowtui.store.pg import redact

    raise StoreError(
        f"unsupported history URL {redact(raw)!r}: give a file path, sqlite:///PATH or "
        "postgresql://USER@HOST:PORT/DATABASE"
    )


def check_given_path(given: str | Path | None) -> None:
    """A `--db` path whose folder does not exist is a typo, not a new history: StoreError
    naming the folder.  (The folders of $FLOWTUI_DB and of the default location, used when
    `given` is None, are created.)  `open_database` checks it for every opener."""
    if given is None or str(given) == "":
        return
    target = resolve_target(given)
    if isinstance(target, Path) and not target.parent.is_dir():
        raise StoreError(
            f"{target}: the folder {target.parent} does not exist (correct the path, or "
            "create the folder first)"
        )


def describe_target(given: str | Path | None) -> str:
    """The history `given` names, for a message (a URL without its password)."""
    try:
        target = resolve_target(given)
    except StoreError:
        return str(given)
    if isinstance(target, Path):
        return str(target)
    from flowtui.store.pg import redact

    return redact(target)


async def open_database(
    given: str | Path | None, *, read_only: bool = False
) -> Database | PgDatabase:
    """`read_only`: a SQLite history on a full disk is opened for reading (Database.open).
    A given path in a folder that does not exist is refused here (`check_given_path`), so
    that no command, the dashboard or a copy's destination starts a new history by a typo."""
    check_given_path(given)
    target = resolve_target(given)
    if isinstance(target, Path):
        return await Database.open(target, read_only=read_only)
    from flowtui.store.pg import PgDatabase

    return await PgDatabase.open(target)
