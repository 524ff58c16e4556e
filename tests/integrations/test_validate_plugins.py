"""`flowtui validate` names broken step type plugins even when no workflow uses them.

The plugins are installed as an installer leaves them (a package plus `.dist-info` with
`entry_points.txt`) in a folder on the child process's PYTHONPATH.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.cli.conftest import Cli
from tests.integrations.test_plugins import install_plugins

BROKEN = "step type plugin `broken = flowtui_no_such_module:Step` could not be loaded"


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    site = tmp_path / "site"
    site.mkdir()
    install_plugins(site)
    cli = Cli(tmp_path)
    cli.env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(site), cli.env.get("PYTHONPATH", "")) if p
    )
    return cli


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_an_unused_broken_plugin_is_a_warning(cli: Cli, tmp_path: Path) -> None:
    plain = write(tmp_path, "plain.yaml", "name: plain\nsteps:\n  a: {run: echo}\n")
    greet = write(tmp_path, "greet.yaml", "name: greet\nsteps:\n  a: {type: greet, who: me}\n")
    result = cli("validate", str(plain), str(greet))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"! warning: {BROKEN}: ModuleNotFoundError: " in result.stdout
    assert "flowtui_no_such_module" in result.stdout
    assert result.stdout.count(BROKEN) == 1
    assert "2 valid, 0 invalid" in result.stdout


def test_a_workflow_that_uses_it_fails_and_is_pinned(cli: Cli, tmp_path: Path) -> None:
    uses = write(tmp_path, "uses.yaml", "name: uses\nsteps:\n  a: {type: broken}\n")
    result = cli("validate", str(uses))
    assert result.returncode == 1, result.stdout
    assert f"{uses}:3:" in result.stdout and "unknown step type 'broken'" in result.stdout
    assert f"warning: {BROKEN}" in result.stdout


def test_no_warning_without_broken_plugins(tmp_path: Path) -> None:
    plain = write(tmp_path, "plain.yaml", "name: plain\nsteps:\n  a: {run: echo}\n")
    result = Cli(tmp_path)("validate", str(plain))
    assert result.returncode == 0, result.stdout
    assert "! warning:" not in result.stdout
