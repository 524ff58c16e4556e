"""Every validation rule: the message says what is wrong and the position is right."""

from __future__ import annotations

import pytest

from flowtui.model.loader import MAX_STEPS, load_workflow_text
from tests.model.model_helpers import line_of, only_problem, problems_of, with_steps, yaml_text


def test_unknown_requires_suggests_the_closest_name() -> None:
    text = with_steps("plan: {run: x}\napply:\n  run: y\n  requires: [plna]\n")
    problem = only_problem(text)
    assert problem.message == "step `apply` requires unknown step `plna`"
    assert problem.hint == "did you mean `plan`?"
    assert (problem.pos.line, problem.pos.column) == (line_of(text, "requires"), 16)


def test_unknown_requires_without_anything_close() -> None:
    problem = only_problem(with_steps("a: {run: x, requires: zzzz}\n"))
    assert problem.message == "step `a` requires unknown step `zzzz`"
    assert problem.hint == ""


def test_step_requiring_itself() -> None:
    text = with_steps("a: {run: x}\nb:\n  run: y\n  requires: [a, b]\n")
    problem = only_problem(text)
    assert problem.message == "step `b` requires itself"
    assert problem.pos.line == line_of(text, "requires: [a, b]")


def test_cycle_names_every_step_of_it() -> None:
    text = with_steps(
        """
        start: {run: x}
        a: {run: x, requires: [start, c]}
        b: {run: x, requires: a}
        c: {run: x, requires: b}
        """
    )
    problem = only_problem(text)
    assert problem.message == "cycle: a → b → c → a"
    assert "`a` requires `c`" in problem.hint
    assert problem.pos.line == line_of(text, "a: {")


def test_duplicate_step_names() -> None:
    text = with_steps("build: {run: x}\ntest: {run: y}\nbuild: {run: z}\n")
    problem = only_problem(text)
    first = line_of(text, "build:")
    assert problem.message == f"duplicate key `build` (first defined at line {first})"
    assert problem.pos.line == line_of(text, "build:", 2)


def test_duplicate_key_inside_a_step() -> None:
    text = with_steps("a:\n  run: x\n  retries: 1\n  retries: 2\n")
    problem = only_problem(text)
    assert problem.message.startswith("duplicate key `retries` (first defined at line ")
    assert problem.pos.line == line_of(text, "retries: 2")


def test_unknown_step_key_suggests_the_spelling() -> None:
    text = with_steps("plan: {run: x}\napply:\n  run: y\n  requries: [plan]\n")
    problem = only_problem(text)
    assert problem.message == "unknown key `requries` in step `apply`"
    assert problem.hint == "did you mean `requires`?"
    assert (problem.pos.line, problem.pos.column) == (line_of(text, "requries"), 5)


def test_unknown_top_level_key() -> None:
    text = "name: demo\ntrigger: [manual]\nsteps: {a: {run: x}}\n"
    problem = only_problem(text)
    assert problem.message == "unknown key `trigger` in the workflow"
    assert problem.hint == "did you mean `triggers`?"
    assert problem.pos.line == 2


def test_key_of_another_step_type_says_which_type() -> None:
    text = with_steps("a:\n  run: x\n  url: http://127.0.0.1/\n")
    problem = only_problem(text)
    assert problem.message == "`url` is not valid in step `a`"
    assert problem.hint == "`url` belongs to `http` and `notify` steps; this step has type `script`"
    assert problem.pos.line == line_of(text, "url:")


def test_on_at_top_level() -> None:
    text = "name: demo\non: push\nsteps: {a: {run: x}}\n"
    problem = only_problem(text)
    assert problem.message == "unknown key `on`: use `triggers:` (YAML reads `on` as true)"
    assert problem.pos.line == 2


def test_on_in_a_step() -> None:
    text = with_steps("a:\n  run: x\n  on: push\n")
    problem = only_problem(text)
    assert "use `triggers:` (YAML reads `on` as true)" in problem.message
    assert problem.pos.line == line_of(text, "on: push")


