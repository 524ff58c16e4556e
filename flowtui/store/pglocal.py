"""A private, throw-away PostgreSQL server in a folder, for tests and for trying team mode.

    with LocalServer.start(Path("/tmp/pg")) as server:
        server.url  # postgresql://flowtui@127.0.0.1:PORT/flowtui

`python -m flowtui.store.pglocal [FOLDER]` starts one, prints its URL and stops it on Ctrl-C.

The server is PostgreSQL's own binaries (`find_pg_bin`): `initdb -A trust -U flowtui` into
`FOLDER/data`, `pg_ctl start` on a free port, a database `flowtui`. It listens on 127.0.0.1
only, with no Unix socket at all (`-k ''`: nothing else to secure, and no socket path that
outgrows the 107-byte limit under a deep test folder). Durability is switched off
(`fsync=off`): a crash of the machine may lose it, which is what throw-away means.
Authentication is `trust` unless `auth="scram-sha-256"` is asked for: then every TCP login
needs its password and the superuser's is generated (`server.password`, part of its URLs).

Root: `initdb`, `pg_ctl` and `postgres` refuse to run as root. As root they run as the
unprivileged system user `flowtui-pg` (created when missing: `useradd --system`), through
`runuser -u flowtui-pg --`, and the data folder is owned by it, mode 700. That user must be
able to traverse to the data folder; `folder` is used when it can (every parent
world-searchable), and otherwise (pytest's `tmp_path` lies under a root-only 700 folder) the
data goes to a private folder of its own under the system temp folder (`mkdtemp`, owned by
`flowtui-pg`, mode 700), `FOLDER/data` is a symlink to it, and `close()` removes it. The
parents of `folder` are never opened up: that would expose the caller's other files.

Never left running: `stop()` is idempotent, `close()` (and leaving the `with` block) stops
and cleans up, and servers still open at interpreter exit are closed by an `atexit` guard.
A process killed outright (SIGKILL) cannot run it: its server stays up (its own session,
not the caller's process group) until stopped with `pg_ctl -D DATA stop`.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Self
from urllib.parse import quote

import psutil

if TYPE_CHECKING:
    from psycopg import sql

SUPERUSER = "flowtui"  # the role initdb creates
DATABASE = "flowtui"  # the database `url` points at
SERVICE_USER = "flowtui-pg"  # the OS account the server runs as when flowtui runs as root
HOST = "127.0.0.1"

Auth = Literal["trust", "scram-sha-256"]

_SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")
_DEBIAN_BIN_DIRS = "/usr/lib/postgresql/*/bin"
_SBIN_PATH = "/usr/sbin:/sbin"  # runuser, useradd: not always on a user's PATH
_SETTINGS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
_TIMEOUT = 30  # seconds pg_ctl waits for a start or stop

_open_servers: set[LocalServer] = set()


class LocalServerError(RuntimeError):
    """The local server could not be set up, started or stopped."""


class PostgresNotFoundError(LocalServerError):
    """PostgreSQL's server programs are not installed."""


def find_pg_bin() -> Path:
    """The folder holding `initdb`, `pg_ctl` and `postgres`.

    Looks at `pg_config --bindir`, then `/usr/lib/postgresql/*/bin` (highest version first),
    then `initdb` on PATH (a symlink such as /usr/local/bin/initdb is followed to the folder
    of the real programs, where pg_ctl finds `postgres`). A candidate counts only when all
    three programs are there: Debian's `pg_config` may name the bin folder of the libpq
    version, whose server is not installed.
    """
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
            if out:
                candidates.append(Path(out))
    debian = sorted(glob.glob(_DEBIAN_BIN_DIRS), key=_version_key, reverse=True)
    candidates += [Path(d) for d in debian]
    initdb = shutil.which("initdb")
    if initdb:
        candidates += [Path(initdb).resolve().parent, Path(initdb).parent]
    for folder in candidates:
        if all(os.access(folder / name, os.X_OK) for name in _SERVER_PROGRAMS):
            return folder
    raise PostgresNotFoundError(
        "PostgreSQL server programs (initdb, pg_ctl, postgres) not found: looked at "
        f"`pg_config --bindir`, {_DEBIAN_BIN_DIRS} and PATH. Install them, e.g. "
        "`apt-get install -y postgresql` (Debian, Ubuntu)."
    )


