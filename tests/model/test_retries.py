"""`retries:` as a number or as a mapping: what it sets, and file:line errors for bad values."""

from __future__ import annotations

import pytest

from flowtui.model.loader import load_workflow_text
from flowtui.model.workflow import Step
from tests.model.model_helpers import line_of, only_problem, with_steps

CODES = "`on_exit_codes`"


def _step(block: str) -> Step:
    return load_workflow_text(with_steps(block), file="wf.yaml").steps["a"]


def test_a_plain_number_keeps_its_meaning() -> None:
    step = _step("a:\n  run: x\n  retries: 2\n  retry_delay: 500ms\n")
    assert (step.retries, step.retry_delay, step.retry_backoff) == (2, 0.5, 2.0)
    assert step.retry_on_exit_codes == ()
    assert [step.retry_delay_after(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]


def test_a_mapping_sets_limit_delay_backoff_cap_and_codes() -> None:
    step = _step(
        "a:\n  run: x\n  retries:\n    limit: 4\n    delay: 2s\n    backoff: 3\n"
        "    max_delay: 10s\n    on_exit_codes: [75, 143]\n"
    )
    assert (step.retries, step.retry_delay, step.retry_backoff) == (4, 2.0, 3.0)
    assert [step.retry_delay_after(n) for n in (1, 2, 3)] == [2.0, 6.0, 10.0]
    assert step.retry_on_exit_codes == (75, 143)
    assert step.retries_exit(75) and not step.retries_exit(1) and not step.retries_exit(None)


def test_a_single_exit_code_and_backoff_one() -> None:
    step = _step("a:\n  run: x\n  retries: {limit: 1, backoff: 1, on_exit_codes: 75}\n")
    assert step.retry_on_exit_codes == (75,)
    assert step.retry_delay_after(5) == step.retry_delay


@pytest.mark.parametrize(
    ("block", "needle", "message"),
    [
        ("retries: {delay: 1s}", "retries:", "`retries` of step `a` has no `limit`"),
        ("retries: {limit: -1}", "limit", "`limit` must be an integer >= 0, got integer -1"),
        ("retries: {limit: 1, backoff: 0.5}", "backoff", "`backoff` must be a number >= 1"),
        ("retries: {limit: 1, backoff: fast}", "backoff", "`backoff` must be a number >= 1"),
        ("retries: {limit: 1, delay: soon}", "delay", "`delay`: invalid duration 'soon'"),
        ("retries: {limit: 1, max_delay: -1s}", "max_delay", "`max_delay`: invalid duration"),
        ("retries: {limit: 1, on_exit_codes: [0]}", "on_exit_codes", f"{CODES} must list exit"),
        ("retries: {limit: 1, on_exit_codes: [x]}", "on_exit_codes", f"{CODES} must list exit"),
        ("retries: {limit: 1, on_exit_codes: []}", "on_exit_codes", f"{CODES} must be a list"),
        ("retries: {limit: 1, tries: 3}", "tries", "unknown key `tries` in `retries` of step"),
    ],
)
def test_bad_values_are_errors_at_their_line(block: str, needle: str, message: str) -> None:
    text = with_steps(f"a:\n  run: x\n  {block}\n")
    problem = only_problem(text)
    assert problem.message.startswith(message), problem.message
    assert problem.pos.line == line_of(text, needle)


def test_delay_given_twice_is_an_error() -> None:
    text = with_steps("a:\n  run: x\n  retries: {limit: 1, delay: 1s}\n  retry_delay: 2s\n")
    problem = only_problem(text)
    assert problem.message == "step `a` gives both `retry_delay` and `retries: {delay}`"
    assert problem.pos.line == line_of(text, "retry_delay")
