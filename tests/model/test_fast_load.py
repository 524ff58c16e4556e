"""The faster load keeps its shapes: positions worked out when asked for, the tree checked
while it is built, refs with lazy positions, the collector held off and restored."""

from __future__ import annotations

import gc
import threading

import pytest

from flowtui.model.checker import Ref
from flowtui.model.errors import WorkflowError
from flowtui.model.gcpause import collector_paused
from flowtui.model.graph import find_cycle
from flowtui.model.loader import _Checker, load_workflow_text
from flowtui.model.validate_steps import _field_defaults
from flowtui.model.workflow import SourcePos
from flowtui.model.yamlsafe import MAX_DEPTH, MAX_NODES, Entry, YMap, YSeq, parse_document
from tests.model.model_helpers import line_of, problems_of, yaml_text

TEXT = yaml_text(
    """
    name: demo
    steps:
      a: {run: "x", requires: [b, c]}
      b:
        run: y
      c: {run: z}
    """
)


def at(line: int, column: int) -> SourcePos:
    return SourcePos("f.yaml", line, column)


def test_positions_asked_for_before_entries_are_the_entries_positions() -> None:
    root = parse_document(TEXT, "f.yaml").value
    steps = root["steps"]
    # asked one by one first (no entries made), then through entries: the same
    assert (steps.key_pos("a"), steps.value_pos("a")) == (at(3, 3), at(3, 6))
    assert (steps.key_pos("b"), steps.value_pos("b")) == (at(4, 3), at(5, 5))
    assert list(steps.entry_keys()) == ["a", "b", "c"]
    assert steps.entries["b"] == Entry(at(4, 3), at(5, 5), "b", None)
    assert steps.entries["a"].key_pos == steps.key_pos("a")
    a = steps["a"]
    assert a.entries["run"] == Entry(at(3, 7), at(3, 12), "run", "x")
    requires = a["requires"]
    assert isinstance(requires, YSeq)
    assert (requires.pos, requires.positions, requires.raws) == (
        at(3, 27),
        [at(3, 28), at(3, 31)],
        ["b", "c"],
    )
    assert (root.pos, steps.pos, a.pos) == (at(1, 1), at(3, 3), at(3, 6))
    with pytest.raises(KeyError):
        steps.key_pos("nope")


def test_maps_and_lists_made_in_code_keep_their_given_positions() -> None:
    made = YMap(at(7, 1))
    made["k"] = 1
    made.entries["k"] = Entry(at(7, 2), at(7, 5), "k", "1")
    assert (made.pos, made.key_pos("k"), made.value_pos("k")) == (at(7, 1), at(7, 2), at(7, 5))
    assert list(made.entry_keys()) == ["k"]
    seq = YSeq(at(8, 1))
    seq.append("v")
    seq.positions.append(at(8, 3))
    seq.raws.append("v")
    assert (seq.pos, seq.positions, seq.raws) == (at(8, 1), [at(8, 3)], ["v"])


def test_entries_follow_the_parsed_keys_after_the_mapping_changes() -> None:
    root = parse_document("a: 1\non: 2\n", "f.yaml").value
    root["on"] = root.pop(True)  # as a `workflow` trigger's options are fixed up
    root.entries["on"] = root.entries.pop(True)
    assert list(root.entries) == ["a", "on"]
    assert root.key_pos("on") == at(2, 1)


def test_duplicate_after_a_merge_and_a_list_key_names_the_first_line() -> None:
    text = yaml_text(
        """
        base: &base {x: 1}
        m:
          <<: *base
          ? [1]
          : 2
          y: 1
          y: 2
        """
    )
    document = parse_document(text, "f.yaml")
    messages = [(p.pos.line, p.message) for p in document.problems]
    assert messages == [
        (line_of(text, "? [1]"), "a key must be a plain value, not a list or mapping"),
        (
            line_of(text, "y: 2"),
            f"duplicate key `y` (first defined at line {line_of(text, 'y: 1')})",
        ),
    ]
    m = document.value["m"]
    assert dict(m) == {"y": 1, "x": 1}
    assert m.key_pos("y").line == line_of(text, "y: 1")
    assert m.key_pos("x").line == line_of(text, "base:")  # a merged key: where it was written


