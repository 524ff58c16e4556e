"""The history database file: location, connection settings, schema migrations, transactions."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

log = logging.getLogger("flowtui.store")
_T = TypeVar("_T")

BUSY_TIMEOUT_MS = 10_000
# Retries after SQLite's own busy timeout gave up; each waits the backoff, then up to 10 s more.
BUSY_RETRIES = 4
BUSY_BACKOFF = 0.2


class StoreError(Exception):
    """A problem with the history database that the user can act on."""


class SchemaTooNewError(StoreError):
    pass


class StoreBusyError(StoreError):
    pass


class StoreUnavailableError(StoreError):
    """The history's server cannot be reached right now (restarting, network down); the
    same call may work in a moment.  Writers keep their events and try again."""


class StoreFullError(StoreError):
    """The disk (or the file size limit) is full: SQLITE_FULL, ENOSPC, EFBIG, EDQUOT."""


_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
FULL_BELOW = 256 * 1024  # free bytes under which a disk I/O error at open means "disk full"


def _is_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in _FULL_ERRNOS
    if not isinstance(exc, sqlite3.Error):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF == sqlite3.SQLITE_FULL
    return "database or disk is full" in str(exc).lower()


# Each migration is a list of statements run in one transaction; never edit a released
# entry, append a new one.  `PRAGMA user_version` records how many have been applied.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE workflows (
            name TEXT PRIMARY KEY,
            path TEXT,
            source_hash TEXT NOT NULL DEFAULT '',
            paused INTEGER NOT NULL DEFAULT 0,
            first_seen REAL NOT NULL,
            last_seen REAL NOT NULL
        )""",
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            workflow TEXT NOT NULL,
            status TEXT NOT NULL,
            trigger TEXT NOT NULL DEFAULT 'manual',
            triggered_by TEXT NOT NULL DEFAULT '',
            params TEXT NOT NULL DEFAULT '{}',
            git_commit TEXT,
            parent_run_id INTEGER,
            rerun_mode TEXT,
            created_at REAL NOT NULL,
            started_at REAL,
            ended_at REAL,
            message TEXT NOT NULL DEFAULT '',
            definition TEXT NOT NULL DEFAULT '{}',
            workflow_path TEXT,
            owner_host TEXT,
            owner_pid INTEGER,
            owner_started REAL,
            heartbeat_at REAL
        )""",
        "CREATE INDEX runs_by_workflow ON runs (workflow, id DESC)",
        # (status, workflow, id): active runs are few, so FIFO/concurrency checks are a short seek
        "CREATE INDEX runs_by_status ON runs (status, workflow)",
        "CREATE INDEX runs_by_parent ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL",
        """CREATE TABLE steps (
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            position INTEGER NOT NULL,
            type TEXT NOT NULL,
            requires TEXT NOT NULL DEFAULT '[]',
            status TEXT NOT NULL,
            attempt INTEGER NOT NULL DEFAULT 0,
            started_at REAL,
            ended_at REAL,
            held_at REAL,
            exit_code INTEGER,
            message TEXT NOT NULL DEFAULT '',
            reused_from INTEGER,
            pid INTEGER,
            pgid INTEGER,
            proc_started REAL,
            PRIMARY KEY (run_id, name)
        )""",
        """CREATE TABLE attempts (
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            step TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            status TEXT NOT NULL,
            started_at REAL,
            ended_at REAL,
            exit_code INTEGER,
            message TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (run_id, step, attempt)
        )""",
        """CREATE TABLE logs (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            step TEXT NOT NULL,
            attempt INTEGER NOT NULL DEFAULT 0,
            stream TEXT NOT NULL,
            line TEXT NOT NULL,
            at REAL NOT NULL
        )""",
        "CREATE INDEX logs_by_step ON logs (run_id, step, id)",
        # (run_id) implicitly ends in the rowid, so tailing a whole run needs no sort
        "CREATE INDEX logs_by_run ON logs (run_id)",
        """CREATE TABLE outputs (
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            step TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (run_id, step, key)
        )""",
        """CREATE TABLE approvals (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            step TEXT NOT NULL,
            approved INTEGER NOT NULL,
            by_user TEXT NOT NULL DEFAULT '',
            comment TEXT NOT NULL DEFAULT '',
            at REAL NOT NULL
        )""",
        "CREATE INDEX approvals_by_run ON approvals (run_id)",
        """CREATE TABLE commands (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            step TEXT,
            by_user TEXT NOT NULL DEFAULT '',
            comment TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            taken_at REAL
        )""",
        "CREATE INDEX commands_by_run ON commands (run_id, taken_at)",
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            step TEXT,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            attempt INTEGER NOT NULL DEFAULT 0,
            at REAL NOT NULL,
            message TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX events_by_run ON events (run_id)",
    ),
    # branch filters and concurrency groups: the run's branch, its group, and the limit its
    # workflow declared (a group's limit is the smallest one among its queued/active runs).
    # adopters: services that take over queued runs of dead runners; while one is registered,
    # those runs stay queued instead of being marked interrupted.
    (
        "ALTER TABLE runs ADD COLUMN branch TEXT",
        "ALTER TABLE runs ADD COLUMN concurrency_group TEXT",
        "ALTER TABLE runs ADD COLUMN concurrency_limit INTEGER",
        "CREATE INDEX runs_by_group ON runs (status, concurrency_group)"
        " WHERE concurrency_group IS NOT NULL",
        """CREATE TABLE adopters (
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            started REAL NOT NULL,
            registered_at REAL NOT NULL,
            PRIMARY KEY (host, pid, started)
        )""",
    ),
    # triggers (flowtui/store/triggerstore.py): a fire's lease row (its primary key is what
    # keeps two services on one database from firing the same occurrence twice), every
    # trigger outcome, seen webhook delivery ids, and per-trigger cursors (cron, git, chain).
    (
        """CREATE TABLE trigger_fires (
            workflow TEXT NOT NULL,
            trigger_key TEXT NOT NULL,
            occurrence TEXT NOT NULL,
            claimed_at REAL NOT NULL,
            PRIMARY KEY (workflow, trigger_key, occurrence)
        )""",
        """CREATE TABLE trigger_events (
            id INTEGER PRIMARY KEY,
            workflow TEXT NOT NULL,
            kind TEXT NOT NULL,
            at REAL NOT NULL,
            outcome TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '',
            run_id INTEGER
        )""",
        "CREATE INDEX trigger_events_by_workflow ON trigger_events (workflow, id)",
        """CREATE TABLE webhook_deliveries (
            delivery_id TEXT PRIMARY KEY,
            workflow TEXT NOT NULL,
            at REAL NOT NULL
        )""",
        """CREATE TABLE trigger_state (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at REAL NOT NULL
        )""",
    ),
    # team mode: what each step changed in its run's workspace, handed to the machines
    # that run the later steps (flowtui/engine/workspace.py)
    (
        """CREATE TABLE workspace_deltas (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            step TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            size INTEGER NOT NULL,
            data BLOB NOT NULL,
            at REAL NOT NULL
        )""",
        "CREATE INDEX workspace_deltas_by_run ON workspace_deltas (run_id, id)",
    ),
    # a decision's seal (flowtui/store/seal.py): a command row a step could not forge
    ("ALTER TABLE commands ADD COLUMN seal TEXT NOT NULL DEFAULT ''",),
    # `flowtui run --only/--skip`: the steps the run left out, {step: "--skip" | "--only"}
    ("ALTER TABLE runs ADD COLUMN left_out TEXT NOT NULL DEFAULT '{}'",),
    # approvals that carry decisions: the `--input NAME=VALUE` of an approve command and
    # the answers an approval recorded, each a JSON object (NULL: none)
    (
        "ALTER TABLE commands ADD COLUMN inputs TEXT",
        "ALTER TABLE approvals ADD COLUMN inputs TEXT",
    ),
    # REST API tokens (flowtui/store/tokens.py): only a token's SHA-256 is kept
    (
        """CREATE TABLE api_tokens (
            name TEXT PRIMARY KEY,
            hash TEXT NOT NULL,
            scope TEXT NOT NULL,
            created_at REAL NOT NULL,
            created_by TEXT NOT NULL DEFAULT ''
        )""",
    ),
    # environments (flowtui/model/environments.py): the one a run deploys to (NULL: none)
    (
        "ALTER TABLE runs ADD COLUMN environment TEXT",
        "CREATE INDEX runs_by_environment ON runs (workflow, environment, id)"
        " WHERE environment IS NOT NULL",
    ),
    # a token row's seal (flowtui/store/tokens.py): a token a hand-made INSERT cannot forge
    # (rows made before it have none: create those tokens again)
    ("ALTER TABLE api_tokens ADD COLUMN seal TEXT NOT NULL DEFAULT ''",),
)
SCHEMA_VERSION = len(MIGRATIONS)


def _regexp(pattern: str, text: str | None) -> bool:
    return text is not None and _compiled(pattern).search(text) is not None


@functools.lru_cache(maxsize=32)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def default_db_path() -> Path:
    env = os.environ.get("FLOWTUI_DB")
    if env:
        return Path(env).expanduser()
    import platformdirs  # only without FLOWTUI_DB or --db (issue #18: start-up)

    return Path(platformdirs.user_data_dir("flowtui")) / "flowtui.db"


def _no_space(path: Path, exc: BaseException) -> bool:
    """A failure to open `path` because its disk is full: SQLITE_FULL/ENOSPC, or the
    "disk I/O error" SQLite gives when it cannot create or grow its -wal/-shm files."""
    if _is_full(exc):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    io_error = code is not None and code & 0xFF == sqlite3.SQLITE_IOERR
    if not io_error and "disk i/o error" not in str(exc).lower():
        return False
    try:
        stats = os.statvfs(path.parent)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < FULL_BELOW


def _has_history(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def _is_busy(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _create_private_file(path: Path) -> None:
    """Create the database file readable by its owner only (it holds logs and params)."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        # one that cannot be opened (a step's sandbox) fails here, before SQLite's thread
        os.close(os.open(path, os.O_RDONLY))
        return
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


