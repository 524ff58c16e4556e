"""Issue #17 item 5: hostile webhook clients, over raw TCP on 127.0.0.1.

Header bytes that are not UTF-8, clients that hang up mid-body, slow clients, too many
connections, and a flood of refused deliveries: each gets a clean answer (or a closed
connection), never a 500 or a traceback, and nothing grows without bound.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import pytest

from flowtui.store.triggerstore import REJECTED_KEPT
from flowtui.triggers.service import TriggerService, WebhookOptions
from flowtui.triggers.signatures import sign
from tests.triggers.helpers import Env, runs_of

SECRET = "s3cret-for-tests"
HOOK = """\
    name: hook
    triggers: [webhook]
    steps:
      show: {run: "echo hi"}
"""
OPTIONS = WebhookOptions(port=0, header_timeout=0.5, body_timeout=0.5, max_connections=4)


@pytest.fixture
async def service(env: Env) -> AsyncIterator[TriggerService]:
    env.write("hook.yaml", HOOK)
    yield await env.service(webhook=OPTIONS, env={"FLOWTUI_WEBHOOK_SECRET": SECRET})


async def _connect(service: TriggerService) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", service.webhook_port)


def _head(length: int, *extra: bytes) -> bytes:
    lines = [b"POST /hooks/hook HTTP/1.1", b"Host: x", b"Content-Length: %d" % length, *extra]
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def _status(reader: asyncio.StreamReader) -> int:
    line = await asyncio.wait_for(reader.readline(), 5)
    return int(line.split()[1])


@pytest.mark.parametrize(
    "header",
    [
        b"Authorization: Bearer \xff\xfe",
        b"X-Gitlab-Token: caf\xe9",
        b"X-Hub-Signature-256: sha256=\xff" + b"0" * 63,
    ],
)
async def test_non_utf8_auth_headers_are_401(
    service: TriggerService, header: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    reader, writer = await _connect(service)
    writer.write(_head(2, header) + b"{}")
    await writer.drain()
    assert await _status(reader) == 401
    writer.close()
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert await runs_of(service.store, "hook") == []


async def test_a_client_hanging_up_mid_body_logs_one_line(
    service: TriggerService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for _ in range(3):
        _reader, writer = await _connect(service)
        writer.write(_head(10_000) + b'{"a": ')
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    def left() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "left while sending" in r.getMessage()]

    deadline = asyncio.get_running_loop().time() + 5
    while len(left()) < 3:
        assert asyncio.get_running_loop().time() < deadline, caplog.text
        await asyncio.sleep(0.02)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert "Traceback" not in caplog.text


async def test_slow_clients_are_cut_off(service: TriggerService) -> None:
    # headers that never end: the connection is closed after header_timeout
    reader, writer = await _connect(service)
    writer.write(b"POST /hooks/hook HTTP/1.1\r\nHost: x\r\n")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    # a body that never comes: 408 after body_timeout
    reader, writer = await _connect(service)
    writer.write(_head(100) + b"{")
    await writer.drain()
    assert await _status(reader) == 408
    writer.close()


async def test_connections_over_the_cap_are_closed_at_once(service: TriggerService) -> None:
    held = [await _connect(service) for _ in range(OPTIONS.max_connections)]
    reader, writer = await _connect(service)
    assert await asyncio.wait_for(reader.read(), 0.4) == b""  # before any timeout could
    writer.close()
    for _, w in held:
        w.close()
        await w.wait_closed()
    # room again once they are gone
    deadline = asyncio.get_running_loop().time() + 5
    while True:
        reader, writer = await _connect(service)
        writer.write(_head(2) + b"{}")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 5)
        writer.close()
        if line:
            assert int(line.split()[1]) == 401
            break
        assert asyncio.get_running_loop().time() < deadline


async def test_refused_deliveries_do_not_grow_the_trigger_log(service: TriggerService) -> None:
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    for _ in range(REJECTED_KEPT + 20):
        reader, writer = await _connect(service)
        bad = b"X-Hub-Signature-256: " + sign("wrong", body).encode()
        writer.write(_head(len(body), bad) + body)
        await writer.drain()
        assert await _status(reader) == 401
        writer.close()
    events = await service.triggers.list_events("hook", limit=10_000)
    assert len(events) == REJECTED_KEPT
    assert {e.outcome for e in events} == {"rejected"}
