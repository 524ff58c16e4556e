"""A layered left-to-right drawing of the step graph, in box-drawing characters.

Pure and Textual-free so it can be unit-tested and benchmarked.  `compute_layout` does the
expensive part once per graph (layers, crossing reduction, coordinates, the edge canvas);
`render_lines` / `render_row` only paint the boxes over that cached canvas, so a status
change never re-runs the layout.

Edge routing: between two columns is a *channel*.  Its edges are split into buses: a
connected group of edges that joins every source to every target (fan-out, fan-in, a
single edge) shares one vertical track, so it reads exactly; any other group gets one
track per source.  Boxes of neighbouring columns share a middle row only when that cannot
merge two unrelated lines, and a line crossing a track it does not join keeps the
track's `│` (junctions are always ┬ ┴ ├ ┤ ┼ or a corner).
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from rich.cells import cell_len

from flowtui.model.graph import layer_of
from flowtui.tui.cells import fit_cells
from flowtui.tui.dag_groups import GROUP_MARK

Direction = Literal["left", "right", "up", "down"]
Segments = list[tuple[str, str]]
GlyphFor = Callable[[str], str]
NodeSpec = tuple[str, Sequence[str]]

MAX_LABEL = 24
GROUP_BOX_WIDTH = 18  # a group's box: `build ×20` over `17✓ 2◐ 1✗`
BOX_HEIGHT = 3
_DUMMY_HEIGHT = 1
_GAP = 1  # blank rows around a waypoint in a column; boxes may touch
_SWEEPS = 16
_STALE_SWEEPS = 3  # sweeps in a row without fewer crossings end the search
_TRANSPOSE_MAX = 700  # nodes (steps and waypoints) up to which neighbours are swapped
_TRANSPOSE_PASSES = 8  # at most, on the best order found
_TRANSPOSE_EACH_MAX = 400  # nodes up to which every sweep also swaps neighbours (one pass)

# edge canvas cell codes: direction bits, plus one code for an arrowhead
_UP, _DOWN, _LEFT, _RIGHT, _ARROW = 1, 2, 4, 8, 16
_H = _LEFT | _RIGHT
_V = _UP | _DOWN
_CHARS = {
    0: " ",
    _LEFT: "─",
    _RIGHT: "─",
    _H: "─",
    _UP: "│",
    _DOWN: "│",
    _V: "│",
    _DOWN | _RIGHT: "┌",
    _DOWN | _LEFT: "┐",
    _UP | _RIGHT: "└",
    _UP | _LEFT: "┘",
    _H | _DOWN: "┬",
    _H | _UP: "┴",
    _V | _RIGHT: "├",
    _V | _LEFT: "┤",
    _H | _V: "┼",
    _ARROW: "▶",
}
_TRANSLATE = {code: char for code, char in _CHARS.items()}

_LIGHT = ("┌", "─", "┐", "│", "└", "┘")
_HEAVY = ("┏", "━", "┓", "┃", "┗", "┛")


@dataclass(frozen=True, slots=True)
class Box:
    """Where one step is drawn: a 3-line box at (x, y), `w` cells wide."""

    name: str
    label: str  # the name, cut to fit
    layer: int
    x: int
    y: int
    w: int
    h: int = BOX_HEIGHT

    @property
    def mid(self) -> int:
        return self.y + 1


@dataclass(slots=True)
class DagLayout:
    """The cached drawing of one graph: box rectangles and the static edge canvas."""

    key: tuple[tuple[str, tuple[str, ...]], ...]
    width: int
    height: int
    boxes: dict[str, Box]  # file order
    columns: list[list[str]]  # the steps of each layer, top to bottom
    edge_rows: list[str]  # `height` strings of `width` cells, no box content
    row_boxes: list[tuple[tuple[Box, int], ...]]  # per row: (box, line of the box), by x
    requires: dict[str, tuple[str, ...]]
    dependants: dict[str, tuple[str, ...]]
    # per (step, selected): the box's three lines as (left edge, fill, right edge)
    _frames: dict[tuple[str, bool], tuple[tuple[str, str, str], ...]] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return list(self.boxes)

    def rows_of(self, name: str) -> range:
        box = self.boxes[name]
        return range(box.y, box.y + box.h)


@dataclass(frozen=True, slots=True)
class CompactRow:
    layer: int
    name: str
    requires: tuple[str, ...]


# -- public entry points ----------------------------------------------------------------


def graph_key(nodes: Iterable[NodeSpec]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((name, tuple(requires)) for name, requires in nodes)


def compute_layout(nodes: Sequence[NodeSpec], *, box_width: int | None = None) -> DagLayout:
    """Lay out `nodes` ((name, requires) in file order) left to right, one column per layer.

    `box_width` forces every box to that width instead of fitting each column's names.
    Requirements naming unknown steps are ignored; a cycle raises ValueError.
    """
    return _Builder(graph_key(nodes), box_width).build()


@functools.lru_cache(maxsize=8)
def cached_layout(key: tuple[tuple[str, tuple[str, ...]], ...]) -> DagLayout:
    """`compute_layout` memoised on the graph (use `graph_key(nodes)`)."""
    return _Builder(key, None).build()


def compute_layers(nodes: Sequence[NodeSpec]) -> dict[str, int]:
    """Each step's layer: the longest chain of requirements leading to it."""
    key = graph_key(nodes)
    names = [name for name, _ in key]
    index = {name: i for i, name in enumerate(names)}
    if len(index) != len(names):
        raise ValueError("duplicate step names")
    for name, reqs in key:
        _known_requires(reqs, index, name)  # a step requiring itself: named as such
    return layer_of(dict(key))


