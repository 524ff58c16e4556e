"""What a process flowtui starts for user code must not inherit from flowtui's own
environment: where the history is and how to log in to it (`FLOWTUI_DB`, libpq's connection
variables), whether `--as` is trusted, the webhook secret.

One list for every such process: a step (engine/stepenv.py) and the child that evaluates a
Python workflow file (model/pyworkflow.py).  With them, user code could write events for
any run or decide its own approval gate.
"""

from __future__ import annotations

from collections.abc import Mapping

# libpq's connection settings (https://www.postgresql.org/docs/current/libpq-envars.html)
LIBPQ = frozenset(
    {
        "PGHOST",
        "PGHOSTADDR",
        "PGPORT",
        "PGDATABASE",
        "PGUSER",
        "PGPASSWORD",
        "PGPASSFILE",
        "PGSERVICE",
        "PGSERVICEFILE",
        "PGOPTIONS",
        "PGAPPNAME",
        "PGSSLMODE",
        "PGSSLCERT",
        "PGSSLKEY",
        "PGSSLROOTCERT",
        "PGSSLCRL",
        "PGSSLPASSWORD",
        "PGREQUIRESSL",
        "PGKRBSRVNAME",
        "PGGSSLIB",
        "PGCONNECT_TIMEOUT",
        "PGTARGETSESSIONATTRS",
        "PGCHANNELBINDING",
    }
)
FLOWTUI_PRIVATE = frozenset({"FLOWTUI_DB", "FLOWTUI_TRUST_AS", "FLOWTUI_WEBHOOK_SECRET"})
NOT_INHERITED = LIBPQ | FLOWTUI_PRIVATE


def without_private(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` without what user code must not have."""
    return {k: v for k, v in environ.items() if k not in NOT_INHERITED}


__all__ = ["FLOWTUI_PRIVATE", "LIBPQ", "NOT_INHERITED", "without_private"]
