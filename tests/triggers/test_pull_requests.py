"""Pull-request workflows through a real `flowtui serve`: a signed GitHub `pull_request`
delivery starts a run with the PR's number, title, head branch and commit and base branch
as params; branch filters apply to the head branch; a closed PR starts nothing; the run
reports pending, then success or failure, as a commit status to a local aiohttp server
that speaks GitHub's (and GitLab's) status API paths.  The same service runs the
incident-response sample for a firing Alertmanager alert."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from flowtui.triggers import payloads
from flowtui.triggers.signatures import sign
from tests.cli.test_samples import SAMPLES
from tests.processes import Lines
from tests.triggers.test_serve import SECRET, post, run_status, wait_status

PR_CHECK = """\
name: pr-check
triggers:
  - webhook: {{events: [pull_request], branches: {{only: ["/feature/.*/"]}}, environment: checks}}
environments:
  checks: {{variables: {{CHECK_LEVEL: strict}}}}
report:
  github:
    repo: octo/app
    token: {{env: GH_STATUS_TOKEN}}
    api_url: http://127.0.0.1:{port}
    target_url: "http://ci.example/runs/{{run_id}}"
  gitlab:
    project: group/app
    token: {{env: GL_STATUS_TOKEN}}
    api_url: http://127.0.0.1:{port}/gitlab
steps:
  test:
    run: |
      echo "$CHECK_LEVEL check of PR #$PARAM_PR_NUMBER '$PARAM_PR_TITLE'" \\
        "$PARAM_HEAD_BRANCH@$PARAM_HEAD_COMMIT into $PARAM_BASE_BRANCH"
      test -z "$GH_STATUS_TOKEN" || exit 3 # the report's token is not the steps'
      test "$PARAM_PR_TITLE" != "break it"
"""


ALERT = {
    "version": "4",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "HighLatency",
                "severity": "critical",
                "service": "payments",
                "replicas": "4",
            },
            "annotations": {"summary": "p99 above 2s"},
            "startsAt": "2026-12-07T17:00:00Z",
            "fingerprint": "abc123",
        }
    ],
}


def pull_request(action: str, number: int, head: str, sha: str, title: str) -> dict[str, Any]:
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "title": title,
            "html_url": f"https://github.example/octo/app/pull/{number}",
            "user": {"login": "octocat"},
            "head": {"ref": head, "sha": sha},
            "base": {"ref": "main", "sha": "0" * 40},
        },
        "repository": {"full_name": "octo/app"},
    }


class StatusServer:
    """GitHub's `POST /repos/O/R/statuses/SHA` and GitLab's
    `POST /api/v4/projects/ID/statuses/SHA`, recording what arrives."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.port = 0
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    async def _status(self, request: web.Request) -> web.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.received.append((request.raw_path, headers, await request.json()))
        return web.json_response({"id": len(self.received)}, status=201)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/repos/{owner}/{repo}/statuses/{sha}", self._status)
        app.router.add_post("/gitlab/api/v4/projects/{project}/statuses/{sha}", self._status)
        runner = web.AppRunner(app)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = runner.addresses[0][1]
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> StatusServer:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def states(self, sha: str, kind: str) -> list[str]:
        return [
            body["state"]
            for path, _, body in self.received
            if path.endswith(sha) and path.startswith("/gitlab" if kind == "gitlab" else "/repos")
        ]


def run_environment(db: Path, run_id: object) -> str | None:
    with sqlite3.connect(db, timeout=10) as conn:
        (value,) = conn.execute("SELECT environment FROM runs WHERE id = ?", (run_id,)).fetchone()
    return str(value) if value is not None else None


@pytest.fixture
def statuses() -> Iterator[StatusServer]:
    with StatusServer() as server:
        yield server


