"""The headless commands behind `flowtui COMMAND`.

Each `cmd_*` takes the parsed arguments and returns an exit status; errors a person can fix
are raised as CliError and printed as one line, never as a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

from flowtui.cli.circleci_args import loader_parameters, orbs_dir, run_ref
from flowtui.cli.console import (
    COLOURS,
    ConsoleReporter,
    Painter,
    gate_rules_lines,
    plural,
    render_summary,
    shown,
    step_duration,
    step_label,
    use_colour,
)
from flowtui.cli.detach import DetachError, announce_run_id, is_detached_child, start_detached
from flowtui.cli.hints import command, use_history
from flowtui.cli.pipegone import quiet_when_gone
from flowtui.cli.prompt import InlineApprover, can_prompt
from flowtui.cli.visible import same_filter, step_text
from flowtui.engine.identity import current_user
from flowtui.engine.records import LogRecord, RunRecord, StepRecord
from flowtui.engine.selection import left_out_steps
from flowtui.engine.states import RUN_ACTIVE, RunStatus, StepStatus
from flowtui.glyphs import attempts_note
from flowtui.model import circleci
from flowtui.model.approval import parse_assignments
from flowtui.model.circleci.checkout import checkout_branch
from flowtui.model.clashes import name_clash_problem, name_clashes
from flowtui.model.errors import WorkflowError
from flowtui.model.loader import (
    discover_workflows,
    load_workflow,
    resolve_workflow,
)
from flowtui.model.workflow import Workflow
from flowtui.store.db import StoreFullError
from flowtui.store.runstore import RunStore
from flowtui.timefmt import fmt_clock, fmt_duration

if TYPE_CHECKING:  # the engine is imported only by the commands that run something
    from flowtui.cli.jsonout import JsonReporter
    from flowtui.cli.progress import Footer
    from flowtui.engine.logcap import LogLimits
    from flowtui.engine.runner import RunHandle
    from flowtui.runtime import Runtime, RuntimeOptions

# flowtui/samples links to the top-level sample_workflows/ so a wheel carries them too.
BUNDLED_SAMPLES = Path(__file__).resolve().parent.parent / "samples"


_F = TypeVar("_F")


class CliError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# -- shared helpers --------------------------------------------------------------------
def search_dirs(args: argparse.Namespace) -> list[Path]:
    given = getattr(args, "dir", None)
    if given:
        return [Path(d) for d in given]
    env = os.environ.get("FLOWTUI_WORKFLOWS")
    if env:
        return [Path(d) for d in env.split(os.pathsep) if d]
    candidates = [Path("workflows"), Path("sample_workflows"), BUNDLED_SAMPLES]
    return [d for d in candidates if d.is_dir()]


def load_or_explain(path: Path) -> Workflow:
    try:
        return load_workflow(path)
    except WorkflowError as exc:
        raise CliError(f"{path} is not a valid workflow:\n{exc}") from None
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None


def find_workflow(ref: str, dirs: Sequence[Path]) -> Workflow:
    try:
        path = resolve_workflow(ref, dirs)
    except LookupError as exc:
        raise CliError(str(exc).strip("'\"")) from None
    return load_or_explain(path)


def parse_params(items: Sequence[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--param {item!r}: expected NAME=VALUE")
        params[key.strip()] = value
    return params


def _say_interrupted(interrupted: Sequence[int]) -> None:
    for run_id in interrupted:
        print(
            f"flowtui: run {run_id} was left by a runner that died: marked interrupted "
            f"(rerun it with: {command(f'rerun {run_id}')})",
            file=sys.stderr,
        )


def _cannot_open(exc: Exception, given: str | None = None) -> str:
    from flowtui.store.backends import describe_target

    step = os.environ.get("FLOWTUI_STEP")
    if step is None:
        where = describe_target(given)
        said = "" if where in str(exc) else f" {where}"  # name the file (a typo, /etc/passwd)
        return f"cannot open the history database{said}: {exc}"
    # a step is kept away from the history (flowtui/engine/sandbox.py)
    return (
        f"cannot open the history database from inside the step {step!r} ({exc}): steps "
        "cannot reach the history, so they cannot approve, cancel or run workflows through "
        "it; start another workflow with a `type: workflow` step instead"
    )


async def open_store(args: argparse.Namespace, *, read_only: bool = False) -> RunStore:
    """`read_only`: a command that only reads still works when the disk is full."""
    from flowtui.runtime import open_history

    given = getattr(args, "db", None)
    use_history(given)  # the hints printed from now on name it
    try:
        store, interrupted = await open_history(given, read_only=read_only)
    except StoreFullError as exc:
        raise CliError(str(exc)) from None
    except Exception as exc:
        raise CliError(_cannot_open(exc, given)) from None
    if store.read_only:
        print(
            f"flowtui: disk full: {store.location} is read only until there is space again",
            file=sys.stderr,
        )
    _say_interrupted(interrupted)
    return store


async def open_runtime(args: argparse.Namespace, options: RuntimeOptions) -> Runtime:
    """The engine for a command that runs something (`flowtui.runtime`)."""
    from flowtui.runtime import Runtime

    if options.parallel is not None and options.parallel < 1:
        raise CliError("--parallel must be at least 1")
    from flowtui.engine.sandbox import spawner_mode

    try:
        spawner_mode()
    except ValueError as exc:
        raise CliError(str(exc)) from None
    options.db = getattr(args, "db", None)
    use_history(options.db)  # the hints printed from now on name it
    try:
        runtime = await Runtime.open(options)
    except StoreFullError as exc:
        raise CliError(str(exc)) from None
    except Exception as exc:
        raise CliError(_cannot_open(exc, options.db)) from None
    _say_interrupted(runtime.interrupted)
    return runtime


async def resolve_run(store: RunStore, ref: str) -> RunRecord:
    if ref == "last":
        run_id = await store.latest_run_id()
        if run_id is None:
            raise CliError("no runs recorded yet")
    else:
        try:
            run_id = int(ref.lstrip("#"))
        except ValueError:
            raise CliError(f"{ref!r} is not a run id (a number, or 'last')") from None
    run = await store.get_run(run_id)
    if run is None:
        raise CliError(f"run {run_id} not found in {store.location}")
    return run


def _log_limits(args: argparse.Namespace) -> LogLimits:
    from flowtui.engine.logcap import LogLimits, parse_size

    limits = LogLimits.from_env()
    lines, size = getattr(args, "max_log_lines", None), getattr(args, "max_log_bytes", None)
    if lines is not None:
        if lines < 0:
            raise CliError("--max-log-lines must be 0 (no limit) or more")
        limits = LogLimits(lines, limits.max_bytes)
    if size is not None:
        try:
            limits = LogLimits(limits.max_lines, parse_size(size))
        except ValueError as exc:
            raise CliError(f"--max-log-bytes: {exc}") from None
    return limits


def _paint() -> Painter:
    return Painter(use_colour(sys.stdout))


def _checked(parse: Callable[[argparse.Namespace], _F], args: argparse.Namespace) -> _F:
    # the filters are imported by the commands that use them: `flowtui run` starts without
    from flowtui.cli.filters import FilterError

    try:
        return parse(args)
    except FilterError as exc:
        raise CliError(str(exc)) from None


# -- run / rerun -----------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    dirs = search_dirs(args)
    params = parse_params(args.param)
    workflow, notes = _workflow_to_run(args, dirs, params)
    for note in notes:
        print(f"flowtui: {note}", file=sys.stderr)
    try:
        left_out = left_out_steps(workflow, args.only, args.skip)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.detach and not is_detached_child():
        use_history(getattr(args, "db", None))
        return _detach()
    user = current_user()
    # what is loaded by now (the imports, the workflow) lives as long as the run: frozen,
    # the collector's full passes do not walk it again and again (a big run's steps make
    # hundreds of collections)
    gc.freeze()
    if not getattr(args, "dry_run", False):
        from flowtui.engine import mountns

        mountns.prefetch()  # the sandbox's one-off check, beside the history's opening

    async def start(runtime: Runtime) -> RunHandle:
        return await runtime.runner.submit(
            workflow,
            params=params,
            trigger="manual",
            # on a PostgreSQL history the database role (as approvals are recorded)
            triggered_by=await runtime.store.session_user() or user,
            branch=run_ref(args),
            left_out=left_out,
        )

    return asyncio.run(_execute(args, dirs, start, [*workflow.steps]))


def _detach() -> int:
    try:
        run_id, pid, log = start_detached(sys.argv[1:])
    except (DetachError, OSError) as exc:
        raise CliError(f"the background run did not start:\n{exc}") from None
    print(run_id)
    print(
        f"run {run_id} goes on in the background (pid {pid}; output in {log})\n"
        f"  follow it: {command(f'attach {run_id}')}   logs: {command(f'logs {run_id} -f')}",
        file=sys.stderr,
    )
    return 0


def _workflow_to_run(
    args: argparse.Namespace, dirs: Sequence[Path], params: dict[str, str]
) -> tuple[Workflow, tuple[circleci.Note, ...]]:
    """The workflow `flowtui run` starts, bound to `--env` when one is given."""
    workflow, notes = _chosen_workflow(args, dirs, params)
    from flowtui.model.environments import for_run

    try:  # its variables, secrets, approval gate and queue (the dashboard's `r` alike)
        return for_run(workflow, getattr(args, "env", None)), notes
    except LookupError as exc:
        raise CliError(str(exc).strip("'\"")) from None


def _chosen_workflow(
    args: argparse.Namespace, dirs: Sequence[Path], params: dict[str, str]
) -> tuple[Workflow, tuple[circleci.Note, ...]]:
    """The workflow `flowtui run` starts: the file's, or the CircleCI workflow chosen.

    A CircleCI config is loaded with the run's pipeline parameters, branch or tag and
    orbs: its `when:` may offer a workflow only with them, none with the defaults.
    """
    try:
        path = resolve_workflow(args.workflow, dirs)
    except LookupError as exc:
        raise CliError(str(exc).strip("'\"")) from None
    choice = getattr(args, "select_workflow", None)
    try:
        workflow: Workflow | None = load_workflow(path)
    except WorkflowError as exc:
        if not circleci.is_circleci_path(path):
            raise CliError(f"{path} is not a valid workflow:\n{exc}") from None
        workflow = None  # perhaps only with the defaults; loaded again below
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        if workflow is not None and not circleci.split_marker(workflow.source)[1]:
            if choice is None:  # a flowtui file (pick would load the CircleCI translator)
                return workflow, ()
            return circleci.pick(workflow, choice)  # which refuses the choice
        given = loader_parameters(params, args)
        branch = None if run_ref(args) else checkout_branch(path.resolve().parent)
        if branch:  # the branch the run gets: recorded, so a rerun decides `when:` alike
            given.setdefault("pipeline.git.branch", branch)
        config = circleci.load_config_file(path, given, orbs_dir(args))
        return config.select(choice, strict=True), config.notes
    except (LookupError, ValueError) as exc:
        raise CliError(str(exc).strip("'\"")) from None
    except WorkflowError as exc:
        raise CliError(f"{path} is not a valid workflow:\n{exc}") from None


def cmd_rerun(args: argparse.Namespace) -> int:
    from flowtui import control  # not at the top: `flowtui run` starts without it (#18)

    dirs = search_dirs(args)
    user = current_user()

    async def start(runtime: Runtime) -> RunHandle:
        run = await resolve_run(runtime.store, args.run)
        try:
            return await control.rerun(
                runtime.runner,
                run.id,
                from_failed=not args.from_start,
                from_step=args.from_step,
                by=await runtime.store.session_user() or user,
            )
        except control.NothingToRerun as exc:  # said with the command that reruns it
            raise CliError(exc.phrased(command(f"rerun {run.id} --from-start"))) from None

    return asyncio.run(_execute(args, dirs, start, []))


async def _execute(
    args: argparse.Namespace,
    dirs: Sequence[Path],
    start: Callable[[Runtime], Awaitable[RunHandle]],
    step_names: list[str],
) -> int:
    from flowtui.engine.runner import RunError
    from flowtui.runtime import RuntimeOptions, child_resolver
    from flowtui.store.db import StoreError

    options = RuntimeOptions(
        parallel=args.parallel,
        kill_grace=args.kill_grace,
        log_limits=_log_limits(args),
        resolve_workflow=child_resolver(dirs),
    )
    runtime = await open_runtime(args, options)
    store, runner = runtime.store, runtime.runner
    as_json = bool(getattr(args, "json", False))
    json_reporter: JsonReporter | None = None
    if as_json:
        from flowtui.cli.jsonout import JsonReporter

        json_reporter = JsonReporter(show_logs=not args.quiet)
    reporter = json_reporter or ConsoleReporter(show_logs=not args.quiet)
    # a person at the terminal may approve a hold right there (not in --json: for scripts)
    inline = (
        None
        if as_json or not can_prompt()
        else InlineApprover(store, await store.session_user() or current_user())
    )
    loop = asyncio.get_running_loop()
    footer = contextlib.AsyncExitStack()  # the live progress footer, on a terminal
    try:
        if not step_names and getattr(args, "run", None):
            with contextlib.suppress(CliError):
                parent = await resolve_run(store, args.run)
                step_names = [s.name for s in await store.get_steps(parent.id)]
        reporter.set_step_names(step_names)
        if inline is not None:  # first: a question withdrawn leaves the line before an event
            runtime.bus.add_listener(inline)
            footer.enter_context(inline.stderr_above())
        runtime.bus.add_listener(quiet_when_gone(reporter))  # `run … | head`: the run goes on
        shown = sys.stdout  # `visible` or raw (--raw), as the command was started
        live = await _live_footer(footer, store, args)
        # under a live footer, rich's stand-in that prints above it, filtered as before
        reporter.out = same_filter(shown, sys.stdout) if live is not None else sys.stdout
        if inline is not None:  # printed above its question while one waits
            reporter.out = inline.above(reporter.out)
        notifier = None
        if getattr(args, "notify", False) and not as_json:
            from flowtui.cli.notifying import RunNotifier

            notifier = RunNotifier()
            runtime.bus.add_listener(notifier)
        if inline is not None:
            if live is not None:
                inline.around = live.paused
            inline.start()
        try:
            handle = await start(runtime)
        except (RunError, StoreError) as exc:
            raise CliError(str(exc)) from None
        run_id = handle.run_id
        # the name column's width from the steps this run runs, before its first event
        # (the run's task has not started yet: no await since it was submitted)
        if (planned := runner.step_names(run_id)) is not None:
            reporter.set_step_names(planned)
            step_names = planned
        if live is not None:
            live.follow(run_id)
        if inline is not None:
            inline.follow(run_id)
        if notifier is not None:
            notifier.run_id = run_id
        announce_run_id(run_id)  # to `run --detach`, which started this process
        if (started := await store.get_run(run_id)) is not None:
            reporter.allowed_failures = started.allowed_failures
        if not step_names:
            steps = await store.get_steps(run_id)
            reporter.set_step_names([s.name for s in steps])
        interrupts = after_end = 0

        def on_signal(sig: signal.Signals) -> None:
            # the run is cancelled, never abandoned: a second signal also stops its
            # `always`/`on_failure` handlers (the runner's second cancel), and the run is
            # still recorded `cancelled` and the history closed before this process ends.
            # The third signal (or the second once the run has ended) is the way out when
            # that waits on something stuck (a history that does not answer)
            nonlocal interrupts, after_end
            ended = run_id not in runner.active_run_ids
            if interrupts + after_end >= 2 or (ended and after_end):
                quit_soon()
                return
            if ended:
                after_end += 1
                print(
                    "\nthe run has ended: closing the history (again to quit at once)",
                    file=sys.stderr,
                )
                return
            interrupts += 1
            if interrupts == 1:
                print(f"\ncancelling run ({_signal_note(sig)})", file=sys.stderr)
            else:
                print("\ncancelling clean-up steps too (again to quit at once)", file=sys.stderr)
            runner.cancel(run_id, by=current_user(), reason=_signal_reason(sig))

        def quit_soon() -> None:
            if quitting:
                return  # already on its way out

            async def flushed_then_quit() -> None:
                # what the history was told so far (the steps' process groups among it),
                # unless it does not answer at once; then the steps still going are killed
                # (a step ignoring SIGTERM would outlive this process)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(runtime.sink.flush(), QUIT_FLUSH_SECONDS)
                    await asyncio.wait_for(_kill_steps(store, run_id), QUIT_FLUSH_SECONDS)
                _quit_now(run_id)

            quitting.append(loop.create_task(flushed_then_quit()))

        quitting: list[asyncio.Task[None]] = []

        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, on_signal, sig)
        try:
            status = await handle.wait()
        except asyncio.CancelledError:
            status = RunStatus.CANCELLED
    except BaseException:
        # no summary follows (e.g. a draft refused): the store's thread must not keep the
        # process alive
        await runtime.close(by=current_user(), reason="flowtui run stopped")
        _remove_signal_handlers(loop)
        raise
    finally:
        await footer.aclose()
        if inline is not None:
            await inline.stop()
    # the signal handlers stay until the history is closed: a Ctrl-C (or SIGTERM) while
    # the summary is written only asks the ended run to cancel again, it never skips that
    try:
        await runtime.stop(by=current_user(), reason="flowtui run stopped")
        run = await store.get_run(run_id)
        steps = await store.get_steps(run_id)
        approvals = await store.get_approvals(run_id)
        if run is not None and json_reporter is not None:
            await json_reporter.summary(store, run_id)
        elif run is not None:
            print()
            print(render_summary(run, steps, approvals, _paint()))
            if notifier is not None:
                notifier.ended(run.workflow, run.id, str(run.status), run.message)
        sink = runtime.sink
        if sink.errors:
            print(
                f"flowtui: warning: {len(sink.errors)} history write error(s): {sink.errors[-1]}",
                file=sys.stderr,
            )
        if sink.lost_logs:
            print(
                f"flowtui: error: {sink.lost_logs:,} log lines of run {run_id} were not stored "
                f"(disk full: could not write log to {store.location})",
                file=sys.stderr,
            )
    finally:
        await runtime.close()
        _remove_signal_handlers(loop)
    return 0 if status == RunStatus.SUCCEEDED else 1


QUIT_FLUSH_SECONDS = 2.0  # the third Ctrl-C waits this long for the history at most


async def _kill_steps(store: RunStore, run_id: int) -> None:
    """SIGKILL the process groups of run `run_id`'s steps that still live (each checked
    to be the recorded process: a reused pid is a stranger's)."""
    from flowtui.engine.owner import kill_orphan_group

    for step in await store.get_steps(run_id):
        if step.pid is not None:
            await kill_orphan_group(step.pid, step.pgid, step.proc_started, grace=0.0)


