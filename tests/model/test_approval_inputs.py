"""Approval `inputs:`, `required_approvals` and `allow_self_approval`: loading, errors at
file:line, and judging the answers a person gives."""

from __future__ import annotations

import pytest

from flowtui.model.approval import InputsRefused, check_answer, check_answers, gate_rules
from flowtui.model.loader import load_workflow_text
from tests.model.model_helpers import line_of, only_problem, with_steps

GATE = """\
approve:
  type: approval
  required_approvals: 2
  allow_self_approval: false
  inputs:
    version: {type: string, required: true, description: the version to ship}
    target: {type: choice, options: [staging, production], default: staging}
    notify: {type: boolean, default: true}
    replicas: {type: number}
"""


def test_inputs_load_typed_with_defaults() -> None:
    wf = load_workflow_text(with_steps(GATE))
    rules = gate_rules(wf.steps["approve"].spec)
    assert rules.required_approvals == 2
    assert rules.allow_self_approval is False
    fields = {f.name: f for f in rules.inputs}
    assert list(fields) == ["version", "target", "notify", "replicas"]
    assert fields["version"].required and fields["version"].description == "the version to ship"
    assert fields["target"].options == ("staging", "production")
    assert fields["target"].default == "staging"
    assert fields["notify"].default == "true"
    assert fields["replicas"].type == "number" and fields["replicas"].default is None


def test_answers_take_defaults_and_normalize() -> None:
    rules = gate_rules(load_workflow_text(with_steps(GATE)).steps["approve"].spec)
    answers = check_answers(rules.inputs, {"version": "1.4.2", "notify": "no", "replicas": "3"})
    assert answers == {
        "version": "1.4.2",
        "target": "staging",
        "notify": "false",
        "replicas": "3",
    }


def test_answers_refused_name_every_problem() -> None:
    rules = gate_rules(load_workflow_text(with_steps(GATE)).steps["approve"].spec)
    with pytest.raises(InputsRefused) as caught:
        check_answers(rules.inputs, {"target": "prod", "replicas": "many", "colour": "red"})
    assert caught.value.problems == [
        "unknown input 'colour' (its inputs: version, target, notify, replicas)",
        "missing required input version (string, required)",
        "target must be one of staging, production, got 'prod'",
        "replicas must be a number, got 'many'",
    ]


def test_each_answer_is_judged_alone_and_blank_is_no_answer() -> None:
    """`check_answer`, the judge the terminal's per-field questions and the whole-form
    check share: a blank answer is the default, or refused for a required field."""
    rules = gate_rules(load_workflow_text(with_steps(GATE)).steps["approve"].spec)
    fields = {f.name: f for f in rules.inputs}
    with pytest.raises(ValueError, match=r"^missing required input version \(string, required\)$"):
        check_answer(fields["version"], "  ")
    assert check_answer(fields["target"], "") == "staging"
    assert check_answer(fields["replicas"], None) == ""
    with pytest.raises(ValueError, match="replicas must be a number, got 'x'"):
        check_answer(fields["replicas"], "x")
    # `--input version=` gives nothing: the required field is still missing
    with pytest.raises(InputsRefused, match="missing required input version"):
        check_answers(rules.inputs, {"version": ""})


def test_unknown_input_type_is_reported_at_its_line() -> None:
    text = with_steps("ok:\n  type: approval\n  inputs:\n    version: {type: strng}\n")
    problem = only_problem(text)
    assert (
        problem.message
        == "input `version` of step `ok` (type approval): unknown input type 'strng'"
    )
    assert problem.hint == "did you mean `string`?"
    assert problem.pos.line == line_of(text, "strng")


def test_choice_without_options_and_bad_default() -> None:
    text = with_steps(
        "ok:\n  type: approval\n  inputs:\n    target: {type: choice}\n"
        "    n:\n      type: number\n      default: lots\n"
    )
    from tests.model.model_helpers import problems_of

    problems = problems_of(text)
    assert [p.pos.line for p in problems] == [line_of(text, "target"), line_of(text, "lots")]
    assert "a choice needs `options`" in problems[0].message
    assert problems[1].message.endswith("`default`: n must be a number, got 'lots'")


def test_reserved_and_invalid_names_and_counts() -> None:
    text = with_steps("ok:\n  type: approval\n  inputs:\n    comment: {type: string}\n")
    assert "would hide the approval's own output `comment`" in only_problem(text).message
    text = with_steps("ok:\n  type: approval\n  required_approvals: 0\n")
    problem = only_problem(text)
    assert problem.message == "`required_approvals` must be an integer >= 1, got integer 0"
    assert problem.pos.line == line_of(text, "required_approvals")


def test_more_approvals_than_named_approvers_cannot_pass() -> None:
    text = with_steps("ok:\n  type: approval\n  approvers: [ann]\n  required_approvals: 2\n")
    problem = only_problem(text)
    assert problem.message == (
        "step `ok` (type approval) needs 2 approvals but names only 1 approver(s)"
    )
    assert problem.pos.line == line_of(text, "required_approvals")
    # a group may hold any number of people
    load_workflow_text(
        with_steps("ok:\n  type: approval\n  approvers: [team:ops]\n  required_approvals: 3\n")
    )
