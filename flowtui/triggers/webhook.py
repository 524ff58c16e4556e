"""The webhook server: `POST /hooks/<workflow>` and `POST /alerts/<workflow>` start runs.

Order of checks, cheapest and safest first: the workflow has such a trigger (404) → a
secret is configured for it (403, never open without one) → the declared size is within
the limit (413, before reading) → the body, read up to the limit (413) → its signature or
token (401; nothing starts) → the delivery id was not seen before (200 "duplicate") → the
JSON (400) → the trigger's own checks in `TriggerService.fire` (200 ignored, 422 rejected,
202 started).  Answers are JSON: {"run_id": N} or {"error": ...} or {"status": ...}.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp import web

from flowtui.model.workflow import Trigger, Workflow
from flowtui.triggers import payloads, signatures
from flowtui.triggers.hooks import HookTarget, WebhookOptions, secret_env_of
from flowtui.triggers.payloads import PayloadError, RunRequest

log = logging.getLogger("flowtui.triggers")

DELIVERY_HEADERS = ("X-GitHub-Delivery", "X-Gitlab-Event-UUID", "X-Flowtui-Delivery")
READ_CHUNK = 64 * 1024


def _json(code: int, **body: Any) -> web.Response:
    return web.json_response(body, status=code)


class WebhookServer:
    def __init__(self, service: HookTarget, options: WebhookOptions) -> None:
        self.service = service
        self.options = options
        # aiohttp's own cap stays above ours, so our 413 (with a clear body) answers first
        self.app = web.Application(client_max_size=options.max_body + 1)
        self.app.router.add_post("/hooks/{workflow}", self._hook)
        self.app.router.add_post("/alerts/{workflow}", self._alert)
        self.app.router.add_get("/healthz", self._health)
        for mount in options.mounts:
            mount(self.app)
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen; returns the port (useful with port 0)."""
        # aiohttp's keep-alive timer also runs from the start of a connection and closes one
        # still waiting for its request: that is the header timeout (slow clients)
        self._runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            keepalive_timeout=self.options.header_timeout,
        )
        await self._runner.setup()
        handlers = self._runner.server
        assert handlers is not None
        limit = self.options.max_connections

        def connection() -> asyncio.BaseProtocol:
            if len(handlers.connections) >= limit:
                return _Refused()
            return handlers()

        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                connection, self.options.host, self.options.port, reuse_address=True
            )
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise OSError(
                f"cannot listen for webhooks on {self.options.host}:{self.options.port}: "
                f"{exc.strerror or exc}"
            ) from exc
        sockets: list[Any] = list(self._server.sockets or [])
        return int(sockets[0].getsockname()[1]) if sockets else self.options.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _health(self, _request: web.Request) -> web.Response:
        return _json(200, status="ok")

    async def _hook(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, "webhook")

    async def _alert(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, "incident")

    # -- the checks, in order ----------------------------------------------------------
    async def _handle(self, request: web.Request, kind: str) -> web.StreamResponse:
        name = request.match_info["workflow"]
        workflow = self.service.workflow(name)
        triggers = [t for t in workflow.triggers if t.kind == kind] if workflow else []
        if workflow is None or not triggers:
            return _json(404, error=f"no workflow {name!r} with a {kind} trigger")
        env = self.service.env
        secrets = [(t, env.get(secret_env_of(t)) or "") for t in triggers]
        secrets = [(t, s) for t, s in secrets if s]
        if not secrets:
            names = ", ".join(sorted({secret_env_of(t) for t in triggers}))
            await self.service.record(name, kind, "rejected", f"no secret configured ({names})")
            return _json(
                403,
                error=f"{kind} triggers of {name} are disabled: no secret is configured on the "
                f"server (set {names})",
            )
        limit = self.options.max_body
        if request.content_length is not None and request.content_length > limit:
            return _json(413, error=f"body over the {limit}-byte limit")
        try:
            async with asyncio.timeout(self.options.body_timeout):
                body = await _read_limited(request, limit)
        except TimeoutError:
            log.info("webhook %s: body not received within %gs", name, self.options.body_timeout)
            return _json(408, error=f"body not received within {self.options.body_timeout:g} s")
        except (ConnectionError, aiohttp.ClientPayloadError) as exc:
            # the client hung up mid-body: one line, not a traceback per connection
            log.info("webhook %s: the client left while sending its body (%s)", name, exc)
            return _json(400, error="incomplete body")
        if body is None:
            return _json(413, error=f"body over the {limit}-byte limit")
        trigger = next(
            (t for t, s in secrets if signatures.authenticate(s, body, request.headers)), None
        )
        if trigger is None:
            await self.service.record(name, kind, "rejected", "missing or bad signature")
            return _json(401, error=signatures.missing_proof(kind))
        delivery = next((request.headers[h] for h in DELIVERY_HEADERS if h in request.headers), "")
        delivery = delivery.strip()[:200]
        if delivery and not await self.service.triggers.claim_delivery(delivery, name):
            await self.service.record(name, kind, "duplicate", f"delivery {delivery}")
            return _json(200, status="duplicate", delivery=delivery)
        response = await self._start(workflow, trigger, kind, request.headers, body)
        if delivery and response.status >= 400:
            # nothing started: a corrected redelivery of the same id must not be "duplicate"
            await self.service.triggers.release_delivery(delivery)
        return response

    async def _start(
        self,
        workflow: Workflow,
        trigger: Trigger,
        kind: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> web.Response:
        try:
            data = json.loads(body) if body.strip() else {}
        except (ValueError, UnicodeDecodeError) as exc:
            return _json(400, error=f"the body is not JSON: {exc}")
        try:
            requests = (
                payloads.from_hook(headers, data)
                if kind == "webhook"
                else payloads.alertmanager(data)
            )
        except PayloadError as exc:
            await self.service.record(workflow.name, kind, "rejected", str(exc))
            return _json(422 if kind == "webhook" else 400, error=str(exc))
        if isinstance(requests, RunRequest):
            requests = [requests]
        started: list[int] = []
        answers: list[dict[str, Any]] = []
        for req in requests:
            answers.append(await self._one(workflow, trigger, kind, req, started))
        if len(answers) == 1 and kind == "webhook":
            answer = answers[0]
            return _json(int(answer.pop("code")), **answer)
        code = 202 if started else 200
        return _json(
            code,
            run_id=started[0] if started else None,
            run_ids=started,
            alerts=[{k: v for k, v in a.items() if k != "code"} for a in answers],
        )

    async def _one(
        self,
        workflow: Workflow,
        trigger: Trigger,
        kind: str,
        request: RunRequest,
        started: list[int],
    ) -> dict[str, Any]:
        if request.ignore:
            await self.service.record(workflow.name, kind, "ignored", request.ignore)
            return {"code": 200, "status": "ignored", "reason": request.ignore}
        if request.dedup_key is not None:
            key = f"{kind}:dedup"
            if not await self.service.triggers.claim_fire(workflow.name, key, request.dedup_key):
                detail = f"{request.summary}: already handled"
                await self.service.record(workflow.name, kind, "duplicate", detail)
                return {"code": 200, "status": "duplicate", "reason": detail}
        event = await self.service.fire(workflow, trigger, request)
        if event.outcome == "fired" and event.run_id is not None:
            started.append(event.run_id)
            return {"code": 202, "run_id": event.run_id}
        if event.outcome == "rejected":
            return {"code": 422, "error": event.detail}
        return {"code": 200, "status": event.outcome, "reason": event.detail}


class _Refused(asyncio.Protocol):
    """A connection over the cap: closed as soon as it is made."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    """The body, or None as soon as it grows past `limit` (a lying Content-Length, chunks)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(READ_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