def _quit_now(run_id: int) -> NoReturn:
    """The third Ctrl-C: leave without waiting for the run's end to be recorded.  The
    history stays whole (SQLite's journal, PostgreSQL's transactions); the run is marked
    interrupted by the next command that finds its runner gone, and its steps' process
    groups are stopped then (orphan recovery)."""
    print(
        f"\nquitting at once: run {run_id}'s steps are killed; its end may not be recorded "
        "(the next flowtui command then marks it interrupted)",
        file=sys.stderr,
    )
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(130)


def _remove_signal_handlers(loop: asyncio.AbstractEventLoop) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(sig)


def _signal_reason(sig: signal.Signals) -> str:
    """Why a run was cancelled, as the history keeps it."""
    if sig == signal.SIGINT:
        return "interrupted from the terminal"
    if _parent_is_timeout():
        return "timed out: the `timeout` command it runs under sent SIGTERM"
    return "stopped by SIGTERM (a `timeout` command or kill)"


def _signal_note(sig: signal.Signals) -> str:
    if sig == signal.SIGINT:
        return "press Ctrl-C again to stop its clean-up steps too"
    if _parent_is_timeout():
        return "timed out: SIGTERM from `timeout`"
    return "SIGTERM: a `timeout` command or kill"


def _parent_is_timeout() -> bool:
    """Whether this process runs under coreutils' `timeout` (Linux: /proc; else False)."""
    try:
        return Path(f"/proc/{os.getppid()}/comm").read_text().strip() == "timeout"
    except OSError:
        return False


