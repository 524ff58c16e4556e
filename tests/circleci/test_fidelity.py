"""Issue 16, items 1-10: real-world CircleCI shapes, each on a config written for it."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from flowtui.model.branches import JobFilter, branch_matches, describe_mismatch, tag_ref
from flowtui.model.circleci import ORB_JOB_STEP_TYPE, CircleConfig, load_config_text
from flowtui.model.errors import WorkflowError
from flowtui.model.loader import load_workflow
from flowtui.model.yamlsafe import parse_document, to_plain


def write(root: Path, text: str, name: str = "config.yml") -> Path:
    path = root / ".circleci" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def load(path: Path, **kwargs: object) -> CircleConfig:
    return load_config_text(path.read_text(), str(path), path, **kwargs)  # type: ignore[arg-type]


def notes(config: CircleConfig) -> str:
    return "\n".join(n.message for n in config.notes)


# -- 1. orbs ---------------------------------------------------------------------------
ORB_CONFIG = """\
    version: 2.1
    orbs:
      node: circleci/node@5.1.0
      aws-cli: circleci/aws-cli@4.1
      tools:
        executors:
          small:
            docker: [{image: cimg/base:current}]
            environment: {TOOLS: "yes"}
        commands:
          greet:
            parameters: {who: {type: string, default: world}}
            steps:
              - run: echo "hello << parameters.who >>"
        jobs:
          lint:
            executor: small
            steps:
              - greet: {who: lint}
              - node/install-packages
    jobs:
      build:
        executor: {name: node/default, tag: lts}
        steps:
          - checkout
          - node/install-packages: {pkg-manager: npm}
          - aws-cli/setup
          - tools/greet
      smoke: {type: no-op}
    workflows:
      main:
        jobs:
          - build
          - tools/lint
          - node/test:
              name: unit
              requires: [build]
          - aws-cli/deploy:
              name: deploy-staging
              requires: [unit, tools/lint]
          - smoke:
              requires: [deploy-staging]
    """


def _orb_config(tmp_path: Path) -> Path:
    return write(tmp_path, ORB_CONFIG)


def _save_orb(root: Path) -> None:
    saved = root / ".circleci" / "orbs" / "circleci" / "aws-cli.yml"
    saved.parent.mkdir(parents=True)
    saved.write_text(
        textwrap.dedent("""\
        version: 2.1
        description: saved with `circleci orb source circleci/aws-cli@4.1`
        executors:
          default:
            docker: [{image: cimg/aws:2023.01}]
            environment: {AWS_PAGER: ""}
        commands:
          setup:
            parameters: {profile: {type: string, default: default}}
            steps:
              - run: echo "aws configure --profile << parameters.profile >>"
        jobs:
          deploy:
            executor: default
            parameters: {stage: {type: string, default: staging}}
            steps:
              - setup
              - run: echo "deploying << parameters.stage >> for << pipeline.project.slug >>"
        """)
    )


def test_orb_jobs_are_nodes_of_their_own_and_renamed_ones_can_be_required(
    tmp_path: Path,
) -> None:
    config = load(_orb_config(tmp_path))
    steps = config.select("main").steps
    assert list(steps) == ["build", "tools/lint", "unit", "deploy-staging", "smoke"]
    unit = steps["unit"]
    assert unit.type == ORB_JOB_STEP_TYPE and unit.requires == ("build",)
    assert unit.spec["orb"] == "circleci/node"
    assert steps["deploy-staging"].type == ORB_JOB_STEP_TYPE  # aws-cli is not saved here
    assert steps["deploy-staging"].requires == ("unit", "tools/lint")
    assert steps["smoke"].requires == ("deploy-staging",)
    # it never runs here, whatever the branch, and the reason names the orb
    why = describe_mismatch(unit.branches, "main")
    assert "orb `node` (circleci/node@5.1.0) is not available here" in why
    assert ".circleci/orbs/circleci/node.yml" in why
    assert "orb `node` (circleci/node@5.1.0) is not available" in notes(config)


def test_inline_orb_jobs_commands_and_executors_are_expanded(tmp_path: Path) -> None:
    config = load(_orb_config(tmp_path))
    lint = config.select("main").steps["tools/lint"]
    assert lint.type == "circleci-job" and lint.spec["orb"] == "tools"
    kinds = [(s["kind"], s["name"]) for s in lint.spec["steps"]]
    assert kinds == [("run", 'echo "hello lint"'), ("unsupported", "node/install-packages")]
    assert lint.spec["environment"] == {"TOOLS": "yes"}  # the orb's own executor `small`
    build = config.select("main").steps["build"].spec
    assert [s["name"] for s in build["steps"]][-1] == 'echo "hello world"'  # tools/greet
    assert "executor `node/default` is not used (orb `node`" in notes(config)


def test_a_saved_orb_source_is_used_and_orbs_dir_overrides_the_place(tmp_path: Path) -> None:
    path = _orb_config(tmp_path)
    _save_orb(tmp_path)
    config = load(path)
    deploy = config.select("main").steps["deploy-staging"]
    assert deploy.type == "circleci-job" and deploy.spec["orb"] == "circleci/aws-cli"
    commands = [s.get("command") for s in deploy.spec["steps"]]
    assert commands == [
        'echo "aws configure --profile default"',
        f'echo "deploying staging for local/{tmp_path.name}"',
    ]
    assert deploy.spec["environment"] == {"AWS_PAGER": ""}
    build = config.select("main").steps["build"].spec["steps"]
    assert 'echo "aws configure --profile default"' in [s.get("command") for s in build]

    elsewhere = tmp_path / "saved-orbs"
    (tmp_path / ".circleci" / "orbs").rename(elsewhere)
    assert load(path).select("main").steps["deploy-staging"].type == ORB_JOB_STEP_TYPE
    moved = load(path, orbs_dir=elsewhere).select("main").steps["deploy-staging"]
    assert moved.type == "circleci-job"


def test_a_broken_saved_orb_is_an_error_at_its_own_file_and_line(tmp_path: Path) -> None:
    path = _orb_config(tmp_path)
    saved = tmp_path / ".circleci" / "orbs" / "circleci" / "aws-cli.yml"
    saved.parent.mkdir(parents=True)
    saved.write_text("jobs:\n  deploy:\n    steps: [\n")
    with pytest.raises(WorkflowError) as err:
        load(path)
    assert str(err.value).startswith(f"{saved}:4:")


def test_an_unknown_job_of_an_available_orb_is_an_error_with_a_hint(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 2.1
        orbs:
          tools: {jobs: {lint: {steps: [{run: echo}]}}}
        workflows:
          w: {jobs: [tools/lnt]}
        """,
    )
    with pytest.raises(
        WorkflowError, match=r"config.yml:5:14: error: orb `tools` \(inline\) has no job `lnt`"
    ):
        load(path)


