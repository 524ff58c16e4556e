"""Handing the terminal to a step's shell and taking it back (the dashboard's `s`)."""

from __future__ import annotations

import subprocess
import sys

from textual.app import App, SuspendNotSupported

from flowtui.engine.stepshell import StepShell


def run_shell(app: App[None], shell: StepShell) -> int | None:
    """Run `shell` in the terminal, the app suspended meanwhile; its exit status, or None
    (and a notice saying why) when it could not start."""
    argv = shell.argv()
    try:
        with app.suspend():
            print(shell.banner(), file=sys.stderr, flush=True)
            return subprocess.run(argv, cwd=shell.cwd, env=shell.env, check=False).returncode
    except SuspendNotSupported:
        # no terminal to hand over (headless): the shell runs with no input and ends
        return subprocess.run(
            argv, cwd=shell.cwd, env=shell.env, check=False, stdin=subprocess.DEVNULL
        ).returncode
    except OSError as exc:
        app.notify(f"cannot start {argv[0]}: {exc.strerror or exc}", severity="error")
        return None
