"""The "notify" step: post a Slack-compatible `{"text": ...}` message to a webhook."""

from __future__ import annotations

from typing import ClassVar

from flowtui.engine.executors.base import StepContext, StepResult
from flowtui.engine.executors.http import DEFAULT_TIMEOUT, describe_http_error, excerpt
from flowtui.engine.states import StepStatus
from flowtui.engine.templating import expand

MAX_REPLY_BYTES = 64 * 1024


class NotifyExecutor:
    """POSTs `{"text": message}` as JSON to `spec["url"]`.

    `${NAME}` in the message (and URL) come from the step environment plus `workflow`,
    `run_id` and `step`.  Webhook URLs usually embed a secret, so only the host is logged.
    """

    type_name: ClassVar[str] = "notify"

    async def execute(self, ctx: StepContext) -> StepResult:
        import httpx  # imported here: ~0.1 s that only notify steps should pay

        values = {
            **ctx.env,
            "workflow": ctx.workflow.name,
            "run_id": str(ctx.run_id),
            "step": ctx.step.name,
        }
        url = expand(str(ctx.step.spec.get("url") or ""), values)
        text = expand(str(ctx.step.spec.get("message") or ""), values)
        timeout = ctx.step.timeout or DEFAULT_TIMEOUT
        try:
            host = httpx.URL(url).host or url
        except httpx.InvalidURL:
            host = "?"
        ctx.log("system", f"notify {host}: {text}")
        try:
            async with httpx.AsyncClient(timeout=timeout) as client:
                response = await client.post(url, json={"text": text})
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            # The error text may quote the URL; name the host only.
            message = describe_http_error(exc, host, timeout).replace(url, host)
            return StepResult(StepStatus.FAILED, message=message)
        if response.is_success:
            return StepResult(StepStatus.SUCCEEDED, message=f"notified {host}")
        body = response.content[:MAX_REPLY_BYTES].decode("utf-8", errors="replace")
        return StepResult(
            StepStatus.FAILED,
            message=f"{host} answered {response.status_code} {response.reason_phrase}: "
            f"{excerpt(body)}",
        )
