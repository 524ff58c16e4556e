"""Loading `branches:` filters on steps and triggers, and `concurrency_group`."""

from __future__ import annotations

import pytest

from flowtui.model.loader import load_workflow_text

from .model_helpers import line_of, only_problem, problems_of, with_steps, yaml_text


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("main", {"only": ("main",), "ignore": ()}),
        ("[main, develop]", {"only": ("main", "develop"), "ignore": ()}),
        ("{only: main}", {"only": ("main",), "ignore": ()}),
        ("{ignore: ['/feature\\/.*/']}", {"only": (), "ignore": ("/feature\\/.*/",)}),
        (
            "{only: [main, '/release-[0-9]+/'], ignore: [release-0]}",
            {"only": ("main", "/release-[0-9]+/"), "ignore": ("release-0",)},
        ),
    ],
)
def test_step_filter_forms(written: str, expected: dict[str, tuple[str, ...]]) -> None:
    wf = load_workflow_text(with_steps(f"a: {{run: echo, branches: {written}}}\n"))
    assert wf.steps["a"].branches == expected


def test_no_filter_is_none() -> None:
    wf = load_workflow_text(with_steps("a: {run: echo}\n"))
    assert wf.steps["a"].branches is None


def test_matrix_copies_keep_the_filter() -> None:
    wf = load_workflow_text(with_steps("a: {run: echo, matrix: {r: [us, eu]}, branches: main}\n"))
    assert {s.branches["only"] for s in wf.steps.values() if s.branches} == {("main",)}
    assert len(wf.steps) == 2


def test_bad_regex_is_reported_at_its_line() -> None:
    text = with_steps(
        """
        a:
          run: echo
          branches:
            only:
              - main
              - "/release-[0-9/"
        """
    )
    problem = only_problem(text)
    assert problem.pos.line == line_of(text, "release-[0-9")
    assert "invalid regex /release-[0-9/" in problem.message
    assert str(problem).startswith("wf.yaml:")


def test_unknown_filter_key_and_wrong_types() -> None:
    text = with_steps(
        """
        a:
          run: echo
          branches: {only: [main], exclude: [dev]}
        b:
          run: echo
          branches: {only: [1]}
        c:
          run: echo
          branches: 3
        """
    )
    found = problems_of(text)
    messages = [p.message for p in found]
    assert any("unknown key `exclude` in `branches`" in m for m in messages)
    assert any("`only` must list branch names" in m for m in messages)
    assert any("`branches` must be a branch name" in m for m in messages)
    assert {p.pos.line for p in found} == {
        line_of(text, "exclude"),
        line_of(text, "only: [1]"),
        line_of(text, "branches: 3"),
    }


def test_trigger_filters_are_normalised_into_options() -> None:
    text = yaml_text(
        """
        name: t
        triggers:
          - manual
          - cron: "0 3 * * *"
            branches: main
          - webhook: {secret_env: S, branches: {ignore: ['/wip-.*/']}}
          - git: {repo: ., branches: [main, develop]}
          - workflow: {name: build, on: success, branches: {only: main}}
          - incident
        steps:
          a: {run: echo}
        """
    )
    triggers = {t.kind: t.options for t in load_workflow_text(text).triggers}
    assert triggers["cron"]["branches"] == {"only": ["main"], "ignore": []}
    assert triggers["webhook"]["branches"] == {"only": [], "ignore": ["/wip-.*/"]}
    assert triggers["webhook"]["secret_env"] == "S"
    assert triggers["git"]["branches"] == {"only": ["main", "develop"], "ignore": []}
    assert triggers["workflow"]["branches"] == {"only": ["main"], "ignore": []}
    assert "branches" not in triggers["incident"] and "branches" not in triggers["manual"]


def test_bad_trigger_regex_names_the_line() -> None:
    text = yaml_text(
        """
        name: t
        triggers:
          - webhook: {branches: ["/(unclosed/"]}
        steps:
          a: {run: echo}
        """
    )
    problem = only_problem(text)
    assert problem.pos.line == line_of(text, "unclosed")
    assert "invalid regex" in problem.message


def test_concurrency_group() -> None:
    wf = load_workflow_text(with_steps("a: {run: echo}\n", "concurrency_group: deploys\n"))
    assert wf.concurrency_group == "deploys"
    assert load_workflow_text(with_steps("a: {run: echo}\n")).concurrency_group is None
    text = with_steps("a: {run: echo}\n", "concurrency_group: 'no spaces'\n")
    problem = only_problem(text)
    assert "invalid concurrency group" in problem.message
    assert problem.pos.line == line_of(text, "concurrency_group")


def test_webhook_and_incident_options_are_checked() -> None:
    """Every option is one the listener reads: `secret:` in the file (never read — the secret
    is an environment variable named by `secret_env:`), a misspelt key or event is an error
    at its line, not an option quietly ignored while the user trusts it."""
    text = yaml_text(
        """
        name: t
        triggers:
          - webhook: {secret: change-me}
          - webhook: {secret_env: S, events: [pull_requst], path: /x}
          - incident: {events: [push]}
        steps:
          a: {run: echo}
        """
    )
    problems = problems_of(text)
    found = {(p.pos.line, p.message) for p in problems}
    secret, typo, incident = (line_of(text, k) for k in ("change-me", "pull_requst", "incident"))
    assert (
        secret,
        "`secret` is not read from a workflow file (it would sit in the repository, in clear)",
    ) in found
    assert (typo, "unknown webhook event 'pull_requst'") in found
    assert (typo, "unknown key `path` in a `webhook` trigger") in found
    assert (incident, "unknown key `events` in an `incident` trigger") in found
    assert len(found) == 4
    hints = " ".join(p.hint for p in problems)
    assert "secret_env:" in hints and "did you mean `pull_request`?" in hints
    # one event may be given as a word
    one = "name: t\ntriggers:\n  - webhook: {events: pull_request}\nsteps: {a: {run: x}}\n"
    (trigger,) = load_workflow_text(one).triggers
    assert trigger.options["events"] == ["pull_request"]
