"""The layers hold at run time: the core never loads Textual, the engine never loads a
store backend, and the CLI starts without its heavy dependencies.

import-linter (`lint-imports`, contracts in pyproject.toml) checks the import graph; these
tests import every core module for real, one fresh interpreter per layer, so a lazy import
inside a function body that runs at import time is caught too (harlequin's hygiene test).
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import flowtui
from flowtui.engine import mountns

# ansible's callback plugin is loaded by ansible-playbook, never by flowtui
NOT_IMPORTABLE_ALONE = {"flowtui.engine.executors.ansible_plugins.flowtui_events"}


def modules_of(*packages: str) -> list[str]:
    found = []
    for info in pkgutil.walk_packages(flowtui.__path__, "flowtui."):
        if info.name.startswith(packages) and info.name not in NOT_IMPORTABLE_ALONE:
            found.append(info.name)
    return sorted(found)


def first_importer(modules: list[str], forbidden: tuple[str, ...]) -> tuple[str, str] | None:
    """Import `modules` in order in a fresh interpreter; (module, forbidden module it
    loaded) for the first that loads one, else None."""
    code = (
        "import importlib, sys\n"
        f"forbidden = {forbidden!r}\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "    bad = sorted(m for m in sys.modules if m.split('.')[0] in forbidden\n"
        "                 or any(m == f or m.startswith(f + '.') for f in forbidden))\n"
        "    if bad:\n"
        "        print(name, bad[0])\n"
        "        break\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    return (out[0], out[1]) if out else None


CORE = ("flowtui.model", "flowtui.engine", "flowtui.store", "flowtui.triggers")


def test_there_are_core_modules() -> None:
    assert len(modules_of(*CORE)) > 40
    assert "flowtui.engine.runner" in modules_of("flowtui.engine")


@pytest.mark.parametrize(
    ("packages", "forbidden"),
    [
        (("flowtui.model",), ("flowtui.engine", "flowtui.store", "textual")),
        (("flowtui.engine",), ("flowtui.store", "aiosqlite", "textual")),
        (("flowtui.store",), ("flowtui.triggers", "flowtui.runtime", "textual")),
        (
            ("flowtui.triggers", "flowtui.runtime", "flowtui.control"),
            ("flowtui.tui", "flowtui.cli", "textual"),
        ),
        (("flowtui.api",), ("flowtui.tui", "flowtui.cli", "textual")),
    ],
)
def test_every_core_module_imports_only_what_its_layer_may(
    packages: tuple[str, ...], forbidden: tuple[str, ...]
) -> None:
    culprit = first_importer(modules_of(*packages), forbidden)
    assert culprit is None, f"{culprit[0]} loads {culprit[1]}" if culprit else ""


def test_the_check_sees_a_forbidden_import() -> None:
    assert first_importer(["flowtui.tui.app"], ("textual",)) == ("flowtui.tui.app", "textual")


def test_cli_start_does_not_import_heavy_modules() -> None:
    code = (
        "import sys\nimport flowtui.cli.main\n"
        "heavy = [m for m in ('textual', 'networkx', 'httpx', 'aiosqlite', 'rich') "
        "if m in sys.modules]\nprint(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_headless_cli_modules_do_not_load_the_dashboard() -> None:
    """`flowtui run --notify` picks its notification as the dashboard does, from the shared
    `flowtui.notify`, without loading the dashboard's package or Textual."""
    headless = ["flowtui.cli.notifying", "flowtui.notify"]
    culprit = first_importer(headless, ("flowtui.tui", "textual"))
    assert culprit is None, f"{culprit[0]} loads {culprit[1]}" if culprit else ""


# what a one-step `flowtui run` of a shell step leaves unimported (issue #18: start-up)
NOT_ON_THE_RUN_PATH = (
    "textual",
    "networkx",
    "httpx",
    "rich",
    "statistics",
    "platformdirs",  # the history is given
    "flowtui.control",
    "flowtui.cli.filters",
    "flowtui.store.filters",
    "flowtui.cli.jsonout",
    "flowtui.model.circleci.config",
    "flowtui.model.circleci.select",
    "flowtui.engine.executors.http",
    "flowtui.engine.executors.terraform",
    "flowtui.engine.executors.circleci_job",
    "flowtui.engine.executors.python_call",
    "ctypes",  # Landlock's calls: not where the sandbox is bwrap's, nor without a sandbox
    "tarfile",  # remote steps' workspaces
    "flowtui.store.pg",  # a PostgreSQL history
    "flowtui.cli.lineedit",  # the inline approval prompt, on a terminal only
    "flowtui.engine.remote",  # team mode (runs_on)
    "flowtui.engine.plan",  # reruns
    "psutil",  # create times are read from /proc (flowtui/engine/proctime.py)
    "simpleeval",  # `when:` and `if:` expressions
)


@pytest.mark.parametrize("sandbox", ["false", "true"])
def test_a_one_step_run_imports_only_what_it_needs(tmp_path: Path, sandbox: str) -> None:
    if sandbox == "true" and not mountns.usable():
        pytest.skip("sandboxed by bubblewrap only where it can make namespaces")
    flow = tmp_path / "flow.yaml"
    flow.write_text(f"name: one\nsandbox: {sandbox}\nsteps:\n  only: {{run: 'true'}}\n")
    code = (
        "import sys\nfrom flowtui.cli.main import main\n"
        f"code = main(['run', {str(flow)!r}, '--quiet', '--db', {str(flow.parent / 'h.db')!r}])\n"
        f"loaded = [m for m in {NOT_ON_THE_RUN_PATH!r} if m in sys.modules]\n"
        "print(code, ','.join(loaded))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert done.stdout.splitlines()[-1].split(" ") == ["0", ""], done.stdout + done.stderr


# a frozen dataclass costs ~1 ms to build at import on Python 3.11 (its methods are compiled
# from generated source): the run path's value types are msgspec Structs instead (#18)
DATACLASSES_ON_THE_RUN_PATH = {"flowtui.model.branches.JobFilter"}  # a Mapping: no Struct


def test_a_one_step_run_builds_no_other_dataclass(tmp_path: Path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text("name: one\nsandbox: false\nsteps:\n  only: {run: 'true'}\n")
    code = (
        "import dataclasses, sys\nfrom flowtui.cli.main import main\n"
        f"code = main(['run', {str(flow)!r}, '--quiet', '--db', {str(tmp_path / 'h.db')!r}])\n"
        "built = sorted(f'{m}.{k}' for m, mod in list(sys.modules.items())\n"
        "               if m.startswith('flowtui') for k, v in vars(mod).items()\n"
        "               if isinstance(v, type) and v.__module__ == m\n"
        "               and dataclasses.is_dataclass(v))\n"
        "print(code, ','.join(built))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    code_word, _, built = done.stdout.splitlines()[-1].partition(" ")
    assert code_word == "0", done.stdout + done.stderr
    extra = set(built.split(",")) - DATACLASSES_ON_THE_RUN_PATH - {""}
    assert not extra, f"dataclasses built by a one-step run (make them msgspec Structs): {extra}"
