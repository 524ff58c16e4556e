"""Evaluating Python workflow files away from the history, as steps are.

A `.py` workflow file is user code: imported by `flowtui.model.pyeval` in a child process,
it must not reach the history (write a decision, a status) any more than a step may.  Once
a runner knows what to hide (`runtime.build_runner`), `install` has every later evaluation
started like a step's process: under bubblewrap, or with Landlock, hiding the same paths
(the workflow's own folder stays writable).  Without a runner (`flowtui validate`, `list`)
the child runs as the person who asked, like `python FILE`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from flowtui.engine.sandbox import StepSandbox
from flowtui.model import pyworkflow


def install(hidden: Sequence[Path]) -> None:
    """Start every later Python workflow evaluation in this process sandboxed."""
    paths = tuple(hidden)
    if not paths:
        return

    @contextlib.contextmanager
    def setup(
        argv: list[str], cwd: Path, env: dict[str, str]
    ) -> Iterator[tuple[list[str], Callable[[], None] | None]]:
        sandbox = StepSandbox(paths, cwd)
        with sandbox.spawn_hook() as restrict:
            yield sandbox.command(argv, cwd, env), restrict

    pyworkflow.use_sandbox(setup)


__all__ = ["install"]
