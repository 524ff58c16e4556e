"""The "http" step: one HTTP request, checked against the expected status and body."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from flowtui.engine.executors.base import StepContext, StepResult
from flowtui.engine.states import StepStatus
from flowtui.engine.templating import expand, expand_json

if TYPE_CHECKING:  # httpx costs ~0.1 s to import: only steps that use it pay
    import httpx

DEFAULT_TIMEOUT = 30.0
MAX_BODY_BYTES = 1024 * 1024  # read at most this much of a response
LOG_BODY_CHARS = 2048
OUTPUT_BODY_CHARS = 4096
EXCERPT_CHARS = 200


def describe_http_error(exc: Exception, url: str, timeout: float) -> str:
    """A one-line reason for a request that got no response."""
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return f"no response from {url} within {timeout:g} s"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect to {url}: {exc or 'connection failed'}"
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return f"invalid URL {url!r}: {exc}"
    return f"request to {url} failed: {type(exc).__name__}: {exc}"


async def read_limited(response: httpx.Response, limit: int = MAX_BODY_BYTES) -> str:
    """The first `limit` bytes of a streamed response body, decoded leniently."""
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= limit:
            break
    return bytes(data[:limit]).decode(response.charset_encoding or "utf-8", errors="replace")


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _expected_statuses(value: Any) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, int | str):
        return [int(value)]
    return [int(v) for v in value]


class HttpExecutor:
    """Sends `spec["method"]` (GET) to `spec["url"]`; `${VAR}` in the URL, header values
    and body come from the step environment.  Without `expect_status` any 2xx passes."""

    type_name: ClassVar[str] = "http"

    async def execute(self, ctx: StepContext) -> StepResult:
        import httpx

        spec = ctx.step.spec
        values: Mapping[str, str] = ctx.env
        method = str(spec.get("method") or "GET").upper()
        url = expand(str(spec.get("url") or ""), values)
        headers = {str(k): expand(str(v), values) for k, v in (spec.get("headers") or {}).items()}
        request: dict[str, Any] = {"headers": headers}
        if spec.get("json") is not None:
            request["json"] = expand_json(spec["json"], values)
        elif spec.get("body") is not None:
            request["content"] = expand(str(spec["body"]), values).encode("utf-8")
        try:
            expected = _expected_statuses(spec.get("expect_status"))
        except (TypeError, ValueError):
            return _failed(
                f"expect_status must be a status code or a list of them, not "
                f"{spec.get('expect_status')!r}"
            )
        timeout = ctx.step.timeout or DEFAULT_TIMEOUT

        started = time.monotonic()
        try:
            async with (
                httpx.AsyncClient(timeout=timeout) as client,
                client.stream(method, url, **request) as response,
            ):
                text = await read_limited(response)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            message = describe_http_error(exc, url, timeout)
            ctx.log("system", f"{method} {url} → {message}")
            return _failed(message)
        elapsed_ms = (time.monotonic() - started) * 1000

        status = response.status_code
        reason = response.reason_phrase
        ctx.log("system", f"{method} {url} → {status} {reason} ({elapsed_ms:.0f} ms)")
        for line in text[:LOG_BODY_CHARS].splitlines():
            ctx.log("stdout", line)
        outputs = {"status_code": str(status), "body": text[:OUTPUT_BODY_CHARS]}

        ok_status = status in expected if expected is not None else 200 <= status < 300
        if not ok_status:
            wanted = " or ".join(map(str, expected)) if expected else "a 2xx status"
            return _failed(
                f"expected {wanted}, got {status} {response.reason_phrase}: {excerpt(text)}",
                outputs,
            )
        expect_body = spec.get("expect_body")
        if expect_body is not None and str(expect_body) not in text:
            return _failed(
                f"expected body to contain {str(expect_body)!r}, got: {excerpt(text)}", outputs
            )
        return StepResult(
            StepStatus.SUCCEEDED, outputs=outputs, message=f"{method} {url} → {status}"
        )


def _failed(message: str, outputs: dict[str, str] | None = None) -> StepResult:
    return StepResult(StepStatus.FAILED, outputs=outputs or {}, message=message)
