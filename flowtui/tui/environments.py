"""The dashboard's Environments view (`E`) and promotion from it: what will run is shown
first (`Promotion.describe`), then the run starts in this dashboard's engine."""

from __future__ import annotations

import functools

from flowtui import control
from flowtui.engine.runner import RunError
from flowtui.store.releases import EnvironmentState, PromotionError, overview_of, plan_promotion
from flowtui.tui.actions import ActionsMixin, reported, writes
from flowtui.tui.screens.dialogs import ConfirmScreen
from flowtui.tui.screens.environments import EnvironmentsScreen


class EnvironmentsMixin(ActionsMixin):
    """`E`: the Environments view; its `p` promotes."""

    async def _environments_now(
        self,
    ) -> tuple[list[EnvironmentState], dict[tuple[str, str], str | None]]:
        """The view's rows and promotion sources, from the catalog as loaded now."""
        declared = {
            e.workflow.name: e.workflow
            for e in self.catalog.entries
            if e.workflow is not None and e.workflow.environments
        }
        states = await overview_of(self.history, declared)
        sources = {
            (name, env_name): env.promote_from
            for name, workflow in declared.items()
            for env_name, env in workflow.environments.items()
        }
        return states, sources

    @reported
    async def refresh_environments(self) -> None:
        """Redraw the Environments view if it is open (the folder's workflows or its
        `environments.yaml` changed)."""
        screen = self.screen
        if isinstance(screen, EnvironmentsScreen):
            screen.show(*await self._environments_now())

    @reported
    async def action_environments(self) -> None:
        states, sources = await self._environments_now()

        @reported
        async def chosen(self: EnvironmentsMixin, choice: tuple[str, str] | None) -> None:
            if choice is not None:
                await self.preview_promotion(*choice)

        self.push_screen(EnvironmentsScreen(states, sources), functools.partial(chosen, self))

    @writes("promote")
    async def preview_promotion(self, workflow_name: str, target: str) -> None:
        entry = next((e for e in self.catalog.entries if e.name == workflow_name), None)
        if entry is None or entry.workflow is None:
            self.notify(f"{workflow_name} does not load", severity="error")
            return
        try:
            promotion = await plan_promotion(self.history, entry.workflow, target)
        except PromotionError as exc:
            self.notify(str(exc).strip("'\""), title="cannot promote", severity="warning")
            return

        @reported
        async def answered(self: EnvironmentsMixin, yes: bool | None) -> None:
            if not yes:
                return
            try:
                handle = await self.local_runner.submit(
                    promotion.workflow,
                    params=promotion.params,
                    trigger="promote",
                    triggered_by=await control.acting_user(self.history),
                    reuse_from=promotion.source_run,
                )
            except RunError as exc:
                self.notify(str(exc), title="cannot promote", severity="error")
                return
            self._pin(handle.run_id, workflow_name)
            self.notify(f"promoting: {workflow_name} run {handle.run_id} in {target}")
            self._show_soon()

        question = promotion.describe() + "\n\nStart this run?"
        self.push_screen(
            ConfirmScreen(question, confirm_label="Promote", decline_label="Cancel"),
            functools.partial(answered, self),
        )
