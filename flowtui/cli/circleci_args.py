"""What `run` and `validate` take for a CircleCI config: the git ref and pipeline values."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from flowtui.model.branches import tag_ref


def loader_parameters(params: Mapping[str, str], args: argparse.Namespace) -> dict[str, str]:
    """`-p` values, with `--branch`/`--tag` as the pipeline's git values for a CircleCI config.

    Raises ValueError when both are given: a run is for one git ref.
    """
    result = dict(params)
    branch, tag = getattr(args, "branch", None), getattr(args, "tag", None)
    if branch and tag:
        raise ValueError("give --branch or --tag, not both: a run is for one git ref")
    if branch:
        result.setdefault("pipeline.git.branch", branch)
    if tag:
        result.setdefault("pipeline.git.tag", tag)
    return result


def run_ref(args: argparse.Namespace) -> str | None:
    """The ref a run is for: `--branch B`, or `refs/tags/T` for `--tag T`, or None."""
    tag = getattr(args, "tag", None)
    return tag_ref(tag) if tag else getattr(args, "branch", None)


def orbs_dir(args: argparse.Namespace) -> Path | None:
    given = getattr(args, "orbs_dir", None)
    return Path(given) if given else None
