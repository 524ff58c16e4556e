"""Arguments of the daily-use features: filters, part of a workflow, detach, new commands.

Kept apart from `main.build_parser` so each feature's options are read in one place.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from flowtui.cli import edit_args

WHEN = "a duration back from now (30m, 2h, 7d) or a date (2026-01-31, 2026-01-31T14:00)"


def add_run_part(parser: argparse.ArgumentParser) -> None:
    """`run --only/--skip/--detach`."""
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="STEP[,STEP]",
        help="run only these steps and the steps they require (repeatable)",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="STEP[,STEP]",
        help="leave these steps out; steps that require them still run (repeatable)",
    )
    parser.add_argument(
        "--detach",
        "-d",
        action="store_true",
        help="run in the background (survives the terminal), print the run id and return; "
        "follow it with `flowtui attach RUN`",
    )
    parser.add_argument(
        "--env",
        "-e",
        metavar="NAME",
        help="run in environment NAME (environments.yaml or `environments:`): its variables, "
        "secrets and protection apply, one run at a time per workflow and environment",
    )


def add_history_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--status",
        action="append",
        metavar="S[,S]",
        help="only runs with this status: succeeded, failed, running, held, queued, "
        "cancelled, interrupted (repeatable)",
    )
    parser.add_argument(
        "--workflow",
        "-w",
        dest="workflow_opt",
        metavar="NAME",
        help="only this workflow (as WORKFLOW)",
    )
    parser.add_argument("--branch", "-b", metavar="B", help="only runs for this git branch")
    parser.add_argument(
        "--trigger", metavar="T", help="only runs started this way: manual, cron, webhook, rerun…"
    )
    parser.add_argument("--since", metavar="WHEN", help=f"only runs created since WHEN: {WHEN}")
    parser.add_argument("--until", metavar="WHEN", help="only runs created before WHEN")
    parser.add_argument("--env", "-e", metavar="NAME", help="only runs in this environment")


def add_log_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tail", "-n", type=int, metavar="N", help="only the last N lines")
    parser.add_argument("--since", metavar="WHEN", help=f"only lines written since WHEN: {WHEN}")
    parser.add_argument(
        "--grep",
        "-g",
        metavar="PATTERN",
        help="only lines matching PATTERN (a regular expression; case-sensitive)",
    )


def add_show_insight(parser: argparse.ArgumentParser) -> None:
    """`show --compare/--timeline/--junit` (flowtui/cli/insight.py)."""
    parser.add_argument(
        "--compare",
        nargs="?",
        const="",
        metavar="OTHER",
        help="compare with run OTHER (default: the last successful run of the workflow "
        "before RUN): steps slower or faster, outputs changed",
    )
    parser.add_argument(
        "--timeline",
        action="store_true",
        help="print the execution timeline: offsets from the start, parallel starts, the total",
    )
    parser.add_argument(
        "--junit",
        metavar="FILE",
        help="write the run as JUnit XML to FILE ('-': standard output; one testcase a "
        "step); refused for a run that has not ended",
    )


def add_new_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    add_db: Callable[[argparse.ArgumentParser], None],
    add_dirs: Callable[[argparse.ArgumentParser], None],
) -> None:
    p = sub.add_parser(
        "attach", help="follow a run's live progress (Ctrl-C detaches, the run goes on)"
    )
    p.add_argument("run", help="run id, or 'last'")
    p.add_argument("--quiet", "-q", action="store_true", help="do not print step output")
    add_db(p)

    p = sub.add_parser(
        "completion",
        help="print a shell completion script",
        description="Print a script that completes flowtui's commands, options, workflow "
        "names, run ids and held steps. Load it from your shell's start-up file.",
    )
    p.add_argument("shell", choices=("bash", "zsh", "fish"), help="the shell it is for")

    p = sub.add_parser(
        "init",
        help="start a project: write workflows/ with a commented example",
        description="Write DIR/workflows/ with one small commented example (plan → approve → "
        "apply, run locally). Never overwrites a file.",
    )
    p.add_argument("dir", nargs="?", default=".", help="the project folder (default: here)")

    p = sub.add_parser(
        "graph",
        help="print a workflow's step graph (ASCII boxes, compact, or Mermaid)",
        description="Print the DAG of a workflow file, a workflow by name, or a run (with "
        "each step's state) as the dashboard draws it: boxes, or one line per step when the "
        "boxes do not fit the terminal.",
    )
    p.add_argument(
        "target",
        nargs="?",
        metavar="FILE|NAME|RUN",
        help="a workflow file or name, or a run: a number (42, #42) or `last` is a run "
        "unless a file of that name exists",
    )
    p.add_argument(
        "--workflow",
        metavar="NAME",
        help="the workflow named NAME, even when NAME looks like a run id (e.g. 2024)",
    )
    shape = p.add_mutually_exclusive_group()
    shape.add_argument(
        "--boxes", action="store_true", help="boxes even when wider than the terminal"
    )
    shape.add_argument("--compact", action="store_true", help="one line per step, by layer")
    shape.add_argument(
        "--mermaid", action="store_true", help="a Mermaid flowchart (for docs and pull requests)"
    )
    add_db(p)
    add_dirs(p)

    from flowtui.cli.tokens import add_token_parser

    add_token_parser(sub, add_db)
    edit_args.add_parser(sub)

    # hidden: what the completion scripts call for dynamic words (no help= keeps it unlisted)
    p = sub.add_parser("__complete")
    p.add_argument("kind", choices=("workflows", "runs", "held-runs", "held", "steps"))
    p.add_argument("run", nargs="?")
    add_db(p)
    add_dirs(p)

    p = sub.add_parser(
        "envs", help="environments: what is deployed where, by which run, approved by whom"
    )
    p.add_argument("workflow", nargs="?", help="only this workflow")
    p.add_argument("--json", action="store_true", help="the environments as a JSON array")
    add_db(p)
    add_dirs(p)

    p = sub.add_parser(
        "promote",
        help="run a workflow in one environment with the release another has",
        description="Run WORKFLOW in --to with the params of the newest successful run in "
        "--from (default: the target's `promote_from`); its steps see FLOWTUI_RELEASE.",
    )
    p.add_argument("workflow", help="a workflow file, or the name of one")
    p.add_argument("--to", required=True, metavar="ENV", help="the environment to deploy to")
    p.add_argument("--from", dest="source", metavar="ENV", help="where the release comes from")
    p.add_argument("--quiet", "-q", action="store_true", help="do not print step output")
    p.add_argument("--parallel", "-j", type=int, metavar="N", help="steps at once")
    p.add_argument("--kill-grace", type=float, default=5.0, metavar="S", help="(as run's)")
    p.add_argument("--json", action="store_true", help="JSON Lines events, as run --json")
    add_db(p)
    add_dirs(p)


# the module each new command lives in (imported only when it runs)
MODULES: dict[str, str] = {
    "attach": "flowtui.cli.attach",
    "completion": "flowtui.cli.completion",
    "__complete": "flowtui.cli.completion",
    "init": "flowtui.cli.init",
    "graph": "flowtui.cli.graph",
    "token": "flowtui.cli.tokens",
    "edit": "flowtui.cli.edit",
    "envs": "flowtui.cli.envs",
    "promote": "flowtui.cli.envs",
}


def count(text: str) -> int:
    """An argparse `type` for how many rows to show: a whole number, 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number is expected, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value