async def _live_footer(
    stack: contextlib.AsyncExitStack, store: RunStore, args: argparse.Namespace
) -> Footer | None:
    if args.quiet or not sys.stdout.isatty():
        return None  # no footer: rich is not even imported (start-up time, issue #18)
    from flowtui.cli import progress  # rich's Live only where a terminal shows it

    if not progress.wants_live(args.quiet) or getattr(args, "json", False):
        return None
    return await stack.enter_async_context(progress.live_footer(store))


# -- list ------------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace) -> int:
    folders = [Path(args.folder)] if args.folder else search_dirs(args)[:1]
    if not folders:
        raise CliError("no workflow folder: give one, or create ./workflows")
    return asyncio.run(_list(args, folders[0]))


async def _list(args: argparse.Namespace, folder: Path) -> int:
    from flowtui.engine.admission import effective_status

    paint = _paint()
    store = await open_store(args, read_only=True)
    try:
        rows: list[tuple[str, ...]] = []
        loaded: list[tuple[Path, Workflow | Exception]] = []
        for path in discover_workflows(folder):
            try:
                loaded.append((path, load_workflow(path)))
            except (WorkflowError, OSError) as exc:
                loaded.append((path, exc))
        clashes = name_clashes((p, w) for p, w in loaded if isinstance(w, Workflow))
        for path, wf in loaded:
            if path in clashes and isinstance(wf, Workflow):
                wf = WorkflowError([name_clash_problem(path, wf.name, clashes[path])])
            if not isinstance(wf, Workflow):
                first = str(wf).splitlines()[0] if str(wf) else "unreadable"
                rows.append((path.name, paint("✗ invalid", "31"), "", "", first))
                continue
            status = await effective_status(store, wf)
            runs = await store.list_runs(wf.name, limit=1)
            last = "never run"
            if runs:
                r = runs[0]
                dur = fmt_duration(r.duration) if r.duration is not None else ""
                last = f"{paint(str(r.status), COLOURS.get(r.status, ''))} #{r.id} {dur}"
            triggers = ",".join(t.kind for t in wf.triggers)
            rows.append((wf.name, status, triggers, plural(len(wf.steps), "step"), last))
        _print_table(("WORKFLOW", "STATUS", "TRIGGERS", "STEPS", "LAST RUN"), rows)
    finally:
        await store.close()
    return 0