class SqliteSync:
    """A plain sqlite3 connection for a thread of its own (the runner's heartbeat), with
    the write-transaction calls the PostgreSQL connection offers too."""

    def __init__(self, path: Path) -> None:
        self.raw = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)

    def execute(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        return self.raw.execute(sql, tuple(params))

    def begin_write(self) -> None:
        self.raw.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.raw.execute("COMMIT")

    def rollback(self) -> None:
        if self.raw.in_transaction:
            self.raw.execute("ROLLBACK")

    def close(self) -> None:
        self.raw.close()


class Database:
    """One SQLite connection shared by the tasks of a process, serialised by a lock."""

    dialect = "sqlite"

    def __init__(self, path: Path, conn: aiosqlite.Connection) -> None:
        self.path = path
        self.location = str(path)
        self.conn = conn
        self.lock = asyncio.Lock()
        # told (in the event loop) each time a write fails because the disk is full
        self.full_listeners: list[Callable[[StoreFullError], None]] = []

    read_only = False  # opened by `open_read_only`: writes fail

    @classmethod
    async def open(cls, path: str | Path | None = None, *, read_only: bool = False) -> Database:
        """Open (create, migrate) the history file.  On a full disk: StoreFullError saying
        so, or with `read_only`, the history opened for reading (see `open_read_only`)."""
        resolved = Path(path).expanduser() if path is not None else default_db_path()
        try:
            return await cls._open_writable(resolved)
        except (sqlite3.Error, OSError) as exc:
            if not _no_space(resolved, exc):
                raise
            if not read_only or not _has_history(resolved):
                raise StoreFullError(
                    f"disk full: cannot write to the history database {resolved} "
                    f"(no space left on the disk that holds {resolved.parent})"
                ) from None
        return await cls.open_read_only(resolved)

    @classmethod
    async def open_read_only(cls, path: Path) -> Database:
        """The history for reading only, when it cannot be written (a full disk): SQLite
        needs to create the -wal/-shm files otherwise.  Without a -wal file nobody writes,
        so the file is read as immutable (also when a failed open left it empty); with
        content in it, its -shm is there too."""
        wal = Path(f"{path}-wal")
        pending = wal.exists() and wal.stat().st_size > 0
        query = "mode=ro" if pending else "mode=ro&immutable=1"
        conn = await aiosqlite.connect(
            f"{path.absolute().as_uri()}?{query}",
            uri=True,
            isolation_level=None,
            timeout=BUSY_TIMEOUT_MS / 1000,
        )
        conn.row_factory = sqlite3.Row
        db = cls(path, conn)
        db.read_only = True
        return db

    @classmethod
    async def _open_writable(cls, resolved: Path) -> Database:
        _create_private_file(resolved)
        # isolation_level=None: the sqlite3 module must not open transactions behind our
        # back; every write transaction is an explicit BEGIN IMMEDIATE below.
        conn = await aiosqlite.connect(
            str(resolved), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
        )
        db = cls(resolved, conn)
        try:
            conn.row_factory = sqlite3.Row
            # `line REGEXP ?` (`flowtui logs --grep`); PostgreSQL has `~` built in
            await conn.create_function("regexp", 2, _regexp, deterministic=True)
            await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = await db._retry_busy(db._fetch_value, "PRAGMA journal_mode = WAL")
            if str(mode).lower() != "wal":
                log.warning("%s: WAL journal unavailable (got %s)", resolved, mode)
            # FULL: a run's state must survive a power cut.  The fsync this costs is paid once
            # per transaction, and the StoreSink batches events, so it stays cheap.  (One
            # script: one trip to the connection's thread, issue #18.)
            await conn.executescript("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;")
            await db._migrate()
        except BaseException:
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        async with self.lock:
            await self.conn.close()

    @property
    def workspace_root(self) -> Path:
        """Run workspaces live beside the history file."""
        return self.path.parent / "workspaces"

    async def wait_for(self, channel: str, timeout: float) -> None:
        """SQLite cannot tell other processes anything: callers poll every `timeout` s."""
        await asyncio.sleep(timeout)

    def connect_sync(self) -> SqliteSync:
        """A second connection, for a thread of its own (the runner's heartbeat)."""
        return SqliteSync(self.path)

    async def _fetch_value(self, sql: str, params: Iterable[Any] = ()) -> Any:
        # execute_fetchall: one trip to the connection's thread, not three (execute,
        # fetch, close: issue #18)
        rows = list(await self.conn.execute_fetchall(sql, tuple(params)))
        return rows[0][0] if rows else None

    async def _retry_busy(self, fn: Any, *args: Any) -> Any:
        """Call `fn`, retrying with backoff when SQLite stays busy past its own timeout."""
        for attempt in range(BUSY_RETRIES + 1):
            try:
                return await fn(*args)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                if attempt == BUSY_RETRIES:
                    raise StoreBusyError(
                        f"the history database {self.path} stayed locked by another flowtui "
                        f"process for over {(BUSY_RETRIES + 1) * BUSY_TIMEOUT_MS // 1000} s"
                    ) from exc
                log.warning("%s is busy, retrying (%s)", self.path, exc)
                await asyncio.sleep(BUSY_BACKOFF * 2**attempt)
        raise AssertionError("unreachable")

    async def _begin_immediate(self) -> None:
        await self._retry_busy(self.conn.execute, "BEGIN IMMEDIATE")

    async def _rollback(self) -> None:
        # raises when no transaction was open (BEGIN failed, or COMMIT already ran)
        with contextlib.suppress(sqlite3.OperationalError):
            await self.conn.execute("ROLLBACK")

    async def _rollback_despite_cancel(self) -> None:
        """Roll back even if the task is cancelled again meanwhile, then re-raise that."""
        task = asyncio.ensure_future(self._rollback())
        cancelled = False
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                cancelled = True
            except Exception:
                log.exception("rollback failed on %s", self.path)
                break
        if cancelled:
            raise asyncio.CancelledError

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction: commits on success; rolls back on any error or cancellation.

        Statements cancelled mid-flight still run on aiosqlite's worker thread, which executes
        calls in order, so the ROLLBACK queued after them always lands last.
        """
        async with self.lock:
            try:
                await self._begin_immediate()
                yield self.conn
                await self.conn.execute("COMMIT")
            except BaseException as exc:
                await self._rollback_despite_cancel()
                if _is_full(exc):
                    full = StoreFullError(f"disk full: could not write to {self.path}")
                    for listener in list(self.full_listeners):
                        with contextlib.suppress(Exception):  # a listener must not hide this
                            listener(full)
                    raise full from exc
                raise

    async def run_in_connection(self, fn: Callable[..., _T], /, *args: Any) -> _T:
        """Call `fn(sqlite3_connection, *args)` on the connection's own thread; only inside
        `transaction()`, whose lock, rollback and disk-full handling cover it.

        Each `await conn.execute` is a thread hop plus a loop wake-up; a function running
        many statements costs one.  aiosqlite has no public call for this, so it uses its
        queue (`_execute`) and connection (`_conn`): aiosqlite is pinned below the next
        minor version and tests/test_private_apis.py fails loudly if either changes.
        """
        conn = self.conn
        result: _T = await conn._execute(fn, conn._conn, *args)
        return result

    async def write(self, fn: Callable[..., _T], /, *args: Any) -> _T:
        """`fn(sqlite3_connection, *args)` in a write transaction of its own."""
        async with self.transaction():
            return await self.run_in_connection(fn, *args)

    async def read(self, fn: Callable[..., _T], /, *args: Any) -> _T:
        """`fn(sqlite3_connection, *args)` for several reads in one hop to the thread."""
        async with self.lock:
            conn = self.conn
            result: _T = await self._retry_busy(conn._execute, fn, conn._conn, *args)
            return result

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        async with self.lock:
            return await self._retry_busy(self._fetchall_unlocked, sql, tuple(params))

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def _fetchall_unlocked(self, sql: str, params: tuple[Any, ...]) -> list[sqlite3.Row]:
        return list(await self.conn.execute_fetchall(sql, params))  # one trip, not three

    async def _migrate(self) -> None:
        version = await self._fetch_value("PRAGMA user_version")
        self._check_version(version)
        if version == SCHEMA_VERSION:
            return
        async with self.transaction() as conn:
            # another process may have migrated while we waited for the write lock
            version = await self._fetch_value("PRAGMA user_version")
            self._check_version(version)
            for index in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[index]:
                    await conn.execute(statement)
            await conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")

    def _check_version(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise SchemaTooNewError(
                f"{self.path} has schema version {version}, but this flowtui only knows up to "
                f"{SCHEMA_VERSION}; upgrade flowtui or point FLOWTUI_DB at another file"
            )
