"""`flowtui dashboard --check-config`: every problem of the user's config file, in full.

The dashboard shows only a short note when its config file is wrong (the first problem and
how many there are); this prints each one at its `file:line` and exits 1, or says the file
is fine (or absent) and exits 0.  What makes the dashboard (and `flowtui web`) refuse to
start is among them: `folder_refusal` is the one check all three make.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowtui.tui.config import UserConfig


def folder_refusal(config: UserConfig) -> str | None:
    """Why the config file's `folder` cannot be the dashboard's folder, or None: the
    dashboard and `flowtui web` refuse to start on it when no folder is given."""
    if config.folder is None or config.folder.is_dir():
        return None
    return f"{config.folder} (folder in {config.path}) is not a folder"


def cmd_check_config(args: argparse.Namespace) -> int:
    from flowtui.tui.app import PANELS, FlowApp
    from flowtui.tui.config import checked, line_number, line_of, load_config
    from flowtui.tui.keys import binding_ids

    known = binding_ids(FlowApp.BINDINGS, *(widget.BINDINGS for _, widget in PANELS))
    config = checked(load_config(), known)
    details = list(config.details)
    path = config.path
    if path is not None and folder_refusal(config) is not None:
        line = line_of(path.read_text(encoding="utf-8"), "folder")
        what = f"{config.folder} is not a folder: the dashboard refuses to start without DIR"
        details.append(f"{path}:{line}: folder: {what}")
        details.sort(key=lambda problem: line_number(path, problem))
    for problem in details:
        print(problem)
    if details:
        return 1
    assert config.path is not None
    state = "fine" if config.path.exists() else "absent: the defaults are used"
    print(f"{config.path}: {state}")
    return 0
