"""The dashboard's `:` command mode: each command is one of the dashboard's own actions
(`tui.actions`, over `flowtui.control`) given its target by name or id instead of by the
selection, so a command and its key behave and answer alike."""

from __future__ import annotations

from collections.abc import Sequence

from flowtui.engine.states import StepStatus
from flowtui.tui.actions import ActionsMixin, reported
from flowtui.tui.commands import CommandError, parse, unknown
from flowtui.tui.widgets.command_line import CommandLine

RUN_CANDIDATES = 20  # run ids offered for completion: the newest


class CommandModeMixin(ActionsMixin):
    """`:` and what it runs."""

    def action_command_line(self) -> None:
        self.query_one(CommandLine).open()

    async def on_command_line_entered(self, event: CommandLine.Entered) -> None:
        await self.run_command(event.text)

    @reported
    async def run_command(self, text: str) -> None:
        try:
            command = parse(text)
        except CommandError as exc:
            self.notify(str(exc), title="command", severity="error")
            return
        name, args = command.name, command.args
        if name == "run":
            entry = next((e for e in self.catalog.entries if e.name == args[0]), None)
            if entry is None:
                names = [e.name for e in self.catalog.entries]
                self.notify(unknown("workflow", args[0], names), severity="error")
                return
            await self.run_entry(entry, command.options.get("env"))
        elif name in ("approve", "reject"):
            step = args[1] if len(args) > 1 else None
            await self._decide(approve=name == "approve", run_id=command.run_id, step=step)
        elif name == "rerun":
            await self.action_rerun(True, command.run_id)
        elif name == "cancel":
            await self.action_cancel_run(command.run_id)
        elif name == "theme":
            if args[0] not in self.available_themes:
                themes = sorted(self.available_themes)
                self.notify(unknown("theme", args[0], themes), severity="error")
                return
            self.theme = args[0]
        elif name == "q":
            await self.action_quit()

    async def command_candidates(
        self, command: str, index: int, before: Sequence[str]
    ) -> Sequence[str]:
        """What may be typed as argument `index` of `command` (`before`: the arguments
        typed so far), for completion."""
        if command == "run" and index == 0:
            return sorted(e.name for e in self.catalog.entries)
        if command == "run" and index == 1:
            return ["--env"]
        if command == "run" and index == 2 and tuple(before[1:]) == ("--env",):
            entry = self.catalog.by_name(before[0])
            return list(entry.workflow.environments) if entry and entry.workflow else []
        if command == "theme" and index == 0:
            return sorted(self.available_themes)
        if self.store is None:
            return []
        if command in ("approve", "reject", "rerun", "cancel") and index == 0:
            runs = await self.history.list_runs(None, limit=RUN_CANDIDATES)
            return [str(run.id) for run in runs]
        if command in ("approve", "reject") and index == 1 and before[:1]:
            if not before[0].lstrip("#").isdigit():
                return []
            steps = await self.history.get_steps(int(before[0].lstrip("#")))
            return [s.name for s in steps if s.status == StepStatus.HELD]
        return []


__all__ = ["CommandModeMixin"]
