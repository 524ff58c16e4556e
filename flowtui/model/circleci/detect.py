"""Telling a CircleCI config from a flowtui file: the checks every load makes.

Kept apart from `config` (orbs, parameters, steps) so that loading a flowtui workflow file
does not import the CircleCI translator (issue #18: `flowtui run`'s start-up).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

# a rerun reloads the text its run recorded; this trailing comment says which workflow it was
MARKER = "# flowtui: circleci workflow "


def is_circleci_path(path: str | Path) -> bool:
    """`.../.circleci/config.yml` (or .yaml)."""
    p = Path(path)
    return p.parent.name == ".circleci" and p.name in ("config.yml", "config.yaml")


def looks_like_circleci(value: Any) -> bool:
    """A parsed document with CircleCI's top-level keys and none of flowtui's.

    `jobs` may be missing when `orbs` provide them (a setup or continuation config).
    """
    return (
        isinstance(value, Mapping)
        and all(k in value for k in ("version", "workflows"))
        and ("jobs" in value or "orbs" in value)
        and "steps" not in value
    )


def split_marker(text: str) -> tuple[str, str | None]:
    """(the config text, the workflow named by a trailing MARKER line or None)."""
    body = text.rstrip("\n")
    head, _, last = body.rpartition("\n")
    if last.startswith(MARKER):
        return head + "\n", last[len(MARKER) :].strip() or None
    return text, None