def _visible_len(text: str) -> int:
    import re

    return len(re.sub(r"\x1b\[[0-9;]*m|\x1b\]8;[^\x1b]*\x1b\\", "", text))  # colours, links


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], _visible_len(cell))
    for row in [tuple(header), *rows]:
        cells = [c + " " * (widths[i] - _visible_len(c)) for i, c in enumerate(row)]
        print("  ".join(cells).rstrip())


# -- history / show / logs -------------------------------------------------------------
def cmd_history(args: argparse.Namespace) -> int:
    return asyncio.run(_history(args))


async def _history(args: argparse.Namespace) -> int:
    from flowtui.cli.filters import filter_words, left_out_note, run_filter

    paint = _paint()
    filters = _checked(run_filter, args)
    store = await open_store(args, read_only=True)
    try:
        runs = await store.list_runs(limit=args.limit, before_id=args.before, filters=filters)
        if not runs:
            print("no runs" + (f" of {filters.workflow}" if filters.workflow else ""))
            return 0
        rows: list[tuple[str, ...]] = []
        for run in runs:
            approvals = await store.get_approvals(run.id)
            approved = ", ".join(sorted({a.by for a in approvals if a.approved}))
            dur = fmt_duration(run.duration) if run.duration is not None else "-"
            trigger = run.trigger + (f" ({run.triggered_by})" if run.triggered_by else "")
            if run.parent_run_id:
                trigger += f" of #{run.parent_run_id}"
            rows.append(
                (
                    paint.link(f"#{run.id}", run.id),
                    run.workflow,
                    paint.status(run.status),
                    fmt_clock(run.started_at or run.created_at),
                    dur,
                    trigger,
                    approved,
                    run.branch or "",
                    run.environment or "",
                    left_out_note(run),
                )
            )
        header: tuple[str, ...] = (
            "RUN",
            "WORKFLOW",
            "STATUS",
            "STARTED",
            "DURATION",
            "TRIGGER",
            "APPROVED BY",
            "BRANCH",
            "ENV",
            "LEFT OUT",
        )
        optional = ("BRANCH", "ENV", "LEFT OUT")  # shown when a run on the page has one
        keep = [i for i, h in enumerate(header) if h not in optional or any(r[i] for r in rows)]
        header, rows = tuple(header[i] for i in keep), [tuple(r[i] for i in keep) for r in rows]
        _print_table(header, rows)
        if len(runs) == args.limit:
            print(f"(older: {command(f'history {filter_words(args)}--before {runs[-1].id}')})")
    finally:
        await store.close()
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    return asyncio.run(_show(args))


