"""`flowtui db copy SRC DST`: a whole history from one database into another, unchanged.

SQLite or PostgreSQL on either side.  Every row of every table, every column, ids
included, so run ids, log ids and event ids name the same things in DST.

- SRC is read in one read transaction (a snapshot: runners may go on writing to it, the
  copy is what it held at one instant) and in keyset pages of up to `BATCH` rows, fewer
  when rows are large (about `PAGE_BYTES` a page; one workspace delta, up to 64 MiB, at a
  time), so a table of millions of log lines never sits in memory.
- DST is written in one write transaction: a failure or Ctrl-C leaves it as it was.  It
  must hold no rows at all (checked inside that transaction): copying into a used history
  would mix two histories' ids.
- On PostgreSQL the identity sequences are moved past the copied ids afterwards, so new
  runs, log lines and events get fresh ids (SQLite's AUTOINCREMENT follows explicit ids),
  and the tables' own triggers (e.g. one recording a command's author as the session's
  role) are off while the rows go in, inside the same transaction: a copy records what SRC
  recorded, not who copied it.
- The table and column lists are explicit; a database with a table or a column this module
  does not know is refused (its rows would be lost), and tests compare the lists with both
  schemas.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowtui.store.backends import HistoryDb, resolve_target
from flowtui.store.db import StoreError
from flowtui.store.pg import redact
from flowtui.store.rows import _all, _one
from flowtui.store.runstore import RunStore

BATCH = 5_000
PAGE_BYTES = 16 * 1024 * 1024  # roughly what one page may hold; fewer rows when they are large
FIRST_PAGE = 256  # rows in a table's first page, before its row sizes are known


class CopyError(StoreError):
    """The copy was refused or failed; DST holds nothing of it."""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]  # the primary key: the order rows are read in, and how pages follow
    identity: bool = False  # an `id` column that PostgreSQL fills from a sequence
    max_rows: int | None = None  # rows per page at most (a table of large rows)

    @property
    def insert_sql(self) -> str:
        marks = ", ".join("?" * len(self.columns))
        return f"INSERT INTO {self.name} ({', '.join(self.columns)}) VALUES ({marks})"

    def page_sql(self, first: bool) -> str:
        """The next `?` rows after the key given (the first page: no key)."""
        cols, order = ", ".join(self.columns), ", ".join(self.key)
        where = ""
        if not first:
            if len(self.key) == 1:
                where = f" WHERE {self.key[0]} > ?"
            else:  # row values: SQLite 3.15+ and PostgreSQL
                where = f" WHERE ({order}) > ({', '.join('?' * len(self.key))})"
        return f"SELECT {cols} FROM {self.name}{where} ORDER BY {order} LIMIT ?"


# Parents before children (steps, attempts, logs, outputs, approvals, commands and events
# reference runs).  Columns in each schema's order (db.MIGRATIONS, pg.PG_MIGRATIONS).
TABLES: tuple[Table, ...] = (
    Table(
        "workflows",
        ("name", "path", "source_hash", "paused", "first_seen", "last_seen"),
        ("name",),
    ),
    Table(
        "runs",
        (
            "id",
            "workflow",
            "status",
            "trigger",
            "triggered_by",
            "params",
            "git_commit",
            "parent_run_id",
            "rerun_mode",
            "created_at",
            "started_at",
            "ended_at",
            "message",
            "definition",
            "workflow_path",
            "owner_host",
            "owner_pid",
            "owner_started",
            "heartbeat_at",
            "branch",
            "concurrency_group",
            "concurrency_limit",
            "left_out",
            "environment",
        ),
        ("id",),
        identity=True,
    ),
    Table(
        "steps",
        (
            "run_id",
            "name",
            "position",
            "type",
            "requires",
            "status",
            "attempt",
            "started_at",
            "ended_at",
            "held_at",
            "exit_code",
            "message",
            "reused_from",
            "pid",
            "pgid",
            "proc_started",
        ),
        ("run_id", "name"),
    ),
    Table(
        "attempts",
        (
            "run_id",
            "step",
            "attempt",
            "status",
            "started_at",
            "ended_at",
            "exit_code",
            "message",
        ),
        ("run_id", "step", "attempt"),
    ),
    Table(
        "logs",
        ("id", "run_id", "step", "attempt", "stream", "line", "at"),
        ("id",),
        identity=True,
    ),
    Table("outputs", ("run_id", "step", "key", "value"), ("run_id", "step", "key")),
    Table(
        "approvals",
        ("id", "run_id", "step", "approved", "by_user", "comment", "at", "inputs"),
        ("id",),
        identity=True,
    ),
    Table(
        "commands",
        (
            "id",
            "run_id",
            "kind",
            "step",
            "by_user",
            "comment",
            "created_at",
            "taken_at",
            "seal",
            "inputs",
        ),
        ("id",),
        identity=True,
    ),
    Table(
        "events",
        ("id", "run_id", "step", "kind", "status", "attempt", "at", "message"),
        ("id",),
        identity=True,
    ),
    Table("adopters", ("host", "pid", "started", "registered_at"), ("host", "pid", "started")),
    Table(
        "trigger_fires",
        ("workflow", "trigger_key", "occurrence", "claimed_at"),
        ("workflow", "trigger_key", "occurrence"),
    ),
    Table(
        "trigger_events",
        ("id", "workflow", "kind", "at", "outcome", "detail", "run_id"),
        ("id",),
        identity=True,
    ),
    Table("webhook_deliveries", ("delivery_id", "workflow", "at"), ("delivery_id",)),
    Table("trigger_state", ("key", "value", "updated_at"), ("key",)),
    # team mode's workspace hand-over: rows of up to FLOWTUI_WORKSPACE_MAX (64 MiB) each
    Table(
        "workspace_deltas",
        ("id", "run_id", "step", "attempt", "size", "data", "at"),
        ("id",),
        identity=True,
        max_rows=1,
    ),
    Table("api_tokens", ("name", "hash", "scope", "created_at", "created_by", "seal"), ("name",)),
)
KNOWN = frozenset(t.name for t in TABLES)


def describe(target: str | Path) -> str:
    """A resolved target for messages: the path, or the URL without its password."""
    return str(target) if isinstance(target, Path) else redact(target)


async def table_columns(db: HistoryDb, table: str) -> list[str]:
    """The columns `table` has in `db`, in order."""
    if db.dialect == "sqlite":
        rows = await db.fetchall(f"PRAGMA table_info({table})")
        return [str(r["name"]) for r in rows]
    rows = await db.fetchall(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
        (table,),
    )
    return [str(r["column_name"]) for r in rows]


async def table_names(db: HistoryDb) -> set[str]:
    """The history's tables (not SQLite's own, nor PostgreSQL's schema version)."""
    if db.dialect == "sqlite":
        rows = await db.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
        return {str(r["name"]) for r in rows}
    rows = await db.fetchall(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = current_schema() AND table_name <> 'flowtui_schema'"
    )
    # procrastinate's tables (team mode's job queue) and the workers' announcements are
    # not history: jobs and workers are not copied
    return {str(r["table_name"]) for r in rows if not str(r["table_name"]).startswith(QUEUE)}