# -- 2. pipeline parameters inside commands ----------------------------------------------
def test_pipeline_parameters_inside_commands(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 2.1
        parameters:
          region: {type: string, default: eu-west-1}
          verbose: {type: boolean, default: false}
        commands:
          deploy-to:
            parameters: {what: {type: string}}
            steps:
              - run: echo "<< parameters.what >> to << pipeline.parameters.region >>"
              - when:
                  condition: << pipeline.parameters.verbose >>
                  steps: [{run: echo verbose}]
        jobs:
          ship: {steps: [{deploy-to: {what: app}}]}
        workflows:
          w: {jobs: [ship]}
        """,
    )
    ship = load(path).select("w").steps["ship"].spec["steps"]
    assert [s["command"] for s in ship] == ['echo "app to eu-west-1"']
    ship = load(path, parameters={"verbose": "true"}).select("w").steps["ship"].spec["steps"]
    assert [s["command"] for s in ship] == ['echo "app to eu-west-1"', "echo verbose"]


# -- 3. a redefined anchor -----------------------------------------------------------------
def test_a_redefined_anchor_is_allowed_and_the_later_definition_wins(tmp_path: Path) -> None:
    text = "a: &defaults {x: 1}\nb: *defaults\nc: &defaults {x: 2}\nd: {<<: *defaults, y: 3}\n"
    assert to_plain(parse_document(text, "t.yml").value) == {
        "a": {"x": 1},
        "b": {"x": 1},
        "c": {"x": 2},
        "d": {"x": 2, "y": 3},
    }
    path = write(
        tmp_path,
        """\
        version: 2.1
        x-one: &defaults
          environment: {STAGE: one}
        x-two: &defaults
          environment: {STAGE: two}
        jobs:
          first: {<<: *defaults, steps: [{run: echo}]}
        workflows:
          w: {jobs: [first]}
        """,
    )
    assert load(path).select("w").steps["first"].spec["environment"] == {"STAGE": "two"}


def test_an_undefined_alias_is_still_an_error_with_its_line() -> None:
    with pytest.raises(WorkflowError, match=r"t.yml:2:4: error: YAML syntax: found undefined"):
        parse_document("a: 1\nb: *nope\n", "t.yml")


# -- 4. setup configs ------------------------------------------------------------------------
def test_a_setup_config_loads_and_says_what_the_continuation_needs(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 2.1
        setup: true
        orbs:
          path-filtering: circleci/path-filtering@1.0.0
        workflows:
          generate-config:
            jobs:
              - path-filtering/filter:
                  base-revision: main
                  config-path: .circleci/continue_config.yml
                  mapping: |
                    api/.* run-api true
                    web/.* run-web true
        """,
    )
    config = load(path)
    step = config.select("generate-config").steps["path-filtering/filter"]
    assert step.type == ORB_JOB_STEP_TYPE
    said = notes(config)
    assert "a setup config (`setup: true`)" in said
    assert "continue with .circleci/continue_config.yml" in said
    assert "setting pipeline parameters run-api, run-web" in said