async def _show(args: argparse.Namespace) -> int:
    from flowtui.cli.filters import left_out_note
    from flowtui.store.usual import step_pace

    paint = _paint()
    store = await open_store(args, read_only=True)
    try:
        run = await resolve_run(store, args.run)
        steps = await store.get_steps(run.id)
        approvals = await store.get_approvals(run.id)
        outputs = await store.get_outputs(run.id)
        omissions = await store.log_omissions(run.id)
        usual = await store.usual_durations(run.workflow, before_run=run.id)
        now = time.time()
        only = [_step_named(steps, args.step, run.id)] if args.step else None  # error first
        print(render_summary(run, steps, approvals, paint))
        if run.left_out:
            print(f"Left out: {left_out_note(run)}")
        if only is not None:
            steps = only
        decided = {a.step: a for a in approvals}
        if run.status == RunStatus.QUEUED:
            print(await _queued_line(store, run, now))
        else:
            print(f"Started: {fmt_clock(run.started_at)}   Ended: {fmt_clock(run.ended_at)}")
        if run.branch or run.concurrency_group:
            parts = [f"Branch: {run.branch}"] if run.branch else []
            if run.concurrency_group:
                parts.append(f"Concurrency group: {run.concurrency_group}")
            print("   ".join(parts))
        if run.environment:
            print(f"Environment: {run.environment}")
        if run.params:
            print("Params: " + ", ".join(f"{k}={v}" for k, v in run.params.items()))
        for step in steps:
            print()
            dur = step_duration(step)
            timing = f"  {fmt_duration(dur)}" if dur is not None else ""
            code = f"  exit {step.exit_code}" if step.exit_code is not None else ""
            status_now = shown(step, run)
            # a retried success says its attempts in its label ("succeeded (2 attempts)")
            retried = step.attempt > 1 and not attempts_note(status_now, step.attempt)
            attempts = f"  attempt {step.attempt}" if retried else ""
            status = paint.status(status_now, step_label(step, decided, run))
            print(paint(f"── {step.name}", "1") + f"  {status}{timing}{code}{attempts}")
            if step.reused_from is None and (note := step_pace(step, usual.get(step.name), now)):
                print(f"   {paint(note, '36' if note.startswith('faster') else '33')}")
            # the gate's rules while it can still be decided: under a decided gate "self-
            # approval not allowed" read as a refusal of the approval shown below it
            if step.type == "approval" and status_now in ("held", "pending"):
                print(*gate_rules_lines(run, step.name), sep="\n", end="")
            for a in approvals:
                if a.step == step.name:
                    verb = "approved" if a.approved else "rejected"
                    note = f": {a.comment}" if a.comment else ""
                    given = ", ".join(f"{k}={v}" for k, v in a.inputs.items())
                    given = f"  ({given})" if given else ""
                    print(f"   {verb} by {a.by} at {fmt_clock(a.at)}{note}{given}")
            for key, value in outputs.get(step.name, {}).items():
                print(f"   {key} = {value}")
            for marker in omissions.get(step.name, []):
                print(f"   log: {marker.strip('… ')} (log cap; see --max-log-lines)")
            if args.lines > 0:
                logs = await store.tail_logs(run.id, step.name, limit=args.lines)
                for log in logs:
                    bar = paint("│", "31" if log.stream == "stderr" else "2")
                    print(f"   {bar} {_shown_line(log)}")
    finally:
        await store.close()
    return 0


