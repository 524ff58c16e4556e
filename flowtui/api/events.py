"""`GET /api/v1/runs/{id}/events`: a run's status changes and log lines as Server-Sent Events.

Read from the history (so a run of any process on the database streams the same), in the
order written.  Each event's `id` is `E-L`: the last status-change id and the last log-line
id sent; a client that reconnects sends it back as `Last-Event-ID` and gets what came after.
The stream ends with an `end` event once the run has ended and everything is sent.

Each poll reads only what is new (`events WHERE run_id = ? AND id > ?`, log lines after
the last id), so an open stream costs the same on a run of ten lines as on one of a
million.  The stream's token is checked again every AUTH_CHECK seconds: once it is
revoked (or its row no longer authenticates) the stream sends an `error` event
(`unauthorized`) and ends.  A stream whose client went away ends at the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from flowtui.api.errors import bad_request
from flowtui.store.runstore import RunStore
from flowtui.store.views import log_view

POLL = 0.2  # how often the history is read for what is new
KEEPALIVE = 15.0  # a comment line this often keeps proxies from closing a quiet stream
BATCH = 500
AUTH_CHECK = 2.0  # how often an open stream's token is checked again (revoked: it ends)
LAST_ID = re.compile(r"(\d{1,19})-(\d{1,19})")


def resume_point(request: web.Request) -> tuple[int, int]:
    header = request.headers.get("Last-Event-ID", "").strip()
    if not header:
        return 0, 0
    match = LAST_ID.fullmatch(header)
    if match is None:
        raise bad_request(f"Last-Event-ID {header!r}: expected E-L as sent in an event's id")
    return int(match[1]), int(match[2])


async def stream_events(
    request: web.Request,
    store: RunStore,
    run_id: int,
    closing: asyncio.Event,
    still_allowed: Callable[[], Awaitable[bool]],
) -> web.StreamResponse:
    """Stream until the run has ended and all is sent, the server is `closing` (a stream
    of a run waiting for approval must not hold `flowtui serve`'s shutdown up), the client
    went away, or `still_allowed()` (checked every AUTH_CHECK s) says the token is gone."""
    last_event, last_log = resume_point(request)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    quiet_since = checked_at = time.monotonic()
    while True:
        if time.monotonic() - checked_at >= AUTH_CHECK:
            checked_at = time.monotonic()
            if not await still_allowed():
                detail = "the token was revoked; this stream has ended"
                gone: dict[str, Any] = {"error": "unauthorized", "detail": detail}
                await _send(response, "error", gone, f"{last_event}-{last_log}")
                break
        run = await store.get_run(run_id)
        ended = run is None or run.status.is_final
        status = await store.get_events(run_id, after_id=last_event, limit=BATCH)
        lines = await store.get_logs(run_id, after_id=last_log, limit=BATCH)
        items: list[tuple[float, int, str, dict[str, Any], int, int]] = []
        for e in status:
            data = {
                "run_id": e.run_id,
                "step": e.step,
                "status": e.status,
                "attempt": e.attempt,
                "at": e.at,
                "message": e.message,
            }
            items.append((e.at, 0, e.kind, data, e.id, 0))
        for line in lines:
            items.append((line.at, 1, "log", {"run_id": run_id, **log_view(line)}, 0, line.id))
        items.sort(key=lambda i: (i[0], i[1], i[4], i[5]))
        for _at, _order, kind, data, event_id, log_id in items:
            last_event = max(last_event, event_id)
            last_log = max(last_log, log_id)
            await _send(response, kind, data, f"{last_event}-{last_log}")
        if items:
            quiet_since = time.monotonic()
        elif ended:
            await _send(response, "end", {"run_id": run_id}, f"{last_event}-{last_log}")
            break
        elif time.monotonic() - quiet_since >= KEEPALIVE:
            await response.write(b": keep-alive\n\n")
            quiet_since = time.monotonic()
        transport = request.transport
        if transport is None or transport.is_closing():
            break  # the client went away: free its place (MAX_STREAMS) now
        if len(lines) < BATCH and len(status) < BATCH and not ended:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closing.wait(), POLL)
            if closing.is_set():
                break
    with contextlib.suppress(ConnectionError):
        await response.write_eof()
    return response


async def _send(response: web.StreamResponse, kind: str, data: dict[str, Any], ident: str) -> None:
    text = f"id: {ident}\nevent: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
    await response.write(text.encode())
