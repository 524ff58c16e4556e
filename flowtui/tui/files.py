"""The dashboard's workflow file actions: duplicate, edit in $EDITOR, delete.

A file changed here is reloaded into the catalog at once (the folder watcher would see it
too, a moment later); a deleted workflow's run history stays.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shlex
import subprocess
from pathlib import Path

from textual.app import SuspendNotSupported
from textual.widgets.data_table import RowDoesNotExist

from flowtui.model.pyrename import CannotRename, renamed_source
from flowtui.tui.actions import reported, writes
from flowtui.tui.refresh import RefreshMixin, ViewState
from flowtui.tui.screens.dialogs import ConfirmScreen
from flowtui.tui.widgets.workflow_list import WorkflowList


class FileActionsMixin(RefreshMixin):
    """`d`, `e` and `Delete`."""

    @reported
    @writes("duplicate")
    async def action_duplicate(self) -> None:
        entry = self.selected_entry
        if entry is None:
            self.notify("select a workflow file to duplicate", severity="warning")
            return
        text = entry.path.read_text(encoding="utf-8")
        stem = entry.path.stem
        python = entry.path.suffix == ".py"  # its file name must stay a module name
        dash = "_" if python else "-"
        for n in range(1, 100):
            suffix = f"{dash}copy{'' if n == 1 else n}"
            target = entry.path.with_name(f"{stem}{suffix}{entry.path.suffix}")
            if not target.exists():
                break
        new_name = f"{entry.name}{suffix}"
        if python:  # `Workflow("name"` → `Workflow("name_copy"`, found where it was declared
            try:
                if entry.workflow is None:
                    raise CannotRename(f"{entry.path.name} has not loaded yet: fix it first")
                text = renamed_source(text, entry.path, entry.workflow, new_name)
            except CannotRename as exc:
                self.notify(f"{exc}", title="not duplicated", severity="error")
                return
        else:
            text, _ = re.subn(r"(?m)^name:\s*.*$", f"name: {new_name}", text, count=1)
        target.write_text(text, encoding="utf-8")
        await self.reload_catalog([target])
        await self.refresh_list()
        # the copy is what the user works on next (`e` edits it, Delete removes it)
        table = self.query_one(WorkflowList)
        if str(target) not in {key.value for key in table.rows}:
            self.action_clear_filter()  # a filter that leaves the copy out
        with contextlib.suppress(RowDoesNotExist):
            table.move_cursor(row=table.get_row_index(str(target)), animate=False)
            table.post_message(WorkflowList.Highlighted(target))
        self.notify(f"duplicated as {target.name} ({new_name}), now selected")

    def action_edit(self) -> None:
        entry = self.selected_entry
        if entry is None:
            self.notify("select a workflow file to edit", severity="warning")
            return
        if self.is_web:  # `flowtui web`: no terminal to hand over, and stdout is the page's
            self.notify(
                f"an editor needs a terminal: edit {entry.path} there (the list reloads it)",
                title="not in the browser",
                severity="warning",
            )
            return
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        command = [*shlex.split(editor), str(entry.path)]
        try:
            with self.suspend():
                subprocess.run(command, check=False)
        except SuspendNotSupported:
            # no terminal to hand over (headless, some Windows terminals): run it as is
            subprocess.run(command, check=False, stdin=subprocess.DEVNULL)
        except OSError as exc:
            self.notify(f"cannot start {editor!r}: {exc}", severity="error")
            return
        self.call_later(self._reload_edited, entry.path)

    async def _reload_edited(self, path: Path) -> None:
        await self.reload_catalog([path])
        await self.refresh_list()
        await self.refresh_view()

    @reported
    @writes("delete")
    async def action_delete(self) -> None:
        entry = self.selected_entry
        if entry is None:
            self.notify("select a workflow file to delete", severity="warning")
            return
        table = self.query_one(WorkflowList)
        row = table.cursor_row

        @reported
        async def confirmed(self: FileActionsMixin, yes: bool | None) -> None:
            if not yes:
                return
            with contextlib.suppress(FileNotFoundError):
                entry.path.unlink()
            await self.reload_catalog([entry.path])
            self.view = ViewState()
            await self.refresh_list()
            # the selection stays where it was: on the next file (the last when it was last)
            if table.row_count:
                table.move_cursor(row=min(row, table.row_count - 1), animate=False)
            await self.refresh_view()
            self.notify(f"deleted {entry.path.name} (its run history stays)")

        self.push_screen(
            ConfirmScreen(
                f"Delete {entry.path}? Its run history stays.",
                confirm_label="Delete",
                decline_label="Keep",
            ),
            functools.partial(confirmed, self),
        )
