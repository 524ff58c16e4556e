"""`flowtui dashboard --check-config`: every problem of the user's config file, in full.

The dashboard shows only a short note when its config file is wrong (the first problem and
how many there are); this prints each one at its `file:line` and exits 1, or says the file
is fine (or absent) and exits 0.
"""

from __future__ import annotations

import argparse


def cmd_check_config(args: argparse.Namespace) -> int:
    from flowtui.tui.app import PANELS, FlowApp
    from flowtui.tui.config import checked, load_config
    from flowtui.tui.keys import binding_ids

    known = binding_ids(FlowApp.BINDINGS, *(widget.BINDINGS for _, widget in PANELS))
    config = checked(load_config(), known)
    for problem in config.details:
        print(problem)
    if config.details:
        return 1
    assert config.path is not None
    state = "fine" if config.path.exists() else "absent: the defaults are used"
    print(f"{config.path}: {state}")
    return 0
