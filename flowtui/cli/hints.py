"""Command lines the CLI prints for a person to type next (`flowtui approve 2 approve`).

A hint must work as typed, also in another terminal that has no `$FLOWTUI_DB`: when this
process uses a history other than the default one (`--db`, or `$FLOWTUI_DB`), every hint
names it with `--db` (a SQLite path made absolute, a PostgreSQL URL without its password,
as the store's messages show it: `redact`).  The CLI says which history it opened where it
opens it (`commands.open_store`, `open_runtime`), so the reporters that print hints need
not be told.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

_db_words = ""  # " --db …" for the history this process opened; "" for the default one


def use_history(given: str | Path | None) -> None:
    """The history this process uses is `given` (`--db`; None: $FLOWTUI_DB, else the
    default): the hints printed from now on name it."""
    global _db_words
    _db_words = db_words(given)


def db_words(given: str | Path | None) -> str:
    """` --db TARGET` naming the history `given` (else $FLOWTUI_DB) names; "" when neither
    is set (the default history needs no words), or when it names nothing valid (opening
    it says why)."""
    raw = given if given is not None and str(given) != "" else os.environ.get("FLOWTUI_DB")
    if not raw:
        return ""
    from flowtui.store.backends import resolve_target
    from flowtui.store.db import StoreError

    try:
        target = resolve_target(raw)
    except StoreError:
        return ""
    if isinstance(target, Path):
        shown = str(target.absolute())
    else:  # a PostgreSQL URL: only then the driver's module (a SQLite run starts without it)
        from flowtui.store.pg import redact

        shown = redact(target)
    return f" --db {shlex.quote(shown)}"


def command(words: str) -> str:
    """`flowtui WORDS`, with `--db` when the history is not the default one."""
    return f"flowtui {words}{_db_words}"
