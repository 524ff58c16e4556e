"""flowtui/cli/gcpolicy.py: a flowtui process runs its command with the collector on and
its start-up heap frozen; a caller of `main(argv)` finds its collector on afterwards."""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
from pathlib import Path

import pytest

from flowtui.cli import commands
from flowtui.cli.main import main

PROBE = """
import atexit, gc, sys
from flowtui.cli import commands
from flowtui.cli.main import main

run = commands.cmd_run
def probed(args):
    print("during", gc.isenabled(), gc.get_freeze_count() > 0, flush=True)
    return run(args)
commands.cmd_run = probed
# `flowtui run` ends its process in main (flowtui/cli/quickexit.py), after atexit handlers
atexit.register(lambda: print("after", gc.isenabled(), flush=True))
sys.argv = ["flowtui", "run", sys.argv[1], "--quiet", "--db", sys.argv[2]]
raise SystemExit(main())
"""


def _flow(tmp_path: Path) -> Path:
    flow = tmp_path / "flow.yaml"
    flow.write_text("name: gc\nsandbox: false\nsteps:\n  only: {run: 'true'}\n")
    return flow


def test_the_flowtui_process_runs_its_command_collecting_with_the_start_frozen(
    tmp_path: Path,
) -> None:
    flow = _flow(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(flow), str(tmp_path / "h.db")],
        capture_output=True,
        text=True,
        check=True,
    )
    said = [line for line in done.stdout.splitlines() if line.startswith(("during", "after"))]
    assert said == ["during True True", "after True"], done.stdout + done.stderr


def test_a_caller_of_main_keeps_its_collector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = _flow(tmp_path)
    frozen = gc.get_freeze_count()
    seen: list[tuple[bool, int]] = []
    run = commands.cmd_run

    def probed(args: argparse.Namespace) -> int:
        seen.append((gc.isenabled(), gc.get_freeze_count()))
        return run(args)

    monkeypatch.setattr(commands, "cmd_run", probed)
    assert main(["run", str(flow), "--quiet", "--db", str(tmp_path / "h.db")]) == 0
    assert seen == [(True, frozen)]
    assert gc.isenabled()