QUEUE = ("procrastinate_", "flowtui_workers", "flowtui_batches")


async def tables_to_copy(db: HistoryDb) -> list[Table]:
    """The tables of `db` in copy order; refuses one whose tables or columns differ from
    what this module copies (what it does not know would be lost)."""
    present = await table_names(db)
    unknown = sorted(present - KNOWN)
    if unknown:
        raise CopyError(
            f"{db.location} has tables db copy does not know ({', '.join(unknown)}): "
            "their rows would be lost; nothing was copied"
        )
    tables = []
    for table in TABLES:
        if table.name not in present:
            raise CopyError(f"{db.location} has no table {table.name}; nothing was copied")
        actual = await table_columns(db, table.name)
        if sorted(actual) != sorted(table.columns):
            unknown = sorted(set(actual) - set(table.columns))
            missing = sorted(set(table.columns) - set(actual))
            raise CopyError(
                f"{db.location}: the columns of {table.name} differ from what db copy "
                f"knows (unknown: {', '.join(unknown) or 'none'}; "
                f"missing: {', '.join(missing) or 'none'}); nothing was copied"
            )
        tables.append(table)
    return tables


def _same_target(src: str | Path, dst: str | Path) -> bool:
    if isinstance(src, Path) and isinstance(dst, Path):
        if src.exists() and dst.exists():
            return os.path.samefile(src, dst)
        return src.resolve() == dst.resolve()
    if isinstance(src, str) and isinstance(dst, str):
        from urllib.parse import urlsplit

        a, b = urlsplit(src), urlsplit(dst)
        return (a.hostname or "", a.port or 5432, a.path.strip("/")) == (
            b.hostname or "",
            b.port or 5432,
            b.path.strip("/"),
        )
    return False


