"""The notify executor posts Slack-style JSON to a real server."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from flowtui.engine.executors.notify import NotifyExecutor
from flowtui.engine.states import StepStatus

if TYPE_CHECKING:
    from tests.engine.conftest import HttpServer, MakeCtx, Recorder


async def test_posts_expanded_message(
    make_ctx: MakeCtx, rec: Recorder, http_server: HttpServer
) -> None:
    spec = {
        "url": f"{http_server.url}/hooks/T000/secret",
        "message": "${workflow} run ${run_id} step ${step}: ${PARAM_ENV} {x}",
    }
    ctx = make_ctx("notify", spec, env={"PARAM_ENV": "prod"}, name="tell")
    result = await NotifyExecutor().execute(ctx)
    assert result.status is StepStatus.SUCCEEDED, result.message
    assert result.message == "notified 127.0.0.1"
    [req] = http_server.requests
    assert (req.method, req.path) == ("POST", "/hooks/T000/secret")
    assert req.headers["Content-Type"] == "application/json"
    assert req.json() == {"text": "demo run 7 step tell: prod {x}"}
    assert not any("secret" in line for _, line in rec.lines)  # webhook URL not logged


async def test_non_2xx_fails_with_status_and_body(
    make_ctx: MakeCtx, http_server: HttpServer
) -> None:
    spec = {"url": f"{http_server.url}/status/403", "message": "hi"}
    result = await NotifyExecutor().execute(make_ctx("notify", spec))
    assert result.status is StepStatus.FAILED
    assert "403" in result.message and "status 403" in result.message


async def test_unreachable_webhook(make_ctx: MakeCtx) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    spec = {"url": f"http://127.0.0.1:{port}/secret-token", "message": "hi"}
    result = await NotifyExecutor().execute(make_ctx("notify", spec))
    assert result.status is StepStatus.FAILED
    assert "cannot connect" in result.message and "secret-token" not in result.message