def _shown_line(log: LogRecord) -> str:
    """A stored line as `logs`/`show` print it: a step's through `step_text` (a progress
    bar's last text), flowtui's own system lines whole."""
    return log.line if log.stream == "system" else step_text(log.line)


async def _queued_line(store: RunStore, run: RunRecord, now: float) -> str:
    """`Queued: 10:02:11 (3m ago); waits for #41 (held), then #42 (queued) of workflow
    deploy`: a queued run has no start time, and what it waits for is what a user asks.
    Its turn comes in order within its concurrency group, else within its workflow
    (RunStore.try_start_run)."""
    line = f"Queued: {fmt_clock(run.created_at)} ({fmt_duration(now - run.created_at)} ago)"
    group = run.concurrency_group
    if group:
        active = await store.list_runs(statuses=RUN_ACTIVE, limit=500)
        scope = f"concurrency group {group}"
    else:
        active = await store.list_runs(run.workflow, statuses=RUN_ACTIVE, limit=500)
        scope = f"workflow {run.workflow}"
    mates = sorted(
        (r for r in active if r.id != run.id and (not group or r.concurrency_group == group)),
        key=lambda r: r.id,
    )
    # running or held runs hold the turn; queued ones before this run go first
    holding = [r for r in mates if r.status != RunStatus.QUEUED]
    before = [r for r in mates if r.status == RunStatus.QUEUED and r.id < run.id]
    waits = [f"#{r.id} ({r.status})" for r in (*holding, *before)]
    if not waits:
        return f"{line}; next in {scope}"
    return f"{line}; waits for {', then '.join(waits)} of {scope}"


