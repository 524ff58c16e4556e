"""The step graph: edge u → v when step v requires step u.

networkx does the graph work (layers, what depends on a step, longest chains); it is
imported inside the functions that need it, because it costs ~85 ms at import and the
CLI's cold start matters.  `find_cycle` is plain Python for that reason: the loader (and
the CircleCI importer) call it on every load.  Nothing here recurses over steps, so a chain
thousands of steps deep is fine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import repeat
from typing import TYPE_CHECKING

from flowtui.model.workflow import Step

if TYPE_CHECKING:
    import networkx


def build_graph(steps: Mapping[str, Step]) -> networkx.DiGraph:
    """A DiGraph with one node per step (attribute `step`), in file order."""
    import networkx

    graph: networkx.DiGraph[str] = networkx.DiGraph()
    for name, step in steps.items():
        graph.add_node(name, step=step)
    for name, step in steps.items():
        for required in step.requires:
            if required not in steps:
                raise KeyError(f"step `{name}` requires unknown step `{required}`")
            graph.add_edge(required, name)
    return graph


def find_cycle(graph: Mapping[str, Step] | Mapping[str, Iterable[str]]) -> list[str] | None:
    """The steps of one cycle in run order (each must run before the next), or None.

    `graph` maps a name to its step, or straight to what it requires.  The list starts at
    the cycle's step that comes first in the file, so the answer is stable; requirements
    outside `graph` are ignored.
    """
    steps = {
        name: tuple(value.requires if isinstance(value, Step) else value)
        for name, value in graph.items()
    }
    order = {name: i for i, name in enumerate(steps)}
    # the usual file: each step requires only steps above it (or outside `graph`), so there
    # is no cycle; said without a walk, in C (map, max) rather than per requirement
    below = order.get
    if all(
        max(map(below, reqs, repeat(-1)), default=-1) < i for i, reqs in enumerate(steps.values())
    ):
        return None
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for start in steps:
        if start in state:
            continue
        # path[i] requires path[i + 1]; iters[i] walks path[i]'s requirements
        path = [start]
        iters = [iter(steps[start])]
        state[start] = 1
        while path:
            nxt = next(iters[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                iters.pop()
                continue
            if nxt not in steps:
                continue
            seen = state.get(nxt)
            if seen == 1:
                loop = path[path.index(nxt) :]
                run_order = [loop[0], *reversed(loop[1:])]
                first = min(range(len(run_order)), key=lambda i: order[run_order[i]])
                return run_order[first:] + run_order[:first]
            if seen is None:
                state[nxt] = 1
                path.append(nxt)
                iters.append(iter(steps[nxt]))
    return None


def layers(graph_or_steps: networkx.DiGraph | Mapping[str, Step]) -> list[list[str]]:
    """Steps grouped into generations that can run together; file order within a layer.

    Raises ValueError naming a cycle if there is one.
    """
    import networkx

    if isinstance(graph_or_steps, networkx.DiGraph):
        graph = graph_or_steps
    else:
        graph = build_graph(graph_or_steps)
    order = {name: i for i, name in enumerate(graph.nodes)}
    try:
        generations = list(networkx.topological_generations(graph))
    except networkx.NetworkXUnfeasible:
        cycle = networkx.find_cycle(graph)
        shown = " → ".join([*(u for u, _ in cycle), cycle[0][0]])
        raise ValueError(f"the steps form a cycle: {shown}") from None
    return [sorted(layer, key=order.__getitem__) for layer in generations]


def downstream(steps: Mapping[str, Step], name: str) -> set[str]:
    """Every step that depends on `name`, directly or not (not `name` itself).

    `name` may also be a matrix step's base name, meaning all of its copies.
    """
    import networkx

    starts = [name] if name in steps else [n for n, s in steps.items() if s.base == name]
    if not starts:
        raise KeyError(f"no step named `{name}`")
    graph = build_graph(steps)
    found: set[str] = set()
    for start in starts:
        found |= networkx.descendants(graph, start)
    return found - set(starts)


def upstream(requires: Mapping[str, Iterable[str]], starts: Iterable[str]) -> set[str]:
    """Every name the `starts` require, directly or not (a start only when another start
    requires it).  Requirements outside `requires` are ignored.  A plain walk: it runs per
    step (its environment), where building a graph would cost more than it answers."""
    found: set[str] = set()
    todo = [dep for start in starts for dep in requires.get(start, ())]
    while todo:
        name = todo.pop()
        if name not in found and name in requires:
            found.add(name)
            todo.extend(requires[name])
    return found


def layer_of(requires: Mapping[str, Iterable[str]]) -> dict[str, int]:
    """Each name's layer: the length of the longest chain of requirements leading to it.

    Requirements outside `requires` are ignored.  Raises ValueError naming a cycle.
    Plain Python (Kahn's algorithm, generation by generation, in networkx's
    `topological_generations` order): the dashboard lays out its first DAG with it, and
    importing networkx would cost that first frame ~0.1 s.
    """
    children: dict[str, list[str]] = {name: [] for name in requires}
    waiting: dict[str, int] = {}
    for name, deps in requires.items():
        distinct = {dep for dep in deps if dep in children}
        waiting[name] = len(distinct)
        for dep in dict.fromkeys(dep for dep in deps if dep in children):
            children[dep].append(name)
    result: dict[str, int] = {}
    generation = [name for name, count in waiting.items() if count == 0]
    depth = 0
    while generation:
        following: list[str] = []
        for name in generation:
            result[name] = depth
            for child in children[name]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    following.append(child)
        generation = following
        depth += 1
    if len(result) != len(children):
        cycle = find_cycle(requires) or []
        shown = " → ".join([*cycle, *cycle[:1]])
        raise ValueError(f"the steps form a cycle: {shown}")
    return result