def compute_compact(nodes: Sequence[NodeSpec]) -> list[CompactRow]:
    """One row per step, grouped by layer, file order within a layer."""
    layers = compute_layers(nodes)
    rows = [CompactRow(layers[name], name, tuple(reqs)) for name, reqs in nodes]
    return sorted(rows, key=lambda row: row.layer)  # stable: keeps file order


def render_compact(
    rows: Sequence[CompactRow],
    states: Mapping[str, str],
    selected: str | None,
    glyph_for: GlyphFor,
    durations: Mapping[str, str] | None = None,
) -> list[Segments]:
    """`L1  ✓ plan      1.2s  ← needs` lines; the layer label only on a layer's first row."""
    if not rows:
        return []
    name_w = min(max(cell_len(r.name) for r in rows), MAX_LABEL)
    lines: list[Segments] = []
    last_layer = -1
    for row in rows:
        status = states.get(row.name, "pending")
        sel = row.name == selected
        layer = f"L{row.layer + 1}" if row.layer != last_layer else ""
        last_layer = row.layer
        glyph = glyph_for(status)
        pad = " " if cell_len(glyph) == 1 else ""
        duration = (durations or {}).get(row.name, "")
        line: Segments = [(f"{layer:<5}", "layer")]
        line.append((glyph + pad, _role("glyph", status, sel)))
        line.append((fit_cells(row.name, name_w) + " ", _role("label", status, sel)))
        line.append((f" {duration:>7}", "duration"))
        if row.requires:
            line.append(("  ← " + ", ".join(row.requires), "edge"))
        lines.append(line)
    return lines


def _coarser(duration: str) -> str:
    """A time in fewer cells for a narrow box: 10.8s → 11s, 0.3s → <1s (never `0s`: the
    step took time), 12m05s → 12m, 3h05m → 3h."""
    if (match := re.fullmatch(r"(\d+)\.\ds", duration)) is not None:
        seconds = float(duration[:-1])
        return "<1s" if seconds < 1 else f"{round(seconds)}s"
    if (match := re.fullmatch(r"(\d+[mhd])\d\d[smh]", duration)) is not None:
        return match.group(1)
    return duration