@contextlib.asynccontextmanager
async def _snapshot(db: HistoryDb) -> AsyncIterator[None]:
    """Reads inside see the database at one instant, whoever writes to it meanwhile."""
    begin = "BEGIN"  # SQLite (WAL): the snapshot is taken at the first read
    if db.dialect == "postgresql":
        begin = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
    await db.run_in_connection(lambda conn: conn.execute(begin))
    try:
        yield
    finally:
        with contextlib.suppress(Exception):  # a read transaction: nothing to keep
            await db.run_in_connection(lambda conn: conn.execute("ROLLBACK"))


def _row_bytes(row: Sequence[Any]) -> int:
    return sum(len(v) if isinstance(v, str | bytes) else 8 for v in row)


async def _pages(db: HistoryDb, table: Table, batch: int) -> AsyncIterator[list[Any]]:
    """The rows of `table` in key order, a page at a time: up to `batch` rows, fewer when
    the largest row seen so far says a page would pass PAGE_BYTES."""
    cap = min(batch, table.max_rows or batch)
    limit, largest = min(cap, FIRST_PAGE), 1
    after: tuple[Any, ...] | None = None
    positions = [table.columns.index(k) for k in table.key]
    while True:
        sql = table.page_sql(first=after is None)
        rows = await db.fetchall(sql, (*(after or ()), limit))
        if not rows:
            return
        yield rows
        if len(rows) < limit:
            return
        after = tuple(rows[-1][i] for i in positions)
        largest = max(largest, *(_row_bytes(r) for r in rows))
        limit = max(1, min(cap, PAGE_BYTES // largest))


async def _used_tables(conn: Any, tables: Sequence[Table]) -> list[str]:
    used = []
    for table in tables:
        if await _one(conn, f"SELECT 1 AS x FROM {table.name} LIMIT 1") is not None:
            used.append(table.name)
    return used


_PG_TRIGGERS = """SELECT c.relname AS tab, t.tgname AS name, t.tgenabled AS enabled
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    WHERE NOT t.tgisinternal AND t.tgenabled <> 'D'
      AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
    ORDER BY c.relname, t.tgname"""
_ENABLE = {"O": "ENABLE", "A": "ENABLE ALWAYS", "R": "ENABLE REPLICA"}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@contextlib.asynccontextmanager
async def _pg_triggers_off(conn: Any, tables: Sequence[Table]) -> AsyncIterator[None]:
    """Inside a write transaction on PostgreSQL: the user triggers of `tables` are disabled,
    then enabled again as they were (the change is transactional: nobody else sees it)."""
    names = {t.name for t in tables}
    found = [r for r in await _all(conn, _PG_TRIGGERS) if r["tab"] in names]
    for r in found:
        await conn.execute(f"ALTER TABLE {_quote(r['tab'])} DISABLE TRIGGER {_quote(r['name'])}")
    yield
    for r in found:
        how = _ENABLE.get(str(r["enabled"]), "ENABLE")
        await conn.execute(f"ALTER TABLE {_quote(r['tab'])} {how} TRIGGER {_quote(r['name'])}")


def _without_nul(rows: Sequence[Any]) -> tuple[list[tuple[Any, ...]], int]:
    """PostgreSQL text cannot hold NUL: those characters become U+FFFD (SQLite keeps a
    step's raw output, NULs included).  Returns the rows and how many values changed."""
    out: list[tuple[Any, ...]] = []
    changed = 0
    for row in rows:
        values = tuple(row)
        if any(isinstance(v, str) and "\x00" in v for v in values):
            values = tuple(v.replace("\x00", "\ufffd") if isinstance(v, str) else v for v in values)
            changed += 1
        out.append(values)
    return out, changed


async def _copy_rows(
    src: HistoryDb,
    conn: Any,
    tables: Sequence[Table],
    batch: int,
    scrub_nul: bool,
    on_table: Callable[[str, int], None] | None,
) -> tuple[dict[str, int], int]:
    """Every row of `tables` from `src` into the transaction `conn`: rows per table, and
    how many rows had NULs replaced."""
    counts: dict[str, int] = {}
    nul_rows = 0
    for table in tables:
        copied = 0
        async for rows in _pages(src, table, batch):
            if scrub_nul:
                values, changed = _without_nul(rows)
                nul_rows += changed
            else:
                values = [tuple(r) for r in rows]
            await conn.executemany(table.insert_sql, values)
            copied += len(values)
        counts[table.name] = copied
        if on_table is not None:
            on_table(table.name, copied)
    return counts, nul_rows


async def _move_sequences(conn: Any, tables: Sequence[Table]) -> None:
    """PostgreSQL: each identity sequence past the largest id copied (next id: MAX + 1)."""
    for table in tables:
        if table.identity:
            await _one(
                conn,
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'),"
                f" COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table.name}",
            )


async def copy_history(
    src_target: str | Path,
    dst_target: str | Path,
    *,
    on_table: Callable[[str, int], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    batch: int = BATCH,
) -> dict[str, int]:
    """Copy the history `src_target` names into the empty one `dst_target` names (each what
    `--db` takes).  Returns the rows copied per table, in copy order; calls `on_table(name,
    rows)` as each table is written (before the final commit) and `on_note(text)` for
    anything changed on the way.  Raises StoreError (CopyError when refused)."""
    src_at, dst_at = resolve_target(src_target), resolve_target(dst_target)
    if _same_target(src_at, dst_at):
        raise CopyError(f"source and destination are the same history: {describe(src_at)}")
    if isinstance(src_at, Path) and not src_at.is_file():
        raise CopyError(f"{src_at}: no such history file")
    async with contextlib.AsyncExitStack() as stack:
        src = await RunStore.open(src_at)  # SRC first: a SRC refused creates no DST file
        stack.push_async_callback(src.close)
        tables = await tables_to_copy(src.db)
        dst = await RunStore.open(dst_at)
        stack.push_async_callback(dst.close)
        if [t.name for t in await tables_to_copy(dst.db)] != [t.name for t in tables]:
            raise CopyError(
                f"{src.location} and {dst.location} have different tables (schemas of "
                "different flowtui versions?); nothing was copied"
            )
        on_pg = dst.dialect == "postgresql"
        async with _snapshot(src.db), dst.db.transaction() as conn:
            used = await _used_tables(conn, tables)
            if used:
                raise CopyError(
                    f"{dst.location} is not empty (it has rows in {', '.join(used)}): db copy "
                    "only fills a new, empty history, since copying into a used one would mix "
                    "two histories' run ids; nothing was copied"
                )
            if on_pg:
                async with _pg_triggers_off(conn, tables):
                    counts, nul_rows = await _copy_rows(src.db, conn, tables, batch, True, on_table)
                await _move_sequences(conn, tables)
            else:
                counts, nul_rows = await _copy_rows(src.db, conn, tables, batch, False, on_table)
    if nul_rows and on_note is not None:
        on_note(
            f"{nul_rows} rows held NUL characters, which PostgreSQL text cannot: "
            "they were written as U+FFFD"
        )
    return counts
