"""The live step graph: boxes per step, one column per layer, coloured by status."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from flowtui.tui.dag_groups import (
    FAILED,
    Key,
    Shown,
    failure_path,
    group_status,
    is_group,
    shape,
    summary,
)
from flowtui.tui.dag_layout import (
    CompactRow,
    DagLayout,
    Segments,
    cached_layout,
    compute_compact,
    first_step,
    graph_key,
    neighbour,
    render_compact,
    render_row,
)
from flowtui.tui.glyphs import STATUS_COLOUR, glyph
from flowtui.tui.strips import cut_strip

SPIN_SECONDS = 0.25
PAN_CELLS = 8


class DagView(ScrollView, can_focus=True):
    """The workflow's steps as a graph that follows the run live.

    Steps needing nothing are on the left and each step sits one column right of its last
    requirement.  The graph is laid out once per graph; status changes only repaint the
    boxes that changed.  A graph that does not fit the pane is shown as a compact
    one-line-per-step list, unless the user chose a mode (`m`) for that workflow.
    Matrix copies and look-alike steps of a wide layer are drawn as one box
    (`build ×20`, counted by status) until expanded (space); `!` shows only the failed
    steps and what they depend on.  While steps run, the view scrolls to them unless
    the user scrolled or moved (`.` follows again).

    | Key | Action |
    | :- | :- |
    | up / k, down / j | the previous / next step in the column |
    | left, right | a requirement / a dependant (else the nearest step there) |
    | shift+arrows | pan the view |
    | enter | open the selected step (`StepSelected`), or expand a group |
    | space | expand / collapse the selected group of steps |
    | ! | only the path to the failure / every step |
    | . | follow the running steps again |
    | m | toggle compact mode |
    """

    BINDINGS = [
        Binding("up,k", "move('up')", "Up", show=False),
        Binding("down,j", "move('down')", "Down", show=False),
        Binding("left", "move('left')", "Requirement", show=False),
        Binding("right", "move('right')", "Dependant", show=False),
        Binding("shift+left", "pan(-1, 0)", "Pan left", show=False),
        Binding("shift+right", "pan(1, 0)", "Pan right", show=False),
        Binding("shift+up", "pan(0, -1)", "Pan up", show=False),
        Binding("shift+down", "pan(0, 1)", "Pan down", show=False),
        Binding("enter", "open", "Open step"),
        Binding("m", "toggle_compact", "Compact", id="dag.compact", tooltip="Graph or list"),
        Binding(
            "space",
            "toggle_group",
            "Expand",
            id="dag.expand",
            show=False,
            tooltip="Expand or collapse the selected group of steps",
        ),
        Binding(
            "exclamation_mark",
            "toggle_failure_path",
            "Failure path",
            id="dag.failure_path",
            tooltip="Show only the failed steps and what they depend on (again: every step)",
        ),
        Binding(
            "full_stop",
            "follow",
            "Follow",
            id="dag.follow",
            show=False,
            tooltip="Scroll to the running steps again as they change",
        ),
    ]

    COMPONENT_CLASSES = {
        "dag-view--edge",
        "dag-view--label",
        "dag-view--muted",
        "dag-view--success",
        "dag-view--error",
        "dag-view--warning",
        "dag-view--accent",
        "dag-view--secondary",
        "dag-view--selected",
        "dag-view--selected-border",
    }

    DEFAULT_CSS = """
    DagView {
        background: $surface;
        & > .dag-view--edge { color: $text-muted; }
        & > .dag-view--label { color: $foreground; }
        & > .dag-view--muted { color: $text-muted; }
        & > .dag-view--success { color: $success; }
        & > .dag-view--error { color: $error; }
        & > .dag-view--warning { color: $warning; }
        & > .dag-view--accent { color: $accent; }
        & > .dag-view--secondary { color: $secondary; }
        & > .dag-view--selected { background: $accent 40%; color: $text; text-style: bold; }
        & > .dag-view--selected-border { color: $accent; text-style: bold; }
        &:focus > .dag-view--selected { background: $accent; }
    }
    """

    compact: reactive[bool] = reactive(False)
    """One line per step instead of the graph."""
    selected: reactive[str | None] = reactive(None)
    """The highlighted step (or group)."""
    failure_only: reactive[bool] = reactive(False, init=False)
    """Only the failed steps and the steps they depend on."""

    class StepHighlighted(Message):
        """The user moved the selection to a step."""

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    class StepSelected(Message):
        """The user opened a step (enter or a click on the selected step)."""

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def __init__(
        self,
        *,
        animate: bool = True,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._animated = animate
        self._graph: Key | None = None  # the steps as given
        self._key: Key | None = None  # as drawn: grouped, filtered
        self._shown = Shown((), {})
        self._all_groups: Mapping[str, tuple[str, ...]] = {}
        self._expanded: set[str] = set()
        self._given_states: dict[str, str] = {}
        self._given_durations: dict[str, str] = {}
        self._follow = True
        self._layout: DagLayout | None = None
        self._error: str | None = None
        self._rows: list[CompactRow] = []
        self._states: dict[str, str] = {}
        self._durations: dict[str, str] = {}
        self._frame = 0
        # the user's `m` choice per graph (its step names), for the session
        self._choices: dict[frozenset[str], bool] = {}
        self._styles: dict[str, Style] = {}
        self._compact_lines: list[Segments] | None = None

    # -- public API ----------------------------------------------------------------------
    @property
    def node_names(self) -> list[str]:
        """The graph's steps, as given."""
        return [name for name, _ in self._graph or ()]

    @property
    def shown_names(self) -> list[str]:
        """What is drawn: steps and groups (`build ×20`)."""
        return [name for name, _ in self._key or ()]

    @property
    def groups(self) -> Mapping[str, tuple[str, ...]]:
        """The groups drawn, each with its steps."""
        return self._shown.groups

    @property
    def layout_info(self) -> DagLayout | None:
        """The graph layout, computed on first use (None when the graph has a cycle)."""
        if self._layout is None and self._key and self._error is None:
            try:
                self._layout = cached_layout(self._key)
            except ValueError as error:
                self._error = str(error)
        return self._layout

    def set_graph(self, nodes: Sequence[tuple[str, Sequence[str]]]) -> None:
        """Show this graph; a no-op when it is the one already shown."""
        key = graph_key(nodes)
        if key == self._graph:
            return
        self._graph = key
        self._follow = True
        self._reshape()

    def _reshape(self) -> None:
        """Group and filter the given graph into what is drawn; a new layout if it changed."""
        graph = self._graph or ()
        only = failure_path(graph, self._given_states) if self.failure_only else []
        shown = shape(graph, only=only or None)
        self._all_groups = shown.groups
        if self._expanded & set(shown.groups):
            shown = shape(graph, expanded=self._expanded, only=only or None)
        self._shown = shown
        key = shown.nodes
        if key != self._key:
            self._key = key
            self._layout = None
            self._error = None
            try:
                self._rows = compute_compact(key)
            except ValueError as error:
                self._rows = []
                self._error = str(error)
            names = {name for name, _ in key}
            if self.selected not in names:
                group = shown.group_of().get(self.selected or "")
                self.selected = group if group else (key[0][0] if key else None)
            self._auto_compact()
            self._content_changed()
        self._show_states()

    def set_states(
        self, states: Mapping[str, str], durations: Mapping[str, str] | None = None
    ) -> None:
        """New statuses (and shown durations): repaints the changed boxes, no new layout."""
        failed = {n for n, s in self._given_states.items() if s in FAILED}
        self._given_states = dict(states)
        self._given_durations = dict(durations or {})
        if self.failure_only and failed != {n for n, s in states.items() if s in FAILED}:
            self._reshape()  # another failure (or none): another path
        else:
            self._show_states()

    def _show_states(self) -> None:
        """The given statuses on what is drawn: a group gets its members' (and a count)."""
        states = dict(self._given_states)
        durations = dict(self._given_durations)
        for group, members in self._shown.groups.items():
            statuses = [states.get(m, "pending") for m in members]
            states[group] = group_status(statuses)
            durations[group] = summary(statuses, glyph)
        changed = {
            name
            for name in set(states) | set(self._states)
            if states.get(name) != self._states.get(name)
        }
        changed |= {
            name
            for name in set(durations) | set(self._durations)
            if durations.get(name) != self._durations.get(name)
        }
        self._states = states
        self._durations = durations
        self._update_spinner()
        if changed:
            self._repaint(changed)
            self._follow_running()

    def set_compact(self, value: bool | None) -> None:
        """Force compact (True) or graph (False) mode for the shown graph; None goes back to
        choosing by size."""
        if value is None:
            self._choices.pop(self._scope, None)
        else:
            self._choices[self._scope] = value
        self._auto_compact()

    @property
    def _scope(self) -> frozenset[str]:
        """What a mode choice is kept for: the graph's steps (a workflow and its runs)."""
        return frozenset(name for name, _ in self._graph or ())

    # -- reactives -----------------------------------------------------------------------
    def watch_compact(self, _old: bool, _new: bool) -> None:
        self._content_changed()

    def watch_selected(self, old: str | None, new: str | None) -> None:
        self._compact_lines = None
        self._repaint({n for n in (old, new) if n})
        self._scroll_to_selected()

    def watch_failure_only(self, on: bool) -> None:
        self._reshape()
        failed = [n for n in self.shown_names if self._states.get(n) in FAILED]
        if on and failed and self.selected not in failed:
            self._highlight(failed[0])  # the path leads here

    # -- actions -------------------------------------------------------------------------
    def action_move(self, direction: str) -> None:
        target = self._neighbour(direction)
        if target is not None and target != self.selected:
            self._follow = False  # the user looks elsewhere
            self._highlight(target)

    def action_open(self) -> None:
        if self.selected is None:
            return
        if is_group(self.selected):
            self.action_toggle_group()
        else:
            self.post_message(self.StepSelected(self.selected))

    def action_toggle_compact(self) -> None:
        self.set_compact(not self.compact)

    def action_toggle_group(self) -> None:
        selected = self.selected
        if selected is not None and selected in self._shown.groups:
            members = self._shown.groups[selected]
            self._expanded.add(selected)
            self._reshape()
            self._highlight(members[0])
            return
        groups = self._all_groups
        opened = next((g for g in self._expanded if selected in groups.get(g, ())), None)
        if opened is None:
            self.notify("The selected step is not in a group (groups look like `name ×N`)")
            return
        self._expanded.discard(opened)
        self._reshape()
        self._highlight(opened)

    def action_toggle_failure_path(self) -> None:
        if not self.failure_only and not failure_path(self._graph or (), self._given_states):
            self.notify("No failed step in this run: nothing to trace back")
            return
        self.failure_only = not self.failure_only

    def action_follow(self) -> None:
        self._follow = True
        if not self._follow_running():
            self.notify("No step is running")

    def action_pan(self, dx: int, dy: int) -> None:
        self._follow = False
        self.scroll_relative(dx * PAN_CELLS, dy * PAN_CELLS // 2, animate=False)

    def on_mouse_scroll_down(self) -> None:
        self._follow = False

    def on_mouse_scroll_up(self) -> None:
        self._follow = False

    def on_click(self, event: events.Click) -> None:
        name = self._step_at(event.x + int(self.scroll_x), event.y + int(self.scroll_y))
        if name is None:
            return
        self._follow = False
        if name == self.selected:
            self.action_open()
        else:
            self._highlight(name)

    def _highlight(self, name: str) -> None:
        self.selected = name
        if not is_group(name):  # a group has no log of its own
            self.post_message(self.StepHighlighted(name))

    # -- painting ------------------------------------------------------------------------
    def on_mount(self) -> None:
        self._spinner = self.set_interval(SPIN_SECONDS, self._spin, pause=True)
        self._update_spinner()

    def on_resize(self, _event: events.Resize) -> None:
        self._auto_compact()

    def notify_style_update(self) -> None:
        self._styles.clear()  # the theme or focus changed: look colours up again
        super().notify_style_update()

    def _on_focus(self, event: events.Focus) -> None:
        self._styles.clear()
        super()._on_focus(event)

    def _on_blur(self, event: events.Blur) -> None:
        self._styles.clear()
        super()._on_blur(event)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self._style("edge")
        segments = self._line(y + scroll_y)
        if not segments:
            return Strip.blank(width, base)
        strip = Strip([Segment(text, self._style(role)) for text, role in segments])
        if self.compact:  # a list line cut at the edge ends with `…`
            return cut_strip(strip, scroll_x, width, base, self._style("duration"))
        return strip.crop(scroll_x, scroll_x + width).extend_cell_length(width, base)

    def _line(self, row: int) -> Segments:
        if self._error is not None:
            return [(self._error, "glyph failed")] if row == 0 else []
        if self.compact:
            if self._compact_lines is None:
                self._compact_lines = render_compact(
                    self._rows, self._states, self.selected, self._glyph, self._durations
                )
            return self._compact_lines[row] if row < len(self._compact_lines) else []
        layout = self.layout_info
        if layout is None or row >= layout.height:
            return []
        return render_row(layout, row, self._states, self.selected, self._glyph, self._durations)

    def _glyph(self, status: str) -> str:
        return glyph(status, self._frame if self._animated else 0)

    def _style(self, role: str) -> Style:
        style = self._styles.get(role)
        if style is None:
            style = self._styles[role] = self._build_style(role)
        return style

    def _build_style(self, role: str) -> Style:
        get = self.get_component_rich_style
        if role in ("edge", "layer", "duration"):
            return get("dag-view--edge")
        part, status, *rest = role.split()
        selected = bool(rest)
        colour = STATUS_COLOUR.get(status)
        # a reused step is not dimmed: dimmed, green fades under 3:1 on a light theme
        status_style = get(f"dag-view--{colour}") if colour else get("dag-view--muted")
        if part == "border":
            return get("dag-view--selected-border") if selected else status_style
        if part == "duration":
            return get("dag-view--muted")
        if part == "glyph":
            style = status_style
        elif colour is None and status != "running":
            style = get("dag-view--muted")
        else:
            style = get("dag-view--label")
        if selected:
            highlight = get("dag-view--selected")
            style = style + Style(bgcolor=highlight.bgcolor, bold=True)
            if part == "label":
                style += Style(color=highlight.color)
        return style

    # -- internals -----------------------------------------------------------------------
    def _auto_compact(self) -> None:
        """Compact when the graph does not fit the pane, unless the user chose."""
        if not self._key:
            return
        want = self._choices.get(self._scope)
        if want is None:
            if not self.is_mounted or not self.size:
                return  # decided once the pane has a size (on_resize)
            layout = self.layout_info
            width, height = self.size
            want = layout is not None and (layout.width > width or layout.height > height)
        self.compact = want

    def _content_changed(self) -> None:
        self._compact_lines = None
        if self._error is not None:
            size = Size(len(self._error), 1)
        elif self.compact:
            widest = max((cell_width(line) for line in self._compact_rendered()), default=0)
            size = Size(widest, len(self._rows))
        else:
            layout = self.layout_info
            size = Size(layout.width, layout.height) if layout else Size(0, 0)
        self.virtual_size = size
        self.refresh()
        self._scroll_to_selected()

    def _compact_rendered(self) -> list[Segments]:
        if self._compact_lines is None:
            self._compact_lines = render_compact(
                self._rows, self._states, self.selected, self._glyph, self._durations
            )
        return self._compact_lines

    def _repaint(self, names: set[str]) -> None:
        if not self.is_mounted:
            return
        self._compact_lines = None
        if self.compact or self._error is not None or self._layout is None:
            self.refresh()
            return
        scroll_x, scroll_y = self.scroll_offset
        view = self.size.region
        for name in names:
            box = self._layout.boxes.get(name)
            if box is None:
                continue
            region = Region(box.x - scroll_x, box.y - scroll_y, box.w, box.h).intersection(view)
            if region:
                self.refresh(region)

    def _follow_running(self) -> bool:
        """Scroll so that a running step is in view, unless the user scrolled or moved.
        False when nothing runs."""
        running = [name for name, status in self._states.items() if status == "running"]
        if not running or not self.is_mounted:
            return False
        if not self._follow:
            return True
        view = Region(int(self.scroll_x), int(self.scroll_y), *self.size)
        regions = [r for r in map(self._region_of, running) if r is not None]
        if regions and not any(view.contains_region(r) for r in regions):
            first = min(regions, key=lambda r: (r.x, r.y))
            self.scroll_to_region(first, animate=False, force=True)
        return True

    def _region_of(self, name: str) -> Region | None:
        """Where `name` is drawn, in the view's virtual space."""
        if self.compact:
            index = next((i for i, r in enumerate(self._rows) if r.name == name), None)
            return None if index is None else Region(0, index, 1, 1)
        layout = self.layout_info
        box = layout.boxes.get(name) if layout else None
        return None if box is None else Region(box.x, box.y, box.w, box.h)

    def _scroll_to_selected(self) -> None:
        if not self.is_mounted or self.selected is None:
            return
        if self.compact:
            index = next((i for i, r in enumerate(self._rows) if r.name == self.selected), None)
            if index is not None:
                self.scroll_to_region(Region(0, index, 1, 1), animate=False, force=True)
            return
        layout = self.layout_info
        box = layout.boxes.get(self.selected) if layout else None
        if box is not None:
            region = Region(box.x, box.y, box.w, box.h)
            self.scroll_to_region(region, animate=False, spacing=None, force=True)

    def _neighbour(self, direction: str) -> str | None:
        if self.selected is None:
            return self.node_names[0] if self._key else None
        if self.compact:
            names = [r.name for r in self._rows]
            if self.selected not in names:
                return names[0] if names else None
            i = names.index(self.selected)
            if direction in ("up", "down"):
                j = i + (1 if direction == "down" else -1)
                return names[j] if 0 <= j < len(names) else None
            layer = self._rows[i].layer + (1 if direction == "right" else -1)
            return next((r.name for r in self._rows if r.layer == layer), None)
        layout = self.layout_info
        if layout is None or self.selected not in layout.boxes:
            return first_step(layout) if layout else None
        return neighbour(layout, self.selected, direction)  # type: ignore[arg-type]

    def _step_at(self, x: int, y: int) -> str | None:
        if self.compact:
            return self._rows[y].name if 0 <= y < len(self._rows) else None
        layout = self.layout_info
        if layout is None or not 0 <= y < layout.height:
            return None
        for box, _part in layout.row_boxes[y]:
            if box.x <= x < box.x + box.w:
                return box.name
        return None

    def _update_spinner(self) -> None:
        timer = getattr(self, "_spinner", None)
        if timer is None:
            return
        if self._animated and "running" in self._states.values():
            timer.resume()
        else:
            timer.pause()

    def _spin(self) -> None:
        self._frame += 1
        self._repaint({name for name, status in self._states.items() if status == "running"})


def cell_width(line: Segments) -> int:
    return sum(cell_len(text) for text, _ in line)
