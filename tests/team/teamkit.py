"""Processes of a team-mode test: `flowtui` commands and workers on one PostgreSQL database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from tests.processes import Lines

FLOWTUI = [sys.executable, "-m", "flowtui"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWTUI_", "PG"))}
    env.update(extra)
    return env


class Team:
    """Processes of one test on one PostgreSQL database; all killed at the end."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url = url
        self.folder = folder
        self.procs: list[subprocess.Popen[str]] = []

    def start(
        self, *args: str, env: dict[str, str] | None = None
    ) -> tuple[subprocess.Popen[str], Lines]:
        return self.start_as(self.url, *args, env=env)

    def start_as(
        self, url: str, *args: str, env: dict[str, str] | None = None
    ) -> tuple[subprocess.Popen[str], Lines]:
        """`flowtui ARGS --db URL` (maybe another role's URL) as a process of this test."""
        proc = subprocess.Popen(
            [*FLOWTUI, *args, "--db", url],
            cwd=self.folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env or _env(),
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc, Lines(proc)

    def worker(
        self, name: str, *queues: str, env: dict[str, str] | None = None
    ) -> tuple[subprocess.Popen[str], Lines]:
        args = ["worker", "--name", name, "--workdir", str(self.folder / name)]
        for queue in queues:
            args += ["--queue", queue]
        proc, lines = self.start(*args, env=env)
        lines.wait_for(rf"worker {name} on queue", timeout=30)
        return proc, lines

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [*FLOWTUI, *args, "--db", self.url],
            cwd=self.folder,
            capture_output=True,
            text=True,
            env=_env(),
            timeout=60,
        )
        return done.stdout + done.stderr

    def workflow(self, name: str, text: str) -> Path:
        path = self.folder / f"{name}.yaml"
        path.write_text(textwrap.dedent(text))
        return path

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def until(condition: Callable[[], object], timeout: float = 20, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.05)


def long_step(team: Team, name: str, queue: str) -> tuple[Path, Path]:
    """A workflow whose one step, on `queue`, starts `sleep 300` and waits for it; its
    path, and the file the step writes the sleeper's pid to."""
    pidfile = team.folder / f"{name}.pid"
    path = team.workflow(
        name,
        f"""
        name: {name}
        steps:
          wait:
            runs_on: {queue}
            run: |
              sleep 300 &
              echo $! > {pidfile}
              wait
        """,
    )
    return path, pidfile


def sleeper(pidfile: Path) -> int:
    """The pid the long step wrote, once it has."""
    until(lambda: pidfile.exists() and pidfile.read_text().strip(), what="the remote step")
    return int(pidfile.read_text())
