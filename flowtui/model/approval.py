"""What an approval step asks of the people deciding it: typed inputs and how many must agree.

An approval step may declare `inputs:` (typed fields a person fills in when approving),
`required_approvals: N` (N distinct people must approve before it passes) and
`allow_self_approval: false` (whoever started the run may not approve it).  The answers of
an approval become its outputs, as text: steps read them like any step's outputs.

`check_answers` is the one place answers are judged; the control surface calls it to refuse
a decision with a clear message, and the runner calls it again on what it is given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from msgspec import Struct

INPUT_TYPES = ("string", "choice", "boolean", "number")
# the outputs every approval has besides its answers: an input may not take these names
RESERVED_OUTPUTS = ("approved_by", "comment")
TRUE_WORDS = frozenset({"true", "yes", "y", "on", "1"})
FALSE_WORDS = frozenset({"false", "no", "n", "off", "0"})


class ApprovalInput(Struct, frozen=True):
    """One field a person fills in when approving."""

    name: str
    type: str  # one of INPUT_TYPES
    required: bool = False
    default: str | None = None  # as text, already checked against `type`
    description: str = ""
    options: tuple[str, ...] = ()  # for `choice`

    def describe(self) -> str:
        """`version (string, required)`: how a prompt or an error names it."""
        kind = f"one of {', '.join(self.options)}" if self.type == "choice" else self.type
        extra = ", required" if self.required and self.default is None else ""
        return f"{self.name} ({kind}{extra})"


class GateRules(Struct, frozen=True):
    """An approval step's rules, read from its spec."""

    inputs: tuple[ApprovalInput, ...] = ()
    required_approvals: int = 1
    allow_self_approval: bool = True


def gate_rules(spec: Mapping[str, Any]) -> GateRules:
    return GateRules(
        inputs=tuple(spec.get("inputs") or ()),
        required_approvals=int(spec.get("required_approvals") or 1),
        allow_self_approval=bool(spec.get("allow_self_approval", True)),
    )


class InputsRefused(ValueError):
    """The answers given cannot be taken; the message names every problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


def normalize(field: ApprovalInput, text: str) -> str:
    """`text` as the value of `field`, or ValueError saying why it is not one."""
    value = text.strip()
    if field.type == "boolean":
        word = value.lower()
        if word in TRUE_WORDS:
            return "true"
        if word in FALSE_WORDS:
            return "false"
        raise ValueError(f"{field.name} must be true or false, got {text!r}")
    if field.type == "number":
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{field.name} must be a number, got {text!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"{field.name} must be a finite number, got {text!r}")
        return value
    if field.type == "choice":
        if value not in field.options:
            raise ValueError(
                f"{field.name} must be one of {', '.join(field.options)}, got {text!r}"
            )
        return value
    return text


def check_answer(field: ApprovalInput, text: str | None) -> str:
    """One field's answer as its output, or ValueError saying why it cannot be taken.

    No answer (None, or only blanks) is the field's default, else "" (false for a boolean)
    when it is optional; a required field without a default must be answered.  The one
    judge of a single answer: `check_answers` (a whole form: `flowtui approve --input`,
    the dashboard's dialog) and the terminal's question per field both ask it.
    """
    if text is None or not text.strip():
        if field.default is not None:
            return field.default
        if field.required:
            raise ValueError(f"missing required input {field.describe()}")
        return "false" if field.type == "boolean" else ""
    return normalize(field, text)


def check_answers(inputs: Sequence[ApprovalInput], given: Mapping[str, str]) -> dict[str, str]:
    """The answers as outputs: each input's value, its default, or "" (false for a boolean)
    when it is optional and not given (`check_answer` judges each).  Raises InputsRefused
    naming every problem: an unknown name, a value of the wrong type, a required input
    missing."""
    problems: list[str] = []
    known = {f.name: f for f in inputs}
    for name in given:
        if name not in known:
            hint = f"its inputs: {', '.join(known)}" if known else "it takes no inputs"
            problems.append(f"unknown input {name!r} ({hint})")
    answers: dict[str, str] = {}
    for field in inputs:
        try:
            answers[field.name] = check_answer(field, given.get(field.name))
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise InputsRefused(problems)
    return answers


def parse_assignments(items: Sequence[str]) -> dict[str, str]:
    """`NAME=VALUE` items (as `--input` takes them); ValueError for one without `=`."""
    given: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--input {item!r}: expected NAME=VALUE")
        given[name.strip()] = value
    return given


class ApprovalRefused(ValueError):
    """An approval that cannot count; the message says why, for the person acting."""


class Vote(Struct, frozen=True):
    """One approval already given to the gate while it is held."""

    by: str
    inputs: Mapping[str, str]  # what that person gave (the first approver gives them)


def judge_approval(
    rules: GateRules,
    step: str,
    *,
    user: str,
    started_by: str,
    votes: Sequence[Vote],
    given: Mapping[str, str] | None,
) -> dict[str, str]:
    """The answers `user`'s approval of `step` carries, or ApprovalRefused.

    The first approval gives the inputs (checked by `check_answers`); with
    `required_approvals` above one, the later approvals confirm them and may repeat them
    but not change them, and each must come from a person who has not approved yet.
    `given` None: only whether `user` may approve at all (before asking for the inputs).
    """
    if not rules.allow_self_approval and started_by and user == started_by:
        raise ApprovalRefused(
            f"{user} started this run and {step} does not allow self-approval "
            "(allow_self_approval: false); another approver must decide"
        )
    if any(v.by == user for v in votes):
        need = rules.required_approvals
        raise ApprovalRefused(
            f"{user} has already approved {step} ({len(votes)} of {need} approvals); "
            "another person must approve it"
        )
    if given is None:
        return {}
    if not votes:
        try:
            return check_answers(rules.inputs, given)
        except InputsRefused as exc:
            raise ApprovalRefused(f"not approving {step}: {exc}") from None
    first = votes[0]
    answers = check_answers(rules.inputs, first.inputs)
    try:
        mine = check_answers(rules.inputs, given) if given else answers
    except InputsRefused as exc:
        raise ApprovalRefused(f"not approving {step}: {exc}") from None
    changed = sorted(k for k in given if mine.get(k) != answers.get(k))
    if changed:
        shown = ", ".join(f"{k}={answers.get(k, '')}" for k in changed)
        raise ApprovalRefused(
            f"not approving {step}: {first.by} gave its inputs with the first approval "
            f"({shown}); approve them as they are, or reject"
        )
    return answers