def test_a_continuation_config_of_orb_jobs_only_is_read_as_circleci(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "version: 2.1\norbs: {node: circleci/node@5.1.0}\nworkflows: {w: {jobs: [node/test]}}\n",
        name="continue_config.yml",
    )
    workflow = load_workflow(path)
    assert workflow.steps["node/test"].type == ORB_JOB_STEP_TYPE


def test_a_setup_config_with_its_own_job_runs_it(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 2.1
        setup: true
        orbs:
          continuation: circleci/continuation@1.0.0
        jobs:
          generate:
            steps:
              - run: ./generate.sh > generated.yml
              - continuation/continue: {configuration_path: generated.yml}
        workflows:
          setup: {jobs: [generate]}
        """,
    )
    config = load(path)
    steps = config.select("setup").steps["generate"].spec["steps"]
    assert [s["kind"] for s in steps] == ["run", "unsupported"]
    assert "it would continue with generated.yml" in notes(config)


# -- 5. serial-group and pipeline values ---------------------------------------------------
def test_serial_group_with_a_pipeline_value_becomes_a_concurrency_group(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 2.1
        jobs:
          deploy: {steps: [{run: echo "<< pipeline.project.slug >> << pipeline.trigger_source >>"}]}
        workflows:
          w:
            jobs:
              - deploy:
                  serial-group: << pipeline.project.slug >>/deploy
        """,
    )
    workflow = load(path).select("w")
    assert workflow.concurrency_group == f"circleci-serial:local/{tmp_path.name}/deploy"
    assert workflow.concurrency == 1
    step = workflow.steps["deploy"].spec["steps"][0]
    assert step["command"] == f'echo "local/{tmp_path.name} api"'
    given = load(path, parameters={"pipeline.project.slug": "gh/acme/app"}).select("w")
    assert given.concurrency_group == "circleci-serial:gh/acme/app/deploy"
    with pytest.raises(WorkflowError, match=r"--param pipeline.nope: not a pipeline value"):
        load(path, parameters={"pipeline.nope": "x"})


# -- 6. no-op jobs -------------------------------------------------------------------------
def test_no_op_jobs_load_and_shape_the_graph(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 2.1
        jobs:
          a: {steps: [{run: echo a}]}
          b: {steps: [{run: echo b}]}
          all-built: {type: no-op}
          ship: {steps: [{run: echo ship}]}
        workflows:
          w:
            jobs: [a, b, {all-built: {requires: [a, b]}}, {ship: {requires: [all-built]}}]
        """,
    )
    steps = load(path).select("w").steps
    assert steps["all-built"].spec == {
        "job": "all-built",
        "no_op": True,
        "steps": [],
        "environment": {},
    }
    assert steps["all-built"].requires == ("a", "b") and steps["ship"].requires == ("all-built",)


def test_a_job_type_other_than_build_or_no_op_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "version: 2.1\njobs:\n  a: {type: nop}\nworkflows:\n  w: {jobs: [a]}\n",
    )
    with pytest.raises(WorkflowError, match="`type` must be build or no-op"):
        load(path)


# -- 7. the same job listed twice ------------------------------------------------------------
def test_a_job_listed_twice_is_numbered_as_circleci_does(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 2.1
        jobs:
          build: {steps: [{run: echo}]}
          test: {parameters: {n: {type: integer, default: 0}}, steps: [{run: echo}]}
          report: {steps: [{run: echo}]}
        workflows:
          w:
            jobs:
              - build
              - test: {requires: [build], n: 1}
              - test: {requires: [build], n: 2}
              - report: {requires: [test]}
        """,
    )
    config = load(path)
    steps = config.select("w").steps
    assert list(steps) == ["build", "test-1", "test-2", "report"]
    assert steps["report"].requires == ("test-1", "test-2")
    assert "lists `test` 2 times: they run as test-1, test-2" in notes(config)