def test_a_pull_request_runs_with_its_params_and_reports_its_status(
    tmp_path: Path, statuses: StatusServer
) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "pr-check.yaml").write_text(PR_CHECK.format(port=statuses.port))
    shutil.copy(SAMPLES / "incident-response.yaml", folder)
    db = tmp_path / "history.db"
    env = {
        "PATH": "/usr/bin:/bin",
        "FLOWTUI_WEBHOOK_SECRET": SECRET,
        "NO_COLOR": "1",
        "GH_STATUS_TOKEN": "ghp-t0ken-value",
        "GL_STATUS_TOKEN": "glpat-t0ken-value",
    }
    env.update({k: v for k, v in os.environ.items() if k in ("PYTHONPATH", "HOME")})
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowtui", "serve", str(folder), "--db", str(db), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        lines = Lines(proc)
        port = int(lines.wait_for(r"webhooks on http://127\.0\.0\.1:(\d+)").group(1))
        good, bad = "a" * 40, "b" * 40

        def deliver(payload: dict[str, Any]) -> tuple[int, dict[str, object]]:
            return post(port, "pr-check", payload, {"X-GitHub-Event": "pull_request"})

        status, body = deliver(pull_request("opened", 7, "feature/login", good, "Add login"))
        assert status == 202, body
        wait_status(db, body["run_id"], "succeeded")
        ok_run = body["run_id"]
        status, body = deliver(pull_request("synchronize", 7, "feature/login", bad, "break it"))
        assert status == 202, body
        wait_status(db, body["run_id"], "failed")

        # a closed PR, and one whose head branch the filter leaves out, start nothing
        closed = deliver(pull_request("closed", 7, "feature/login", good, "Add login"))
        other = deliver(pull_request("opened", 8, "hotfix/x", good, "Hotfix"))
        assert closed[0] == 200 and other[0] == 200, (closed, other)
        # `events: [pull_request]`: a push to a PR's branch, or a plain body, starts nothing
        push = {
            "ref": "refs/heads/feature/login",
            "head_commit": {"id": good, "message": "more"},
            "pusher": {"name": "octocat"},
            "repository": {"full_name": "octo/app"},
        }
        pushed = post(port, "pr-check", push, {"X-GitHub-Event": "push"})
        plain = post(port, "pr-check", {"pr_number": "9"})
        for code, answer in (pushed, plain):
            assert code == 200 and answer["status"] == "ignored", answer
            assert "the trigger takes pull_request only" in str(answer["reason"]), answer
        assert "github push to feature/login by octocat" in str(pushed[1]["reason"])
        assert run_status(db, 3) is None

        # the incident-response sample: an alert → detect → scale → notify
        alert = json.dumps(ALERT).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/alerts/incident-response",
            data=alert,
            headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": sign(SECRET, alert),
            },
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            (incident,) = json.loads(response.read())["run_ids"]
        wait_status(db, incident, "succeeded")
        notified = (db.parent / "workspaces" / str(incident) / "notifications.log").read_text()
        assert notified == ("[critical] HighLatency: p99 above 2s; payments now at 8 replicas\n")

        shown = subprocess.run(
            [sys.executable, "-m", "flowtui", "logs", str(ok_run), "--db", str(db)],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
        )
        assert f"strict check of PR #7 'Add login' feature/login@{good} into main" in shown.stdout
        assert "t0ken" not in shown.stdout
        params = json.loads(
            subprocess.run(
                [sys.executable, "-m", "flowtui", "show", str(ok_run), "--json", "--db", str(db)],
                capture_output=True,
                text=True,
                env=env,
                timeout=30,
            ).stdout
        )["params"]
        assert params["pr_number"] == "7" and params["base_branch"] == "main"
        assert params["head_branch"] == "feature/login" and params["head_commit"] == good
        assert run_environment(db, ok_run) == "checks"
    finally:
        proc.kill()
        proc.wait(timeout=10)

    assert statuses.states(good, "github") == ["pending", "success"]
    assert statuses.states(bad, "github") == ["pending", "failure"]
    assert statuses.states(good, "gitlab") == ["pending", "success"]
    assert statuses.states(bad, "gitlab") == ["pending", "failed"]
    path, headers, body = next(r for r in statuses.received if r[0].startswith("/repos"))
    assert path == f"/repos/octo/app/statuses/{good}"
    assert headers["authorization"] == "Bearer ghp-t0ken-value"
    assert body["context"] == "flowtui/pr-check@checks"  # the trigger's environment
    assert body["target_url"] == f"http://ci.example/runs/{ok_run}"
    assert f"run #{ok_run}" in body["description"]
    gitlab = next(r for r in statuses.received if r[0].startswith("/gitlab"))
    assert gitlab[0] == f"/gitlab/api/v4/projects/group%2Fapp/statuses/{good}"
    assert gitlab[1]["private-token"] == "glpat-t0ken-value"


def test_gitlab_merge_requests_start_on_open_reopen_and_new_commits_only() -> None:
    def hook(action: str, oldrev: str | None = None) -> payloads.RunRequest:
        attrs: dict[str, Any] = {
            "iid": 4,
            "title": "Faster",
            "action": action,
            "source_branch": "feature/fast",
            "target_branch": "main",
            "last_commit": {"id": "c" * 40},
            "url": "https://gitlab.example/group/app/-/merge_requests/4",
        }
        if oldrev:
            attrs["oldrev"] = oldrev
        body = {
            "object_kind": "merge_request",
            "user": {"username": "jsmith"},
            "project": {"path_with_namespace": "group/app"},
            "object_attributes": attrs,
        }
        return payloads.from_hook({"X-Gitlab-Event": "Merge Request Hook"}, body)

    opened = hook("open")
    assert opened.branch == "feature/fast" and opened.commit == "c" * 40
    assert opened.params["pr_number"] == "4" and opened.params["base_branch"] == "main"
    assert opened.params["pr_action"] == "opened" and not opened.ignore
    assert hook("update", oldrev="d" * 40).params["pr_action"] == "synchronize"
    assert hook("update").ignore  # a title edit: no new commits
    assert hook("close").ignore and hook("merge").ignore
