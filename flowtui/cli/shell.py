"""`flowtui shell RUN STEP`: a shell in a step's folder with its environment.

Interactive by default; `-c COMMAND` runs one command there and returns its exit status
(for scripts and tests).  See `flowtui.engine.stepshell` for what the environment holds.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys

from flowtui.engine.stepshell import StepShell


def cmd_shell(args: argparse.Namespace) -> int:
    shell = asyncio.run(_prepare(args))
    if args.command_text is None:
        print(shell.banner(), file=sys.stderr)
    try:
        done = subprocess.run(shell.argv(args.command_text), cwd=shell.cwd, env=shell.env)
    except OSError as exc:
        from flowtui.cli.commands import CliError

        raise CliError(f"cannot start {shell.argv()[0]}: {exc.strerror or exc}") from None
    return done.returncode


async def _prepare(args: argparse.Namespace) -> StepShell:
    from flowtui.cli.commands import CliError, open_store, resolve_run
    from flowtui.engine.stepshell import ShellError, prepare_shell

    store = await open_store(args)
    try:
        run = await resolve_run(store, args.run)
        try:
            return await prepare_shell(store, run.id, args.step, with_secrets=args.with_secrets)
        except ShellError as exc:
            raise CliError(str(exc)) from None
    finally:
        await store.close()
