"""`flowtui validate --json`: the graph of a large real-world-shaped config, as a process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.circleci.conftest import config_path
from tests.cli.conftest import Cli


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def validate_json(cli: Cli, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("validate", "--json", *args)
    assert "Traceback" not in result.stderr
    return result.returncode, json.loads(result.stdout)


def graph(document: dict[str, Any], file: int = 0) -> dict[str, dict[str, dict[str, Any]]]:
    """{workflow: {step: its JSON}} of one file."""
    return {
        w["name"]: {s["name"]: s for s in w["steps"]} for w in document["files"][file]["workflows"]
    }


def test_the_realworld_config_gives_the_right_graph_for_a_branch(cli: Cli) -> None:
    code, document = validate_json(cli, str(config_path("realworld")), "--branch", "main")
    assert code == 0
    (item,) = document["files"]
    assert item["ok"] and item["kind"] == "circleci"
    assert [w["name"] for w in item["workflows"]] == ["build-test-deploy"]
    assert {w["name"]: w["reason"] for w in item["skipped_workflows"]} == {
        "nightly": "its `when` condition is false",
        "release": "its `when` condition is false",
        "docs": "its `when` condition is false",  # `not: equal: [main, branch]`
    }
    steps = graph(document)["build-test-deploy"]
    assert list(steps) == [
        "lint",
        "test-18.19",
        "test-20.11",
        "test-22.2",
        "node-unit",
        "tests-passed",
        "build",
        "publish-image",
        "hold",
        "deploy",
        "utils/check-links",
    ]
    edges = {name: step["requires"] for name, step in steps.items()}
    assert edges["tests-passed"] == ["test-18.19", "test-20.11", "test-22.2", "node-unit"]
    assert edges["build"] == ["tests-passed"] and edges["publish-image"] == ["build"]
    assert edges["hold"] == ["publish-image"] and edges["deploy"] == ["hold"]
    assert edges["utils/check-links"] == ["build"]
    types = {name: step["type"] for name, step in steps.items()}
    assert types["node-unit"] == types["publish-image"] == "orb-job"
    assert types["hold"] == "approval" and types["utils/check-links"] == "circleci-job"
    assert steps["node-unit"]["orb"] == "circleci/node"
    assert steps["node-unit"]["job"] == "node/test"
    assert "orb `node` (circleci/node@5.1.0) is not available" in steps["node-unit"]["unavailable"]
    assert steps["utils/check-links"]["orb"] == "utils" and steps["lint"]["orb"] is None
    assert steps["tests-passed"]["no_op"] is True
    assert steps["test-20.11"]["matrix"] == {"node-version": "20.11"}
    assert steps["publish-image"]["branches"] == {"only": ["main", "/release\\/.*/"], "ignore": []}
    assert steps["deploy"]["branches"] == {"only": ["main"], "ignore": []}
    assert steps["deploy"]["tags"] is None and steps["lint"]["branches"] is None
    assert item["workflows"][0]["concurrency_group"] == (
        "circleci-serial:local/realworld/deploy-staging"
    )
    notes = [p for p in item["problems"] if p["severity"] == "note"]
    assert not [p for p in item["problems"] if p["severity"] != "note"]
    assert {"file", "line", "col", "severity", "message", "hint"} <= set(notes[0])


def test_a_tag_offers_the_release_workflow_with_its_tag_filters(cli: Cli) -> None:
    code, document = validate_json(
        cli, str(config_path("realworld")), "--tag", "v1.2.3", "-p", "deploy-env=production"
    )
    assert code == 0
    workflows = graph(document)
    assert list(workflows) == ["build-test-deploy", "release", "docs"]
    release = workflows["release"]
    expected = {"only": ["/^v\\d+\\.\\d+\\.\\d+$/"], "ignore": []}
    assert release["build"]["tags"] == expected  # through the `*release-filters` alias
    assert release["build"]["branches"] == {"only": [], "ignore": ["/.*/"]}
    assert release["publish-release"]["requires"] == ["build"]
    assert workflows["docs"].keys() == {"docs-1", "docs-2"}
    notes = [p["message"] for p in document["files"][0]["problems"]]
    assert any("lists `docs` 2 times: they run as docs-1, docs-2" in m for m in notes)
    assert document["files"][0]["workflows"][0]["concurrency_group"].endswith("/deploy-production")


def test_json_for_flowtui_files_broken_files_and_several_files(cli: Cli, tmp_path: Path) -> None:
    own = tmp_path / "own.yaml"
    own.write_text(
        "name: own\nsteps:\n  a: {run: echo}\n"
        "  b: {run: echo, requires: [a], branches: {only: [main]}}\n"
    )
    broken = tmp_path / ".circleci" / "config.yml"
    broken.parent.mkdir()
    broken.write_text(
        "version: 2.1\njobs:\n  a: {steps: [{run: echo}]}\nworkflows:\n  w:\n"
        "    jobs: [a, {b: {requires: [a]}}]\n"
    )
    code, document = validate_json(cli, str(own), str(broken))
    assert code == 1
    first, second = document["files"]
    assert first["ok"] and first["kind"] == "flowtui" and first["problems"] == []
    (workflow,) = first["workflows"]
    assert workflow["name"] == "own"
    assert [(s["name"], s["type"], s["requires"], s["branches"]) for s in workflow["steps"]] == [
        ("a", "script", [], None),
        ("b", "script", ["a"], {"only": ["main"], "ignore": []}),
    ]
    assert not second["ok"] and second["workflows"] == []
    (problem,) = second["problems"]
    assert (problem["line"], problem["col"], problem["severity"]) == (6, 15, "error")
    assert "workflow job `b` is not defined under `jobs:`" in problem["message"]


def test_text_validate_of_the_realworld_config(cli: Cli) -> None:
    result = cli("validate", str(config_path("realworld")), "--branch", "feature/x")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "CircleCI workflows: build-test-deploy (11 jobs), docs (2 jobs)" in result.stdout
    assert "note: workflow `nightly` does not run: its `when` condition is false" in result.stdout
    assert "note: command `install`: `save_cache` is not supported" in result.stdout
    assert result.stdout.count("`store_test_results` is not supported") == 1  # not per copy
