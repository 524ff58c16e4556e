"""Shared fixtures for engine tests: a real HTTP server and StepContext building."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from flowtui.engine.executors.base import StepContext
from flowtui.model.workflow import SourcePos, Step, Workflow

# -- HTTP server ---------------------------------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpServer:
    """A stdlib HTTP server on 127.0.0.1; every request is recorded in `requests`.

    Routes: /status/<code> answers that code with body "status <code>"; /echo answers 200
    with a JSON copy of the request; anything else answers 200 "hello\\nworld\\n".
    """

    url: str
    requests: list[Received] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.record.requests.append(
            Received(self.command, self.path, dict(self.headers.items()), body)
        )
        if self.path.startswith("/status/"):
            code = int(self.path.rsplit("/", 1)[1])
            self._reply(code, f"status {code}".encode())
        elif self.path.startswith("/echo"):
            echo = {
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers.items()),
                "body": body.decode("utf-8", errors="replace"),
            }
            self._reply(200, json.dumps(echo).encode(), "application/json")
        else:
            self._reply(200, b"hello\nworld\n")

    def _reply(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    record: HttpServer


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    server = _Server(("127.0.0.1", 0), _Handler)
    host, port = server.server_address[:2]
    server.record = HttpServer(url=f"http://{host}:{port}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.record
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# -- StepContext ---------------------------------------------------------------------------


@dataclass
class Recorder:
    """Collects what an executor reports through its StepContext."""

    lines: list[tuple[str, str]] = field(default_factory=list)
    processes: list[tuple[int, int, float]] = field(default_factory=list)

    def log(self, stream: str, line: str) -> None:
        self.lines.append((stream, line))

    def on_process(self, pid: int, pgid: int, create_time: float) -> None:
        self.processes.append((pid, pgid, create_time))

    def stream(self, name: str) -> list[str]:
        return [line for stream, line in self.lines if stream == name]


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


MakeCtx = Callable[..., StepContext]
_DEFAULT = object()


@pytest.fixture
def make_ctx(tmp_path: Path, rec: Recorder) -> MakeCtx:
    """Build a StepContext for one step of a one-step workflow at tmp_path/wf/flow.yaml.

    Logs and process reports go to the `rec` fixture.
    """

    def build(
        step_type: str = "script",
        spec: Mapping[str, Any] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        name: str = "step",
        timeout: float | None = None,
        workflow_path: Path | object | None = _DEFAULT,
        kill_grace: float = 1.0,
        attempt: int = 1,
    ) -> StepContext:
        wf_dir = tmp_path / "wf"
        wf_dir.mkdir(exist_ok=True)
        path = wf_dir / "flow.yaml" if workflow_path is _DEFAULT else workflow_path
        assert path is None or isinstance(path, Path)
        step = Step(
            name=name,
            type=step_type,
            pos=SourcePos(str(path or "<memory>"), 1, 1),
            spec=dict(spec or {}),
            timeout=timeout,
        )
        workflow = Workflow(name="demo", steps={name: step}, path=path)
        workspace = tmp_path / "workspace"
        workspace.mkdir(exist_ok=True)
        return StepContext(
            run_id=7,
            workflow=workflow,
            step=step,
            attempt=attempt,
            params={},
            env=dict(env or {}),
            workspace=workspace,
            step_dir=tmp_path / "steps" / name / str(attempt),
            log=rec.log,
            on_process=rec.on_process,
            kill_grace=kill_grace,
        )

    return build
