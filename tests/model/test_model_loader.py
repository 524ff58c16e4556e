"""Valid workflows load into the expected objects."""

from __future__ import annotations

import hashlib
from pathlib import Path

from msgspec.structs import replace

from flowtui.model.loader import load_workflow, load_workflow_text
from flowtui.model.workflow import ParamSpec, SourcePos, Step, Trigger, Workflow
from tests.model.model_helpers import line_of, with_steps, yaml_text

EXAMPLE = yaml_text(
    """
    name: production-deploy
    description: Plan, approve and apply the API infrastructure
    status: active
    triggers: [manual]
    concurrency: 1
    env: {TF_DIR: infra}
    steps:
      plan:
        run: ./plan.sh
        timeout: 10m
        retries: 2
      approve:
        type: approval
        requires: [plan]
        approvers: [alice, team:platform]
        timeout: 1h
      apply_us: {requires: [approve], run: ./apply.sh us}
      apply_eu: {requires: [approve], run: ./apply.sh eu}
      verify:
        type: http
        requires: [apply_us, apply_eu]
        url: http://127.0.0.1:8080/health
        expect_status: 200
    """
)


def test_full_example_loads_into_the_expected_objects(tmp_path: Path) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_text(EXAMPLE)
    workflow = load_workflow(str(path))
    file = str(path)

    def at(needle: str, column: int = 3) -> SourcePos:
        return SourcePos(file, line_of(EXAMPLE, needle), column)

    script = {"shell": "bash", "cwd": None}
    expected = Workflow(
        name="production-deploy",
        description="Plan, approve and apply the API infrastructure",
        status="active",
        triggers=(Trigger("manual", {}, SourcePos(file, 4, 12)),),
        concurrency=1,
        env={"TF_DIR": "infra"},
        fail_fast=False,
        path=path.resolve(),
        pos=SourcePos(file, 1, 1),
        source_hash=hashlib.sha256(EXAMPLE.encode()).hexdigest(),
        source=EXAMPLE,
        steps={
            "plan": Step(
                "plan",
                "script",
                at("plan:"),
                spec={"run": "./plan.sh", **script},
                timeout=600.0,
                retries=2,
            ),
            "approve": Step(
                "approve",
                "approval",
                at("approve:"),
                requires=("plan",),
                spec={"approvers": ["alice", "team:platform"], "message": ""},
                timeout=3600.0,
            ),
            "apply_us": Step(
                "apply_us",
                "script",
                at("apply_us:"),
                requires=("approve",),
                spec={"run": "./apply.sh us", **script},
            ),
            "apply_eu": Step(
                "apply_eu",
                "script",
                at("apply_eu:"),
                requires=("approve",),
                spec={"run": "./apply.sh eu", **script},
            ),
            "verify": Step(
                "verify",
                "http",
                at("verify:"),
                requires=("apply_us", "apply_eu"),
                spec={
                    "url": "http://127.0.0.1:8080/health",
                    "method": "GET",
                    "headers": {},
                    "body": None,
                    "json": None,
                    "expect_status": [200],
                    "expect_body": None,
                },
            ),
        },
    )
    # each step gets the workflow's `sandbox:` (on unless said otherwise)
    expected = replace(
        expected, steps={n: replace(s, sandbox=True) for n, s in expected.steps.items()}
    )
    assert workflow == expected
    assert list(workflow.steps) == ["plan", "approve", "apply_us", "apply_eu", "verify"]


def test_text_load_has_no_path_and_hashes_the_bytes() -> None:
    workflow = load_workflow_text(EXAMPLE, file="inline.yaml")
    assert workflow.path is None
    assert workflow.steps["plan"].pos.file == "inline.yaml"
    assert workflow.source_hash == hashlib.sha256(EXAMPLE.encode()).hexdigest()


