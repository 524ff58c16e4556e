"""The REST API of `flowtui serve`, under `/api/v1` on the webhook listener (docs/api.md).

Every route names the scope it needs (`ROUTES`, which the OpenAPI document is checked
against); a request shows `Authorization: Bearer TOKEN` (no token: 401, too small a
scope: 403) and acts as `token:NAME`.  Actions go through `flowtui.control`, the one
control surface, so the API refuses what the CLI refuses, with the same words; answers
are the `--json` documents (`flowtui.store.views`).  Errors are `{"error", "detail"}`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from flowtui import control
from flowtui.api import inputs
from flowtui.api.errors import ApiError, conflict, not_found
from flowtui.api.events import stream_events
from flowtui.api.metrics import metrics_text
from flowtui.api.openapi import openapi_document
from flowtui.engine.records import RunRecord
from flowtui.engine.runner import RunError, Runner
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.model.catalog import WorkflowCatalog
from flowtui.model.workflow import Workflow
from flowtui.store.runstore import RunStore
from flowtui.store.tokens import API_ROLE, TokenRecord, TokenStore
from flowtui.store.views import log_view, run_view, show_view, workflow_view

log = logging.getLogger("flowtui.api")

PREFIX = "/api/v1"
# open event streams at once; the next gets 429.  Well under the listener's connection cap
# (WebhookOptions.max_connections, 64), so streams can never starve webhooks
MAX_STREAMS = 16
DECISION_WAIT = 5.0  # seconds an approve/reject waits for the runner to take it
Handler = Callable[[web.Request, TokenRecord], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    scope: str
    handler: str  # the RestApi method's name


ROUTES: tuple[Route, ...] = (
    Route("GET", PREFIX + "/workflows", "read", "list_workflows"),
    Route("POST", PREFIX + "/workflows/{name}/runs", "run", "start_run"),
    Route("POST", PREFIX + "/workflows/{name}/pause", "admin", "pause"),
    Route("POST", PREFIX + "/workflows/{name}/resume", "admin", "resume"),
    Route("GET", PREFIX + "/runs", "read", "list_runs"),
    Route("GET", PREFIX + "/runs/{run_id}", "read", "get_run"),
    Route("POST", PREFIX + "/runs/{run_id}/cancel", "run", "cancel"),
    Route("POST", PREFIX + "/runs/{run_id}/rerun", "run", "rerun"),
    Route("POST", PREFIX + "/runs/{run_id}/steps/{step}/approve", "approve", "approve"),
    Route("POST", PREFIX + "/runs/{run_id}/steps/{step}/reject", "approve", "reject"),
    Route("GET", PREFIX + "/runs/{run_id}/logs", "read", "logs"),
    Route("GET", PREFIX + "/runs/{run_id}/events", "read", "events"),
    Route("GET", "/metrics", "read", "metrics"),
)
OPENAPI_PATH = "/api/openapi.json"  # open: it describes the API, holds nothing of the history


class RestApi:
    """The API's handlers over one history, runner and folder of workflows."""

    def __init__(self, store: RunStore, runner: Runner, catalog: WorkflowCatalog) -> None:
        self.store = store
        self.runner = runner
        self.catalog = catalog
        self.tokens = TokenStore(store.db)
        self.closing = asyncio.Event()  # set when the listener shuts down: streams end
        self.streams = 0  # event streams open now (MAX_STREAMS)

    async def _on_shutdown(self, _app: web.Application) -> None:
        self.closing.set()

    def mount(self, app: web.Application) -> None:
        app.middlewares.append(_json_errors)
        app.on_shutdown.append(self._on_shutdown)
        app.router.add_get(OPENAPI_PATH, self._openapi)
        for route in ROUTES:
            app.router.add_route(route.method, route.path, self._guarded(route))

    # -- authentication ------------------------------------------------------------------
    def _guarded(self, route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        handler: Handler = getattr(self, route.handler)

        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                token = await self._authenticate(request)
                if not token.allows(route.scope):
                    raise ApiError(
                        403,
                        "forbidden",
                        f"token {token.name} has scope {token.scope}; "
                        f"{route.method} {route.path} needs {route.scope}",
                    )
                return await handler(request, token)
            except ApiError as exc:
                return exc.response()

        return guarded

    async def _authenticate(self, request: web.Request) -> TokenRecord:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise ApiError(401, "unauthorized", "send Authorization: Bearer TOKEN")
        token = await self.tokens.authenticate(given.strip())
        if token is None:
            raise ApiError(401, "unauthorized", "unknown or revoked token")
        return token

    async def _openapi(self, _request: web.Request) -> web.Response:
        return web.json_response(openapi_document())

    # -- workflows -----------------------------------------------------------------------
    async def list_workflows(self, _request: web.Request, _token: TokenRecord) -> web.Response:
        views = [
            await workflow_view(self.store, e.path, e.workflow, e.first_error_line or None)
            for e in self.catalog.entries
        ]
        return web.json_response({"workflows": views})

    def _workflow_named(self, request: web.Request) -> Workflow:
        name = inputs.clean(request.match_info["name"], "workflow name")
        entry = self.catalog.by_name(name)
        if entry is None or entry.workflow is None:
            raise not_found(f"no workflow {name!r} in {self.catalog.folder}")
        return entry.workflow

    async def start_run(self, request: web.Request, token: TokenRecord) -> web.Response:
        workflow = self._workflow_named(request)
        data = await inputs.body(request, ("params", "branch"))
        given = inputs.text_map(data, "params")
        branch = inputs.text(data, "branch")
        try:
            handle = await self.runner.submit(
                workflow, params=given, trigger="api", triggered_by=token.actor, branch=branch
            )
        except RunError as exc:
            raise ApiError(422, "refused", str(exc)) from None
        return await self._started(handle.run_id)

    async def _started(self, run_id: int) -> web.Response:
        run = await self.store.get_run(run_id)
        status = str(run.status) if run is not None else str(RunStatus.QUEUED)
        return web.json_response({"id": run_id, "status": status}, status=202)

    async def pause(self, request: web.Request, _token: TokenRecord) -> web.Response:
        return await self._set_paused(request, True)

    async def resume(self, request: web.Request, _token: TokenRecord) -> web.Response:
        return await self._set_paused(request, False)

    async def _set_paused(self, request: web.Request, paused: bool) -> web.Response:
        workflow = self._workflow_named(request)
        was = await control.set_paused(self.store, workflow.name, paused)
        return web.json_response({"workflow": workflow.name, "paused": paused, "was_paused": was})

    # -- runs ----------------------------------------------------------------------------
    async def list_runs(self, request: web.Request, _token: TokenRecord) -> web.Response:
        workflow = inputs.query_str(request, "workflow")
        status = inputs.query_str(request, "status", [str(s) for s in RunStatus])
        limit = inputs.query_int(request, "limit", 50, 1, 500) or 50
        before = inputs.query_int(request, "before", None, 1)
        runs = await self.store.list_runs(
            workflow,
            limit=limit,
            before_id=before,
            statuses={RunStatus(status)} if status else None,
        )
        views = [run_view(r, await self.store.get_approvals(r.id)) for r in runs]
        more = len(runs) == limit
        return web.json_response({"runs": views, "next_before": runs[-1].id if more else None})

    async def _run(self, request: web.Request) -> RunRecord:
        run_id = inputs.run_id(request)
        run = await self.store.get_run(run_id)
        if run is None:
            raise not_found(f"run {run_id} not found")
        return run

    async def get_run(self, request: web.Request, _token: TokenRecord) -> web.Response:
        return web.json_response(await show_view(self.store, await self._run(request)))

    async def _commands_in_token_names(self) -> None:
        """Raise 501 unless a command written here is recorded as `token:NAME`: always on
        SQLite (sealed); on PostgreSQL only when this process's role is a member of
        flowtui_api, else the history's trigger would record it as that role."""
        role = await self.store.session_user()
        if role is None:
            return
        if API_ROLE not in (await self.store.roles_of(role) or frozenset()):
            raise ApiError(
                501,
                "not_configured",
                f"flowtui serve connects as {role}, which is not a member of {API_ROLE}, so "
                f"the history would record its decisions as {role}, not as the token: "
                f"approve, reject and cancel through the API are off until "
                f"`GRANT {API_ROLE} TO {role}` (docs/team.md)",
            )

    async def cancel(self, request: web.Request, token: TokenRecord) -> web.Response:
        run = await self._run(request)
        await self._commands_in_token_names()
        try:
            outcome = await control.cancel(self.store, run.id, token.actor, runner=self.runner)
        except control.ControlError as exc:
            raise conflict(str(exc)) from None
        return web.json_response({"id": run.id, "status": str(outcome)}, status=202)

    async def rerun(self, request: web.Request, token: TokenRecord) -> web.Response:
        run = await self._run(request)
        data = await inputs.body(request, ("from",))
        start = inputs.text(data, "from", "failed") or "failed"
        from_step = None if start in ("failed", "start") else start
        if from_step is not None and from_step not in {
            s.name for s in await self.store.get_steps(run.id)
        }:
            raise ApiError(422, "refused", f"run {run.id} has no step {from_step!r}")
        try:
            handle = await control.rerun(
                self.runner,
                run.id,
                from_failed=start == "failed",
                from_step=from_step,
                by=token.actor,
            )
        except control.NothingToRerun as exc:
            raise conflict(exc.phrased('send {"from": "start"}')) from None
        except (RunError, control.ControlError) as exc:
            raise conflict(str(exc)) from None
        return await self._started(handle.run_id)

    # -- approvals -----------------------------------------------------------------------
    async def approve(self, request: web.Request, token: TokenRecord) -> web.Response:
        return await self._decide(request, token, approve=True)

    async def reject(self, request: web.Request, token: TokenRecord) -> web.Response:
        return await self._decide(request, token, approve=False)

    async def _decide(
        self, request: web.Request, token: TokenRecord, *, approve: bool
    ) -> web.Response:
        run_id = inputs.run_id(request)
        step = inputs.clean(request.match_info["step"], "step")
        data = await inputs.body(request, ("comment", "inputs") if approve else ("comment",))
        comment = inputs.text(data, "comment", "") or ""
        given = inputs.text_map(data, "inputs")
        await self._commands_in_token_names()
        try:
            held = await control.check_decision(
                self.store, run_id, step, token.actor, approve=approve, inputs=given
            )
        except control.NoSuchRun as exc:
            raise not_found(str(exc)) from None
        except control.NoSuchStep as exc:
            raise ApiError(404, "unknown_step", str(exc)) from None
        except control.NotAnApprover as exc:
            raise ApiError(403, "not_an_approver", str(exc)) from None
        except control.ApprovalNotTaken as exc:
            raise ApiError(422, "approval_not_taken", str(exc)) from None
        except control.ControlError as exc:
            raise conflict(str(exc)) from None
        command = await control.decide(self.store, held, approve=approve, comment=comment)
        answer: dict[str, Any] = {
            "run_id": run_id,
            "step": held.name,
            "decision": "approve" if approve else "reject",
            "command_id": command,
            "status": "sent",
            "approved_by": [],
        }
        if not await control.wait_taken(self.store, command, DECISION_WAIT):
            return web.json_response(answer, status=202)  # its runner takes it when it polls
        status = await control.wait_decided(self.store, held, 2.0)
        so_far = await control.approvals_so_far(self.store, held)
        if status == StepStatus.HELD and token.actor not in so_far:
            raise conflict(f"the runner did not accept the decision on {held.name} (see logs)")
        answer.update(status=str(status), approved_by=so_far)
        return web.json_response(answer)

    # -- logs and events -----------------------------------------------------------------
    async def logs(self, request: web.Request, _token: TokenRecord) -> web.Response:
        step = inputs.query_str(request, "step")
        after = inputs.query_int(request, "after", 0, 0) or 0
        limit = inputs.query_int(request, "limit", 1000, 1, 10_000) or 1000
        run = await self._run(request)
        if step is not None:
            names = [s.name for s in await self.store.get_steps(run.id)]
            if step not in names:
                raise ApiError(
                    404,
                    "unknown_step",
                    f"run {run.id} has no step {step!r} (its steps: {', '.join(names) or 'none'})",
                )
        lines = await self.store.get_logs(run.id, step, after_id=after, limit=limit)
        return web.json_response(
            {
                "run_id": run.id,
                "lines": [log_view(line) for line in lines],
                "next_after": lines[-1].id if lines else after,
            }
        )

    async def events(self, request: web.Request, token: TokenRecord) -> web.StreamResponse:
        run = await self._run(request)
        if self.streams >= MAX_STREAMS:
            raise ApiError(
                429,
                "too_many_streams",
                f"{MAX_STREAMS} event streams are open already; close one or retry later",
            )
        header = request.headers.get("Authorization", "")

        async def still_allowed() -> bool:
            found = await self.tokens.authenticate(header.partition(" ")[2].strip())
            return found is not None and found.name == token.name and found.allows("read")

        self.streams += 1
        try:
            return await stream_events(request, self.store, run.id, self.closing, still_allowed)
        finally:
            self.streams -= 1

    async def metrics(self, _request: web.Request, _token: TokenRecord) -> web.Response:
        body, content_type = await metrics_text(self.store)
        return web.Response(body=body, headers={"Content-Type": content_type})


@web.middleware
async def _json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """aiohttp's own 404/405 as JSON under /api; nothing unexpected leaks a traceback."""
    if not request.path.startswith(("/api/", "/metrics")):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        answer = ApiError(exc.status, exc.reason.lower().replace(" ", "_"), exc.text).response()
        if "Allow" in exc.headers:  # a 405 says what is allowed
            answer.headers["Allow"] = exc.headers["Allow"]
        return answer
    except (asyncio.CancelledError, ConnectionError):
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return ApiError(500, "internal", "the server failed; its log says why").response()
