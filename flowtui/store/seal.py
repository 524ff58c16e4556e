"""Seals on decisions: an approve, reject or cancel row a step could not have written.

`flowtui approve`, `reject`, `cancel` and the dashboard write a command row; the runner
that owns the run acts on it.  Each row carries an HMAC-SHA256 over what it says (run,
kind, step, who, comment, when, approval inputs) with a key kept beside the history file
(`<db>.key`, 0600).  Steps cannot read that key (the sandbox hides it with the history), so a row
written by anything else — a step that reached the database some other way, a hand-made
INSERT — has no valid seal, and the runner refuses it and says so in the run's log.

On PostgreSQL the database itself says who wrote a row (`session_user`, roles), so rows
there are not sealed.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_SUFFIX = ".key"


def key_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + KEY_SUFFIX)


def load_key(db_path: Path, *, create: bool = True) -> bytes | None:
    """The history's decision key; made (0600, atomically) the first time if `create`."""
    path = key_path(db_path)
    try:
        return _read(path)
    except FileNotFoundError:
        if not create:
            return None
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, secrets.token_hex(32).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process made it first: theirs is the key
    except FileExistsError:
        pass
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return _read(path)


def _read(path: Path) -> bytes:
    data = path.read_bytes().strip()
    if len(data) < 32:
        raise ValueError(f"{path}: the decision key is damaged (delete it to make a new one)")
    return data


def seal(
    key: bytes,
    run_id: int,
    kind: str,
    step: str | None,
    by: str,
    comment: str,
    created_at: float,
    *,
    inputs: str | None = None,
) -> str:
    fields = [str(run_id), kind, step or "", by, comment, repr(float(created_at))]
    if inputs:  # an approve's `--input` values (JSON) are part of what it says
        fields.append(inputs)
    message = "\0".join(fields)
    return hmac.new(key, message.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def verify(
    key: bytes | None,
    given: str,
    run_id: int,
    kind: str,
    step: str | None,
    by: str,
    comment: str,
    created_at: float,
    *,
    inputs: str | None = None,
) -> bool:
    """True when `given` is the seal of these fields under `key`."""
    if key is None or not given:
        return False
    expected = seal(key, run_id, kind, step, by, comment, created_at, inputs=inputs)
    return hmac.compare_digest(expected, given)