def test_on_as_a_step_name() -> None:
    text = with_steps("on: {run: x}\n")
    problem = only_problem(text)
    assert problem.message == "step name `on` is read by YAML as true"
    assert problem.hint == 'quote it: `"on":`'


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("retries: two", "`retries` must be an integer, got string 'two'"),
        ("retries: -1", "`retries` must be an integer >= 0, got integer -1"),
        ("retries: true", "`retries` must be an integer, got boolean true"),
        ("continue_on_failure: 'yes'", "`continue_on_failure` must be true or false, got string"),
        ("when: [a]", "`when` must be a string, got a list"),
        ("description: {a: 1}", "`description` must be a string, got a mapping"),
        ("requires: 3", "`requires` must be a list of step names, got integer 3"),
        ("env: [A]", "`env` must be a mapping of environment variable names to values"),
        ("timeout: 10 minutes", "`timeout`: invalid duration '10 minutes'"),
        ("timeout: 0", "`timeout` must be a duration above zero"),
        ("retry_delay: -5s", "`retry_delay`: invalid duration '-5s': must not be negative"),
        ("matrix: {region: []}", "matrix `region` must be a non-empty list of values"),
        ("matrix: [us]", "`matrix` must be a mapping of names to lists of values"),
        ("shell: zsh", "`shell` must be one of bash, sh, python, node, got 'zsh'"),
        ("cwd: 5", "`cwd` must be a string, got integer 5"),
    ],
)
def test_wrong_types_in_a_step(line: str, message: str) -> None:
    text = with_steps(f"a:\n  run: x\n  {line}\n")
    problem = only_problem(text)
    assert problem.message.startswith(message), problem.message
    assert problem.pos.line == line_of(text, line.split(":")[0] + ":")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("concurrency: 0", "`concurrency` must be an integer >= 1, got integer 0"),
        ("concurrency: lots", "`concurrency` must be an integer, got string 'lots'"),
        ("fail_fast: 'no'", "`fail_fast` must be true or false, got string 'no'"),
        ("status: paused2", "`status` must be one of active, paused, draft, got 'paused2'"),
        ("description: 12", "`description` must be a string, got integer 12"),
        ("triggers: manual", "`triggers` must be a list, got string 'manual'"),
        ("env: {1A: x}", "`1A` is not a valid environment variable name"),
        ("env: {A: [1]}", "environment variable `A` must be a string or number, got a list"),
        ("env: {A: }", "environment variable `A` must be a string or number, got null"),
        ("params: {bad-name: 1}", "`bad-name` is not a valid parameter name"),
        ("params: {p: {default: 1, colour: red}}", "unknown key `colour` in parameter `p`"),
        (
            "params: {p: {default: 1, required: true}}",
            "parameter `p` is required but has a default",
        ),
    ],
)
def test_wrong_types_at_top_level(line: str, message: str) -> None:
    text = f"name: demo\n{line}\nsteps: {{a: {{run: x}}}}\n"
    problem = only_problem(text)
    assert problem.message.startswith(message), problem.message
    assert problem.pos.line == 2


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        ("- manaul", "unknown trigger `manaul`"),
        ("- cron", "a `cron` trigger needs options"),
        ('- cron: "0 3 * *"', "`cron` must be a schedule of 5 or 6 fields, got string '0 3 * *'"),
        ('- {cron: "0 3 * * *", tz: UTC}', "unknown key `tz` in a `cron` trigger"),
        ('- {cron: "0 3 * * *", timezone: Nowhere/Land}', "unknown timezone 'Nowhere/Land'"),
        ("- git: {branch: main}", "a `git` trigger is missing `repo`"),
        ("- workflow: {name: b, on: done}", "`on` must be one of success, failure, any"),
        ("- {cron: '* * * * *', git: {repo: .}}", "a trigger mapping needs exactly one kind key"),
        ("- webhook: [x]", "the options of a `webhook` trigger must be a mapping, got a list"),
        ("- 5", "a trigger must be a name or a mapping, got integer 5"),
    ],
)
def test_bad_triggers(trigger: str, message: str) -> None:
    text = f"name: demo\ntriggers:\n  {trigger}\nsteps: {{a: {{run: x}}}}\n"
    problem = only_problem(text)
    assert problem.message.startswith(message), problem.message
    assert problem.pos.line == 3


