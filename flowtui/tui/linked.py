"""A run to show as the dashboard opens: `flowtui dashboard --open-run N [--open-step S]`, which
`flowtui web` passes on from a link's `#run=N&step=S` (flowtui/cli/links.py writes them).

The run's workflow is highlighted in the list (`RefreshMixin.open_linked`), and the view takes
the run when the list says that workflow is highlighted (`take_linked`, in the list's handler):
the list's own first "highlighted" message, still queued when the link is looked up, would
otherwise reset the view to the first workflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass
class LinkedRun:
    run_id: int
    step: str | None = None
    path: Path | None = None  # the run's workflow file in the list, once found


class Linking(Protocol):
    linked: LinkedRun | None


def take_linked(app: Linking, path: Path | None) -> LinkedRun | None:
    """The linked run once its workflow (`path`) is highlighted; only once."""
    link = app.linked
    if link is None or link.path is None or path != link.path:
        return None
    app.linked = None
    return link


__all__ = ["LinkedRun", "Linking", "take_linked"]