# -- 8. requires on a filtered job -----------------------------------------------------------
def test_requires_on_filtered_jobs_follows_circleci(tmp_path: Path) -> None:
    """CircleCI ignores a requirement that did not run for a filter; a job all of whose
    requirements were filtered out does not run either.  flowtui's scheduler does the
    same (tests/circleci/test_fidelity_run.py runs it); here the graph it gets."""
    path = write(
        tmp_path,
        """\
        version: 2.1
        jobs:
          a: {steps: [{run: echo}]}
        workflows:
          w:
            jobs:
              - a: {name: main-only, filters: {branches: {only: main}}}
              - a: {name: everywhere}
              - a: {name: after-both, requires: [main-only, everywhere]}
              - a: {name: after-main-only, requires: [main-only]}
        """,
    )
    steps = load(path).select("w").steps
    assert steps["after-both"].requires == ("main-only", "everywhere")
    assert not branch_matches(steps["main-only"].branches, "feature")
    assert branch_matches(steps["after-main-only"].branches, "feature")  # decided at run time


# -- 9. tag filters ----------------------------------------------------------------------------
def test_tag_filters_follow_circleci() -> None:
    none = JobFilter()
    tags_only = JobFilter(tags_only=("/^v.*/",))
    tags_only_no_branches = JobFilter(ignore=("/.*/",), tags_only=("/^v.*/",))
    tags_ignore = JobFilter(tags_ignore=("/^test-.*/",))
    v1, test = tag_ref("v1.0"), tag_ref("test-3")
    # a tag run: only jobs whose tags filter lets the tag through
    assert not branch_matches(none, v1)
    assert "has no `tags` filter" in describe_mismatch(none, v1)
    assert branch_matches(tags_only, v1) and branch_matches(tags_only_no_branches, v1)
    assert not branch_matches(tags_only, test)
    assert branch_matches(tags_ignore, v1) and not branch_matches(tags_ignore, test)
    # a branch run: tags filters play no part (CircleCI's documented rule; a tags-only job
    # runs for every branch, which is why configs add `branches: {ignore: /.*/}`)
    assert branch_matches(none, "main") and branch_matches(tags_only, "main")
    assert not branch_matches(tags_only_no_branches, "main")
    # a run whose branch is not known (no git, no --branch): a branch no name matches
    assert branch_matches(none, None) and branch_matches(JobFilter(ignore=("main",)), None)
    assert not branch_matches(tags_only_no_branches, None)
    assert "no branch known" in describe_mismatch(JobFilter(only=("main",)), None)
    assert branch_matches(JobFilter(only=("/.*/",)), None)
    # a plain flowtui filter sees a tag run as a run without a branch
    assert not branch_matches({"only": ("main",)}, v1)
    assert branch_matches({"ignore": ("main",)}, v1)


