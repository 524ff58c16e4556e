"""`when:` and `if:` expressions: useful over plain data, and nothing else."""

from __future__ import annotations

import pytest

from flowtui.engine.expressions import ExpressionError, evaluate, evaluate_bool

CONTEXT = {
    "params": {"branch": "release/1.2", "replicas": "3"},
    "env": {"STAGE": "prod"},
    "steps": {"plan": {"status": "succeeded", "outputs": {"add": "3"}}},
    "matrix": {"region": "eu"},
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("params.branch == 'release/1.2'", True),
        ("startswith(params.branch, 'release/')", True),
        ("int(params.replicas) > 2 and env.STAGE == 'prod'", True),
        ("steps.plan.status == 'succeeded'", True),
        ("int(steps.plan.outputs.add) + 1", 4),
        ("matrix.region in ['us', 'eu']", True),
        ("params['branch'] != 'main'", True),
        ("'false'", False),
        ("''", False),
    ],
)
def test_expressions_over_plain_data(expression: str, expected: object) -> None:
    if isinstance(expected, bool):
        assert evaluate_bool(expression, CONTEXT) is expected
    else:
        assert evaluate(expression, CONTEXT) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "().__class__.__bases__[0].__subclasses__()",
        "params.__class__",
        "__import__('os').system('touch /tmp/pwned')",
        "open('/etc/passwd').read()",
        "9**9**9",
        "'a' * 10**9",
        "[x for x in 'abc' for y in 'abc']",
        "eval('1')",
        "params.nope",
        "1 +",
        "x" * 5000,
    ],
)
def test_hostile_or_broken_expressions_are_rejected(expression: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(expression, CONTEXT)


def test_objects_in_the_context_are_reduced_to_plain_data() -> None:
    class Sneaky:
        def __str__(self) -> str:
            return "sneaky"

    assert evaluate("value", {"value": Sneaky()}) == "sneaky"