@pytest.mark.parametrize(
    ("step", "message", "hint"),
    [
        ("a: {type: http, url: 'http://x', method: FETCH}", "unknown HTTP method 'FETCH'", "use"),
        ("a: {type: http, url: 'http://x', body: b, json: {}}", "takes `body` or `json`", ""),
        ("a: {type: http, url: 'http://x', expect_status: [200, 9]}", "HTTP status code", ""),
        ("a: {type: http, url: 'http://x', expect_status: ok}", "HTTP status code", ""),
        ("a: {type: http, url: 'http://x', headers: {X: [1]}}", "header `X` must be", ""),
        ("a: {type: http, url: 'htp://example'}", "unsupported scheme 'htp://'", "use http"),
        ("a: {type: http, url: example.com/x}", "URL 'example.com/x' has no scheme", "start"),
        ("a: {type: notify, url: 'ftp://h/x', message: m}", "unsupported scheme 'ftp://'", "use"),
        ("a: {type: approval, approvers: alice}", "`approvers` must be a list of strings", ""),
        ("a: {type: approval, approvers: [1]}", "`approvers` must list strings, got", ""),
        ("a: {type: scirpt, run: x}", "unknown step type 'scirpt'", "did you mean `script`?"),
        ("a: {type: 5, run: x}", "unknown step type integer 5", "use one of"),
        ("a: {run: 5}", "`run` must be a string, got integer 5", ""),
        ("a: {run: ''}", "`run` must be a non-empty string", ""),
        ("a: {type: workflow, workflow: b, params: {p: [1]}}", "parameter `p` must be", ""),
        ("a: {run: x, matrix: {r: [a, a]}}", "matrix value 'a' is listed twice", ""),
        ("a: {run: x, matrix: {r: ['a b']}}", "matrix value 'a b' cannot be used", "avoid"),
        ("a: {run: x, matrix: {r-x: [a]}}", "`r-x` is not a valid matrix name", "use letters"),
        ("a: {run: x, matrix: {r: [[1]]}}", "matrix values must be plain values", ""),
    ],
)
def test_bad_type_specific_values(step: str, message: str, hint: str) -> None:
    text = with_steps(step + "\n")
    problem = only_problem(text)
    assert message in problem.message, problem.message
    assert problem.hint.startswith(hint)
    assert problem.pos.line == 3


@pytest.mark.parametrize(
    "url", ["https://x", "HTTP://x", "http://${HOST}/x", "${BASE}/health", "${PROTO}://x"]
)
def test_urls_with_a_scheme_or_a_placeholder_for_it_load(url: str) -> None:
    assert load_workflow_text(with_steps(f"a: {{type: http, url: '{url}'}}\n"), "wf.yaml")


def test_bad_workflow_name() -> None:
    problem = only_problem("name: -deploy now\nsteps: {a: {run: x}}\n")
    assert problem.message == "invalid workflow name '-deploy now'"
    assert "start with a letter or digit" in problem.hint
    assert (problem.pos.line, problem.pos.column) == (1, 7)


def test_bad_step_name() -> None:
    text = with_steps("ok: {run: x}\nnot ok: {run: y}\n")
    problem = only_problem(text)
    assert problem.message == "invalid step name 'not ok'"
    assert problem.pos.line == line_of(text, "not ok")


def test_missing_name_and_steps_point_at_the_mapping() -> None:
    text = "description: nothing here\n"
    first, second = problems_of(text)
    assert (first.message, first.pos.line) == ("the workflow is missing `name`", 1)
    assert first.hint == "add `name: my-workflow`"
    assert (second.message, second.pos.line) == ("the workflow is missing `steps`", 1)


def test_empty_steps() -> None:
    problem = only_problem("name: demo\nsteps: {}\n")
    assert problem.message.startswith("`steps` must be a non-empty mapping")
    assert problem.pos.line == 2


def test_step_without_run_or_type() -> None:
    text = with_steps("a: {run: x}\nb:\n  timeout: 5s\n  retries: 1\n")
    problem = only_problem(text)
    assert problem.message == "step `b` has no `run:` or `type:`"
    assert problem.hint.startswith("add `run: <command>`")
    assert problem.pos.line == line_of(text, "timeout: 5s")  # where b's mapping starts