def test_an_alias_met_while_building_shares_the_value_and_says_its_problems_once() -> None:
    text = "a: &a {run: !!int zz}\nb: *a\nc: &s !!binary eA==\nd: *s\n"
    with pytest.raises(WorkflowError) as caught:
        parse_document(text, "f.yaml")
    lines = [p.pos.line for p in caught.value.problems]
    assert lines == [1, 3]  # each once, though each node is reached twice
    value = parse_document("a: &a {run: x}\nb: *a\n", "f.yaml").value
    assert value["b"] is value["a"]


def test_a_big_plain_tree_then_an_alias_bomb_is_refused_before_building_on() -> None:
    plain = "".join(f"k{i}: [1, 2, 3]\n" for i in range(2000))
    bomb = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for i, label in enumerate("bcdefg"):
        bomb.append(f"{label}: &{label} [{', '.join(['*' + 'abcdefg'[i]] * 10)}]")
    with pytest.raises(WorkflowError) as caught:
        parse_document(plain + "\n".join(bomb) + "\n", "f.yaml")
    (problem,) = caught.value.problems
    assert f"more than {MAX_NODES:,} values" in problem.message


def test_a_plain_tree_past_the_limits_is_refused() -> None:
    wide = "x: [" + ", ".join(["1"] * MAX_NODES) + "]\n"
    with pytest.raises(WorkflowError, match=f"more than {MAX_NODES:,} values"):
        parse_document(wide, "f.yaml")
    deep = "x: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n"
    with pytest.raises(WorkflowError, match=f"nested more than {MAX_DEPTH} levels"):
        parse_document(deep, "f.yaml")
    fits = "x: " + "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2) + "\n"
    assert parse_document(fits, "f.yaml").problems == []


def test_a_recursive_alias_met_while_building_is_refused() -> None:
    with pytest.raises(WorkflowError, match="recursive alias"):
        parse_document("ok: [1, 2]\na: &a {b: [*a]}\n", "f.yaml")


def test_refs_work_out_their_position_when_asked() -> None:
    seq = parse_document("r: [a, b]\n", "f.yaml").value["r"]
    assert Ref("b", seq, 1).pos == at(1, 8)
    assert Ref("a", at(3, 4)).pos == at(3, 4)
    problems = problems_of(TEXT.replace("requires: [b, c]", "requires: [b, 5, zz]"))
    assert [(p.pos.line, p.pos.column) for p in problems] == [(3, 31), (3, 34)]


def test_field_defaults_are_what_the_getters_give_a_step_without_those_keys() -> None:
    checker = _Checker("f.yaml")
    step = parse_document("run: x\nrequires: []\n", "f.yaml").value
    assert checker.fields(step) == _field_defaults()
    assert checker.problems == []


def test_sandbox_default_and_forward_requires_still_load() -> None:
    text = yaml_text(
        """
        name: d
        sandbox: false
        steps:
          a: {run: x, requires: [b]}
          b: {run: y, sandbox: true}
        """
    )
    workflow = load_workflow_text(text)
    assert (workflow.steps["a"].sandbox, workflow.steps["b"].sandbox) == (False, True)
    assert workflow.steps["a"].requires == ("b",)
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["zz"]}) == ["a", "c", "b"]
    assert find_cycle({"a": ["b"], "b": []}) is None


def test_the_collector_is_held_off_and_restored() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer load still runs
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # it was off before: left off
    finally:
        gc.enable()


def test_loads_in_threads_leave_the_collector_on() -> None:
    errors: list[BaseException] = []

    def load() -> None:
        try:
            for _ in range(20):
                load_workflow_text(TEXT)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert gc.isenabled()


def test_an_explicit_bool_that_is_not_one_is_a_problem_not_a_traceback() -> None:
    (problem,) = problems_of("name: d\nsteps: {a: {run: x, always: !!bool maybe}}\n")
    assert (problem.pos.line, problem.pos.column) == (2, 29)
    assert problem.message == (
        "cannot read 'maybe' as `tag:yaml.org,2002:bool`: "
        "not a boolean (true/false, yes/no, on/off)"
    )