def test_relative_path_is_kept_in_positions(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "wf.yaml").write_text(EXAMPLE)
    monkeypatch.chdir(tmp_path)
    workflow = load_workflow("wf.yaml")
    assert workflow.steps["plan"].pos.file == "wf.yaml"
    assert workflow.path == (tmp_path / "wf.yaml").resolve()


def test_defaults() -> None:
    workflow = load_workflow_text("name: d\nsteps:\n  a: {run: x}\n")
    assert workflow.status == "active"
    assert workflow.concurrency is None
    assert [t.kind for t in workflow.triggers] == ["manual"]
    assert workflow.env == {} and workflow.params == {} and workflow.fail_fast is False
    step = workflow.steps["a"]
    assert (step.type, step.requires, step.retries, step.retry_delay) == ("script", (), 0, 1.0)
    assert (step.timeout, step.when, step.continue_on_failure) == (None, None, False)
    assert step.spec == {"run": "x", "shell": "bash", "cwd": None}


def test_every_step_type_and_its_spec() -> None:
    text = with_steps(
        """
        s:
          run: print(1)
          shell: python
          cwd: sub
          env: {N: 5, FLAG: yes, V: 1.10}
          when: "params.env == 'prod'"
          continue_on_failure: true
          retries: 3
          retry_delay: 500ms
          description: a script
        h:
          type: http
          url: http://127.0.0.1/x
          method: post
          headers: {X-Token: abc, X-N: 1}
          json: {a: [1, true, null]}
          expect_status: [200, 201]
          expect_body: ok
        b:
          type: http
          url: http://127.0.0.1/y
          body: raw text
        ap: {type: approval}
        c:
          type: condition
          if: "steps.s.outputs.ok == '1'"
          then: [n]
          else: [w]
        n: {type: notify, url: "http://127.0.0.1/hook", message: done}
        w:
          type: workflow
          workflow: build
          params: {version: 1.2, fast: true}
        """,
        top="params: {env: {default: dev}}\n",
    )
    steps = load_workflow_text(text).steps
    s = steps["s"]
    assert s.spec == {"run": "print(1)", "shell": "python", "cwd": "sub"}
    assert s.env == {"N": "5", "FLAG": "yes", "V": "1.10"}  # the text as written
    assert (s.when, s.continue_on_failure, s.retries, s.retry_delay, s.description) == (
        "params.env == 'prod'",
        True,
        3,
        0.5,
        "a script",
    )
    assert steps["h"].spec == {
        "url": "http://127.0.0.1/x",
        "method": "POST",
        "headers": {"X-Token": "abc", "X-N": "1"},
        "body": None,
        "json": {"a": [1, True, None]},
        "expect_status": [200, 201],
        "expect_body": "ok",
    }
    assert type(steps["h"].spec["json"]) is dict
    assert steps["b"].spec["body"] == "raw text"
    assert steps["ap"].spec == {"approvers": [], "message": ""}
    assert steps["c"].spec == {"if": "steps.s.outputs.ok == '1'", "then": ["n"], "else": ["w"]}
    assert steps["n"].spec == {"url": "http://127.0.0.1/hook", "message": "done"}
    assert steps["n"].requires == ("c",)  # named in `then`: implicitly requires the condition
    assert steps["w"].requires == ("c",)
    assert steps["w"].spec == {"workflow": "build", "params": {"version": "1.2", "fast": "true"}}


