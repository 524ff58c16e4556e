"""The dashboard's run actions — run, approve/reject, rerun, cancel, pause — thin over the
control surface (`flowtui.control`), which the CLI calls too.

Each action is `reported`: a store that fails under it (locked, vanished, full) becomes an
error toast, never a closed dashboard.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable
from typing import Concatenate, ParamSpec, TypeVar

from textual.widgets.data_table import RowDoesNotExist

from flowtui import control
from flowtui.engine.records import RunRecord
from flowtui.engine.runner import RunError, Runner
from flowtui.engine.states import StepStatus
from flowtui.engine.stepshell import ShellError, prepare_shell
from flowtui.model.catalog import CatalogEntry
from flowtui.model.environments import (
    UnknownEnvironment,
    choice_label,
    for_run,
    unknown_environment,
)
from flowtui.model.workflow import Workflow
from flowtui.store.compare import compare_runs, last_green_before
from flowtui.tui.refresh import RefreshMixin, ViewState
from flowtui.tui.screens.approval import ApprovalScreen, Verdict
from flowtui.tui.screens.compare import CompareScreen
from flowtui.tui.screens.dialogs import ConfirmScreen, ParamsScreen, RunRequest
from flowtui.tui.screens.inbox import InboxScreen
from flowtui.tui.screens.rerun_preview import RerunPreviewScreen
from flowtui.tui.shell import run_shell
from flowtui.tui.widgets.workflow_list import WorkflowList

P = ParamSpec("P")
S = TypeVar("S", bound="RefreshMixin")


def reported(
    action: Callable[Concatenate[S, P], Awaitable[None]],
) -> Callable[Concatenate[S, P], Awaitable[None]]:
    """Turn an exception of `action` into an error toast (the dashboard keeps going)."""

    @functools.wraps(action)
    async def guarded(self: S, *args: P.args, **kwargs: P.kwargs) -> None:
        try:
            await action(self, *args, **kwargs)
        except Exception as exc:
            name = action.__name__.removeprefix("action_").replace("_", " ").strip()
            self.notify(f"{type(exc).__name__}: {exc}", title=f"{name} failed", severity="error")

    return guarded


def writes(
    what: str,
) -> Callable[
    [Callable[Concatenate[S, P], Awaitable[None]]], Callable[Concatenate[S, P], Awaitable[None]]
]:
    """An action that writes (to the history or the workflow folder): on a history opened
    read only, because its disk was full, it says why it cannot `what` instead."""

    def wrap(
        action: Callable[Concatenate[S, P], Awaitable[None]],
    ) -> Callable[Concatenate[S, P], Awaitable[None]]:
        @functools.wraps(action)
        async def guarded(self: S, *args: P.args, **kwargs: P.kwargs) -> None:
            store = self.read_only_history
            if store is None:
                await action(self, *args, **kwargs)
                return
            self.notify(
                f"disk full: {store.location} is read only until there is space again",
                title=f"cannot {what}",
                severity="warning",
            )

        return guarded

    return wrap


class ActionsMixin(RefreshMixin):
    """`r`, `a`/`x`, `i` (the inbox), `f`/`F`, `R`, `c` and `p`."""

    _quit_question: ConfirmScreen | None = None  # `q`'s question, while it is open
    last_held: tuple[int, str] | None = None  # (run, step) the last approval toast named

    @property
    def local_runner(self) -> Runner:
        assert self.runtime is not None, "the dashboard's engine is not started yet"
        return self.runtime.runner

    @reported
    async def action_run(self) -> None:
        await self.run_entry(self.selected_entry)

    @writes("run")
    async def run_entry(self, entry: CatalogEntry | None, environment: str | None = None) -> None:
        """Run `entry`'s workflow: asks for its params and, when it has environments, which
        one to run in (`environment`, given by `:run NAME --env X`, is chosen at first)."""
        if entry is None or entry.workflow is None:
            self.notify("select a workflow that loads", severity="warning")
            return
        workflow = entry.workflow
        if workflow.status == "draft":
            self.notify(
                f"{workflow.name} is a draft: set `status: active` to run it", severity="warning"
            )
            return
        if environment is not None and environment not in workflow.environments:
            self.notify(unknown_environment(workflow, environment), severity="error")
            return
        if workflow.params or (workflow.environments and environment is None):
            fields = {
                name: (spec.default or "", spec.required, spec.description)
                for name, spec in workflow.params.items()
            }
            choices = [(n, choice_label(env)) for n, env in workflow.environments.items()]

            @reported
            async def chosen(self: ActionsMixin, request: RunRequest | None) -> None:
                if request is not None:
                    await self._start_run(workflow, request.params, request.environment)

            dialog = ParamsScreen(workflow.name, fields, choices, environment=environment)
            self.push_screen(dialog, functools.partial(chosen, self))
            return
        await self._start_run(workflow, {}, environment)

    async def _start_run(
        self, workflow: Workflow, params: dict[str, str], environment: str | None = None
    ) -> None:
        try:  # bound as `flowtui run --env` binds it
            bound = for_run(workflow, environment)
            handle = await self.local_runner.submit(
                bound,
                params=params,
                trigger="manual",
                triggered_by=await control.acting_user(self.history),
            )
        except (RunError, UnknownEnvironment) as exc:
            self.notify(str(exc).strip("'\""), title="cannot run", severity="error")
            return
        self._pin(handle.run_id, workflow.name)
        where = f" in {environment}" if environment else ""
        self.notify(f"started {workflow.name} run {handle.run_id}{where}")
        self._show_soon()  # its first steps are starting: keys stay answered meanwhile

    def _pin(self, run_id: int, workflow: str) -> None:
        """Show run `run_id` of `workflow`: under its own workflow, the list's cursor moved
        there (`:run NAME`, `:rerun RUN` of another workflow than the highlighted one)."""
        entry = self.catalog.by_name(workflow)
        selected = self.selected_entry
        if entry is not None and (selected is None or selected.path != entry.path):
            table = self.query_one(WorkflowList)
            if str(entry.path) not in {key.value for key in table.rows}:
                self.action_clear_filter()  # filtered out: the whole list again
            self.view = ViewState(path=entry.path, run_id=run_id, pinned=True)
            with contextlib.suppress(RowDoesNotExist):  # not listed yet: the view shows it
                table.move_cursor(row=table.get_row_index(str(entry.path)), animate=False)
            return
        self.view.run_id = run_id
        self.view.pinned = True
        self.view.chosen = False
        self.view.step = None

    async def _current_run(self, run_id: int | None = None) -> RunRecord | None:
        """Run `run_id` (`:` commands), else the shown run; None (and says why) if none."""
        if run_id is not None:
            run = await self.history.get_run(run_id)
            if run is None:
                self.notify(f"no run #{run_id} in the history", severity="warning")
            return run
        if self.store is None or self.view.run_id is None:
            self.notify(
                "no run shown: select a workflow that has run, or press r", severity="warning"
            )
            return None
        return await self.history.get_run(self.view.run_id)

    @reported
    async def action_compare(self) -> None:
        """The shown run against the last successful run of its workflow before it."""
        run = await self._current_run()
        if run is None:
            return
        other = await last_green_before(self.history, run)
        if other is None:
            self.notify(
                f"no successful run of {run.workflow} before #{run.id} to compare with",
                severity="warning",
            )
            return
        self.push_screen(CompareScreen(await compare_runs(self.history, run, other)))

    @reported
    async def action_approve(self) -> None:
        await self._decide(approve=True)

    @reported
    async def action_reject(self) -> None:
        await self._decide(approve=False)

    @writes("approve or reject")
    async def _decide(
        self, *, approve: bool, run_id: int | None = None, step: str | None = None
    ) -> None:
        run = await self._current_run(run_id)
        if run is None:
            return
        store = self.history
        user = await control.acting_user(store)
        verb = "approve" if approve else "reject"
        # the step focused in the DAG when it is held, else the run's only held step
        steps = await store.get_steps(run.id)
        held_names = {s.name for s in steps if s.status == StepStatus.HELD}
        if run_id is None and not held_names and (toast := await self._toast_held()):
            # nothing of the shown run waits (an older run, looked at on purpose): the
            # keys act on the step the last "waits for approval (a / x)" toast named
            run, step = toast
            held_names = {step}
        wanted = (
            step
            if step is not None
            else (
                self.view.step
                if self.view.step in held_names and run.id == self.view.run_id
                else None
            )
        )
        try:
            # the inputs are asked next, in the dialog: here only who may decide
            held = await control.check_decision(store, run.id, wanted, user, approve=approve)
        except control.SeveralHeld as exc:
            self.notify(f"{exc} in the DAG", severity="warning")
            return
        except control.NotAnApprover as exc:
            self.notify(str(exc), severity="error")
            return
        except control.DecisionError as exc:
            self.notify(str(exc), severity="warning")
            return

        @reported
        async def send(self: ActionsMixin, verdict: Verdict | None) -> None:
            if verdict is None:
                return
            decision = held
            if approve:  # the answers, checked again as `flowtui approve --input` would be
                try:
                    decision = await control.check_decision(
                        self.history, run.id, held.name, user, inputs=verdict.inputs
                    )
                except control.DecisionError as exc:
                    self.notify(str(exc), title="not approved", severity="error")
                    return
            await control.decide(self.history, decision, approve=approve, comment=verdict.comment)
            self.notify(f"{'approved' if approve else 'rejected'} {held.name} of run {run.id}")

        async def decided() -> str | None:
            """How the step was decided elsewhere (a CLI, another dashboard), once it was."""
            step = next(
                (s for s in await self.history.get_steps(run.id) if s.name == held.name), None
            )
            if step is None or step.status == StepStatus.HELD:
                return None
            said = [a for a in await self.history.get_approvals(run.id) if a.step == held.name]
            if said:
                last = said[-1]
                how = f"{'approved' if last.approved else 'rejected'} by {last.by}"
            else:
                how = str(step.status)  # its timeout, a cancel
            return f"{held.name} of run {run.id} was {how}"

        gate = await control.describe_gate(store, held)
        screen = ApprovalScreen(
            decided=decided,
            verb=verb,
            step=held.name,
            run_id=run.id,
            workflow=run.workflow,
            gate=gate,
            approvers=held.approvers,
        )
        self.push_screen(screen, functools.partial(send, self))

    async def _toast_held(self) -> tuple[RunRecord, str] | None:
        """The run and step the last approval toast named, while that step is still held."""
        if self.last_held is None:
            return None
        run_id, step = self.last_held
        steps = await self.history.get_steps(run_id)
        if not any(s.name == step and s.status == StepStatus.HELD for s in steps):
            return None
        run = await self.history.get_run(run_id)
        return (run, step) if run is not None else None

    @reported
    async def action_inbox(self) -> None:
        store = self.history
        items = await control.inbox(store, await control.acting_user(store))
        if not items:
            self.notify("nothing waits for approval in any run")
            return

        @reported
        async def chosen(self: ActionsMixin, choice: tuple[bool, int, str] | None) -> None:
            if choice is not None:
                approve, run_id, step = choice
                await self._decide(approve=approve, run_id=run_id, step=step)

        self.push_screen(InboxScreen(items), functools.partial(chosen, self))

    @reported
    @writes("rerun")
    async def action_rerun(self, from_failed: bool, run_id: int | None = None) -> None:
        run = await self._current_run(run_id)
        if run is None:
            return
        if not run.status.is_final:
            self.notify(f"run {run.id} is still {run.status}", severity="warning")
            return
        try:
            handle = await control.rerun(
                self.local_runner,
                run.id,
                from_failed=from_failed,
                by=await control.acting_user(self.history),
            )
        except control.NothingToRerun as exc:
            self.notify(str(exc), severity="warning")
            return
        except (RunError, OSError) as exc:
            self.notify(str(exc), title="cannot rerun", severity="error")
            return
        mode = "from the failed step" if from_failed else "from the start"
        self.notify(f"rerunning run {run.id} {mode} as run {handle.run_id}")
        self._pin(handle.run_id, run.workflow)
        await self.refresh_view()

    @reported
    @writes("rerun")
    async def action_rerun_step(self) -> None:
        """Preview a rerun from the selected step on the graph; rerun when confirmed."""
        run = await self._current_run()
        if run is None:
            return
        step = self.view.step
        if step is None or run.id != self.view.run_id:
            self.notify("select a step in the DAG (g) to rerun from it", severity="warning")
            return
        try:
            run, plan = await control.preview_rerun(
                self.history, run.id, from_failed=False, from_step=step
            )
        except RunError as exc:
            self.notify(str(exc), title="cannot rerun", severity="warning")
            return
        graph = [(s.name, s.requires) for s in await self.history.get_steps(run.id)]

        @reported
        async def confirmed(self: ActionsMixin, yes: bool | None) -> None:
            if not yes:
                return
            try:
                handle = await control.rerun(
                    self.local_runner,
                    run.id,
                    from_failed=False,
                    from_step=step,
                    by=await control.acting_user(self.history),
                )
            except (RunError, OSError) as exc:
                self.notify(str(exc), title="cannot rerun", severity="error")
                return
            self.notify(f"rerunning run {run.id} from {step} as run {handle.run_id}")
            self._pin(handle.run_id, run.workflow)
            await self.refresh_view()

        screen = RerunPreviewScreen(
            run_id=run.id, workflow=run.workflow, step=step, graph=graph, plan=plan
        )
        self.push_screen(screen, functools.partial(confirmed, self))

    @reported
    async def action_step_shell(self) -> None:
        """$SHELL in the selected step's folder with its environment (`flowtui shell`); the
        dashboard steps aside meanwhile."""
        run = await self._current_run()
        if run is None:
            return
        step = self.view.step
        if step is None or run.id != self.view.run_id:
            self.notify("select a step in the DAG (g) to open a shell there", severity="warning")
            return
        if self.is_web:  # `flowtui web`: no terminal to hand over, and stdout is the page's
            self.notify(
                f"a shell needs a terminal: run `flowtui shell {run.id} {step}` in one",
                title="not in the browser",
                severity="warning",
            )
            return
        try:
            shell = await prepare_shell(self.history, run.id, step)
        except ShellError as exc:
            self.notify(str(exc), title="no shell", severity="warning")
            return
        code = run_shell(self, shell)
        if code is not None:
            self.notify(f"back from the shell at {step} (exit {code})")

    @reported
    @writes("cancel")
    async def action_cancel_run(self, run_id: int | None = None) -> None:
        run = await self._current_run(run_id)
        if run is None:
            return
        if run.status.is_final:
            self.notify(f"run {run.id} has already ended ({run.status})", severity="warning")
            return

        @reported
        async def confirmed(self: ActionsMixin, yes: bool | None) -> None:
            if not yes:
                return
            try:
                who = await control.acting_user(self.history)
                outcome = await control.cancel(self.history, run.id, who, runner=self.local_runner)
            except control.ControlError as exc:
                self.notify(str(exc), severity="warning")
                return
            if outcome == control.CancelOutcome.ORPHAN:
                self.notify(f"run {run.id} cancelled (its runner had died)")
                self.request_refresh(workflows={run.workflow})
            else:
                self.notify(f"cancelling run {run.id}")

        self.push_screen(
            ConfirmScreen(
                f"Cancel run #{run.id} of {run.workflow}?",
                confirm_label="Cancel run",
                decline_label="Keep it running",
            ),
            functools.partial(confirmed, self),
        )

    @reported
    @writes("pause or resume")
    async def action_toggle_pause(self) -> None:
        entry = self.selected_entry
        if entry is None or entry.workflow is None:
            self.notify("select a workflow that loads to pause it", severity="warning")
            return
        name = entry.workflow.name
        paused = name in self._paused
        await control.set_paused(self.history, name, not paused)
        self.notify(f"{name} {'resumed' if paused else 'paused: its triggers are ignored'}")
        await self.refresh_list({name})

    async def action_quit(self) -> None:
        """Quit; with runs of this dashboard going, ask first and name them (quitting
        cancels them, as `c` would)."""
        going = self.local_runner.active_run_ids if self.runtime is not None else []
        if not going:
            self.exit()
            return
        names = []
        for run_id in going:
            run = await self.history.get_run(run_id)
            names.append(f"#{run_id} {run.workflow}" if run else f"#{run_id}")

        def confirmed(yes: bool | None) -> None:
            self._quit_question = None
            if yes:
                self.exit()

        self._quit_question = ConfirmScreen(
            f"Quit? That cancels the {'run' if len(going) == 1 else 'runs'} this "
            f"dashboard started: {', '.join(names)}.",
            confirm_label="Quit and cancel",
            decline_label="Stay",
        )
        self.push_screen(self._quit_question, confirmed)


__all__ = ["ActionsMixin", "reported", "writes"]
