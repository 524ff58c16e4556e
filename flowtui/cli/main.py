"""`flowtui` command line: argument parsing and dispatch.

Kept light on imports: the headless commands must start fast, so the engine, the store and
(later) Textual are imported inside the command that needs them.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys
from collections.abc import Sequence

from flowtui.cli import gcpolicy, oneparser, options, quickexit
from flowtui.cli.examples import attach_examples, closest
from flowtui.cli.visible import visible_stdout

EPILOG = """\
examples:
  flowtui run sample_workflows/production-deploy.yaml
  flowtui run multi-region-deploy --param version=1.2.3
  flowtui validate sample_workflows/
  flowtui history production-deploy
  flowtui approve 42 approve --comment "plan looks right"
  flowtui approve 42 --input version=1.4.2
  flowtui inbox
  flowtui history --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["status"])'
  flowtui rerun 42 --from-failed
  flowtui rerun 42 --from deploy --dry-run
  flowtui pause scheduled-backup
"""


# their output carries text from steps: control characters in it are shown, not obeyed
VISIBLE_COMMANDS = frozenset({"run", "rerun", "logs", "show", "history", "list"})


def _add_raw(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--raw",
        action="store_true",
        help="print step output byte for byte (escape sequences included); by default "
        "control characters are shown as symbols (␛, ␍), and colours are removed where "
        "stdout is not a terminal",
    )


def _add_limit(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--limit",
        "-n",
        type=options.count,
        default=20,
        metavar="N",
        help=f"at most N {what}, N ≥ 1 (default 20)",
    )


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="PATH|URL",
        help="the history: a SQLite file or a postgresql://USER@HOST:PORT/DB URL "
        "(default: $FLOWTUI_DB, else flowtui.db in the data dir)",
    )


def _add_dirs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir",
        action="append",
        metavar="DIR",
        help="where to look up workflows by name (repeatable; default: ./workflows, "
        "./sample_workflows, the bundled samples)",
    )


def _add_orbs_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--orbs-dir",
        metavar="DIR",
        help="saved CircleCI orb sources, DIR/NAMESPACE/NAME.yml (default: .circleci/orbs "
        "next to the config)",
    )


def _add_log_limits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-log-lines",
        type=int,
        metavar="N",
        help="lines of each step's log kept in the history: the first and last N/2 "
        "(default: $FLOWTUI_MAX_LOG_LINES or 100000; 0: no limit)",
    )
    parser.add_argument(
        "--max-log-bytes",
        metavar="SIZE",
        help="the same in bytes, e.g. 32M (default: $FLOWTUI_MAX_LOG_BYTES or 32M; 0: no limit)",
    )


# the read commands whose `--json` form lives in flowtui/cli/jsonread.py (docs/json.md)
JSON_READERS = ("history", "show", "list", "triggers", "inbox")


def _add_json(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} (docs/json.md)")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """`only`: build that command's parser alone (flowtui/cli/oneparser.py); all of them
    when it is None or not a command."""
    parser = argparse.ArgumentParser(
        prog="flowtui",
        description="Run and watch DAG workflows from the terminal.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.register("action", "parsers", functools.partial(oneparser.OneCommand, only=only))
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    # `flowtui --db h.db run x`: its own dest, since a command's --db default would hide it
    parser.add_argument(
        "--db", dest="global_db", metavar="PATH|URL", help="the history, for any command"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("dashboard", help="open the dashboard (the default command)")
    p.add_argument(
        "folder",
        nargs="?",
        help="folder of workflow files (default: the config file's folder, else "
        "./workflows, else ./sample_workflows, else the bundled samples)",
    )
    p.add_argument("--theme", help="flowtui-dark, flowtui-light, flowtui-high-contrast, ...")
    p.add_argument("--parallel", "-j", type=int, metavar="N", help="steps at once (default: CPUs)")
    p.add_argument(
        "--bell", action="store_true", help="ring the terminal bell on approvals and finished runs"
    )
    p.add_argument(
        "--notify",
        action="store_true",
        help="a desktop notification through the terminal instead (OSC 9/777, else the bell; "
        "docs/notifications.md)",
    )
    p.add_argument(
        "--no-triggers",
        dest="triggers",
        action="store_false",
        help="do not fire cron, git and chained triggers while the dashboard is open",
    )
    p.add_argument(
        "--webhook-port",
        type=int,
        metavar="N",
        help="also serve signed webhooks on 127.0.0.1:N (like `flowtui serve`)",
    )
    p.add_argument(
        "--check-config",
        action="store_true",
        help="print every problem of the config file (config.toml) and exit",
    )
    p.add_argument("--open-run", type=int, metavar="RUN", help="open with run RUN shown")
    p.add_argument("--open-step", metavar="STEP", help="... and its step STEP's log")
    _add_db(p)

    p = sub.add_parser("run", help="run a workflow and print its progress")
    p.add_argument("workflow", help="a workflow file, or the name of one")
    p.add_argument(
        "--param", "-p", action="append", default=[], metavar="K=V", help="a run parameter"
    )
    p.add_argument("--parallel", "-j", type=int, metavar="N", help="steps at once (default: CPUs)")
    p.add_argument("--quiet", "-q", action="store_true", help="do not print step output")
    p.add_argument(
        "--notify",
        action="store_true",
        help="a desktop notification through the terminal when a step is held and when the "
        "run ends (OSC 9/777, else the bell; docs/notifications.md)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print what would run or be skipped; start nothing"
    )
    p.add_argument(
        "--branch",
        "-b",
        metavar="B",
        help="the git branch this run is for, checked by `branches:` filters (default: the "
        "`branch` param, else the branch the workflow file is checked out on)",
    )
    p.add_argument(
        "--tag",
        metavar="T",
        help="the run is for git tag T (no branch): CircleCI jobs run only if their "
        "`filters: tags:` let T through",
    )
    _add_orbs_dir(p)
    p.add_argument(
        "--workflow",
        "-w",
        dest="select_workflow",
        metavar="NAME",
        help="which workflow of a CircleCI config to run (needed when it has several)",
    )
    p.add_argument(
        "--kill-grace",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds a cancelled step gets between SIGINT, SIGTERM and SIGKILL (default 5)",
    )
    _add_log_limits(p)
    _add_raw(p)
    options.add_run_part(p)
    _add_json(p, "JSON Lines events as they happen, the run's summary last")
    _add_db(p)
    _add_dirs(p)

    p = sub.add_parser("validate", help="check workflow files; exit 1 on any error")
    p.add_argument(
        "paths", nargs="+", metavar="FILE|DIR", help="workflow files, or folders of them"
    )
    p.add_argument(
        "--json", action="store_true", help="print the graphs and problems as JSON (docs/json.md)"
    )
    p.add_argument("--branch", "-b", metavar="B", help="decide CircleCI `when:` for branch B")
    p.add_argument("--tag", metavar="T", help="decide CircleCI `when:` for git tag T")
    p.add_argument(
        "--param", "-p", action="append", default=[], metavar="K=V", help="a pipeline parameter"
    )
    _add_orbs_dir(p)

    p = sub.add_parser("list", help="list workflows with their last run")
    p.add_argument("folder", nargs="?", help="folder of workflow files")
    _add_json(p, "the workflows as a JSON array")
    _add_db(p)

    p = sub.add_parser("history", help="runs, newest first")
    p.add_argument("workflow", nargs="?", help="only this workflow")
    _add_limit(p, "runs")
    p.add_argument("--before", type=int, metavar="RUN", help="runs older than this id (paging)")
    options.add_history_filters(p)
    _add_json(p, "the runs as a JSON array")
    _add_db(p)

    p = sub.add_parser("show", help="a run's steps, timings, outputs and log tails")
    p.add_argument("run", help="run id, or 'last'")
    p.add_argument("--lines", type=int, default=5, help="log lines per step (default 5)")
    _add_raw(p)
    p.add_argument("--step", "-s", metavar="STEP", help="only this step")
    _add_json(p, "the run and its steps as JSON")
    options.add_show_insight(p)
    _add_db(p)

    p = sub.add_parser("logs", help="print a run's logs")
    p.add_argument("run", help="run id, or 'last'")
    p.add_argument("step", nargs="?", help="only this step's log (default: every step's)")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing until the run ends")
    _add_raw(p)
    options.add_log_filters(p)
    _add_db(p)

    for verb in ("approve", "reject"):
        p = sub.add_parser(verb, help=f"{verb} a held approval step")
        p.add_argument("run", help="run id, or 'last'")
        p.add_argument(
            "step", nargs="?", help="the held step (may be left out when only one is held)"
        )
        p.add_argument(
            "--comment", "-m", default="", help="why: kept with the decision, shown with it"
        )
        if verb == "approve":
            p.add_argument(
                "--input",
                "-i",
                action="append",
                default=[],
                metavar="NAME=VALUE",
                help="an answer to one of the step's `inputs:` (repeatable)",
            )
        p.add_argument("--as", dest="as_user", metavar="USER", help="act as USER (if trusted)")
        p.add_argument("--wait", type=float, default=5.0, help=argparse.SUPPRESS)
        _add_db(p)

    p = sub.add_parser("rerun", help="rerun a finished run in this terminal")
    p.add_argument("run", help="run id, or 'last'")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--from-failed", action="store_true", help="reuse succeeded steps (default)")
    mode.add_argument("--from-start", action="store_true", help="run every step again")
    mode.add_argument(
        "--from",
        dest="from_step",
        metavar="STEP",
        help="run STEP and every step depending on it again; reuse the others",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print what would run or be reused; start nothing"
    )
    p.add_argument("--parallel", "-j", type=int, metavar="N", help="steps at once (default: CPUs)")
    p.add_argument("--quiet", "-q", action="store_true", help="do not print step output")
    _add_raw(p)
    p.add_argument("--kill-grace", type=float, default=5.0, help=argparse.SUPPRESS)
    _add_log_limits(p)
    _add_db(p)
    _add_dirs(p)

    p = sub.add_parser(
        "shell", help="open $SHELL in a step's folder with its environment (to debug it)"
    )
    p.add_argument("run", help="run id, or 'last'")
    p.add_argument("step", help="the step (a matrix copy by its full name)")
    p.add_argument("-c", dest="command_text", metavar="COMMAND", help="run COMMAND there instead")
    p.add_argument(
        "--with-secrets", action="store_true", help="give the step's secrets too (never logged)"
    )
    _add_db(p)

    for verb, what in (("pause", "ignore its triggers"), ("resume", "let triggers start it")):
        p = sub.add_parser(verb, help=f"{verb} a workflow: {what} (manual runs still allowed)")
        p.add_argument("workflow", help="a workflow file, or the name of one")
        _add_db(p)
        _add_dirs(p)

    p = sub.add_parser("cancel", help="cancel a queued or running run")
    p.add_argument("run", help="run id, or 'last'")
    p.add_argument("--wait", type=float, default=15.0, help="seconds to wait for it to stop")
    _add_db(p)

    p = sub.add_parser(
        "serve",
        help="run the folder's triggers (cron, webhook, git, workflow, incident) as a service",
        description="Run a folder's triggers headless until SIGINT/SIGTERM (docs/triggers.md). "
        "Webhooks need a secret: $FLOWTUI_WEBHOOK_SECRET or the trigger's `secret_env:`. "
        "The same port serves the REST API (/api/v1, docs/api.md) and /metrics "
        "(docs/metrics.md), both with tokens from `flowtui token create`.",
    )
    p.add_argument("folder", nargs="?", help="folder of workflow files (default: ./workflows)")
    p.add_argument("--host", default="127.0.0.1", help="webhook address (default 127.0.0.1)")
    p.add_argument(
        "--port", type=int, default=8765, help="webhook port (default 8765; 0: any free port)"
    )
    p.add_argument("--no-webhooks", action="store_true", help="do not start the HTTP server")
    p.add_argument("--parallel", "-j", type=int, metavar="N", help="steps at once (default: CPUs)")
    _add_db(p)

    p = sub.add_parser(
        "worker",
        help="run the `runs_on:` steps of some queues on this machine (team mode)",
        description="Take jobs of the given queues from a PostgreSQL history and run their "
        "steps here until SIGINT/SIGTERM (docs/team.md).",
    )
    p.add_argument(
        "--queue", "-Q", action="append", required=True, metavar="QUEUE", help="repeatable"
    )
    p.add_argument("--name", help="this worker's name (default: HOST-PID); steps see it")
    p.add_argument(
        "--workdir", default="flowtui-work", help="where run workspaces go (default ./flowtui-work)"
    )
    p.add_argument("--concurrency", "-c", type=int, default=1, help="steps at once (default 1)")
    _add_db(p)

    p = sub.add_parser(
        "db", help="history databases: a local PostgreSQL to try team mode, copying histories"
    )
    dbsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    q = dbsub.add_parser(
        "local",
        help="run a throw-away PostgreSQL on 127.0.0.1 and print its URL (Ctrl-C stops it)",
    )
    q.add_argument("folder", nargs="?", help="keep its data here (default: a temp folder)")
    q.add_argument("--port", type=int, help="default: any free port")
    q = dbsub.add_parser(
        "copy",
        help="copy a whole history into a new, empty one (SQLite and PostgreSQL, any direction)",
        description="Copy every run, step, log line, approval, event and trigger record of SRC "
        "into DST, ids unchanged. DST must be empty; it is written in one transaction, so a "
        "failure leaves it as it was. SRC and DST are what --db takes: a file path, "
        "sqlite:///PATH or postgresql://USER@HOST:PORT/DB.",
    )
    q.add_argument("src", metavar="SRC", help="the history to copy from")
    q.add_argument("dst", metavar="DST", help="the new, empty history to copy into")

    p = sub.add_parser("triggers", help="what triggers did lately (fired, ignored, rejected)")
    p.add_argument("workflow", nargs="?", help="only this workflow")
    _add_limit(p, "events")
    _add_json(p, "the trigger events as a JSON array")
    _add_db(p)

    p = sub.add_parser("inbox", help="every step waiting for approval, in every active run")
    _add_json(p, "the held steps as a JSON array")
    _add_db(p)
    options.add_new_commands(sub, _add_db, _add_dirs)
    from flowtui.cli.web import add_web_parser

    add_web_parser(sub)
    attach_examples(sub)
    if only is not None and not (isinstance(sub, oneparser.OneCommand) and sub.built()):
        return build_parser()
    return parser


def _dashboard_by_default(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """`flowtui DIR` and `flowtui --db X` open the dashboard: no command named means it."""
    if not argv or any(a in ("-h", "--help", "--version") for a in argv):
        return argv
    commands: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            commands.update(action.choices)
    if commands & set(argv):
        return argv
    words = [a for i, a in enumerate(argv) if a[:1] != "-" and argv[max(i - 1, 0)] != "--db"]
    if words and not os.path.exists(words[0]) and (near := closest(words[0], commands)):
        parser.error(f"unknown command {words[0]!r}; did you mean {near!r}?")
    return ["dashboard", *argv]


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:  # this process is flowtui (not a caller of main): see gcpolicy
        gcpolicy.starting()
    given = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(only=oneparser.command_word(given))
    line = _dashboard_by_default(parser, given)
    args, extra = parser.parse_known_args(line)
    if extra:  # said with the usage of the parser they were given to (flowtui's, run's...)
        from flowtui.cli.argerrors import reject_unknown

        reject_unknown(parser, args, line, extra, implied=line != given)
    if args.version:
        from flowtui import __version__

        print(f"flowtui {__version__}")
        return 0
    if args.command is None:
        args = parser.parse_args(["dashboard", *(argv or [])])
    if args.global_db and not getattr(args, "db", None):
        args.db = args.global_db
    from flowtui.cli import commands

    handler = getattr(commands, f"cmd_{args.command}", None)
    if args.command in ("serve", "triggers"):
        from flowtui.cli import serve

        handler = getattr(serve, f"cmd_{args.command}")
    elif args.command == "worker":
        from flowtui.cli.worker import cmd_worker

        handler = cmd_worker
    elif args.command == "validate":
        from flowtui.cli.validate import cmd_validate

        handler = cmd_validate
    elif args.command in ("run", "rerun") and args.dry_run:
        from flowtui.cli import plan

        handler = getattr(plan, f"cmd_{args.command}_dry")
    elif args.command == "shell":
        from flowtui.cli.shell import cmd_shell

        handler = cmd_shell
    elif args.command == "web":
        from flowtui.cli.web import cmd_web

        handler = cmd_web
    elif args.command == "dashboard" and args.check_config:
        from flowtui.cli.checkconfig import cmd_check_config

        handler = cmd_check_config
    elif args.command == "db":
        from flowtui.cli.db import cmd_db

        handler = cmd_db
    elif args.command in options.MODULES:  # attach, completion, init, __complete
        module = importlib.import_module(options.MODULES[args.command])
        handler = getattr(module, f"cmd_{args.command.strip('_')}")
    if args.command in JSON_READERS and args.json:
        from flowtui.cli import jsonread

        handler = getattr(jsonread, f"cmd_{args.command}")
    elif args.command == "inbox":
        from flowtui.cli.inbox import cmd_inbox

        handler = cmd_inbox
    if args.command == "show" and (args.compare is not None or args.timeline or args.junit):
        from flowtui.cli.insight import cmd_show_insight

        handler = cmd_show_insight
    if handler is None:
        parser.error(f"unknown command {args.command}")
    if argv is None:
        gcpolicy.started()
    try:
        shown = args.command in VISIBLE_COMMANDS and not getattr(args, "raw", False)
        with visible_stdout(shown):
            code = int(handler(args) or 0)
        if argv is None and args.command in quickexit.COMMANDS:
            return quickexit.leave(code)  # returns only when the usual exit has work left
        return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except commands.CliError as exc:
        print(f"flowtui: error: {exc}", file=sys.stderr)
        return exc.code
    except BrokenPipeError:
        # `flowtui show 3 | head`: the reader left; stop quietly, as other Unix tools do
        from flowtui.cli.pipegone import stdout_to_devnull

        stdout_to_devnull()
        return 141


if __name__ == "__main__":
    raise SystemExit(main())