def test_triggers() -> None:
    text = yaml_text(
        """
        name: t
        triggers:
          - manual
          - webhook
          - incident
          - cron: "0 3 * * *"
            timezone: UTC
            catchup: true
          - {cron: "*/5 * * * * *"}
          - webhook: {secret_env: HOOK_SECRET, events: [push, json]}
          - git: {repo: ../app}
          - workflow: {name: build, on: failure}
          - workflow: {name: lint}
        steps: {a: {run: x}}
        """
    )
    triggers = load_workflow_text(text).triggers
    kinds = [(t.kind, dict(t.options)) for t in triggers]
    assert kinds == [
        ("manual", {}),
        ("webhook", {}),
        ("incident", {}),
        ("cron", {"schedule": "0 3 * * *", "timezone": "UTC", "catchup": True}),
        ("cron", {"schedule": "*/5 * * * * *", "timezone": None, "catchup": False}),
        ("webhook", {"secret_env": "HOOK_SECRET", "events": ["push", "json"]}),
        ("git", {"repo": "../app", "branch": "main"}),
        ("workflow", {"name": "build", "on": "failure"}),
        ("workflow", {"name": "lint", "on": "success"}),
    ]
    assert triggers[3].pos is not None and triggers[3].pos.line == line_of(text, "- cron")


def test_params() -> None:
    text = yaml_text(
        """
        name: p
        params:
          env: staging
          count: 3
          empty:
          version: {required: true, description: the release}
          region: {default: eu}
        steps: {a: {run: x}}
        """
    )
    assert load_workflow_text(text).params == {
        "env": ParamSpec("env", default="staging"),
        "count": ParamSpec("count", default="3"),
        "empty": ParamSpec("empty"),
        "version": ParamSpec("version", required=True, description="the release"),
        "region": ParamSpec("region", default="eu"),
    }


def test_requires_as_one_string_and_duplicates_dropped() -> None:
    text = with_steps("a: {run: x}\nb: {run: x, requires: a}\nc: {run: x, requires: [a, b, a]}\n")
    steps = load_workflow_text(text).steps
    assert steps["b"].requires == ("a",)
    assert steps["c"].requires == ("a", "b")


def test_matrix_expansion_in_place_and_in_key_order() -> None:
    text = with_steps(
        """
        plan: {run: ./plan.sh}
        apply:
          run: ./apply.sh
          requires: plan
          matrix: {region: [us, eu], size: [s, 1]}
        verify: {run: ./verify.sh, requires: [apply]}
        smoke: {run: ./smoke.sh, requires: ["apply[region=eu,size=1]"]}
        """
    )
    steps = load_workflow_text(text).steps
    copies = ["apply[region=us,size=s]", "apply[region=us,size=1]"]
    copies += ["apply[region=eu,size=s]", "apply[region=eu,size=1]"]
    assert list(steps) == ["plan", *copies, "verify", "smoke"]
    first = steps[copies[0]]
    assert (first.base, first.base_name, dict(first.matrix)) == (
        "apply",
        "apply",
        {"region": "us", "size": "s"},
    )
    assert first.requires == ("plan",)
    assert first.spec["run"] == "./apply.sh"
    assert first.pos.line == line_of(text, "apply:")
    assert steps["verify"].requires == tuple(copies)  # the base name means every copy
    assert steps["smoke"].requires == ("apply[region=eu,size=1]",)
    assert steps["plan"].base == "" and steps["plan"].base_name == "plan"


def test_condition_branch_naming_a_matrix_step_covers_its_copies() -> None:
    text = with_steps(
        """
        c: {type: condition, if: "true", then: [apply]}
        apply: {run: x, matrix: {n: [1, 2]}}
        """
    )
    steps = load_workflow_text(text).steps
    assert steps["c"].spec["then"] == ["apply[n=1]", "apply[n=2]"]
    assert steps["apply[n=1]"].requires == ("c",)


def test_thousand_deep_chain_loads() -> None:
    lines = ["name: chain", "steps:", "  s0: {run: x}"]
    lines += [f"  s{i}: {{run: x, requires: s{i - 1}}}" for i in range(1, 1000)]
    workflow = load_workflow_text("\n".join(lines))
    assert workflow.steps["s999"].requires == ("s998",)


def test_loader_does_not_import_networkx() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from flowtui.model.loader import load_workflow_text\n"
        "load_workflow_text('name: a\\nsteps: {a: {run: x}, b: {run: y, requires: a}}')\n"
        "print('networkx' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