def test_empty_step() -> None:
    text = with_steps("a:\nb: {run: x}\n")
    problem = only_problem(text)
    assert problem.message == "step `a` must be a mapping of step keys, got null"
    assert problem.pos.line == 3


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ("type: http", "step `a` (type http) is missing `url`"),
        ("type: condition", "step `a` (type condition) is missing `if`"),
        ("type: workflow", "step `a` (type workflow) is missing `workflow`"),
        ("{type: notify, url: 'http://x'}", "step `a` (type notify) is missing `message`"),
    ],
)
def test_missing_type_keys(step: str, message: str) -> None:
    text = with_steps(f"a: {step}\n" if step.startswith("{") else f"a:\n  {step}\n")
    problem = only_problem(text)
    assert problem.message == message
    assert problem.pos.line == line_of(text, "type:")  # where the step's mapping starts
    assert problem.hint.startswith("add `")


def test_condition_branch_naming_unknown_or_itself() -> None:
    text = with_steps(
        """
        c:
          type: condition
          if: "true"
          then: [ghots, c]
        ghost: {run: x}
        """
    )
    unknown, itself = problems_of(text)
    assert unknown.message == "step `c` names in `then` unknown step `ghots`"
    assert unknown.hint == "did you mean `ghost`?"
    assert itself.message == "step `c` names in `then` itself"
    assert unknown.pos.line == itself.pos.line == line_of(text, "then:")


def test_too_many_steps() -> None:
    lines = ["name: many", "steps:"] + [f"  s{i}: {{run: x}}" for i in range(MAX_STEPS + 1)]
    problem = only_problem("\n".join(lines))
    assert problem.message == f"too many steps ({MAX_STEPS + 1:,}; the limit is {MAX_STEPS:,})"
    assert problem.pos.line == 3


def test_matrix_too_large() -> None:
    values = ", ".join(f"v{i}" for i in range(100))
    text = with_steps(f"a:\n  run: x\n  matrix: {{a: [{values}], b: [{values}]}}\n")
    problem = only_problem(text)
    assert problem.message == f"the matrix makes more than {MAX_STEPS:,} copies of the step"
    assert problem.pos.line == line_of(text, "matrix:")


def test_all_problems_are_reported_sorted_by_line() -> None:
    text = yaml_text(
        """
        name: demo
        statuss: active
        steps:
          plan:
            run: ./plan.sh
            retries: two
          apply:
            requires: [plna]
            run: ./apply.sh
            timeout: soon
        """
    )
    found = problems_of(text, file="multi.yaml")
    assert [p.pos.line for p in found] == [
        line_of(text, "statuss"),
        line_of(text, "retries"),
        line_of(text, "plna"),
        line_of(text, "timeout"),
    ]
    assert all(p.pos.file == "multi.yaml" for p in found)
    assert "did you mean `status`?" in str(found[0])
    assert "did you mean `plan`?" in str(found[2])


def test_a_broken_step_is_reported_once_not_again_by_its_dependents() -> None:
    text = with_steps("a:\nb: {run: x, requires: a}\nc: {run: x, requires: [b, a]}\n")
    problem = only_problem(text)
    assert problem.message == "step `a` must be a mapping of step keys, got null"


def test_expression_syntax_errors_are_reported_at_load() -> None:
    import pytest

    from flowtui.model.errors import WorkflowError
    from flowtui.model.loader import load_workflow_text

    text = (
        "name: expr\n"
        "steps:\n"
        "  a: {run: 'true', when: \"params.x ==\"}\n"
        "  c:\n"
        "    type: condition\n"
        "    if: \"steps.a.status = 'succeeded'\"\n"
    )
    with pytest.raises(WorkflowError) as info:
        load_workflow_text(text, "expr.yaml")
    lines = [(p.pos.line, p.message) for p in info.value.problems]
    assert [line for line, _ in lines] == [3, 6]
    assert all("not a valid expression" in message for _, message in lines)
