"""The step graph: edge u → v when step v requires step u.

networkx is imported inside the functions that need it: it costs ~85 ms at import, and the
CLI's cold start matters.  `find_cycle` and `downstream` are plain Python for that reason
(the loader calls `find_cycle` on every load).  Nothing here recurses over steps, so a
chain thousands of steps deep is fine.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING

from flowtui.model.workflow import Step

if TYPE_CHECKING:
    import networkx


def build_graph(steps: Mapping[str, Step]) -> networkx.DiGraph:
    """A DiGraph with one node per step (attribute `step`), in file order."""
    import networkx

    graph = networkx.DiGraph()
    for name, step in steps.items():
        graph.add_node(name, step=step)
    for name, step in steps.items():
        for required in step.requires:
            if required not in steps:
                raise KeyError(f"step `{name}` requires unknown step `{required}`")
            graph.add_edge(required, name)
    return graph


def find_cycle(steps: Mapping[str, Step]) -> list[str] | None:
    """The steps of one cycle in run order (each must run before the next), or None.

    The list starts at the cycle's step that comes first in the file, so the answer is
    stable; steps outside `steps` are ignored.
    """
    order = {name: i for i, name in enumerate(steps)}
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for start in steps:
        if start in state:
            continue
        # path[i] requires path[i + 1]; iters[i] walks path[i]'s requirements
        path = [start]
        iters = [iter(steps[start].requires)]
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
                iters.append(iter(steps[nxt].requires))
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
    starts = [name] if name in steps else [n for n, s in steps.items() if s.base == name]
    if not starts:
        raise KeyError(f"no step named `{name}`")
    dependents: dict[str, list[str]] = {n: [] for n in steps}
    for step_name, step in steps.items():
        for required in step.requires:
            if required in dependents:
                dependents[required].append(step_name)
    found: set[str] = set()
    queue = deque(starts)
    while queue:
        for child in dependents[queue.popleft()]:
            if child not in found:
                found.add(child)
                queue.append(child)
    return found - set(starts)
