"""The bundled sample workflows: every one loads, and the quick ones really run to success.

Each run is a real `python -m flowtui run` process against a SQLite file in tmp_path; the
outcome is read back from that file.  Approval samples and long-running.yaml are left out:
they wait for a person or for a minute.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from flowtui.model.loader import discover_workflows, load_workflow

SAMPLES = Path(__file__).resolve().parents[2] / "sample_workflows"
SAMPLE_FILES = discover_workflows(SAMPLES)
RUN_TIMEOUT = 30.0

OK = "succeeded"
# sample -> the status every step must end in (matrix copies by their expanded names)
QUICK: dict[str, dict[str, str]] = {
    "sequential": {"build": OK, "test": OK, "deploy": OK},
    "fan-out-fan-in": {
        "build": OK,
        **{f"acceptance_test[shard={n}]": OK for n in range(1, 5)},
        "deploy": OK,
    },
    "multi-region-deploy": {
        "plan": OK,
        **{f"apply[region={r}]": OK for r in ("us", "eu", "ap")},
        "verify": OK,
    },
    "workspace-handoff": {"produce": OK, "consume": OK},
    "branch-filters": {
        "build": OK,
        "is_main": OK,
        "deploy_production": OK,
        "deploy_preview": "skipped",
        "tag_release": "skipped",
    },
    "retry-and-timeouts": {
        "fetch": OK,
        "lint": "failed",
        "slow_probe": "timed_out",
        "build": OK,
    },
    "scheduled-backup": {"dump": OK, "upload": OK, "cleanup": OK},
    "python-report": {"collect": OK, "summarise": OK},
    "infra-ansible": {"configure": OK, "dry_run": OK},
    "python_pipeline": {"count": OK, "total": OK, "report": OK},
    "environment-promotion": {"build": OK, "deploy": OK, "smoke_test": OK},
    "incident-response": {"detect": OK, "scale": OK, "notify": OK},
    "pr-check": {"lint": OK, "test[python=3.11]": OK, "test[python=3.12]": OK, "summary": OK},
}


def flowtui(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowtui", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        timeout=RUN_TIMEOUT,
    )


def query(db: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        return conn.execute(sql, params).fetchall()


def last_run(db: Path) -> tuple[int, str]:
    run_id, status = query(db, "SELECT id, status FROM runs ORDER BY id DESC LIMIT 1")[0]
    return int(run_id), str(status)


def step_states(db: Path, run_id: int) -> dict[str, tuple[str, int]]:
    rows = query(db, "SELECT name, status, attempt FROM steps WHERE run_id = ?", run_id)
    return {str(name): (str(status), int(attempt)) for name, status, attempt in rows}


def sample(name: str) -> Path:
    written_in_python = SAMPLES / f"{name}.py"
    return written_in_python if written_in_python.exists() else SAMPLES / f"{name}.yaml"


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


# -- loading -----------------------------------------------------------------------------


def test_every_sample_is_present() -> None:
    names = {path.stem for path in SAMPLE_FILES}
    assert set(QUICK) <= names
    assert {
        "production-deploy",
        "approval-hold",
        "double-build",
        "flaky-then-fixed",
        "long-running",
    } <= names


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.stem)
def test_sample_loads(path: Path) -> None:
    workflow = load_workflow(path)
    # named after its file, so `flowtui run NAME` finds it first
    assert workflow.name == path.stem
    assert workflow.description
    assert workflow.steps


def test_validate_command_accepts_the_folder(tmp_path: Path) -> None:
    result = flowtui("validate", str(SAMPLES), cwd=tmp_path)
    assert result.returncode == 0, explain(result)
    assert f"{len(SAMPLE_FILES)} valid, 0 invalid" in result.stdout


def test_helper_scripts_are_executable() -> None:
    scripts = sorted((SAMPLES / "scripts").iterdir())
    assert scripts
    for script in scripts:
        assert script.stat().st_mode & stat.S_IXUSR, f"{script.name} is not executable"
        assert script.read_text().startswith("#!/usr/bin/env "), f"{script.name}: no shebang"


def test_production_deploy_wiring() -> None:
    workflow = load_workflow(sample("production-deploy"))
    steps = workflow.steps
    assert steps["approve"].type == "approval"
    assert steps["approve"].spec["approvers"] == []
    assert steps["verify"].requires == ("api",)
    assert steps["verify"].type == "http" and steps["verify"].retries == 3
    # the mock API comes up after the applies: a rerun that applies again starts it again
    assert set(steps["api"].requires) == {"apply_us", "apply_eu"}
    assert steps["shutdown_api"].requires == ("notify",)
    # no fixed port (two demos on one machine would collide): the mock API's output says it
    assert "API_PORT" not in workflow.env
    for name, path in (("verify", "health"), ("notify", "notify"), ("shutdown_api", "shutdown")):
        assert steps[name].spec["url"] == f"http://127.0.0.1:${{STEPS_API_PORT}}/{path}"


# -- running -----------------------------------------------------------------------------


@pytest.mark.timeout(RUN_TIMEOUT + 10)
@pytest.mark.parametrize("name", list(QUICK))
def test_quick_sample_runs_to_success(name: str, tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    result = flowtui("run", str(sample(name)), "--db", str(db), "-q", cwd=tmp_path)
    assert result.returncode == 0, explain(result)
    run_id, status = last_run(db)
    assert status == "succeeded"
    states = step_states(db, run_id)
    assert {step: state for step, (state, _) in states.items()} == QUICK[name]

    if name == "retry-and-timeouts":
        assert states["fetch"][1] == 2  # failed once, then succeeded on the retry
    if name == "scheduled-backup":
        uploaded = list((tmp_path / "workspaces" / str(run_id) / "remote").glob("*.sqlite"))
        assert len(uploaded) == 1 and uploaded[0].stat().st_size > 0


@pytest.mark.timeout(RUN_TIMEOUT + 10)
def test_branch_filters_on_a_release_branch(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    args = ("run", str(sample("branch-filters")), "--param", "branch=release/2.0")
    result = flowtui(*args, "--db", str(db), "-q", cwd=tmp_path)
    assert result.returncode == 0, explain(result)
    run_id, _ = last_run(db)
    states = {step: state for step, (state, _) in step_states(db, run_id).items()}
    assert states["deploy_production"] == "skipped"
    assert states["deploy_preview"] == OK
    assert states["tag_release"] == OK


@pytest.mark.timeout(2 * RUN_TIMEOUT + 10)
def test_flaky_then_fixed_passes_on_rerun(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    flag = tmp_path / "fixed"
    env = {"FIXED_FLAG": str(flag)}

    first = flowtui(
        "run", str(sample("flaky-then-fixed")), "--db", str(db), "-q", cwd=tmp_path, env=env
    )
    assert first.returncode == 1, explain(first)
    failed_id, status = last_run(db)
    assert status == "failed"
    states = step_states(db, failed_id)
    assert states["integration"][0] == "failed"
    assert states["deploy"][0] != OK

    flag.touch()
    second = flowtui("rerun", str(failed_id), "--db", str(db), "-q", cwd=tmp_path, env=env)
    assert second.returncode == 0, explain(second)
    rerun_id, status = last_run(db)
    assert rerun_id != failed_id and status == "succeeded"
    states = step_states(db, rerun_id)
    assert states["build"][0] == "reused"
    assert states["integration"][0] == OK and states["deploy"][0] == OK


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        # as http.server does, so connections in TIME_WAIT do not count as "in use"
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_until(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


@pytest.mark.timeout(RUN_TIMEOUT + 10)
def test_production_deploy_runs_once_approved(tmp_path: Path) -> None:
    """Two demos at once on one machine (two people, two histories), at --parallel 4 and 1:
    each mock API listens on a port of its own and serves in the background, holding no
    slot.  Then the README's rerun from apply_us, previewed and run, succeeds: the first
    run stopped its mock API, and the rerun starts one again."""
    demos = {parallel: tmp_path / f"p{parallel}" for parallel in ("4", "1")}
    runs: dict[str, subprocess.Popen[str]] = {}
    try:
        for parallel, folder in demos.items():
            folder.mkdir()
            runs[parallel] = subprocess.Popen(
                [
                    *(sys.executable, "-m", "flowtui", "run", str(sample("production-deploy"))),
                    *("--db", str(folder / "x.db"), "--parallel", parallel),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=folder,
                env={**os.environ, "NO_COLOR": "1"},
            )

        def held(db: Path) -> bool:
            try:
                rows = query(db, "SELECT status FROM steps WHERE name = 'approve'")
            except sqlite3.OperationalError:  # not created yet
                return False
            return bool(rows) and rows[0][0] == "held"

        for folder in demos.values():
            db = folder / "x.db"
            wait_until(partial(held, db), timeout=15)
            approve = flowtui("approve", "last", "approve", "--db", str(db), cwd=folder)
            assert approve.returncode == 0, explain(approve)
        outputs = {p: run.communicate(timeout=RUN_TIMEOUT)[0] for p, run in runs.items()}
    finally:
        for run in runs.values():
            if run.poll() is None:
                run.kill()
                run.communicate()
    ports = set()
    for parallel, folder in demos.items():
        db, output = folder / "x.db", outputs[parallel]
        assert runs[parallel].returncode == 0, output
        run_id, status = last_run(db)
        assert status == "succeeded"
        states = step_states(db, run_id)
        assert all(state == OK for state, _ in states.values()), states
        # the notify step really reached the mock API, whose shutdown answer lists what it got
        assert '"notifications": ["production-deploy 1.4.2 is live in us and eu' in output
        [(port,)] = query(db, "SELECT value FROM outputs WHERE step = 'api' AND key = 'port'")
        assert f"GET http://127.0.0.1:{port}/health → 200" in output
        ports.add(int(port))
    assert len(ports) == 2
    for port in ports:
        wait_until(partial(port_is_free, port), timeout=5)  # the servers are gone
    _rerun_from_apply_us(demos["1"])


def _rerun_from_apply_us(folder: Path) -> None:
    db = folder / "x.db"
    run_id, _ = last_run(db)
    rerun = ("rerun", str(run_id), "--from", "apply_us", "--db", str(db))
    again = flowtui(*rerun, "-q", cwd=folder)
    assert again.returncode == 0, explain(again)
    rerun_id, status = last_run(db)
    assert rerun_id == run_id + 1 and status == OK
    states = {step: state for step, (state, _) in step_states(db, rerun_id).items()}
    assert states == {
        **dict.fromkeys(("plan", "approve", "apply_eu"), "reused"),
        **dict.fromkeys(("apply_us", "api", "verify", "notify", "shutdown_api"), OK),
    }
    # the preview says so, as the README shows it
    preview = flowtui(*rerun, "--dry-run", cwd=folder)
    assert preview.returncode == 0, explain(preview)
    readme = (SAMPLES.parent / "README.md").read_text()
    shown = readme.split("$ flowtui rerun 42 --from apply_us --dry-run\n", 1)[1]
    shown = shown.split("nothing started (--dry-run)\n", 1)[0].replace("42", str(run_id))
    assert preview.stdout == f"{shown}nothing started (--dry-run)\n"
    assert "  run    api           depends on apply_us\n" in preview.stdout
