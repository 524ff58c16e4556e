"""The http executor against a real server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING

from flowtui.engine.executors.http import HttpExecutor
from flowtui.engine.states import StepStatus
from flowtui.engine.templating import expand, expand_json

if TYPE_CHECKING:
    from tests.engine.conftest import HttpServer, MakeCtx, Recorder


async def test_get_success_logs_and_outputs(
    make_ctx: MakeCtx, rec: Recorder, http_server: HttpServer
) -> None:
    ctx = make_ctx("http", {"url": f"{http_server.url}/health"})
    result = await HttpExecutor().execute(ctx)
    assert result.status is StepStatus.SUCCEEDED, result.message
    assert result.outputs == {"status_code": "200", "body": "hello\nworld\n"}
    [summary] = rec.stream("system")
    assert summary.startswith(f"GET {http_server.url}/health → 200 OK (")
    assert summary.endswith(" ms)")
    assert rec.stream("stdout") == ["hello", "world"]
    assert [r.method for r in http_server.requests] == ["GET"]


async def test_wrong_status_fails_with_expected_and_actual(
    make_ctx: MakeCtx, http_server: HttpServer
) -> None:
    ctx = make_ctx("http", {"url": f"{http_server.url}/status/503"})
    result = await HttpExecutor().execute(ctx)
    assert result.status is StepStatus.FAILED
    assert "2xx" in result.message and "503" in result.message and "status 503" in result.message
    assert result.outputs["status_code"] == "503"


async def test_expect_status_list_and_int(make_ctx: MakeCtx, http_server: HttpServer) -> None:
    url = f"{http_server.url}/status/404"
    ok = await HttpExecutor().execute(make_ctx("http", {"url": url, "expect_status": [200, 404]}))
    assert ok.status is StepStatus.SUCCEEDED
    bad = await HttpExecutor().execute(make_ctx("http", {"url": url, "expect_status": 201}))
    assert bad.status is StepStatus.FAILED
    assert "expected 201, got 404" in bad.message


async def test_expect_body(make_ctx: MakeCtx, http_server: HttpServer) -> None:
    url = f"{http_server.url}/"
    ok = await HttpExecutor().execute(make_ctx("http", {"url": url, "expect_body": "world"}))
    assert ok.status is StepStatus.SUCCEEDED
    bad = await HttpExecutor().execute(make_ctx("http", {"url": url, "expect_body": "healthy"}))
    assert bad.status is StepStatus.FAILED
    assert "'healthy'" in bad.message and "hello world" in bad.message


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_connection_refused_is_a_clean_failure(make_ctx: MakeCtx, rec: Recorder) -> None:
    url = f"http://127.0.0.1:{_free_port()}/"
    result = await HttpExecutor().execute(make_ctx("http", {"url": url}))
    assert result.status is StepStatus.FAILED
    assert result.message.startswith(f"cannot connect to {url}")
    assert "Traceback" not in result.message and "\n" not in result.message


async def test_invalid_url_is_a_clean_failure(make_ctx: MakeCtx) -> None:
    result = await HttpExecutor().execute(make_ctx("http", {"url": "ftp://example.invalid/x"}))
    assert result.status is StepStatus.FAILED
    assert "invalid URL" in result.message


async def test_templates_in_url_headers_and_body(
    make_ctx: MakeCtx, http_server: HttpServer
) -> None:
    env = {"HOST": http_server.url, "TOKEN": "s3cr{et}", "NAME": 'x";rm -rf /;#'}
    spec = {
        "url": "${HOST}/echo?who=${NAME}",
        "method": "post",
        "headers": {"Authorization": "Bearer ${TOKEN}", "X-Missing": "${NOPE}"},
        "body": "hello ${NAME} {0} $$5",
    }
    result = await HttpExecutor().execute(make_ctx("http", spec, env=env))
    assert result.status is StepStatus.SUCCEEDED, result.message
    [req] = http_server.requests
    assert req.method == "POST"
    assert req.headers["Authorization"] == "Bearer s3cr{et}"
    assert req.headers["X-Missing"] == "${NOPE}"
    assert req.body.decode() == 'hello x";rm -rf /;# {0} $5'
    assert json.loads(result.outputs["body"])["method"] == "POST"


async def test_json_body_strings_are_expanded(make_ctx: MakeCtx, http_server: HttpServer) -> None:
    spec = {"url": f"{http_server.url}/echo", "method": "PUT", "json": {"v": "${VER}", "n": [1]}}
    result = await HttpExecutor().execute(make_ctx("http", spec, env={"VER": '1"2'}))
    assert result.status is StepStatus.SUCCEEDED
    [req] = http_server.requests
    assert req.json() == {"v": '1"2', "n": [1]}
    assert req.headers["Content-Type"] == "application/json"


def test_expand_is_not_format() -> None:
    assert expand("${A}-$A-{A}-${B}", {"A": "1"}) == "1-1-{A}-${B}"
    assert expand_json({"k": ["${A}", 2, None]}, {"A": "x"}) == {"k": ["x", 2, None]}
