"""Fixtures for fault-injection tests: real flowtui processes on a real SQLite file."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import psutil
import pytest

import flowtui
from flowtui.engine.runner import RunnerOptions
from flowtui.model.loader import load_workflow
from flowtui.model.workflow import Workflow
from tests.harness import Harness

HERE = Path(__file__).parent
RUNNER_CHILD = HERE / "runner_child.py"


def child_env(**extra: str) -> dict[str, str]:
    root = str(Path(flowtui.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    env.pop("FLOWTUI_DB", None)
    env.update(extra)
    return env


def flowtui_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "flowtui.cli.main", *args]


def alive(pid: int, create_time: float | None = None) -> bool:
    """Exists, is not a zombie and (if given) is the process created at `create_time`."""
    try:
        proc = psutil.Process(pid)
        if create_time is not None and abs(proc.create_time() - create_time) > 0.01:
            return False
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what or predicate}"
        await asyncio.sleep(0.02)


@pytest.fixture
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Beside tmp_path, not in it: under Landlock steps cannot create files directly in the
    folders on the path to the history (flowtui/engine/sandbox.py), and these tests' steps
    write marks into tmp_path."""
    return tmp_path_factory.mktemp("history") / "flowtui.db"


@pytest.fixture
def reaper() -> Iterator[list[int]]:
    """Process groups / pids to SIGKILL at the end, whatever happened."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def spawn(argv: list[str], reaper: list[int], **kw: object) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        start_new_session=True,  # so a test can kill it (and only it) like a crash would
        **kw,  # type: ignore[arg-type]
    )
    reaper.append(proc.pid)
    return proc


class Engine(Harness):
    """A real runner, bus, store sink and store in this process."""

    def workflow(self, text: str, name: str = "flow.yaml") -> Workflow:
        # not dedented: hostile inputs must reach the file exactly as the test wrote them
        path = self.folder / name
        path.write_text(text)
        return load_workflow(path)


@pytest.fixture
async def engine(tmp_path: Path, db_path: Path) -> AsyncIterator[Engine]:
    options = RunnerOptions(parallel=4, kill_grace=5.0, poll_interval=0.05, heartbeat_interval=0.2)
    async with Engine.open(tmp_path, options, db=db_path, folder=tmp_path) as engine:
        try:
            yield engine
        finally:
            for run_id in engine.runner.active_run_ids:
                engine.runner.cancel(run_id)