def _step_named(steps: Sequence[StepRecord], name: str, run_id: int) -> StepRecord:
    for step in steps:
        if step.name == name:
            return step
    names = ", ".join(sorted(s.name for s in steps))
    raise CliError(f"run {run_id} has no step {name!r}; steps: {names}")


LOGS_NAME_WIDTH = 40  # `flowtui logs`: a longer step name pushes its own lines only


def cmd_logs(args: argparse.Namespace) -> int:
    return asyncio.run(_logs(args))


async def _logs(args: argparse.Namespace) -> int:
    from flowtui.cli.filters import log_filter

    paint = _paint()
    filters = _checked(log_filter, args)
    store = await open_store(args, read_only=True)
    try:
        run = await resolve_run(store, args.run)
        steps = await store.get_steps(run.id)
        if args.step:
            _step_named(steps, args.step, run.id)
        # the name column as wide as the run's longest step name (at most LOGS_NAME_WIDTH)
        width = min(max([len(s.name) for s in steps] + [1]), LOGS_NAME_WIDTH)
        after = 0
        first: list[LogRecord] = []
        if args.tail is not None:  # the last N lines, then (with -f) what follows them
            first = await store.tail_logs(run.id, args.step, limit=args.tail, filters=filters)
            after = first[-1].id if first else 0  # none match yet: any later one is new
        while True:
            batch = first or await store.get_logs(
                run.id, args.step, after_id=after, limit=5000, filters=filters
            )
            first = []
            for log in batch:
                name = log.step or "-"
                link = paint.link(name, run.id, log.step) if log.step else name
                prefix = "" if args.step else link + " " * max(width + 1 - len(name), 1)
                bar = paint("│", "31" if log.stream == "stderr" else "2")
                print(f"{prefix}{bar} {_shown_line(log)}")
                after = log.id
            if batch:
                sys.stdout.flush()
                continue
            if not args.follow:
                break
            current = await store.get_run(run.id)
            if current is None or current.status.is_final:
                tail = await store.get_logs(
                    run.id, args.step, after_id=after, limit=1, filters=filters
                )
                if not tail:
                    break
                continue
            await asyncio.sleep(0.2)
    finally:
        await store.close()
    return 0


# -- approve / reject / cancel ---------------------------------------------------------
def cmd_approve(args: argparse.Namespace) -> int:
    return asyncio.run(_decide(args, approve=True))


def cmd_reject(args: argparse.Namespace) -> int:
    return asyncio.run(_decide(args, approve=False))


async def _decide(args: argparse.Namespace, *, approve: bool) -> int:
    from flowtui import control

    store = await open_store(args)
    try:
        try:
            user = await control.acting_user(store, args.as_user)
        except PermissionError as exc:
            raise CliError(str(exc)) from None
        run = await resolve_run(store, args.run)
        try:
            given = parse_assignments(getattr(args, "input", []))
            held = await control.check_decision(
                store, run.id, args.step, user, approve=approve, inputs=given
            )
        except (ValueError, control.ControlError) as exc:
            raise CliError(str(exc)) from None
        run, step = held.run, held.step
        command_id = await control.decide(store, held, approve=approve, comment=args.comment)
        if not await control.wait_taken(store, command_id, args.wait):
            raise CliError(
                f"recorded, but the runner of run {run.id} (pid {run.owner_pid} on "
                f"{run.owner_host}) has not taken it yet; it will when it next polls"
            )
        # the runner publishes the outcome; wait briefly for it to be stored
        if await control.wait_decided(store, held, 2.0) == StepStatus.HELD:
            so_far = await control.approvals_so_far(store, held)
            if user not in so_far:
                raise CliError(f"the runner did not accept the decision on {step.name} (see logs)")
            need = (await control.describe_gate(store, held)).rules.required_approvals
            print(
                f"approved {step.name} of run {run.id} as {user}: {len(so_far)} of {need} "
                "approvals; it waits for the others"
            )
            return 0
        done = "approved" if approve else "rejected"
        print(f"{done} {step.name} of run {run.id} ({run.workflow}) as {user}")
    finally:
        await store.close()
    return 0


