"""`flowtui run --dry-run` and `flowtui rerun --dry-run`: print the plan, start nothing.

The plan is the one the runner follows (`flowtui.engine.plan`), so what is printed here is
what a real run or rerun would do with the same arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from collections.abc import Sequence

from flowtui.cli.circleci_args import run_ref
from flowtui.cli.console import Painter, use_colour
from flowtui.engine.plan import Action, PlannedStep

# the same colours as the statuses the steps would end with
_LOOK = {Action.RUN: ("run", "1;34"), Action.REUSE: ("reuse", "36"), Action.SKIP: ("skip", "2")}


def render_plan(title: str, plan: Sequence[PlannedStep], paint: Painter) -> str:
    """`title` with the counts, then one line per step: action, name, why."""
    counts = Counter(p.action for p in plan)
    summary = ", ".join(
        f"{counts[a]} {word}"
        for a, word in ((Action.RUN, "to run"), (Action.REUSE, "reused"), (Action.SKIP, "skipped"))
        if counts[a]
    )
    width = max((len(p.name) for p in plan), default=0)
    lines = [f"{title}: {summary or 'no steps'}"]
    for planned in plan:
        word, colour = _LOOK[planned.action]
        reason = f"  {planned.reason}" if planned.reason else ""
        lines.append(f"  {paint(f'{word:<5}', colour)}  {planned.name:<{width}}{reason}".rstrip())
    lines.append("nothing started (--dry-run)")
    return "\n".join(lines)


def cmd_run_dry(args: argparse.Namespace) -> int:
    """`flowtui run --dry-run`: the plan of `flowtui run` with these arguments."""
    from flowtui.cli.commands import CliError, _workflow_to_run, parse_params, search_dirs
    from flowtui.engine.admission import draft_refusal
    from flowtui.engine.plan import plan_run
    from flowtui.engine.runner import RunError, resolve_params, run_branch

    params = parse_params(args.param)
    workflow, notes = _workflow_to_run(args, search_dirs(args), params)
    for note in notes:
        print(f"flowtui: {note}", file=sys.stderr)
    refusal = draft_refusal(workflow)
    if refusal is not None:
        raise CliError(refusal)
    try:
        resolved = resolve_params(workflow, params)
    except RunError as exc:
        raise CliError(str(exc)) from None
    branch = asyncio.run(run_branch(workflow, resolved, run_ref(args)))
    title = f"plan for a run of {workflow.name}" + (f" (branch {branch})" if branch else "")
    print(render_plan(title, plan_run(workflow, branch), Painter(use_colour(sys.stdout))))
    return 0


def cmd_rerun_dry(args: argparse.Namespace) -> int:
    """`flowtui rerun --dry-run`: the plan of `flowtui rerun` with these arguments."""
    return asyncio.run(_dry_rerun(args))


async def _dry_rerun(args: argparse.Namespace) -> int:
    from flowtui import control
    from flowtui.cli.commands import CliError, open_store, resolve_run
    from flowtui.cli.hints import command
    from flowtui.engine.runner import RunError

    store = await open_store(args)
    try:
        run = await resolve_run(store, args.run)
        try:
            run, plan = await control.preview_rerun(
                store, run.id, from_failed=not args.from_start, from_step=args.from_step
            )
        except control.NothingToRerun as exc:  # said with the command that reruns it
            raise CliError(exc.phrased(command(f"rerun {run.id} --from-start"))) from None
        except (RunError, control.ControlError) as exc:
            raise CliError(str(exc)) from None
    finally:
        await store.close()
    mode = (
        f"from {args.from_step}"
        if args.from_step
        else "from the start"
        if args.from_start
        else "from the failed steps"
    )
    title = f"plan for a rerun of run {run.id} ({run.workflow}) {mode}"
    print(render_plan(title, plan, Painter(use_colour(sys.stdout))))
    return 0
