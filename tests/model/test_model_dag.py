"""The DAG helpers over loaded steps."""

from __future__ import annotations

import subprocess
import sys

import pytest

from flowtui.model.graph import build_graph, downstream, find_cycle, layer_of, layers
from flowtui.model.loader import load_workflow_text
from flowtui.model.workflow import SourcePos, Step
from tests.model.model_helpers import with_steps

POS = SourcePos("t.yaml", 1, 1)


def steps_of(spec: dict[str, list[str]]) -> dict[str, Step]:
    return {name: Step(name, "script", POS, requires=tuple(reqs)) for name, reqs in spec.items()}


def diamond() -> dict[str, Step]:
    text = with_steps(
        """
        plan: {run: x}
        approve: {run: x, requires: plan}
        apply_us: {run: x, requires: approve}
        apply_eu: {run: x, requires: approve}
        verify: {run: x, requires: [apply_eu, apply_us]}
        other: {run: x}
        """
    )
    return dict(load_workflow_text(text).steps)


def test_build_graph_nodes_and_edges() -> None:
    steps = diamond()
    graph = build_graph(steps)
    assert list(graph.nodes) == list(steps)
    assert graph.nodes["verify"]["step"] is steps["verify"]
    assert set(graph.edges) == {
        ("plan", "approve"),
        ("approve", "apply_us"),
        ("approve", "apply_eu"),
        ("apply_eu", "verify"),
        ("apply_us", "verify"),
    }


def test_build_graph_rejects_unknown_requirement() -> None:
    with pytest.raises(KeyError, match="unknown step `ghost`"):
        build_graph(steps_of({"a": ["ghost"]}))


def test_layers_keep_file_order_within_a_layer() -> None:
    expected = [["plan", "other"], ["approve"], ["apply_us", "apply_eu"], ["verify"]]
    assert layers(diamond()) == expected
    assert layers(build_graph(diamond())) == expected


def test_layers_refuse_a_cycle() -> None:
    with pytest.raises(ValueError, match="cycle"):
        layers(steps_of({"a": ["b"], "b": ["a"]}))


def test_find_cycle_none_for_a_dag() -> None:
    assert find_cycle(diamond()) is None


def test_find_cycle_in_run_order_starting_at_the_first_step_in_the_file() -> None:
    steps = steps_of({"x": [], "a": ["c"], "b": ["a"], "c": ["b", "x"]})
    assert find_cycle(steps) == ["a", "b", "c"]


def test_find_cycle_self_loop() -> None:
    assert find_cycle(steps_of({"a": ["a"]})) == ["a"]


def test_downstream() -> None:
    steps = diamond()
    assert downstream(steps, "approve") == {"apply_us", "apply_eu", "verify"}
    assert downstream(steps, "verify") == set()
    with pytest.raises(KeyError):
        downstream(steps, "nope")


def test_downstream_of_a_matrix_base_name() -> None:
    text = with_steps("a: {run: x, matrix: {n: [1, 2]}}\nb: {run: x, requires: 'a[n=2]'}\n")
    assert downstream(dict(load_workflow_text(text).steps), "a") == {"b"}


def test_long_chain_has_no_recursion_limit() -> None:
    n = 5000
    steps = steps_of({f"s{i}": ([f"s{i - 1}"] if i else []) for i in range(n)})
    assert find_cycle(steps) is None
    assert len(downstream(steps, "s0")) == n - 1
    assert len(layers(steps)) == n
    ring = steps_of({f"s{i}": [f"s{(i - 1) % n}"] for i in range(n)})
    assert len(find_cycle(ring) or []) == n


def test_importing_dag_does_not_import_networkx() -> None:
    code = "import sys, flowtui.model.graph; print('networkx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_layer_of_matches_networkx_generations_in_order() -> None:
    """layer_of is plain Python (the dashboard's first frame must not import networkx); it
    gives networkx's topological generations, in networkx's order, on random graphs with
    repeated, self-free and outside requirements."""
    import random

    import networkx

    rng = random.Random(18)
    for size in (1, 2, 7, 40, 300):
        names = [f"n{i}" for i in rng.sample(range(size * 3), size)]
        requires = {
            name: [rng.choice(names[:i]) for _ in range(rng.randint(0, 3))]
            + ["outside"] * (i % 5 == 0)
            if i
            else []
            for i, name in enumerate(names)
        }
        graph: networkx.DiGraph[str] = networkx.DiGraph()
        graph.add_nodes_from(requires)
        graph.add_edges_from(
            (dep, name) for name, deps in requires.items() for dep in deps if dep in requires
        )
        expected = [
            (node, depth)
            for depth, generation in enumerate(networkx.topological_generations(graph))
            for node in generation
        ]
        assert list(layer_of(requires).items()) == expected


def test_layer_of_names_a_cycle() -> None:
    with pytest.raises(ValueError, match="the steps form a cycle: a → b → a"):
        layer_of({"c": [], "a": ["c", "b"], "b": ["a"]})
    with pytest.raises(ValueError, match="the steps form a cycle: s → s"):
        layer_of({"s": ["s"]})
