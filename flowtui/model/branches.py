"""Branch filters (CircleCI's `branches: {only: [...], ignore: [...]}`) and how they match.

An entry is an exact branch name, or `/regex/` matched against the whole name
(`re.fullmatch`).  A filter passes a branch when it matches some `only` entry (or there is
no `only`) and no `ignore` entry.

When the branch is unknown (None) a filter cannot be checked, so flowtui stays on the safe
side: a filter with `only` does not pass (the step or trigger is for named branches only),
an `ignore`-only filter passes (nothing says the unknown branch is excluded).

A run for a git tag (`flowtui run --tag v1`) carries the ref `refs/tags/v1` where a branch
would be: a plain filter sees no branch, a CircleCI job's `JobFilter` applies its `tags`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

FILTER_KEYS = ("only", "ignore")
BranchFilter = Mapping[str, Sequence[str]]
TAG_PREFIX = "refs/tags/"


def tag_ref(tag: str) -> str:
    """The ref a run for git tag `tag` carries in place of a branch."""
    return TAG_PREFIX + tag


def tag_of(ref: str | None) -> str | None:
    """The tag a run's ref names, or None when it is a branch (or unknown)."""
    if ref is not None and ref.startswith(TAG_PREFIX):
        return ref[len(TAG_PREFIX) :]
    return None


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
    if isinstance(branch_filter, JobFilter):
        return not branch_filter.mismatch(branch)
    if not branch_filter:
        return True
    if tag_of(branch) is not None:
        branch = None
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
    if isinstance(branch_filter, JobFilter):
        return branch_filter.mismatch(branch)
    if branch_matches(branch_filter, branch) or branch_filter is None:
        return ""
    if tag_of(branch) is not None:
        branch = None
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


@dataclass(frozen=True, slots=True)
class JobFilter(Mapping[str, tuple[str, ...]]):
    """A CircleCI job's `filters:` (branches and tags), applied as CircleCI applies them.

    For a branch, `only`/`ignore` decide as in a plain filter (and `tags` play no part);
    an unknown branch is one that only a pattern such as `/.*/` matches.
    For a tag, only `tags` decide, and a job without `tags: only/ignore` does not run
    at all (CircleCI runs no job for a tag unless told to).  `unavailable` says why the
    job cannot run here whatever the ref (an orb job whose orb is not available): such a
    job is skipped with that reason.  As a mapping it shows its branch entries, so code
    that knows only plain filters reads it as one.
    """

    only: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    tags_only: tuple[str, ...] = ()
    tags_ignore: tuple[str, ...] = ()
    unavailable: str = ""

    def __getitem__(self, key: str) -> tuple[str, ...]:
        if key == "only":
            return self.only
        if key == "ignore":
            return self.ignore
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(FILTER_KEYS)

    def __len__(self) -> int:
        return len(FILTER_KEYS)

    @property
    def has_tags(self) -> bool:
        return bool(self.tags_only or self.tags_ignore)

    def mismatch(self, ref: str | None) -> str:
        """Why the job does not run for `ref` (a branch, a tag ref or None); "" if it runs."""
        if self.unavailable:
            return self.unavailable
        tag = tag_of(ref)
        if ref is None:
            # every CircleCI pipeline has a branch or a tag; an unknown one is taken as a
            # branch no name matches, though a pattern matching any name (`/.*/`) does
            only = not self.only or any(entry_matches(e, "") for e in self.only)
            hits = [e for e in self.ignore if entry_matches(e, "")]
            if only and not hits:
                return ""
            which = f"ignore: {_listed(hits)}" if only else f"only: {_listed(self.only)}"
            return f"no branch known (use --branch or --tag) and {which}"
        if tag is None:
            return describe_mismatch({"only": self.only, "ignore": self.ignore}, ref)
        if not self.has_tags:
            return f"tag {tag}: the job has no `tags` filter (CircleCI runs it for branches only)"
        if self.tags_only and not any(entry_matches(e, tag) for e in self.tags_only):
            return f"tag {tag} not in tags only: {_listed(self.tags_only)}"
        hits = [e for e in self.tags_ignore if entry_matches(e, tag)]
        return f"tag {tag} matches tags ignore: {_listed(hits)}" if hits else ""
