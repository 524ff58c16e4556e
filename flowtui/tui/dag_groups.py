"""What of a big graph the DAG shows: groups of look-alike steps, and the path to a failure.

Pure and Textual-free.  A *group* stands for steps drawn as one box: the copies of a matrix
step (`build[n=1]` … `build[n=20]` → `build ×20`), or, in a wide layer, steps needing the
same steps and needed by the same steps (`test_1` … `test_9` → `test_ ×9`).  A group's
status is its worst member's, and its summary counts members by status (`18✓ 2◐`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from flowtui.model.graph import layer_of

GROUP_MIN = 7  # fewer look-alike steps than this are drawn one by one
GROUP_MARK = " ×"  # in a group's name: step names never hold a space

NodeSpec = tuple[str, Sequence[str]]
Key = tuple[tuple[str, tuple[str, ...]], ...]

# a group shows the status that needs the user first
_WORST = (
    "failed",
    "timed_out",
    "rejected",
    "held",
    "running",
    "interrupted",
    "cancelled",
    "pending",
    "not_run",
    "skipped",
    "reused",
    "succeeded",
)
FAILED = frozenset({"failed", "timed_out", "rejected"})


@dataclass(frozen=True, slots=True)
class Shown:
    """The graph as drawn: `nodes` in file order, and each group's members."""

    nodes: Key
    groups: Mapping[str, tuple[str, ...]]

    def group_of(self) -> dict[str, str]:
        """Each grouped step → its group."""
        return {member: g for g, members in self.groups.items() for member in members}


def is_group(name: str) -> bool:
    return GROUP_MARK in name


def base_name(name: str) -> str:
    """A matrix copy's step name (`build[n=1]` → `build`), else the name itself."""
    return name.partition("[")[0]


def shape(
    nodes: Sequence[NodeSpec],
    *,
    expanded: Iterable[str] = (),
    only: Iterable[str] | None = None,
    min_size: int = GROUP_MIN,
) -> Shown:
    """`nodes` ((name, requires), file order) with look-alike steps grouped.

    `expanded`: group names (`build ×20`) to draw one by one; `only`: the steps to keep
    (their requirements on steps left out are dropped).
    """
    keep = None if only is None else set(only)
    graph = [
        (name, tuple(r for r in reqs if keep is None or r in keep))
        for name, reqs in nodes
        if keep is None or name in keep
    ]
    open_groups = set(expanded)
    copies = _matrix_groups(graph, min_size)
    in_matrix = {name for _, names in copies for name in names}
    members = copies + [
        (label, names)
        for label, names in _sibling_groups(graph, min_size)
        if not in_matrix.intersection(names)  # expanded copies stay apart
    ]
    groups: dict[str, tuple[str, ...]] = {}
    grouped: dict[str, str] = {}
    for label, names in members:
        if any(n in grouped for n in names):
            continue
        name = f"{label}{GROUP_MARK}{len(names)}"
        if name in open_groups:
            continue
        groups[name] = tuple(names)
        for n in names:
            grouped[n] = name
    if not groups:
        return Shown(tuple(graph), {})
    shown: list[tuple[str, tuple[str, ...]]] = []
    placed: set[str] = set()
    by_name = dict(graph)
    for name, _reqs in graph:
        target = grouped.get(name, name)
        if target in placed:
            continue
        placed.add(target)
        sources = groups.get(target, (name,))
        needs: list[str] = []
        for member in sources:
            for req in by_name[member]:
                r = grouped.get(req, req)
                if r != target and r not in needs:
                    needs.append(r)
        shown.append((target, tuple(needs)))
    try:
        layer_of(dict(shown))
    except ValueError:
        return Shown(tuple(graph), {})  # copies tied to each other's neighbours: drawn apart
    return Shown(tuple(shown), groups)


def _matrix_groups(graph: Sequence[NodeSpec], min_size: int) -> list[tuple[str, list[str]]]:
    copies: dict[str, list[str]] = {}
    for name, _ in graph:
        if "[" in name:
            copies.setdefault(base_name(name), []).append(name)
    return [(base, names) for base, names in copies.items() if len(names) >= min_size]


def _sibling_groups(graph: Sequence[NodeSpec], min_size: int) -> list[tuple[str, list[str]]]:
    """Steps of one layer with the same requirements and the same dependants."""
    try:
        layers = layer_of({name: tuple(reqs) for name, reqs in graph})
    except ValueError:
        return []  # a cycle: drawn as an error elsewhere
    dependants: dict[str, list[str]] = {name: [] for name, _ in graph}
    for name, reqs in graph:
        for req in reqs:
            if req in dependants:
                dependants[req].append(name)
    alike: dict[tuple[int, frozenset[str], frozenset[str]], list[str]] = {}
    for name, reqs in graph:
        sig = (layers[name], frozenset(reqs), frozenset(dependants[name]))
        alike.setdefault(sig, []).append(name)
    return [(_common_prefix(names), names) for names in alike.values() if len(names) >= min_size]


def _common_prefix(names: Sequence[str]) -> str:
    first, last = min(names), max(names)
    i = 0
    while i < min(len(first), len(last)) and first[i] == last[i]:
        i += 1
    return first[:i] or "steps"


def group_status(statuses: Iterable[str]) -> str:
    """The status a group is drawn with: its members' worst (all succeeded: succeeded)."""
    seen = set(statuses)
    if not seen:
        return "pending"
    if seen <= {"succeeded", "reused", "skipped"}:
        return "succeeded" if "succeeded" in seen else min(seen, key=_rank)
    if seen <= {"pending", "succeeded", "reused", "skipped"} and seen & {"succeeded", "reused"}:
        return "running"  # part done, part to do: under way
    return min(seen, key=_rank)


def _rank(status: str) -> int:
    return _WORST.index(status) if status in _WORST else len(_WORST)


def summary(statuses: Iterable[str], glyph_for: Callable[[str], str]) -> str:
    """Members counted by status, like a progress bar: done, going, to do, failed
    (`18✓ 2◐`)."""
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    order = sorted(counts, key=lambda s: -_rank(s))
    return " ".join(f"{counts[s]}{glyph_for(s)}" for s in order)


def failure_path(nodes: Sequence[NodeSpec], states: Mapping[str, str]) -> list[str]:
    """The failed steps and every step they depend on, in file order (empty: none failed)."""
    requires = {name: tuple(reqs) for name, reqs in nodes}
    todo = [name for name, _ in nodes if states.get(name) in FAILED]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in requires:
            continue
        seen.add(name)
        todo.extend(requires[name])
    return [name for name, _ in nodes if name in seen]
