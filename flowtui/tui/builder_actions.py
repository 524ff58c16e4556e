"""The dashboard's way into the builder: `b` shapes the selected workflow on its graph,
`n` starts a new workflow file from a template (then opens the builder on it)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from textual.app import SystemCommand
from textual.screen import Screen

from flowtui.model import edit
from flowtui.model.checker import NAME_RE
from flowtui.model.editfile import create_file
from flowtui.model.templates import TEMPLATES, render
from flowtui.tui.actions import reported
from flowtui.tui.builder_state import BuilderState, NotShapedHere
from flowtui.tui.keys import as_binding, describe
from flowtui.tui.markup import escape
from flowtui.tui.refresh import RefreshMixin
from flowtui.tui.screens.builder import BuilderScreen
from flowtui.tui.screens.step_form import TemplateScreen


class BuilderActionsMixin(RefreshMixin):
    """`b` and `n`."""

    keymap: dict[str, str]  # the user's (FlowApp's)

    def builder_has_keys(self, action: str) -> bool:
        """While the builder (or a dialog over it) is open, the dashboard's own keys wait
        (Textual's, such as tab between fields, still work)."""
        if not any(getattr(s, "keeps_keys", False) for s in self.screen_stack):
            return False
        own = {as_binding(b).action.split("(", 1)[0] for b in self.BINDINGS}
        return action.split("(", 1)[0] in own

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The palette: in the builder, its keys (made from its bindings, as `?` shows)."""
        yield from super().get_system_commands(screen)
        if isinstance(screen, BuilderScreen):
            for key in describe(screen.BINDINGS, self.keymap):
                run = partial(self.run_action, key.action, screen)
                help_text = escape(f"key {key.keys} · {key.text}")  # read as markup
                yield SystemCommand(key.title, help_text, run)

    @reported
    async def action_builder(self) -> None:
        entry = self.selected_entry
        if entry is None:
            self.notify("select a workflow file to shape", severity="warning")
            return
        try:
            state = BuilderState.open(entry.path)
        except NotShapedHere as exc:  # nothing to fix: a file of another kind
            self.notify(f"{exc}", title=exc.title, severity="warning")
            return
        except edit.EditRefused as exc:
            self.notify(f"{exc}", title="fix the file first ($EDITOR: e)", severity="error")
            return
        self.push_screen(BuilderScreen(state), self._builder_closed)

    async def _builder_closed(self, saved: bool | None) -> None:
        if saved:  # the watcher would see it too, a moment later
            await self.reload_catalog()
            await self.refresh_list()
            await self.refresh_view()

    def action_new_workflow(self) -> None:
        self.push_screen(TemplateScreen(list(TEMPLATES), self.folder), self._create_from_template)

    @reported
    async def _create_from_template(self, chosen: tuple[str, str] | None) -> None:
        if chosen is None:
            return
        name, template = chosen
        if not NAME_RE.fullmatch(name):
            self.notify(f"`{name}` is not a valid workflow name", severity="error")
            return
        try:
            created = create_file(self.folder / f"{name}.yaml", render(template, name))
            state = BuilderState.open(created.path)
        except edit.EditRefused as exc:
            self.notify(str(exc), title="not created", severity="error")
            return
        await self.reload_catalog()
        await self.refresh_list()
        self.push_screen(BuilderScreen(state), self._builder_closed)
