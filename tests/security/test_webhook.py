"""The webhook server over real HTTP on 127.0.0.1: authentication, limits, replays, params.

Every refused request is checked to have started nothing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from flowtui.triggers.service import TriggerService, WebhookOptions
from flowtui.triggers.signatures import sign
from tests.triggers.helpers import Env, runs_of, wait_final
from tests.triggers.test_payloads import ALERTS, GITHUB_PUSH, GITLAB_PUSH

SECRET = "s3cret-for-tests"
HOOK = """\
    name: hook
    triggers:
      - webhook: {branches: {only: [main, "/release\\\\/.*/", 'x";touch PWNED;#']}}
      - incident
    steps:
      show:
        run: |
          printf '%s\\n' "$PARAM_BRANCH" > "$FLOWTUI_WORKSPACE/branch.txt"
          echo "commit=$PARAM_COMMIT by $PARAM_PUSHER"
"""
DECLARED = """\
    name: declared
    triggers: [webhook]
    params: {version: "1.0"}
    steps:
      show: {run: "echo $PARAM_VERSION"}
"""


@dataclass
class Hooks:
    env: Env
    service: TriggerService
    http: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.service.webhook_port}"

    async def post(
        self,
        path: str,
        body: bytes | Any,
        *,
        secret: str | None = SECRET,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"Content-Type": "application/json", **(headers or {})}
        if secret is not None:
            sent["X-Hub-Signature-256"] = sign(secret, data)
        async with self.http.post(self.url + path, data=data, headers=sent) as resp:
            return resp.status, await resp.json()

    async def runs(self, workflow: str = "hook") -> int:
        return len(await runs_of(self.service.store, workflow))

    async def outcomes(self, workflow: str = "hook") -> list[str]:
        events = await self.service.triggers.list_events(workflow)
        return [e.outcome for e in reversed(events)]


@pytest.fixture
async def hooks(env: Env) -> AsyncIterator[Hooks]:
    env.write("hook.yaml", HOOK)
    env.write("declared.yaml", DECLARED)
    service = await env.service(
        webhook=WebhookOptions(port=0, max_body=1024 * 1024),
        env={"FLOWTUI_WEBHOOK_SECRET": SECRET},
    )
    async with aiohttp.ClientSession() as http:
        yield Hooks(env, service, http)


async def test_signed_push_starts_a_run_with_its_params(hooks: Hooks) -> None:
    status, body = await hooks.post("/hooks/hook", GITHUB_PUSH, headers={"X-GitHub-Event": "push"})
    assert status == 202, body
    run = await wait_final(hooks.service.store, body["run_id"])
    assert run.status == "succeeded" and run.trigger == "webhook"
    assert run.params["branch"] == "main" and run.params["pusher"] == "octocat"
    assert run.branch == "main" and run.git_commit == "a" * 40
    assert await hooks.outcomes() == ["fired"]


async def test_bad_or_missing_signature_is_401_and_starts_nothing(hooks: Hooks) -> None:
    status, body = await hooks.post("/hooks/hook", GITHUB_PUSH, secret="wrong")
    assert status == 401 and "signature" in body["error"]
    status, _ = await hooks.post("/hooks/hook", GITHUB_PUSH, secret=None)
    assert status == 401
    # a signature of other bytes than those sent
    data = json.dumps(GITHUB_PUSH).encode()
    headers = {"X-Hub-Signature-256": sign(SECRET, data + b" ")}
    status, _ = await hooks.post("/hooks/hook", data, secret=None, headers=headers)
    assert status == 401
    assert await hooks.runs() == 0
    assert await hooks.outcomes() == ["rejected"] * 3
    # Alertmanager's endpoint names the header Alertmanager sends first: a bearer token
    headers = {"Authorization": "Bearer wrong"}
    status, body = await hooks.post("/alerts/hook", ALERTS, secret=None, headers=headers)
    assert status == 401 and body["error"].startswith(
        "missing or bad credentials (Authorization: Bearer <secret>, as Alertmanager's"
    )


async def test_gitlab_token_and_bearer_token_are_accepted(hooks: Hooks) -> None:
    status, body = await hooks.post(
        "/hooks/hook",
        GITLAB_PUSH,
        secret=None,
        headers={"X-Gitlab-Token": SECRET, "X-Gitlab-Event": "Push Hook"},
    )
    assert status == 202, body
    run = await wait_final(hooks.service.store, body["run_id"])
    assert run.params["branch"] == "release/1.2" and run.params["pusher"] == "jsmith"
    status, _ = await hooks.post(
        "/hooks/hook", GITLAB_PUSH, secret=None, headers={"X-Gitlab-Token": SECRET + "x"}
    )
    assert status == 401


async def test_body_over_the_limit_is_413_before_and_while_reading(hooks: Hooks) -> None:
    big = b"{" + b" " * (5 * 1024 * 1024) + b"}"
    status, body = await hooks.post("/hooks/hook", big)
    assert status == 413 and "limit" in body["error"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: enforced while reading
        for _ in range(5):
            yield b" " * (1024 * 1024)

    async with hooks.http.post(
        hooks.url + "/hooks/hook", data=chunks(), headers={"X-Hub-Signature-256": "sha256=0"}
    ) as resp:
        assert resp.status == 413
    assert await hooks.runs() == 0


async def test_replayed_delivery_is_ignored_even_after_a_restart(hooks: Hooks) -> None:
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab"}
    status, first = await hooks.post("/hooks/hook", GITHUB_PUSH, headers=headers)
    assert status == 202
    status, again = await hooks.post("/hooks/hook", GITHUB_PUSH, headers=headers)
    assert status == 200 and again["status"] == "duplicate"
    # a new service on the same database remembers the id
    other = await hooks.env.service(
        webhook=WebhookOptions(port=0), env={"FLOWTUI_WEBHOOK_SECRET": SECRET}
    )
    url = f"http://127.0.0.1:{other.webhook_port}/hooks/hook"
    data = json.dumps(GITHUB_PUSH).encode()
    async with hooks.http.post(
        url, data=data, headers={**headers, "X-Hub-Signature-256": sign(SECRET, data)}
    ) as resp:
        assert resp.status == 200 and (await resp.json())["status"] == "duplicate"
    await wait_final(hooks.service.store, first["run_id"])
    assert await hooks.runs() == 1
    assert await hooks.outcomes() == ["fired", "duplicate", "duplicate"]


async def test_unknown_params_of_a_declaring_workflow_are_422(hooks: Hooks) -> None:
    status, body = await hooks.post("/hooks/declared", {"version": "2", "evil": "x"})
    assert status == 422 and "unknown param(s) evil" in body["error"]
    status, body = await hooks.post("/hooks/declared", {"version": "2.5"})
    assert status == 202
    run = await wait_final(hooks.service.store, body["run_id"])
    assert run.params == {"version": "2.5"} and run.status == "succeeded"
    # a push payload brings fields the workflow did not declare: they are dropped, not 422
    status, body = await hooks.post(
        "/hooks/declared", GITHUB_PUSH, headers={"X-GitHub-Event": "push"}
    )
    assert status == 202
    run = await wait_final(hooks.service.store, body["run_id"])
    assert run.params == {"version": "1.0"}


async def test_branch_filter_and_paused_workflow_ignore_the_hook(hooks: Hooks) -> None:
    feature = {**GITHUB_PUSH, "ref": "refs/heads/feature/x"}
    status, body = await hooks.post("/hooks/hook", feature, headers={"X-GitHub-Event": "push"})
    assert status == 200 and body["status"] == "ignored"
    assert "feature/x" in body["reason"]
    await hooks.service.store.set_paused("hook", True)
    status, body = await hooks.post("/hooks/hook", GITHUB_PUSH, headers={"X-GitHub-Event": "push"})
    assert status == 200 and body["status"] == "ignored" and "paused" in body["reason"]
    assert await hooks.runs() == 0
    events = await hooks.service.triggers.list_events("hook")
    assert [e.outcome for e in events] == ["ignored", "ignored"]
    assert "paused" in events[0].detail


async def test_hostile_branch_name_reaches_the_script_only_as_env(hooks: Hooks) -> None:
    branch = 'x";touch PWNED;#'
    push = {**GITHUB_PUSH, "ref": f"refs/heads/{branch}"}
    status, body = await hooks.post("/hooks/hook", push, headers={"X-GitHub-Event": "push"})
    assert status == 202, body
    run = await wait_final(hooks.service.store, body["run_id"])
    assert run.status == "succeeded"
    workspace = hooks.service.runner.workspace_for(run.id)
    assert (workspace / "branch.txt").read_text() == branch + "\n"
    for folder in (hooks.env.tmp, hooks.env.tmp / "workflows", Path.cwd(), workspace):
        assert not (folder / "PWNED").exists()


async def test_alertmanager_firing_alert_starts_one_run(hooks: Hooks) -> None:
    status, body = await hooks.post(
        "/alerts/hook", ALERTS, secret=None, headers={"Authorization": f"Bearer {SECRET}"}
    )
    assert status == 202, body
    [run_id] = body["run_ids"]
    run = await wait_final(hooks.service.store, run_id)
    assert run.trigger == "incident"
    assert run.params["alertname"] == "DiskFull" and run.params["severity"] == "critical"
    assert run.params["fingerprint"] == "f1a2b3"
    assert run.params["summary"] == "disk 95% full on db1"
    # Alertmanager repeats the notification: the same alert does not start a second run
    status, body = await hooks.post("/alerts/hook", ALERTS)
    assert status == 200 and body["run_ids"] == []
    assert await hooks.runs() == 1
    status, _ = await hooks.post("/alerts/hook", ALERTS, secret=None)
    assert status == 401


async def test_no_secret_means_the_hook_is_refused(env: Env) -> None:
    env.write("hook.yaml", HOOK)
    notices: list[str] = []
    service = await env.service(webhook=WebhookOptions(port=0), env={}, on_notice=notices.append)
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{service.webhook_port}/hooks/hook"
        async with http.post(url, data=b"{}", headers={"X-Hub-Signature-256": "x"}) as resp:
            assert resp.status == 403
            assert "FLOWTUI_WEBHOOK_SECRET" in (await resp.json())["error"]
        async with http.post(f"http://127.0.0.1:{service.webhook_port}/hooks/nope") as resp:
            assert resp.status == 404
    assert await runs_of(service.store, "hook") == []
    assert any("FLOWTUI_WEBHOOK_SECRET" in n and "hook" in n for n in notices)