def render_lines(
    layout: DagLayout,
    states: Mapping[str, str],
    selected: str | None,
    glyph_for: GlyphFor,
    durations: Mapping[str, str] | None = None,
) -> list[Segments]:
    """Every line of the drawing as (text, role) segments."""
    return [
        render_row(layout, y, states, selected, glyph_for, durations) for y in range(layout.height)
    ]


def render_row(
    layout: DagLayout,
    y: int,
    states: Mapping[str, str],
    selected: str | None,
    glyph_for: GlyphFor,
    durations: Mapping[str, str] | None = None,
) -> Segments:
    """Line `y` as (text, role) segments covering the full width.

    Roles: "edge" for lines and blanks, otherwise "<part> <status>" with part one of
    border / glyph / label / duration, plus " selected" on the selected step.
    """
    edge = layout.edge_rows[y]
    out: Segments = []
    pos = 0
    for box, part in layout.row_boxes[y]:
        if box.x > pos:
            out.append((edge[pos : box.x], "edge"))
        status = states.get(box.name, "pending")
        sel = box.name == selected
        left, fill, right = _frame(layout, box, sel, part)
        if part == 1:
            border = _role("border", status, sel)
            glyph = glyph_for(status)
            width = cell_len(glyph)
            out.append((left, border))
            out.append((" " + glyph, _role("glyph", status, sel)))
            out.append((fill[width - 1 :] if width > 1 else fill, _role("label", status, sel)))
            out.append((right, border))
        elif part == 2 and durations and (duration := durations.get(box.name)):
            border = _role("border", status, sel)
            text = f" {duration} "
            if cell_len(text) > box.w - 4:  # a coarser time (11s, 12m), else cut: `…`
                coarse = _coarser(duration)
                fits = cell_len(coarse) <= box.w - 6
                text = " " + (coarse if fits else fit_cells(duration, max(box.w - 6, 1))) + " "
            room = box.w - 3 - cell_len(text)
            if room < 1:  # a narrow box keeps the time, without the note ("1.2s ×2")
                text = f" {duration.split(' ')[0]} "
                room = box.w - 3 - cell_len(text)
            if room >= 1:
                out.append((left + fill[:room], border))
                out.append((text, _role("duration", status, sel)))
                out.append((fill[0] + right, border))
            else:
                out.append((left + fill + right, border))
        else:
            out.append((left + fill + right, _role("border", status, sel)))
        pos = box.x + box.w
    if pos < layout.width:
        out.append((edge[pos:], "edge"))
    return out


def neighbour(layout: DagLayout, name: str, direction: Direction) -> str | None:
    """The step to move to from `name`: right/left follow edges (else the nearest box of the
    next/previous column), up/down stay in the column."""
    box = layout.boxes[name]
    column = layout.columns[box.layer]
    if direction in ("up", "down"):
        i = column.index(name) + (1 if direction == "down" else -1)
        return column[i] if 0 <= i < len(column) else None
    linked = layout.dependants[name] if direction == "right" else layout.requires[name]
    if linked:
        return min(
            linked,
            key=lambda n: (
                abs(layout.boxes[n].layer - box.layer),
                abs(layout.boxes[n].mid - box.mid),
                layout.boxes[n].mid,
            ),
        )
    layer = box.layer + (1 if direction == "right" else -1)
    if not 0 <= layer < len(layout.columns):
        return None
    return min(layout.columns[layer], key=lambda n: abs(layout.boxes[n].mid - box.mid))


def first_step(layout: DagLayout) -> str | None:
    return layout.columns[0][0] if layout.columns else None


# -- helpers ----------------------------------------------------------------------------


def _role(part: str, status: str, selected: bool) -> str:
    return f"{part} {status} selected" if selected else f"{part} {status}"


def _frame(layout: DagLayout, box: Box, selected: bool, part: int) -> tuple[str, str, str]:
    """Left edge, filling and right edge of line `part` of a box (fill carries the label)."""
    key = (box.name, selected)
    frames = layout._frames.get(key)
    if frames is None:
        tl, h, tr, v, bl, br = _HEAVY if selected else _LIGHT
        inner = box.w - 2
        top = (tl, h * inner, tr)
        # "│ G name │": the glyph is painted separately, so fill starts after it
        mid = (v, " " + fit_cells(box.label, inner - 4) + " ", v)
        bottom = (bl, h * inner, br)
        frames = (top, mid, bottom)
        layout._frames[key] = frames
    return frames[part]