def _version_key(folder: str) -> tuple[int, ...]:
    """/usr/lib/postgresql/9.6/bin → (9, 6): 15 sorts above 9.6."""
    try:
        return tuple(int(part) for part in Path(folder).parent.name.split("."))
    except ValueError:
        return (-1,)


@dataclass(eq=False)
class LocalServer:
    """A started PostgreSQL server in a folder: `start` one, `close` it when done."""

    folder: Path  # the caller's folder; FOLDER/data is the data folder (or a symlink to it)
    home: Path  # holds data/ and postgres.log: `folder`, or a private temp folder (root)
    bin_dir: Path
    port: int
    password: str | None  # the superuser's, when auth="scram-sha-256"
    os_user: str | None  # the account the server runs as: SERVICE_USER as root, else None
    _relocated: bool = False  # `home` is a temp folder of ours, removed by close()
    _process: psutil.Process | None = None  # the postmaster, while running
    _owner_pid: int = field(default_factory=os.getpid)

    @classmethod
    def start(cls, folder: Path, port: int | None = None, *, auth: Auth = "trust") -> Self:
        """Create a fresh cluster in `folder` (its `data` must not exist or be empty), start
        it on `port` (a free port on 127.0.0.1 when None) and create database `flowtui`."""
        bin_dir = find_pg_bin()
        folder = Path(folder).absolute()
        folder.mkdir(parents=True, exist_ok=True)
        os_user = _service_user() if os.geteuid() == 0 else None
        home, relocated = _prepare_home(folder, os_user)
        password = secrets.token_urlsafe(18) if auth != "trust" else None
        server = cls(folder, home, bin_dir, 0, password, os_user, relocated)
        _open_servers.add(server)
        try:
            server._initdb(auth)
            server._launch(port)
            server.create_database(DATABASE)
        except BaseException:
            server.close()
            raise
        return server

    # -- addresses

    @property
    def data_dir(self) -> Path:
        """The real data folder (PGDATA), not the symlink in `folder`."""
        return self.home / "data"

    @property
    def log_file(self) -> Path:
        return self.home / "postgres.log"

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while running."""
        return self._process.pid if self._process else None

    @property
    def url(self) -> str:
        """The superuser on database `flowtui`: what flowtui is given."""
        return self.url_for(SUPERUSER, password=self.password)

    @property
    def admin_url(self) -> str:
        """The superuser on the maintenance database `postgres`: for CREATE/DROP DATABASE
        and roles (a database cannot be dropped from a session connected to it)."""
        return self.url_for(SUPERUSER, password=self.password, database="postgres")

    def url_for(self, role: str, *, password: str | None = None, database: str = DATABASE) -> str:
        user = quote(role, safe="") + (f":{quote(password, safe='')}" if password else "")
        return f"postgresql://{user}@{HOST}:{self.port}/{quote(database, safe='')}"

    # -- administration (as the superuser)

    def create_database(self, name: str, *, owner: str | None = None) -> str:
        """Create an empty database; the superuser's URL for it."""
        from psycopg import sql

        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if owner:
            query += sql.SQL(" OWNER {}").format(sql.Identifier(owner))
        self._admin([query])
        return self.url_for(SUPERUSER, password=self.password, database=name)

    def drop_database(self, name: str) -> None:
        """Drop a database if it exists, disconnecting its sessions."""
        from psycopg import sql

        self._admin(
            [sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))]
        )

    def create_role(
        self,
        name: str,
        *,
        login: bool = True,
        password: str | None = None,
        member_of: Iterable[str] = (),
    ) -> str:
        """Create a role (not a superuser), member of the roles `member_of`; its URL for
        database `flowtui`. A password is only checked with auth="scram-sha-256"."""
        from psycopg import sql

        query = sql.SQL("CREATE ROLE {} ").format(sql.Identifier(name))
        query += sql.SQL("LOGIN" if login else "NOLOGIN")
        if password is not None:
            query += sql.SQL(" PASSWORD {}").format(sql.Literal(password))
        grants = [
            sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(name))
            for group in member_of
        ]
        self._admin([query, *grants])
        return self.url_for(name, password=password)

    def _admin(self, statements: list[sql.Composed]) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            for statement in statements:
                conn.execute(statement)

    # -- life cycle

    def stop(self) -> None:
        """Stop the server (`pg_ctl stop -m fast`: sessions are disconnected) and wait for
        the postmaster to exit. Harmless when not running; the data stays (`restart`)."""
        process = self._process
        if process is None:
            return
        for mode in ("fast", "immediate"):
            self._pg(
                "pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "-t", str(_TIMEOUT), "stop"
            )
            if _gone(process, timeout=5):
                break
        else:
            with contextlib.suppress(psutil.Error):
                process.kill()
            _gone(process, timeout=5)
        self._process = None

    def restart(self) -> None:
        """Start the server again on the same data and port (stopping it first if running):
        for tests of clients that must survive a database restart."""
        self.stop()
        self._launch(self.port)

    def close(self) -> None:
        """Stop the server and remove the private temp folder it may have (root). Idempotent."""
        self.stop()
        _open_servers.discard(self)
        if self._relocated:
            link = self.folder / "data"
            if link.is_symlink():
                link.unlink()
            shutil.rmtree(self.home, ignore_errors=True)
            self._relocated = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals

    def _initdb(self, auth: Auth) -> None:
        args = ["-D", str(self.data_dir), "-A", auth, "-U", SUPERUSER]
        args += ["-E", "UTF8", "--locale=C", "--no-sync"]
        pwfile = None
        if self.password:
            fd, name = tempfile.mkstemp(prefix=".pwfile-", dir=self.home)
            pwfile = Path(name)
            with os.fdopen(fd, "w") as out:
                out.write(self.password + "\n")
            self._give(pwfile)
            args.append(f"--pwfile={pwfile}")
        try:
            result = self._pg("initdb", *args)
        finally:
            if pwfile:
                pwfile.unlink()
        if result.returncode != 0:
            raise LocalServerError(f"initdb failed:\n{result.stdout}{result.stderr}")

    def _launch(self, port: int | None) -> None:
        """pg_ctl start; with no `port`, retries on another free port if it was taken."""
        if not self.log_file.exists():
            self.log_file.touch(mode=0o600)
            self._give(self.log_file)
        for _attempt in range(5):
            self.port = port or _free_port()
            logged = self.log_file.stat().st_size
            options = f"-p {self.port} -k '' -c listen_addresses={HOST} {_SETTINGS}"
            result = self._pg(
                "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file),
                "-o", options, "-w", "-t", str(_TIMEOUT), "start",
            )  # fmt: skip
            if result.returncode == 0:
                break
            with self.log_file.open(errors="replace") as log:
                log.seek(logged)
                news = log.read()[-4000:]
            if port or "could not bind" not in news:
                raise LocalServerError(
                    f"pg_ctl start failed (port {self.port}, log {self.log_file}):\n"
                    f"{result.stdout}{result.stderr}{news}"
                )
        else:
            raise LocalServerError(f"no free port found for the server (log {self.log_file})")
        pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        self._process = psutil.Process(pid)

    def _pg(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run one of the server programs, as `os_user` when there is one, with an
        environment free of PG* settings (PGDATA, PGPORT, … would redirect them)."""
        argv = [str(self.bin_dir / program), *args]
        if self.os_user:
            argv = [_sbin_tool("runuser"), "-u", self.os_user, "--", *argv]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}
        return subprocess.run(
            argv, capture_output=True, text=True, env=env, cwd="/", timeout=_TIMEOUT + 30
        )

    def _give(self, path: Path) -> None:
        """Make `path` the server account's (as root)."""
        if self.os_user:
            account = pwd.getpwnam(self.os_user)
            os.chown(path, account.pw_uid, account.pw_gid)


def _prepare_home(folder: Path, os_user: str | None) -> tuple[Path, bool]:
    """(home, relocated): the folder that will hold data/ and postgres.log."""
    data = folder / "data"
    if data.is_symlink() or (data.exists() and (not data.is_dir() or any(data.iterdir()))):
        raise LocalServerError(f"{data} already exists: LocalServer.start needs a fresh folder")
    if os_user is None:
        return folder, False
    account = pwd.getpwnam(os_user)
    if _can_traverse(os_user, folder):
        data.mkdir(mode=0o700, exist_ok=True)
        os.chown(data, account.pw_uid, account.pw_gid)
        return folder, False
    home = Path(tempfile.mkdtemp(prefix="flowtui-pg-"))  # mode 700
    os.chown(home, account.pw_uid, account.pw_gid)
    if not _can_traverse(os_user, home):
        shutil.rmtree(home)
        raise LocalServerError(
            f"user {os_user} can reach neither {folder} nor {home.parent}: give a folder "
            "whose parents are all searchable by others (mode 711 or 755)"
        )
    data.symlink_to(home / "data")
    return home, True


def _can_traverse(os_user: str, folder: Path) -> bool:
    """Whether `os_user` may enter `folder`: asked of the kernel (ACLs included)."""
    result = subprocess.run(
        [_sbin_tool("runuser"), "-u", os_user, "--", "test", "-x", str(folder)],
        capture_output=True,
        cwd="/",
        timeout=30,
    )
    return result.returncode == 0


def _service_user() -> str:
    """SERVICE_USER, created as a system account (no home, no login shell) when missing."""
    try:
        return pwd.getpwnam(SERVICE_USER).pw_name
    except KeyError:
        pass
    useradd = [_sbin_tool("useradd"), "--system", "--no-create-home", "--user-group"]
    result = subprocess.run(
        [*useradd, "--shell", "/usr/sbin/nologin", SERVICE_USER], capture_output=True, text=True
    )
    try:  # created by us, or by a concurrent process (useradd then fails)
        return pwd.getpwnam(SERVICE_USER).pw_name
    except KeyError:
        raise LocalServerError(
            f"PostgreSQL refuses to run as root and user {SERVICE_USER} could not be created: "
            f"{result.stderr.strip()}"
        ) from None


def _sbin_tool(name: str) -> str:
    path = os.environ.get("PATH", "") + os.pathsep + _SBIN_PATH
    found = shutil.which(name, path=path)
    if not found:
        raise LocalServerError(f"`{name}` not found: needed to run PostgreSQL as {SERVICE_USER}")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _gone(process: psutil.Process, timeout: float) -> bool:
    """Wait until `process` has exited; a zombie counts as exited (the postmaster is
    re-parented to init, which may never reap it in a container)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if not process.is_running() or process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


@atexit.register
def _close_open_servers() -> None:
    for server in list(_open_servers):
        if server._owner_pid == os.getpid():  # not in a forked child
            with contextlib.suppress(Exception):
                server.close()


def main(argv: list[str] | None = None) -> int:
    """`python -m flowtui.store.pglocal [FOLDER]`: start a server (in a temp folder removed
    afterwards when no FOLDER is given), print its URL, stop it on Ctrl-C or SIGTERM."""
    args = sys.argv[1:] if argv is None else argv
    with contextlib.ExitStack() as stack:
        folder = Path(args[0]) if args else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        try:
            server = stack.enter_context(LocalServer.start(folder))
        except LocalServerError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        print(f"PostgreSQL {server.bin_dir} listening: {server.url}", flush=True)
        print("Ctrl-C stops it" + ("." if args else " and deletes it."), flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    return 0


if __name__ == "__main__":
    sys.exit(main())
