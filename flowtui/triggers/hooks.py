"""What the webhook server needs: its options, the secret a trigger names, and the small
interface of the service it hands requests to (`TriggerService` implements `HookTarget`).

Kept apart from `service` and `webhook` so that neither imports the other: the service
starts the server, the server calls back through `HookTarget`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from flowtui.model.workflow import Trigger, Workflow
from flowtui.store.triggerstore import TriggerEventRecord, TriggerStore
from flowtui.triggers.payloads import RunRequest

if TYPE_CHECKING:
    from aiohttp import web

DEFAULT_SECRET_ENV = "FLOWTUI_WEBHOOK_SECRET"
DEFAULT_PORT = 8765
DEFAULT_MAX_BODY = 1024 * 1024


@dataclass(frozen=True, slots=True)
class WebhookOptions:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT  # 0: any free port (see TriggerService.webhook_port)
    max_body: int = DEFAULT_MAX_BODY
    # a client must send its headers within `header_timeout` s and its body within
    # `body_timeout` s; past `max_connections` open connections new ones are closed at once
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 64
    # more routes on the same listener (the REST API and /metrics, flowtui/api/): each is
    # called with the aiohttp application before it starts
    mounts: tuple[Callable[[web.Application], None], ...] = ()


def secret_env_of(trigger: Trigger) -> str:
    return str(trigger.options.get("secret_env") or DEFAULT_SECRET_ENV)


class HookTarget(Protocol):
    """The service a webhook request is handed to."""

    env: Mapping[str, str]
    triggers: TriggerStore

    def workflow(self, name: str) -> Workflow | None: ...

    async def record(
        self,
        workflow: str,
        kind: str,
        outcome: str,
        detail: str = "",
        run_id: int | None = None,
    ) -> TriggerEventRecord: ...

    async def fire(
        self, workflow: Workflow, trigger: Trigger, request: RunRequest
    ) -> TriggerEventRecord: ...
