"""The branch a config's checkout is on, read from git's files (no git process).

A workflow's `when: {equal: [main, << pipeline.git.branch >>]}` is decided when the config
is loaded, also by the dashboard and `validate`, which know no run's branch: they decide
it for the branch the project is checked out on, the one a run started here would get.
"""

from __future__ import annotations

from pathlib import Path

MAX_LEVELS = 64  # how far up a `.git` is looked for
MAX_HEAD_BYTES = 4096

_BRANCH_PREFIX = "ref: refs/heads/"


def _git_dir(folder: Path) -> Path | None:
    for level, candidate in enumerate((folder, *folder.parents)):
        if level > MAX_LEVELS:
            return None
        dot_git = candidate / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():  # a worktree or submodule: `gitdir: <path>`
            text = _read(dot_git)
            if text is not None and text.startswith("gitdir:"):
                return (candidate / text[len("gitdir:") :].strip()).resolve()
            return None
    return None


def _read(path: Path) -> str | None:
    try:
        with path.open("rb") as fh:
            return fh.read(MAX_HEAD_BYTES).decode("utf-8", "replace").strip()
    except OSError:
        return None


def checkout_branch(folder: Path) -> str | None:
    """The branch checked out in the repository holding `folder`; None when detached,
    outside a repository, or unreadable."""
    git_dir = _git_dir(folder)
    head = _read(git_dir / "HEAD") if git_dir is not None else None
    if head is None or not head.startswith(_BRANCH_PREFIX):
        return None
    return head[len(_BRANCH_PREFIX) :] or None
