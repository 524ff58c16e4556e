"""The Environments view: every workflow × environment with its newest run's status, the
current release, how long ago it was deployed, by which run and who approved it.

`p` promotes the highlighted environment's source (its `promote_from`) into it: the app
shows what will run and asks first.  escape closes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Label, Static

from flowtui.glyphs import status_label
from flowtui.store.releases import EnvironmentState
from flowtui.timefmt import fmt_duration
from flowtui.tui.markup import cells
from flowtui.tui.screens.dialogs import Dialog
from flowtui.tui.widgets.row_table import RowTable

COLUMNS = ("Workflow", "Env", "Status", "Release", "Deployed", "Run", "Approved by", "From")


def state_row(state: EnvironmentState, promote_from: str | None, now: float) -> tuple[str, ...]:
    deployed = state.deployed_at
    return (
        state.workflow,
        state.environment,
        status_label(str(state.last_run.status)) if state.last_run is not None else "never run",
        state.release or "-",
        f"{fmt_duration(max(0.0, now - deployed))} ago" if deployed is not None else "-",
        f"#{state.release_run.id}" if state.release_run is not None else "-",
        ", ".join(state.approved_by) or "-",
        promote_from or "-",
    )


class EnvironmentsScreen(Dialog[tuple[str, str] | None]):
    """Dismisses with (workflow, environment) to promote into, or None.

    | Key | Does |
    |---|---|
    | p | promote the highlighted environment's source release into it (asks first) |
    | escape | close |
    """

    BINDINGS = [
        Binding(
            "p",
            "promote",
            "Promote",
            id="envs_promote",
            tooltip="Promote the release of the environment it comes from into this one",
        ),
        Binding("escape", "cancel", "Close", id="envs_close", tooltip="Close the view"),
    ]

    DEFAULT_CSS = """
    EnvironmentsScreen > Vertical { width: 118; }
    EnvironmentsScreen DataTable { height: auto; max-height: 60vh; }
    EnvironmentsScreen .muted { color: $text-muted; }
    """

    def __init__(
        self,
        states: Sequence[EnvironmentState],
        promote_from: Mapping[tuple[str, str], str | None],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.states = list(states)
        self.promote_from = dict(promote_from)
        self._clock = clock

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Environments: {len(self.states)}", id="envs-title", classes="title")
            yield RowTable(id="envs-table", cursor_type="row", zebra_stripes=True)
            yield Static("p promote into the highlighted one · escape close", classes="muted")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*COLUMNS)
        self._fill()
        table.focus()

    def show(
        self,
        states: Sequence[EnvironmentState],
        promote_from: Mapping[tuple[str, str], str | None],
    ) -> None:
        """Show `states` instead (the folder's environments changed); the cursor stays on
        the same row number."""
        self.states = list(states)
        self.promote_from = dict(promote_from)
        self._fill()

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        now = self._clock()
        for state in self.states:
            key = (state.workflow, state.environment)
            table.add_row(
                *cells(state_row(state, self.promote_from.get(key), now)), key="\t".join(key)
            )
        if self.states:
            table.move_cursor(row=min(row, len(self.states) - 1))
        self.query_one("#envs-title", Label).update(f"Environments: {len(self.states)}")

    def action_promote(self) -> None:
        if not self.states:
            self.notify("no environments", severity="warning")
            return
        state = self.states[self.query_one(DataTable).cursor_row]
        if self.promote_from.get((state.workflow, state.environment)) is None:
            self.notify(
                f"{state.environment} has no `promote_from`: nothing to promote into it",
                severity="warning",
            )
            return
        self.dismiss((state.workflow, state.environment))

    def action_cancel(self) -> None:
        self.dismiss(None)
