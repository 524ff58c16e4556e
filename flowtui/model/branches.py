"""Branch filters (CircleCI's `branches: {only: [...], ignore: [...]}`) and how they match.

An entry is an exact branch name, or `/regex/` matched against the whole name
(`re.fullmatch`).  A filter passes a branch when it matches some `only` entry (or there is
no `only`) and no `ignore` entry.

When the branch is unknown (None) a filter cannot be checked, so flowtui stays on the safe
side: a filter with `only` does not pass (the step or trigger is for named branches only),
an `ignore`-only filter passes (nothing says the unknown branch is excluded).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence

FILTER_KEYS = ("only", "ignore")
BranchFilter = Mapping[str, Sequence[str]]


def is_regex(entry: str) -> bool:
    return len(entry) >= 2 and entry.startswith("/") and entry.endswith("/")


def entry_error(entry: str) -> str | None:
    """Why `entry` is not a usable filter entry, or None."""
    if not entry:
        return "a branch filter entry must not be empty"
    if is_regex(entry):
        try:
            re.compile(entry[1:-1])
        except re.error as exc:
            return f"invalid regex {entry}: {exc}"
    return None


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None  # the loader rejects these; from elsewhere a broken entry matches nothing


def entry_matches(entry: str, branch: str) -> bool:
    if is_regex(entry):
        compiled = _compiled(entry[1:-1])
        return compiled is not None and compiled.fullmatch(branch) is not None
    return entry == branch


def _entries(branch_filter: BranchFilter, key: str) -> Sequence[str]:
    value = branch_filter.get(key) or ()
    return (value,) if isinstance(value, str) else value


def branch_matches(branch_filter: BranchFilter | None, branch: str | None) -> bool:
    """True when `branch` passes the filter; see the module docstring for a None branch."""
    if not branch_filter:
        return True
    only = _entries(branch_filter, "only")
    ignore = _entries(branch_filter, "ignore")
    if branch is None:
        return not only
    if only and not any(entry_matches(e, branch) for e in only):
        return False
    return not any(entry_matches(e, branch) for e in ignore)


def _listed(entries: Sequence[str]) -> str:
    return "[" + ", ".join(entries) + "]"


def describe_mismatch(branch_filter: BranchFilter | None, branch: str | None) -> str:
    """Why `branch` does not pass, e.g. "branch feature/x not in only: [main]"; "" if it does."""
    if branch_matches(branch_filter, branch) or branch_filter is None:
        return ""
    only = _entries(branch_filter, "only")
    ignore = _entries(branch_filter, "ignore")
    if branch is None:
        return f"no branch known (use --branch) and only: {_listed(only)}"
    if only and not any(entry_matches(e, branch) for e in only):
        return f"branch {branch} not in only: {_listed(only)}"
    hits = [e for e in ignore if entry_matches(e, branch)]
    return f"branch {branch} matches ignore: {_listed(hits)}"


def normalize_filter(value: object) -> dict[str, tuple[str, ...]] | None:
    """A filter as written (mapping, list or one name) in its canonical form; None if invalid.

    A bare string or list means `only`.  Entries are not checked here: see `entry_error`.
    """
    if isinstance(value, str):
        return {"only": (value,), "ignore": ()}
    if isinstance(value, list | tuple):
        if not all(isinstance(e, str) for e in value):
            return None
        return {"only": tuple(value), "ignore": ()}
    if isinstance(value, Mapping):
        if any(k not in FILTER_KEYS for k in value):
            return None
        result: dict[str, tuple[str, ...]] = {}
        for key in FILTER_KEYS:
            entries = value.get(key) or ()
            if isinstance(entries, str):
                entries = (entries,)
            if not isinstance(entries, list | tuple) or not all(
                isinstance(e, str) for e in entries
            ):
                return None
            result[key] = tuple(entries)
        return result
    return None
