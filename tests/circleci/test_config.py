"""Loading CircleCI configs: the docs' examples, 2.1 expansion, notes and file:line errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from flowtui.model.catalog import WorkflowCatalog
from flowtui.model.circleci import JOB_STEP_TYPE, load_config_text, pick
from flowtui.model.errors import WorkflowError
from flowtui.model.loader import discover_workflows, load_workflow, load_workflow_text
from tests.circleci.conftest import config_path, load_example


def write_config(folder: Path, text: str) -> Path:
    path = folder / ".circleci" / "config.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def requires(example: str, workflow: str | None = None) -> dict[str, tuple[str, ...]]:
    return {s.name: s.requires for s in load_example(example, workflow).steps.values()}


def test_sequential_example_chains_each_job_on_the_previous() -> None:
    wf = load_example("sequential")
    assert wf.name == "build-test-and-deploy"
    assert requires("sequential") == {
        "build": (),
        "test1": ("build",),
        "test2": ("test1",),
        "deploy": ("test2",),
    }
    assert {s.type for s in wf.steps.values()} == {JOB_STEP_TYPE}


def test_fan_out_fan_in_example_and_anchor_merges() -> None:
    deps = requires("fan-out-fan-in")
    tests = [f"acceptance_test_{i}" for i in range(1, 5)]
    assert all(deps[t] == ("build",) for t in tests)
    assert deps["deploy"] == tuple(tests)
    # every job got its docker executor through `<<: *defaults`
    config = load_config_text(
        config_path("fan-out-fan-in").read_text(), str(config_path("fan-out-fan-in"))
    )
    hosts = [n for n in config.notes if "runs on this host" in n.message]
    assert len(hosts) == 1 and "docker (cimg/base:2023.06)" in hosts[0].message


def test_approval_example_makes_hold_an_approval_step() -> None:
    wf = load_example("approval")
    hold = wf.steps["hold"]
    assert hold.type == "approval" and hold.requires == ("test2",)
    assert wf.steps["deploy"].requires == ("hold",)


def test_branch_filters_become_step_branches() -> None:
    wf = load_example("branch-level", "dev_stage_pre-prod")
    assert dict(wf.steps["test_dev"].branches or {}) == {
        "only": ("dev", "/user-.*/"),
        "ignore": (),
    }
    assert dict(wf.steps["test_stage"].branches or {}) == {"only": ("stage",), "ignore": ()}
    assert dict(wf.steps["test_pre-prod"].branches or {}) == {
        "only": ("/pre-prod(?:-.+)?$/",),
        "ignore": (),
    }


def test_workspace_example_keeps_persist_and_attach() -> None:
    wf = load_example("workspace")
    flow = wf.steps["flow"].spec["steps"]
    assert flow[-1] == {
        "kind": "persist_to_workspace",
        "name": "Persisting to Workspace",
        "root": "workspace",
        "paths": ["echo-output"],
    }
    assert wf.steps["downstream"].spec["steps"][0]["at"] == "/tmp/workspace"


def test_parameters_commands_matrix_and_conditions_expand() -> None:
    wf = load_example("features", "features")
    names = list(wf.steps)
    # CircleCI names matrix copies <job>-<values in parameter-name order>; exclude drops one
    assert names == ["prepare", "test-linux-3.11", "test-linux-3.12", "test-mac-3.12", "report"]
    assert wf.steps["report"].requires == ("test-linux-3.11", "test-linux-3.12", "test-mac-3.12")
    test = wf.steps["test-mac-3.12"]
    assert dict(test.matrix) == {"os": "mac", "python": "3.12"} and test.base == "test"
    assert test.spec["steps"][0]["name"] == "test on mac with 3.12"
    assert test.spec["environment"] == {"LEVEL": "job", "SHARED": "from-anchor"}

    prepare = wf.steps["prepare"].spec
    assert prepare["environment"] == {"LEVEL": "base", "SHARED": "from-anchor"}
    commands = [s.get("command") for s in prepare["steps"] if s["kind"] == "run"]
    assert 'echo "hello $LEVEL $SHARED $FROM_BASH_ENV"' in commands  # pipeline parameter
    assert 'echo "said prepared" >> "$FLOWTUI_WORKSPACE/said.txt"' in commands  # command
    assert 'echo "then-step ran"' in commands  # a `steps` parameter spliced in
    assert 'echo "unless-step ran"' in commands
    assert not any("must not run" in c for c in commands)  # `when: false` block dropped
    assert prepare["working_directory"] == "~/project"
    assert prepare["shell"] == "/bin/bash -eo pipefail"


def test_unsupported_features_are_notes_and_executors_are_noted_once() -> None:
    path = config_path("features")
    config = load_config_text(path.read_text(), str(path), path)
    messages = [n.message for n in config.notes]
    assert any("orb `node` (circleci/node@5.1.0) is not available here" in m for m in messages)
    assert any("`save_cache` is not supported" in m for m in messages)
    assert any("orb command `node/install-packages` is not run: orb `node`" in m for m in messages)
    hosts = [m for m in messages if "runs on this host" in m]
    assert len(hosts) == 1
    assert "docker (cimg/python:3.12)" in hosts[0] and "machine (ubuntu-2204:current)" in hosts[0]
    skipped = [s for s in load_example("features").steps["prepare"].spec["steps"]]
    assert [s["name"] for s in skipped if s["kind"] == "unsupported"] == [
        "save_cache",
        "node/install-packages",
    ]


def test_several_workflows_need_a_choice_on_the_command_line() -> None:
    first = load_workflow(config_path("features"))
    assert first.name == "features"  # the catalog shows the first one
    with pytest.raises(LookupError, match=r"several workflows.*features, second"):
        pick(first, None)
    chosen, notes = pick(first, "second")
    assert chosen.name == "second" and list(chosen.steps) == ["report"]
    assert notes
    with pytest.raises(LookupError, match="no CircleCI workflow `nope`"):
        pick(first, "nope")


def test_a_run_s_recorded_source_reloads_the_same_workflow() -> None:
    path = config_path("features")
    second = load_example("features", "second")
    again = load_workflow_text(second.source, str(path), path=path)
    assert again.name == "second" and again.source_hash == second.source_hash
    # the line numbers of the recorded text are the file's own
    assert again.steps["report"].pos.line == second.steps["report"].pos.line


def test_content_detection_without_the_circleci_folder(tmp_path: Path) -> None:
    path = tmp_path / "ci.yml"
    path.write_text(config_path("sequential").read_text())
    assert load_workflow(path).name == "build-test-and-deploy"


def test_folder_listing_and_catalog_include_the_project_config(tmp_path: Path) -> None:
    write_config(tmp_path, config_path("approval").read_text())
    (tmp_path / "own.yaml").write_text("name: own\nsteps:\n  a: {run: echo}\n")
    found = discover_workflows(tmp_path)
    assert found == [tmp_path / "own.yaml", tmp_path / ".circleci" / "config.yml"]
    catalog = WorkflowCatalog(tmp_path)
    catalog.scan()
    names = [(e.name, e.error) for e in catalog.entries]
    assert names == [("build-test-and-approval-deploy", None), ("own", None)]


def test_a_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """\
        version: 2.1
        jobs:
          build:
            steps:
              - run: {command: echo, name: [unclosed
        workflows:
          w: {jobs: [build]}
        """,
    )
    with pytest.raises(WorkflowError) as info:
        load_workflow(path)
    problem = info.value.problems[0]
    assert problem.pos.file == str(path) and problem.pos.line >= 5
    assert "YAML syntax" in problem.message


def test_semantic_errors_point_at_the_workflow_entry(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """\
        version: 2.1
        jobs:
          build:
            parameters:
              target: {type: string}
            steps: [{run: echo}]
        workflows:
          w:
            jobs:
              - build:
                  target: x
              - deploy
              - build:
                  name: second
                  requires: [buidl]
        """,
    )
    with pytest.raises(WorkflowError) as info:
        load_workflow(path)
    text = str(info.value)
    assert f"{path}:12:" in text and "`deploy` is not defined under `jobs:`" in text
    assert f"{path}:13:" in text and "needs a value for its parameter `target`" in text
    assert "requires `buidl`" in text and "did you mean `build`?" in text


def test_requires_cycle_is_an_error(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """\
        version: 2
        jobs:
          a: {steps: [{run: echo}]}
          b: {steps: [{run: echo}]}
        workflows:
          version: 2
          w:
            jobs:
              - a: {requires: [b]}
              - b: {requires: [a]}
        """,
    )
    with pytest.raises(WorkflowError, match="cycle: a → b → a"):
        load_workflow(path)


def test_heredocs_in_commands_are_left_alone(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """\
        version: 2.1
        jobs:
          build:
            steps:
              - run: |
                  cat <<EOF >> out.txt
                  text
                  EOF
        workflows:
          w: {jobs: [build]}
        """,
    )
    command = load_workflow(path).steps["build"].spec["steps"][0]["command"]
    assert command.startswith("cat <<EOF >> out.txt\n")


def test_workflow_when_false_is_not_runnable(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """\
        version: 2.1
        parameters:
          nightly: {type: boolean, default: false}
        jobs:
          build: {steps: [{run: echo}]}
        workflows:
          nightly:
            when: << pipeline.parameters.nightly >>
            jobs: [build]
          commit:
            jobs: [build]
        """,
    )
    config = load_config_text(path.read_text(), str(path), path)
    assert list(config.workflows) == ["commit"]
    with pytest.raises(LookupError, match="`nightly` does not run: its `when` condition is false"):
        config.select("nightly")
