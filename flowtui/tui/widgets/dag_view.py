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

AUTO_COMPACT_STEPS = 60
AUTO_COMPACT_WIDTH_RATIO = 3
SPIN_SECONDS = 0.25
PAN_CELLS = 8


class DagView(ScrollView, can_focus=True):
    """The workflow's steps as a graph that follows the run live.

    Steps needing nothing are on the left and each step sits one column right of its last
    requirement.  The graph is laid out once per graph; status changes only repaint the
    boxes that changed.  Large graphs switch to a compact one-line-per-step list unless
    the user chose a mode (`m`).

    | Key | Action |
    | :- | :- |
    | up / k, down / j | the previous / next step in the column |
    | left, right | a requirement / a dependant (else the nearest step there) |
    | shift+arrows | pan the view |
    | enter | open the selected step (`StepSelected`) |
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
        Binding("m", "toggle_compact", "Compact", id="dag.compact"),
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
    """The highlighted step."""

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
        self._key: tuple[tuple[str, tuple[str, ...]], ...] | None = None
        self._layout: DagLayout | None = None
        self._error: str | None = None
        self._rows: list[CompactRow] = []
        self._states: dict[str, str] = {}
        self._durations: dict[str, str] = {}
        self._frame = 0
        self._user_compact: bool | None = None
        self._setting_auto = False
        self._styles: dict[str, Style] = {}
        self._compact_lines: list[Segments] | None = None

    # -- public API ----------------------------------------------------------------------
    @property
    def node_names(self) -> list[str]:
        return [name for name, _ in self._key or ()]

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
        if key == self._key:
            return
        self._key = key
        self._layout = None
        self._error = None
        try:
            self._rows = compute_compact(nodes)
        except ValueError as error:
            self._rows = []
            self._error = str(error)
        if self.selected not in {name for name, _ in key}:
            self.selected = key[0][0] if key else None
        self._auto_compact()
        self._content_changed()

    def set_states(
        self, states: Mapping[str, str], durations: Mapping[str, str] | None = None
    ) -> None:
        """New statuses (and shown durations): repaints the changed boxes, no new layout."""
        durations = dict(durations or {})
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
        self._states = dict(states)
        self._durations = durations
        self._update_spinner()
        if changed:
            self._repaint(changed)

    def set_compact(self, value: bool | None) -> None:
        """Force compact (True) or graph (False) mode; None goes back to choosing by size."""
        self._user_compact = value
        if value is None:
            self._auto_compact()
        else:
            self.compact = value

    # -- reactives -----------------------------------------------------------------------
    def watch_compact(self, _old: bool, _new: bool) -> None:
        if not self._setting_auto:
            self._user_compact = self.compact
        self._content_changed()

    def watch_selected(self, old: str | None, new: str | None) -> None:
        self._compact_lines = None
        self._repaint({n for n in (old, new) if n})
        self._scroll_to_selected()

    # -- actions -------------------------------------------------------------------------
    def action_move(self, direction: str) -> None:
        target = self._neighbour(direction)
        if target is not None and target != self.selected:
            self.selected = target
            self.post_message(self.StepHighlighted(target))

    def action_open(self) -> None:
        if self.selected is not None:
            self.post_message(self.StepSelected(self.selected))

    def action_toggle_compact(self) -> None:
        self.compact = not self.compact

    def action_pan(self, dx: int, dy: int) -> None:
        self.scroll_relative(dx * PAN_CELLS, dy * PAN_CELLS // 2, animate=False)

    def on_click(self, event: events.Click) -> None:
        name = self._step_at(event.x + int(self.scroll_x), event.y + int(self.scroll_y))
        if name is None:
            return
        if name == self.selected:
            self.post_message(self.StepSelected(name))
        else:
            self.selected = name
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
        if self._user_compact is not None or not self._key or not self.is_mounted:
            return
        if len(self._key) > AUTO_COMPACT_STEPS:
            want = True
        else:
            layout = self.layout_info
            width = self.size.width or 1
            want = layout is not None and layout.width > AUTO_COMPACT_WIDTH_RATIO * width
        if want != self.compact:
            self._setting_auto = True
            try:
                self.compact = want
            finally:
                self._setting_auto = False

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