def cmd_pause(args: argparse.Namespace) -> int:
    return asyncio.run(_set_paused(args, paused=True))


def cmd_resume(args: argparse.Namespace) -> int:
    return asyncio.run(_set_paused(args, paused=False))


async def _set_paused(args: argparse.Namespace, *, paused: bool) -> int:
    from flowtui import control

    workflow = find_workflow(args.workflow, search_dirs(args))
    store = await open_store(args)
    try:
        was = await control.set_paused(store, workflow.name, paused)
    finally:
        await store.close()
    verb = "paused" if paused else "resumed"
    already = " (it already was)" if was == paused else ""
    effect = (
        "its triggers are ignored; `flowtui run` still works"
        if paused
        else "its triggers start runs again"
    )
    print(f"{verb} {workflow.name}{already}: {effect}")
    if workflow.status != "active":
        print(
            f"note: {workflow.path or workflow.name} says `status: {workflow.status}`, so its "
            "triggers stay off until that says `active`",
            file=sys.stderr,
        )
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    return asyncio.run(_cancel(args))


async def _cancel(args: argparse.Namespace) -> int:
    from flowtui import control

    store = await open_store(args)
    try:
        run = await resolve_run(store, args.run)
        try:
            outcome = await control.cancel(store, run.id, await control.acting_user(store))
        except control.ControlError as exc:
            raise CliError(str(exc)) from None
        if outcome == control.CancelOutcome.ORPHAN:
            print(f"run {run.id} ({run.workflow}): cancelled (its runner had died)")
            return 0
        final = await control.wait_final(store, run.id, args.wait)
        if final is None:
            raise CliError(
                f"asked run {run.id} to cancel; it has not stopped within {args.wait:g}s"
            )
        print(f"run {run.id} ({run.workflow}): {final.status}")
        return 0
    finally:
        await store.close()


# -- dashboard -------------------------------------------------------------------------
def dashboard_folder(given: str | None) -> Path:
    if given:
        folder = Path(given)
        if not folder.is_dir():
            raise CliError(f"{given} is not a folder")
        return folder
    for candidate in (Path("workflows"), Path("sample_workflows"), BUNDLED_SAMPLES):
        if candidate.is_dir():
            return candidate
    raise CliError("no workflow folder: give one (flowtui dashboard DIR) or create ./workflows")


def check_theme(theme: str | None) -> None:
    """A `--theme` no theme has: an error before the dashboard starts (with the names)."""
    if theme:
        from flowtui.tui.config import known_themes, unknown_theme

        if theme not in (names := known_themes()):
            raise CliError(f"--theme: {unknown_theme(theme, names)}")


def cmd_dashboard(args: argparse.Namespace) -> int:
    from flowtui.cli.checkconfig import folder_refusal
    from flowtui.tui.config import load_config

    # the config file's folder and theme apply when none is given here; what it gets wrong
    # is shown in the dashboard, which starts with the defaults for it
    config = load_config()
    given = args.folder or (str(config.folder) if config.folder else None)
    if not args.folder and (refusal := folder_refusal(config)):  # as --check-config says
        raise CliError(refusal)
    folder = dashboard_folder(given)
    check_theme(args.theme)
    # `flowtui web` starts it under textual-serve, whose driver writes to a pipe
    in_browser = os.environ.get("TEXTUAL_DRIVER", "").endswith(":WebDriver")
    if not sys.stdout.isatty() and not in_browser:
        raise CliError("the dashboard needs a terminal; use the other commands in scripts")
    from flowtui.tui.app import FlowApp
    from flowtui.tui.linked import LinkedRun

    open_run, open_step = getattr(args, "open_run", None), getattr(args, "open_step", None)
    if open_step and open_run is None:
        raise CliError("--open-step needs --open-run (the run the step is of)")
    app = FlowApp(
        folder,
        db_path=args.db,
        theme=args.theme,
        config=config,
        parallel=args.parallel,
        bell=args.bell,
        notify=getattr(args, "notify", False),
        triggers=getattr(args, "triggers", True),
        webhook_port=getattr(args, "webhook_port", None),
        open_run=None if open_run is None else LinkedRun(open_run, open_step),
    )
    app.run()
    return app.return_code or 0  # 1 when it could not open its history (it said why)
