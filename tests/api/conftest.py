"""One real `flowtui serve` per test module (SQLite history, port 0), its tokens created in
the history beforehand, and httpx clients that show them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowtui.store import RunStore
from flowtui.store.tokens import TokenStore
from tests.processes import Lines

FINAL = ("succeeded", "failed", "cancelled", "interrupted")

WORKFLOWS = {
    "quick.yaml": """\
name: quick
params: {who: {default: world}}
steps:
  greet: {run: 'echo "hello $PARAM_WHO"; echo second line; echo third line'}
""",
    "gated.yaml": """\
name: gated
steps:
  plan: {run: echo planned}
  approve:
    type: approval
    requires: [plan]
    approvers: ["token:approver", "token:boss"]
    allow_self_approval: false
    inputs:
      version: {type: string, required: true}
  apply: {requires: [approve], run: 'echo "applying $STEPS_APPROVE_VERSION"'}
""",
    "slow.yaml": """\
name: slow
steps:
  wait: {run: sleep 60}
""",
    "failing.yaml": """\
name: failing
steps:
  first: {run: echo ok}
  second: {requires: [first], run: 'echo broken >&2; exit 3'}
""",
}
# name → scope; `approver2` may approve in general, but is not on gated's approver list
TOKENS = {
    "reader": "read",
    "runner": "run",
    "approver": "approve",
    "approver2": "approve",
    "boss": "admin",
}


async def make_tokens(db: Path) -> dict[str, str]:
    store = await RunStore.open(db)
    try:
        tokens = TokenStore(store.db)
        return {name: await tokens.create(name, scope, "test") for name, scope in TOKENS.items()}
    finally:
        await store.close()


@dataclass
class Served:
    proc: subprocess.Popen[str]
    lines: Lines
    folder: Path
    db: Path
    port: int
    tokens: dict[str, str]
    clients: dict[str | None, httpx.Client] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, token: str | None) -> httpx.Client:
        """A client showing token `token` (a name of TOKENS), or none."""
        if token not in self.clients:
            headers = {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}
            self.clients[token] = httpx.Client(base_url=self.url, headers=headers, timeout=20)
        return self.clients[token]

    def start(self, workflow: str, token: str = "runner", **body: Any) -> int:
        answer = self.client(token).post(f"/api/v1/workflows/{workflow}/runs", json=body)
        assert answer.status_code == 202, answer.text
        return int(answer.json()["id"])

    def wait_run(self, run_id: int, wanted: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            run: dict[str, Any] = self.client("reader").get(f"/api/v1/runs/{run_id}").json()
            if run["status"] == wanted:
                return run
            assert run["status"] not in FINAL, f"run {run_id} is {run['status']}, not {wanted}"
            assert time.monotonic() < deadline, f"run {run_id} is still {run['status']}"
            time.sleep(0.05)

    def wait_step(self, run_id: int, step: str, wanted: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while True:
            run = self.client("reader").get(f"/api/v1/runs/{run_id}").json()
            if {s["name"]: s["status"] for s in run["steps"]}.get(step) == wanted:
                return
            assert time.monotonic() < deadline, f"step {step} of run {run_id} is not {wanted}"
            time.sleep(0.05)


def serve_env() -> dict[str, str]:
    env = {"PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    env.update({k: v for k, v in os.environ.items() if k in ("PYTHONPATH", "HOME")})
    return env


@contextlib.contextmanager
def serving(root: Path, workflows: dict[str, str]) -> Iterator[Served]:
    """`flowtui serve` on a folder of `workflows`, with the TOKENS made beforehand."""
    folder = root / "workflows"
    folder.mkdir()
    for name, text in workflows.items():
        (folder / name).write_text(text)
    db = root / "history.db"
    tokens = asyncio.run(make_tokens(db))
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowtui", "serve", str(folder), "--db", str(db), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=serve_env(),
        cwd=root,
    )
    lines = Lines(proc)
    served = None
    try:
        port = int(lines.wait_for(r"webhooks on http://127\.0\.0\.1:(\d+)").group(1))
        served = Served(proc, lines, folder, db, port, tokens)
        yield served
    finally:
        if served is not None:
            for client in served.clients.values():
                client.close()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serving(tmp_path_factory.mktemp("api"), WORKFLOWS) as server:
        yield server


@pytest.fixture(scope="session")
def quick_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Only the quick workflow, and one finished run of it (nothing there runs for long,
    so an event stream schemathesis opens always ends); shared by the OpenAPI and the
    metrics tests."""
    with serving(tmp_path_factory.mktemp("quick"), {"quick.yaml": WORKFLOWS["quick.yaml"]}) as s:
        s.wait_run(s.start("quick"), "succeeded")
        yield s