def test_tag_filters_are_read_from_the_config(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 2.1
        jobs:
          a: {steps: [{run: echo}]}
        workflows:
          w:
            jobs:
              - a: {name: build, filters: {tags: {only: /.*/}}}
              - a:
                  name: publish
                  requires: [build]
                  filters: {branches: {ignore: /.*/}, tags: {only: /^v\\d+/}}
        """,
    )
    steps = load(path).select("w").steps
    assert steps["publish"].branches == JobFilter(ignore=("/.*/",), tags_only=("/^v\\d+/",))
    assert branch_matches(steps["publish"].branches, tag_ref("v2"))


def test_a_bad_tag_regex_is_an_error_at_the_job(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "version: 2.1\njobs:\n  a: {steps: [{run: echo}]}\nworkflows:\n  w:\n    jobs:\n"
        "      - a: {filters: {tags: {only: '/v[/'}}}\n",
    )
    with pytest.raises(WorkflowError, match=r"config.yml:7:9: error: job `a`: invalid regex"):
        load(path)


# -- 10. workflow when/unless with logic -------------------------------------------------------
LOGIC_CONFIG = """\
    version: 2.1
    parameters:
      nightly: {type: boolean, default: false}
      target: {type: enum, enum: [none, staging, prod], default: none}
    jobs:
      a: {steps: [{run: echo}]}
    workflows:
      on-main:
        when: {equal: [main, << pipeline.git.branch >>]}
        jobs: [a]
      not-main:
        when: {not: {equal: [main, << pipeline.git.branch >>]}}
        jobs: [a]
      nightly:
        when:
          and:
            - << pipeline.parameters.nightly >>
            - {equal: [scheduled_pipeline, << pipeline.trigger_source >>]}
        jobs: [a]
      deploy:
        when:
          or:
            - {equal: [staging, << pipeline.parameters.target >>]}
            - {equal: [prod, << pipeline.parameters.target >>]}
        jobs: [a]
      release:
        when: {matches: {pattern: "^v.+$", value: << pipeline.git.tag >>}}
        jobs: [a]
      always:
        unless: << pipeline.parameters.nightly >>
        jobs: [a]
    """


def test_workflow_conditions_offer_only_the_workflows_that_hold(tmp_path: Path) -> None:
    path = write(tmp_path, LOGIC_CONFIG)
    offered = list(load(path, parameters={"pipeline.git.branch": "main"}).workflows)
    assert offered == ["on-main", "always"]
    config = load(path, parameters={"pipeline.git.branch": "feature", "target": "prod"})
    assert list(config.workflows) == ["not-main", "deploy", "always"]
    assert config.disabled["on-main"] == "its `when` condition is false"
    scheduled = {"nightly": "true", "pipeline.trigger_source": "scheduled_pipeline"}
    assert list(load(path, parameters=scheduled).workflows) == ["not-main", "nightly"]
    assert list(load(path, parameters={"pipeline.git.tag": "v1.2"}).workflows) == [
        "not-main",
        "release",
        "always",
    ]
    with pytest.raises(LookupError, match="`on-main` does not run: its `when` condition"):
        load(path).select("on-main")


def test_without_a_ref_conditions_use_the_branch_checked_out(tmp_path: Path) -> None:
    path = write(tmp_path, LOGIC_CONFIG)
    assert list(load(path).workflows) == ["not-main", "always"]  # not a git checkout
    subprocess.run(["git", "init", "-q", "-b", "main", str(tmp_path)], check=True)
    assert list(load(path).workflows) == ["on-main", "always"]
    subprocess.run(["git", "-C", str(tmp_path), "checkout", "-q", "-b", "feature"], check=True)
    assert list(load(path).workflows) == ["not-main", "always"]


# -- bad input stays a file:line error ---------------------------------------------------------
BAD = [  # (lines added to the config, the workflow's jobs, the error after `config.yml:`)
    ("orbs: 5\n", "[a]", "2:7: error: `orbs` must map names to orb references or orb bodies"),
    ("orbs: {x: 12}\n", "[a]", "2:8: error: orb `x`: expected `namespace/name@version`"),
    ("orbs: {x: {jobs: [1]}}\n", "[a]", "2:18: error: `jobs` must be a mapping"),
    (
        "orbs: {t: {commands: {c: {steps: [c]}}, jobs: {j: {steps: [c]}}}}\n",
        "[t/j]",
        "2:48: error: command `t/c`: commands nest more than 20 deep",
    ),
    ("", "[{a: {serial-group: {x: 1}}}]", "3:24: error: job `a`: `serial-group` must be a name"),
]


@pytest.mark.parametrize(("extra", "jobs", "expected"), BAD)
def test_bad_orbs_and_entries_are_errors_at_their_line(
    tmp_path: Path, extra: str, jobs: str, expected: str
) -> None:
    path = write(
        tmp_path,
        f"version: 2.1\n{extra}jobs: {{a: {{steps: [{{run: echo}}]}}}}\n"
        f"workflows: {{w: {{jobs: {jobs}}}}}\n",
    )
    with pytest.raises(WorkflowError) as err:
        load(path)
    assert f"{path}:{expected}" in str(err.value)


def test_a_saved_orb_name_cannot_leave_the_orbs_dir(tmp_path: Path) -> None:
    secret = tmp_path / ".circleci" / "x.yml"  # what `../x@1` would reach
    path = write(
        tmp_path,
        "version: 2.1\norbs: {evil: ../x@1}\nworkflows: {w: {jobs: [evil/j]}}\n",
    )
    secret.write_text("jobs: {j: {steps: [{run: echo leaked}]}}\n")
    step = load(path).select("w").steps["evil/j"]
    assert step.type == ORB_JOB_STEP_TYPE
