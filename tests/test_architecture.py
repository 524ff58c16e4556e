"""The engine must stay usable without the UI: importing it must not load Textual."""

from __future__ import annotations

import subprocess
import sys

CORE_MODULES = [
    "flowtui.model.loader",
    "flowtui.engine.runner",
    "flowtui.model.graph",
    "flowtui.store.runstore",
    "flowtui.store.sink",
    "flowtui.cli.main",
    "flowtui.cli.commands",
]


def test_core_modules_do_not_import_textual() -> None:
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in CORE_MODULES)
        + "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual',))\n"
        + "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"core modules imported: {out}"


def test_cli_start_does_not_import_heavy_modules() -> None:
    code = (
        "import sys\nimport flowtui.cli.main\n"
        "heavy = [m for m in ('textual', 'networkx', 'httpx', 'aiosqlite', 'rich') "
        "if m in sys.modules]\nprint(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""
