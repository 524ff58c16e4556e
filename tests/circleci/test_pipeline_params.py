"""Pipeline parameters set from the command line: `flowtui run CONFIG --param x=y`."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowtui.model import circleci
from flowtui.model.circleci.config import PARAMS_MARKER, load_config_text, split_parameters
from flowtui.model.errors import WorkflowError
from flowtui.model.loader import load_workflow, load_workflow_text
from tests.cli.conftest import Cli

CONFIG = """\
version: 2.1
parameters:
  greeting: {type: string, default: hello}
  deploy: {type: boolean, default: false}
  replicas: {type: integer, default: 1}
  region: {type: enum, enum: [us, eu], default: us}
jobs:
  build:
    steps:
      - run: echo "say << pipeline.parameters.greeting >> x<< pipeline.parameters.replicas >>"
      - when:
          condition: << pipeline.parameters.deploy >>
          steps:
            - run: echo "deploying to << pipeline.parameters.region >>"
workflows:
  main:
    jobs: [build]
  release:
    when: << pipeline.parameters.deploy >>
    jobs: [build]
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "project" / ".circleci" / "config.yml"
    path.parent.mkdir(parents=True)
    path.write_text(CONFIG)
    return path


def commands(workflow: object) -> list[str]:
    steps = workflow.steps["build"].spec["steps"]  # type: ignore[attr-defined]
    return [s["command"] for s in steps if "command" in s]


def test_parameters_replace_the_defaults_everywhere(config: Path) -> None:
    default = load_workflow(config)
    assert commands(default) == ['echo "say hello x1"']

    given = {"greeting": "hi there", "deploy": "true", "replicas": "3", "region": "eu"}
    chosen = load_config_text(config.read_text(), str(config), config, parameters=given)
    assert list(chosen.workflows) == ["main", "release"], "`when` sees the given value"
    assert commands(chosen.workflows["main"]) == [
        'echo "say hi there x3"',
        'echo "deploying to eu"',
    ]


def test_pick_applies_parameters_and_a_rerun_keeps_them(config: Path) -> None:
    workflow, _ = circleci.pick(
        load_workflow(config), "release", {"greeting": "hey", "deploy": "yes"}
    )
    assert workflow.name == "release"
    assert commands(workflow)[0] == 'echo "say hey x1"'
    assert PARAMS_MARKER in workflow.source
    # a rerun reloads the recorded text: the same values apply, the config text is unchanged
    again = load_workflow_text(workflow.source, str(config), config)
    assert again.name == "release" and commands(again) == commands(workflow)
    assert again.source_hash == load_workflow(config).source_hash
    text, recorded = split_parameters(circleci.split_marker(workflow.source)[0])
    assert recorded == {"deploy": "yes", "greeting": "hey"} and text == CONFIG


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"colour": "red"}, "no pipeline parameter `colour` (declared: greeting, deploy, "),
        ({"deploy": "maybe"}, "--param deploy: a boolean, give true or false (got 'maybe')"),
        ({"replicas": "three"}, "--param replicas: an integer, got 'three'"),
        ({"region": "asia"}, "parameter `region` must be one of us, eu, got 'asia'"),
    ],
)
def test_a_wrong_parameter_is_a_clear_error(
    config: Path, given: dict[str, str], message: str
) -> None:
    with pytest.raises(WorkflowError) as err:
        circleci.pick(load_workflow(config), "main", given)
    assert message in str(err.value)
    assert f"{config}:2:1:" in str(err.value), "pinned to the `parameters:` key"


def test_a_config_without_parameters_refuses_any(tmp_path: Path) -> None:
    path = tmp_path / ".circleci" / "config.yml"
    path.parent.mkdir()
    path.write_text(
        "version: 2.1\njobs:\n  a: {steps: [{run: echo}]}\nworkflows:\n  w: {jobs: [a]}\n"
    )
    with pytest.raises(WorkflowError, match=r"no pipeline parameter `x` \(declared: none\)"):
        circleci.pick(load_workflow(path), None, {"x": "1"})
    # `branch` stays flowtui's own: the branch the run is for
    workflow, _ = circleci.pick(load_workflow(path), None, {"branch": "main"})
    assert workflow.name == "w"


def test_cli_run_sets_them_and_rerun_keeps_them(config: Path, tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    result = cli("run", str(config), "-w", "release", "-p", "deploy=true", "-p", "greeting=howdy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "say howdy x1" in result.stdout and "deploying to us" in result.stdout

    rerun = cli("rerun", "last", "--from-start")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "say howdy x1" in rerun.stdout and "deploying to us" in rerun.stdout
    shown = cli("show", "last")
    assert "deploy=true" in shown.stdout and "greeting=howdy" in shown.stdout

    wrong = cli("run", str(config), "-p", "colour=red")
    assert wrong.returncode == 1
    assert "--param colour: the config declares no pipeline parameter `colour`" in wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_a_wrong_value_is_one_error_not_also_a_missing_parameter(tmp_path: Path) -> None:
    path = tmp_path / ".circleci" / "config.yml"
    path.parent.mkdir()
    path.write_text(
        "version: 2.1\n"
        "parameters:\n"
        "  deploy_env: {type: enum, enum: [staging, production], default: staging}\n"
        "jobs:\n"
        "  deploy:\n"
        "    parameters:\n"
        "      size: {type: enum, enum: [s, m]}\n"
        '    steps: [{run: "echo << pipeline.parameters.deploy_env >> << parameters.size >>"}]\n'
        "workflows:\n"
        "  w: {jobs: [{deploy: {size: xl}}]}\n"
    )
    with pytest.raises(WorkflowError) as err:
        load_config_text(path.read_text(), str(path), path, parameters={"deploy_env": "prod"})
    text = str(err.value)
    assert "must be one of staging, production, got 'prod'" in text
    assert "parameter `size` must be one of s, m, got 'xl'" in text
    assert "no pipeline parameter" not in text and "no parameter" not in text, text
