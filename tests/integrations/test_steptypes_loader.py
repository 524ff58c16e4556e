"""The loader checks non-core step types through their StepTypeSchema, with positions."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import pytest

from flowtui.model import steptypes
from flowtui.model.errors import WorkflowError
from flowtui.model.loader import load_workflow_text


def problems(text: str) -> list[tuple[int, int, str, str]]:
    with pytest.raises(WorkflowError) as err:
        load_workflow_text(textwrap.dedent(text), file="wf.yaml")
    return [(p.pos.line, p.pos.column, p.message, p.hint) for p in err.value.problems]


def test_integration_steps_load_as_plain_data() -> None:
    wf = load_workflow_text(
        textwrap.dedent(
            """\
            name: infra
            steps:
              conf:
                type: ansible
                playbook: site.yml
                inventory: [hosts.ini, "localhost,"]
                extra_vars: {replicas: 3, tags: [a, b], nested: {x: null}}
                check: true
              plan: {type: terraform, dir: infra, vars: {region: eu}, workspace: prod}
              apply: {type: tofu, action: apply, plan: plan, requires: [plan]}
              report: {type: python, call: "tools.report:build", args: {n: 1}, timeout: 5s}
            """
        )
    )
    conf = wf.steps["conf"]
    assert conf.type == "ansible"
    assert dict(conf.spec) == {
        "playbook": "site.yml",
        "inventory": ["hosts.ini", "localhost,"],
        "extra_vars": {"replicas": 3, "tags": ["a", "b"], "nested": {"x": None}},
        "check": True,
    }
    assert wf.steps["apply"].requires == ("plan",)
    assert dict(wf.steps["report"].spec) == {"call": "tools.report:build", "args": {"n": 1}}
    assert wf.steps["report"].timeout == 5


def test_problems_point_at_the_key() -> None:
    found = problems(
        """\
        name: bad
        steps:
          conf:
            type: ansible
            extra_vars: [1, 2]
            limit: 5
          plan:
            type: terraform
            action: plan
            plan: other
          apply: {type: terraform, action: apply, plan: p, vars: {a: 1}}
          when: {type: terraform, action: deploy}
          py: {type: python, call: "no colon"}
          mixed: {type: python, call: "m:f", playbook: x.yml}
        """
    )
    assert (4, 5, "step `conf` (type ansible) is missing `playbook`", "add `playbook: ...`") in [
        f[:4] for f in found
    ]
    messages = {(line, col): msg for line, col, msg, _ in found}
    assert messages[(5, 17)] == "`extra_vars` must be a mapping of variable names to values"
    assert messages[(6, 12)] == "`limit` must be a non-empty string"
    assert messages[(10, 11)] == "`plan:` (a saved plan to apply) needs `action: apply`"
    assert messages[(11, 58)] == "a saved plan already holds its variables"
    assert messages[(12, 35)].startswith("`action` must be one of plan, apply, destroy")
    assert messages[(13, 28)].startswith("`call` must look like `package.module:function`")
    [hint] = [h for line, _, _, h in found if line == 14]
    assert hint == "`playbook` belongs to `ansible` steps; this step has type `python`"


def test_unknown_type_lists_every_type() -> None:
    [(_, _, message, hint)] = problems("name: x\nsteps:\n  a: {type: nope}\n")
    assert message == "unknown step type 'nope'"
    for name in ("script", "http", "approval", "ansible", "terraform", "tofu", "python"):
        assert name in hint
    [(_, _, _, hint)] = problems("name: x\nsteps:\n  a: {type: terrafrom}\n")
    assert hint == "did you mean `terraform`?"


@pytest.fixture
def custom_type() -> Iterator[None]:
    def validate(spec: dict) -> list[steptypes.SpecProblem]:
        if spec.get("level") == "crash":
            raise RuntimeError("validator bug")
        return ["`level` is too loud"] if spec.get("level") == "loud" else []

    steptypes.register_step_type(steptypes.StepTypeSchema("beep", ("level",), (), validate))
    try:
        yield
    finally:
        steptypes._registered.pop("beep", None)


def test_registered_types_and_validator_failures(custom_type: None) -> None:
    wf = load_workflow_text("name: x\nsteps:\n  a: {type: beep, level: soft}\n")
    assert dict(wf.steps["a"].spec) == {"level": "soft"}
    [(line, col, message, _)] = problems("name: x\nsteps:\n  a: {type: beep, level: loud}\n")
    assert (line, col, message) == (3, 26, "`level` is too loud")
    [(_, _, message, _)] = problems("name: x\nsteps:\n  a: {type: beep, level: crash}\n")
    assert message == "the `beep` step type's validate() failed: RuntimeError('validator bug')"


def test_model_modules_do_not_import_the_engine() -> None:
    import subprocess
    import sys

    code = (
        "import sys, flowtui.model.loader, flowtui.model.steptypes\n"
        "print(sorted(m for m in sys.modules if m.startswith('flowtui.engine.executors')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