def _known_requires(reqs: Sequence[str], index: Mapping[str, int], name: str) -> list[int]:
    out: list[int] = []
    for req in reqs:
        if req == name:
            raise ValueError(f"the steps form a cycle: {name} → {name}")
        i = index.get(req)
        if i is not None and i not in out:
            out.append(i)
    return out


def _isotonic(values: Sequence[float]) -> list[float]:
    """The non-decreasing sequence closest to `values` (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [sum, count]
    for value in values:
        blocks.append([value, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, n = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += n
    out: list[float] = []
    for total, n in blocks:
        out.extend([total / n] * int(n))
    return out


def _pair_crossings(upper: tuple[list[int], list[int]], lower: tuple[list[int], list[int]]) -> int:
    """Crossings between the edges of two neighbours in a rank, `upper` above `lower`,
    given each one's sorted neighbour positions (before, after)."""
    count = 0
    for side in (0, 1):
        below = lower[side]
        if below:
            count += sum(bisect.bisect_left(below, p) for p in upper[side])
    return count


def _find(parent: dict[int, int], a: int) -> int:
    """Union-find root of `a`, halving the path on the way."""
    while parent.setdefault(a, a) != a:
        parent[a] = parent[parent[a]]
        a = parent[a]
    return a


class _Builder:
    """One run of the layout; ids 0..n-1 are steps, higher ids are edge waypoints."""

    def __init__(self, key: tuple[tuple[str, tuple[str, ...]], ...], box_width: int | None):
        self.key = key
        self.box_width = max(box_width, 8) if box_width else None
        self.names = [name for name, _ in key]
        self.n = len(self.names)
        index = {name: i for i, name in enumerate(self.names)}
        if len(index) != self.n:
            raise ValueError("duplicate step names")
        self.step_preds = [_known_requires(reqs, index, name) for name, reqs in key]

    def build(self) -> DagLayout:
        layers = layer_of(dict(self.key))
        self.step_layer = [layers[name] for name in self.names]
        self._add_waypoints()
        self._order()
        self._make_buses()
        self._assign_rows()
        self._route()
        return self._finish()

    # layered graph with one waypoint chain per source for edges skipping layers
    def _add_waypoints(self) -> None:
        n = self.n
        self.layer: list[int] = list(self.step_layer)
        self.succ: list[list[int]] = [[] for _ in range(n)]
        self.pred: list[list[int]] = [[] for _ in range(n)]
        self.owner: list[int] = list(range(n))  # the step a waypoint belongs to
        step_succ: list[list[int]] = [[] for _ in range(n)]
        for v, ps in enumerate(self.step_preds):
            for u in ps:
                step_succ[u].append(v)
        for u in range(n):
            targets = step_succ[u]
            if not targets:
                continue
            lu = self.layer[u]
            far = max(self.layer[t] for t in targets)
            chain = [u]
            for lay in range(lu + 1, far):
                w = len(self.layer)
                self.layer.append(lay)
                self.succ.append([])
                self.pred.append([])
                self.owner.append(u)
                self._link(chain[-1], w)
                chain.append(w)
            for t in targets:
                self._link(chain[self.layer[t] - lu - 1], t)
        depth = max(self.layer, default=-1) + 1
        self.ranks: list[list[int]] = [[] for _ in range(depth)]
        for v in range(len(self.layer)):
            self.ranks[self.layer[v]].append(v)

    def _link(self, u: int, v: int) -> None:
        self.succ[u].append(v)
        self.pred[v].append(u)

    # crossing reduction: sweeps down and up, each placing a rank by the barycenter (then,
    # alternately, the median) of its neighbours in the rank just placed, then swapping
    # neighbours while that removes crossings; the best order seen is kept
    def _order(self) -> None:
        pos = [0] * len(self.layer)
        ranks = self.ranks
        if ranks:
            # steps in file order, waypoints after their owner
            ranks[0].sort()
            for i, v in enumerate(ranks[0]):
                pos[v] = i
        for r in range(1, len(ranks)):
            self._sort_rank(ranks[r], self.pred, pos, initial=True)
        best = [list(r) for r in ranks]
        best_cross = self._crossings(pos)
        stale = 0
        for sweep in range(_SWEEPS):
            if best_cross == 0 or stale >= _STALE_SWEEPS:
                break
            median = sweep % 4 >= 2
            if sweep % 2 == 0:
                for r in range(len(ranks) - 2, -1, -1):
                    self._sort_rank(ranks[r], self.succ, pos, median=median)
            else:
                for r in range(1, len(ranks)):
                    self._sort_rank(ranks[r], self.pred, pos, median=median)
            if len(self.layer) <= _TRANSPOSE_EACH_MAX:
                self._transpose(pos, 1)
            cross = self._crossings(pos)
            if cross < best_cross:
                best_cross, stale = cross, 0
                best = [list(r) for r in ranks]
            else:
                stale += 1
        self.ranks = best
        self.pos = pos
        for rank in best:
            for i, v in enumerate(rank):
                pos[v] = i
        if best_cross:
            self._transpose(pos, _TRANSPOSE_PASSES)
            best_cross = self._crossings(pos)
        self.crossings = best_cross

    def _sort_rank(
        self,
        rank: list[int],
        nbrs: list[list[int]],
        pos: list[int],
        initial: bool = False,
        median: bool = False,
    ) -> None:
        owner = self.owner

        def key(v: int) -> tuple[float, int, int]:
            ns = nbrs[v]
            if not ns:
                at = float(pos[v])  # nothing to follow: stays where it is
            elif median:
                ps = sorted(pos[u] for u in ns)
                mid = len(ps) // 2
                at = float(ps[mid]) if len(ps) % 2 else (ps[mid - 1] + ps[mid]) / 2
            else:
                at = sum(pos[u] for u in ns) / len(ns)
            # ties: file order at first, then the current order (keeps sweeps stable)
            return (at, owner[v] if initial else pos[v], v)

        rank.sort(key=key)
        for i, v in enumerate(rank):
            pos[v] = i

    def _transpose(self, pos: list[int], passes: int) -> None:
        """Swap neighbours in a rank while that lowers the crossings with both sides."""
        if len(self.layer) > _TRANSPOSE_MAX:
            return  # big graphs rely on the sweeps alone
        for _ in range(passes):
            improved = False
            for rank in self.ranks:
                # swapping within this rank moves no neighbour: their positions hold
                sides = {
                    v: (sorted(pos[u] for u in self.pred[v]), sorted(pos[w] for w in self.succ[v]))
                    for v in rank
                }
                for i in range(len(rank) - 1):
                    a, b = rank[i], rank[i + 1]
                    if _pair_crossings(sides[b], sides[a]) < _pair_crossings(sides[a], sides[b]):
                        rank[i], rank[i + 1] = b, a
                        pos[a], pos[b] = i + 1, i
                        improved = True
            if not improved:
                return

    def _crossings(self, pos: list[int]) -> int:
        total = 0
        for rank in self.ranks[:-1]:
            edges = sorted((pos[u], pos[v]) for u in rank for v in self.succ[u])
            if len(edges) < 2:
                continue
            size = max(p for _, p in edges) + 1
            tree = [0] * (size + 1)
            for seen, (_, p) in enumerate(edges):
                # count earlier edges ending strictly below p (a Fenwick tree)
                i = p + 1
                le = 0
                while i > 0:
                    le += tree[i]
                    i -= i & -i
                total += seen - le
                i = p + 1
                while i <= size:
                    tree[i] += 1
                    i += i & -i
        return total

    # buses: which edges of a channel share a vertical track
    def _make_buses(self) -> None:
        count = len(self.layer)
        self.out_buses: list[list[int]] = [[] for _ in range(count)]
        self.in_buses: list[list[int]] = [[] for _ in range(count)]
        self.buses: list[tuple[int, list[int], list[int]]] = []  # (channel, sources, targets)
        for r, rank in enumerate(self.ranks[:-1]):
            parent: dict[int, int] = {}
            for u in rank:
                for v in self.succ[u]:
                    parent[_find(parent, u)] = _find(parent, v)
            groups: dict[int, tuple[list[int], set[int], list[int]]] = {}
            for u in rank:  # rank order keeps buses deterministic
                if self.succ[u]:
                    group = groups.setdefault(_find(parent, u), ([], set(), [0]))
                    group[0].append(u)
                    group[1].update(self.succ[u])
                    group[2][0] += len(self.succ[u])
            for sources, target_set, (edges,) in groups.values():
                targets = sorted(target_set, key=self.pos.__getitem__)
                if edges == len(sources) * len(targets):
                    self._add_bus(r, sources, targets)
                else:
                    self._split_component(r, sources, targets)

    def _split_component(self, channel: int, sources: list[int], targets: list[int]) -> None:
        """Buses for a group that is not all-to-all, so that no line can be misread.

        A fan-out bus only reaches targets with no other input, a fan-in bus only takes
        sources with no other output, and the remaining edges get a track each: then a
        line followed rightwards never turns into a bus that belongs to someone else.
        """
        succ, pred = self.succ, self.pred
        fan_in: dict[int, list[int]] = {}
        singles: list[tuple[int, int]] = []
        for u in sources:
            fan_out = [v for v in succ[u] if len(pred[v]) == 1]
            if fan_out:
                self._add_bus(channel, [u], sorted(fan_out, key=self.pos.__getitem__))
            for v in succ[u]:
                if len(pred[v]) == 1:
                    continue
                if len(succ[u]) == 1:
                    fan_in.setdefault(v, []).append(u)
                else:
                    singles.append((u, v))
        for v in targets:
            if v in fan_in:
                self._add_bus(channel, fan_in[v], [v])
        for u, v in singles:
            self._add_bus(channel, [u], [v])

    def _add_bus(self, channel: int, sources: list[int], targets: list[int]) -> None:
        b = len(self.buses)
        self.buses.append((channel, sources, targets))
        for u in sources:
            self.out_buses[u].append(b)
        for v in targets:
            self.in_buses[v].append(b)

    def _can_share_row(self, u: int, v: int) -> bool:
        """May `u` and the next column's `v` have the same middle row?"""
        out = self.out_buses[u]
        if not out:
            return True
        into = self.in_buses[v]
        if len(into) != 1 or into[0] not in out:
            return False
        # the shared row runs on to v past u's other junctions: only safe when no line
        # from elsewhere can reach those junctions
        return len(out) == 1 or all(self._closed(b) for b in out)

    def _closed(self, b: int) -> bool:
        """Bus `b` has one source and is the only way into each of its targets."""
        _, sources, targets = self.buses[b]
        return len(sources) == 1 and all(len(self.in_buses[v]) == 1 for v in targets)

    # rows: each slot wants the upper median of its predecessors' rows; a column's slots
    # are spread around what they want (least squares, keeping order and spacing), then
    # pushed down off rows they must not share with the previous column
    def _assign_rows(self) -> None:
        count = len(self.layer)
        self.mid = [0] * count
        self.top = [0] * count
        prev_at: dict[int, int] = {}
        for rank in self.ranks:
            offsets: list[int] = []
            gaps: list[int] = []
            wants: list[float] = []
            offset = 0
            prev_box = True
            for v in rank:
                is_box = v < self.n
                gaps.append(0 if is_box and prev_box else _GAP)
                offset += gaps[-1]
                prev_box = is_box
                preds = sorted(self.mid[u] for u in self.pred[v])
                want = preds[(len(preds) - 1) // 2] - (1 if is_box else 0) if preds else offset
                offsets.append(offset)
                wants.append(want - offset)
                offset += BOX_HEIGHT if is_box else _DUMMY_HEIGHT
            shift = _isotonic(wants)
            at: dict[int, int] = {}
            floor = 0
            for i, v in enumerate(rank):
                is_box = v < self.n
                m = 1 if is_box else 0
                top = max(offsets[i] + round(shift[i]), floor + gaps[i])
                while (u := prev_at.get(top + m)) is not None and not self._can_share_row(u, v):
                    top += 1
                self.top[v] = top
                self.mid[v] = top + m
                at[top + m] = v
                floor = top + (BOX_HEIGHT if is_box else _DUMMY_HEIGHT)
            prev_at = at
        self.height = max((self.top[v] + (3 if v < self.n else 1) for v in range(count)), default=0)

    # columns, channels and the edge canvas
    def _route(self) -> None:
        depth = len(self.ranks)
        widths: list[int] = []
        labels: dict[int, str] = {}
        for rank in self.ranks:
            steps = [v for v in rank if v < self.n]
            for v in steps:
                labels[v] = fit_cells(self.names[v], MAX_LABEL).rstrip()
            longest = max((cell_len(labels[v]) for v in steps), default=1)
            least = 9  # room for a coarse time under a short name: └─ 11s ─┘
            if any(GROUP_MARK in self.names[v] for v in steps):
                least = GROUP_BOX_WIDTH  # room for its count by status on the bottom line
            widths.append(self.box_width or max(longest + 6, least))
        self.labels = labels
        # tracks per channel: (x slot order, bus id, lo, hi); single-row buses need none
        channel_tracks: list[list[int]] = [[] for _ in range(depth)]
        self.bus_rows: list[tuple[list[int], list[int]]] = []
        for b, (ch, sources, targets) in enumerate(self.buses):
            src_rows = [self.mid[u] for u in sources]
            tgt_rows = [self.mid[v] for v in targets]
            self.bus_rows.append((src_rows, tgt_rows))
            if min(src_rows + tgt_rows) != max(src_rows + tgt_rows):
                channel_tracks[ch].append(b)
        for ch in range(depth):
            channel_tracks[ch] = self._order_tracks(channel_tracks[ch])
        self.col_x: list[int] = []
        x = 0
        for ch in range(depth):
            self.col_x.append(x)
            x += widths[ch]
            if ch < depth - 1:
                x += 2 * len(channel_tracks[ch]) + 2
        self.width = x
        self.widths = widths
        self.track_x: dict[int, int] = {}
        for ch in range(depth - 1):
            x0 = self.col_x[ch] + widths[ch]
            for j, b in enumerate(channel_tracks[ch]):
                self.track_x[b] = x0 + 1 + 2 * j
        grid = [bytearray(self.width) for _ in range(self.height)]
        for b, xb in self.track_x.items():
            lo, hi = self._span(b)
            grid[lo][xb] = _DOWN
            for r in range(lo + 1, hi):
                grid[r][xb] = _V
            grid[hi][xb] = _UP
        for ch in range(depth - 1):
            self._draw_channel(grid, ch, channel_tracks[ch])
        for v in range(self.n, len(self.layer)):  # waypoints run straight through a column
            x0 = self.col_x[self.layer[v]]
            grid[self.mid[v]][x0 : x0 + widths[self.layer[v]]] = bytes([_H]) * widths[self.layer[v]]
        self.edge_rows = [row.decode("latin-1").translate(_TRANSLATE) for row in grid]

    def _span(self, b: int) -> tuple[int, int]:
        src, tgt = self.bus_rows[b]
        return min(*src, *tgt), max(*src, *tgt)

    def _order_tracks(self, tracks: list[int]) -> list[int]:
        def key(b: int) -> tuple[bool, int, float]:
            src, tgt = self.bus_rows[b]
            s = sum(src) / len(src)
            t = sum(tgt) / len(tgt)
            # open buses go right, so a line entering one cannot run on into a closed one;
            # a downward track left of those above it, an upward one left of those below
            return (not self._closed(b), 0, -s) if t >= s else (not self._closed(b), 1, s)

        order = sorted(tracks, key=key)
        # adjacent swaps only change the crossings of that pair
        for _ in range(3):
            changed = False
            for i in range(len(order) - 1):
                a, b = order[i], order[i + 1]
                if self._closed(a) != self._closed(b):
                    continue
                if self._pair_cost(b, a) < self._pair_cost(a, b):
                    order[i], order[i + 1] = b, a
                    changed = True
            if not changed:
                break
        return order

    def _pair_cost(self, left: int, right: int) -> int:
        """Crossings between two tracks when `left` is placed left of `right`."""
        llo, lhi = self._span(left)
        rlo, rhi = self._span(right)
        cost = sum(1 for r in self.bus_rows[right][0] if llo < r < lhi)
        return cost + sum(1 for r in self.bus_rows[left][1] if rlo < r < rhi)

    def _draw_channel(self, grid: list[bytearray], ch: int, tracks: list[int]) -> None:
        x0 = self.col_x[ch] + self.widths[ch]
        x_end = self.col_x[ch + 1] - 1  # the cell left of the next column
        lines: dict[int, list[int]] = {}  # row → [source, target]
        for u in self.ranks[ch]:
            if self.succ[u]:
                lines.setdefault(self.mid[u], [-1, -1])[0] = u
        for v in self.ranks[ch + 1]:
            lines.setdefault(self.mid[v], [-1, -1])[1] = v
        spans = {b: self._span(b) for b in tracks}
        for r, (u, v) in lines.items():
            touched: set[int] = set()
            if u >= 0:
                touched.update(self.out_buses[u])
            if v >= 0:
                touched.update(self.in_buses[v])
            xs = [self.track_x[b] for b in touched if b in self.track_x]
            a = x0 if u >= 0 else min(xs)
            z = x_end if v >= 0 else max(xs)
            row = grid[r]
            row[a : z + 1] = bytes([_H]) * (z + 1 - a)
            for b in tracks:
                xb = self.track_x[b]
                if not a <= xb <= z:
                    continue
                lo, hi = spans[b]
                if b in touched:
                    bits = (_UP if r > lo else 0) | (_DOWN if r < hi else 0)
                    row[xb] = bits | (_LEFT if xb > a else 0) | (_RIGHT if xb < z else 0)
                elif lo < r < hi:
                    row[xb] = _V  # a crossing: the line passes under the track
            if v >= 0 and v < self.n:
                row[x_end] = _ARROW

    def _finish(self) -> DagLayout:
        boxes: dict[str, Box] = {}
        for v in range(self.n):
            lay = self.layer[v]
            boxes[self.names[v]] = Box(
                name=self.names[v],
                label=self.labels[v],
                layer=lay,
                x=self.col_x[lay],
                y=self.top[v],
                w=self.widths[lay],
            )
        columns = [[self.names[v] for v in rank if v < self.n] for rank in self.ranks]
        row_boxes: list[list[tuple[Box, int]]] = [[] for _ in range(self.height)]
        for box in sorted(boxes.values(), key=lambda b: b.x):
            for part in range(box.h):
                row_boxes[box.y + part].append((box, part))
        step_succ: dict[str, list[str]] = {name: [] for name in self.names}
        for v, ps in enumerate(self.step_preds):
            for u in ps:
                step_succ[self.names[u]].append(self.names[v])
        return DagLayout(
            key=self.key,
            width=self.width,
            height=self.height,
            boxes=boxes,
            columns=columns,
            edge_rows=self.edge_rows,
            row_boxes=[tuple(r) for r in row_boxes],
            requires={
                self.names[v]: tuple(self.names[u] for u in ps)
                for v, ps in enumerate(self.step_preds)
            },
            dependants={k: tuple(v) for k, v in step_succ.items()},
        )
