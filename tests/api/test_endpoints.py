"""Every endpoint of the REST API against a real `flowtui serve`: what it answers, the
scope it needs, and the CLI's rules for decisions (approvers, inputs, self-approval)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from flowtui.api.app import MAX_STREAMS, ROUTES
from flowtui.store import RunStore
from flowtui.store.tokens import TokenStore
from tests.api.conftest import Served, serve_env

SCOPE_ORDER = ("read", "run", "approve", "admin")
TOKEN_OF_SCOPE = {"read": "reader", "run": "runner", "approve": "approver", "admin": "boss"}


def concrete(path: str) -> str:
    # nothing of these exists: the routes answer 404 once past the token, changing nothing
    return path.replace("{name}", "nope").replace("{run_id}", "999999").replace("{step}", "s")


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_every_route_needs_a_token_and_its_scope(served: Served, route: object) -> None:
    method, path, scope = route.method, concrete(route.path), route.scope  # type: ignore[attr-defined]
    answer = served.client(None).request(method, path)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "unauthorized"
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = served.client(None).request(
        method, path, headers={"Authorization": "Bearer ftk_not-a-real-token"}
    )
    assert wrong.status_code == 401
    for lower in SCOPE_ORDER[: SCOPE_ORDER.index(scope)]:
        refused = served.client(TOKEN_OF_SCOPE[lower]).request(method, path)
        assert refused.status_code == 403, (lower, refused.text)
        assert refused.json() == {
            "error": "forbidden",
            "detail": f"token {TOKEN_OF_SCOPE[lower]} has scope {lower}; "
            f"{route.method} {route.path} needs {scope}",  # type: ignore[attr-defined]
        }
    allowed = served.client(TOKEN_OF_SCOPE[scope]).request(method, path)
    assert allowed.status_code not in (401, 403), allowed.text


def test_workflows_are_listed_as_list_json_and_paused_and_resumed(served: Served) -> None:
    listed = served.client("reader").get("/api/v1/workflows").json()["workflows"]
    by_name = {w["name"]: w for w in listed}
    assert set(by_name) == {"quick", "gated", "slow", "failing"}
    assert by_name["quick"]["status"] == "active" and by_name["quick"]["triggers"] == ["manual"]
    assert by_name["quick"]["steps"] == 1 and by_name["quick"]["error"] is None
    boss = served.client("boss")
    assert boss.post("/api/v1/workflows/quick/pause").json() == {
        "workflow": "quick",
        "paused": True,
        "was_paused": False,
    }
    listed = served.client("reader").get("/api/v1/workflows").json()["workflows"]
    assert {w["name"]: w["status"] for w in listed}["quick"] == "paused"
    assert boss.post("/api/v1/workflows/quick/resume").json()["was_paused"] is True
    missing = boss.post("/api/v1/workflows/nope/pause")
    assert missing.status_code == 404 and "no workflow 'nope'" in missing.json()["detail"]


def test_a_run_started_by_token_is_shown_as_show_json_with_paged_logs(served: Served) -> None:
    run_id = served.start("quick", params={"who": "api"})
    run = served.wait_run(run_id, "succeeded")
    assert run["version"] == 1 and run["trigger"] == "api"
    assert run["triggered_by"] == "token:runner" and run["params"] == {"who": "api"}
    assert [s["name"] for s in run["steps"]] == ["greet"]
    assert run["steps"][0]["status"] == "succeeded"
    reader = served.client("reader")
    page = reader.get(f"/api/v1/runs/{run_id}/logs", params={"limit": 2}).json()
    assert [line["line"] for line in page["lines"]] == ["hello api", "second line"]
    rest = reader.get(
        f"/api/v1/runs/{run_id}/logs", params={"after": page["next_after"], "step": "greet"}
    ).json()
    assert [line["line"] for line in rest["lines"]] == ["third line"]
    assert rest["lines"][0]["id"] > page["lines"][-1]["id"]
    unknown = reader.get(f"/api/v1/runs/{run_id}/logs", params={"step": "other"})
    assert unknown.status_code == 404, unknown.text
    assert unknown.json() == {
        "error": "unknown_step",
        "detail": f"run {run_id} has no step 'other' (its steps: greet)",
    }
    # nothing failed: the refusal says what an API client sends instead
    nothing = served.client("runner").post(f"/api/v1/runs/{run_id}/rerun", json={})
    assert nothing.status_code == 409, nothing.text
    assert nothing.json()["detail"].endswith(
        'failed or was left unrun; rerun it from the start instead (send {"from": "start"})'
    )


def test_bad_input_is_a_json_400_or_404_never_a_500(served: Served) -> None:
    runner = served.client("runner")
    cases = [
        (runner.post("/api/v1/workflows/quick/runs", content=b"{not json"), 400, "not JSON"),
        (runner.post("/api/v1/workflows/quick/runs", json=[1]), 400, "JSON object"),
        (runner.post("/api/v1/workflows/quick/runs", json={"parms": {}}), 400, "unknown key"),
        (runner.post("/api/v1/workflows/quick/runs", json={"params": {"who": 1}}), 400, "params"),
        (runner.post("/api/v1/workflows/quick/runs", json={"params": {"x": "1"}}), 422, "unknown"),
        (runner.post("/api/v1/workflows/quick/runs", json={"branch": "a\u0000b"}), 400, "NUL"),
        (runner.get("/api/v1/runs", params={"status": "sleepy"}), 400, "status"),
        (runner.get("/api/v1/runs", params={"limit": "0"}), 400, "limit"),
        (runner.get("/api/v1/runs", params={"before": "x"}), 400, "before"),
        (runner.get("/api/v1/runs/abc"), 404, "positive integer"),
        (runner.get(f"/api/v1/runs/{2**70}"), 404, "positive integer"),
        (runner.get("/api/v1/runs/424242"), 404, "not found"),
        (runner.get("/api/v1/nothing-here"), 404, "Not Found"),
        (served.client("boss").post("/api/v1/workflows/a%00b/pause"), 400, "NUL"),
        (runner.get("/api/v1/runs/1/logs", params={"step": "a\u0000"}), 400, "NUL"),
        (runner.delete("/api/v1/runs"), 405, "Not Allowed"),
    ]
    for answer, code, words in cases:
        assert answer.status_code == code, (answer.request.url, answer.text)
        body = answer.json()
        assert set(body) == {"error", "detail"} and words in str(body["detail"]), body


def test_runs_are_paged_and_filtered(served: Served) -> None:
    ids = [served.start("quick") for _ in range(3)]
    for run_id in ids:
        served.wait_run(run_id, "succeeded")
    reader = served.client("reader")
    first = reader.get("/api/v1/runs", params={"workflow": "quick", "limit": 2}).json()
    assert [r["id"] for r in first["runs"]][:2] == sorted(ids, reverse=True)[:2]
    assert first["next_before"] == first["runs"][-1]["id"]
    second = reader.get(
        "/api/v1/runs", params={"workflow": "quick", "limit": 2, "before": first["next_before"]}
    ).json()
    assert all(r["id"] < first["next_before"] for r in second["runs"]) and second["runs"]
    statuses = reader.get("/api/v1/runs", params={"status": "succeeded"}).json()["runs"]
    assert statuses and {r["status"] for r in statuses} == {"succeeded"}


def test_decisions_follow_the_cli_rules(served: Served) -> None:
    run_id = served.start("gated", token="boss")
    served.wait_step(run_id, "approve", "held")
    path = f"/api/v1/runs/{run_id}/steps/approve"
    refused = served.client("approver2").post(path + "/approve", json={"inputs": {"version": "1"}})
    assert refused.status_code == 403 and refused.json()["error"] == "not_an_approver"
    assert "token:approver2 may not approve approve" in refused.json()["detail"]
    own = served.client("boss").post(path + "/approve", json={"inputs": {"version": "1"}})
    assert own.status_code == 422 and "allow_self_approval" in own.json()["detail"]
    missing = served.client("approver").post(path + "/approve", json={})
    assert missing.status_code == 422 and "version" in missing.json()["detail"]
    nothing = served.client("approver").post(f"/api/v1/runs/{run_id}/steps/plan/approve")
    assert nothing.status_code == 409 and "not held" in nothing.json()["detail"]
    unknown = served.client("approver").post(f"/api/v1/runs/{run_id}/steps/nope/approve")
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_step"
    assert "has no step 'nope'" in unknown.json()["detail"]
    taken = served.client("approver").post(
        path + "/approve", json={"comment": "ship it", "inputs": {"version": "1.2"}}
    )
    assert taken.status_code == 200, taken.text
    answer = taken.json()
    assert answer["decision"] == "approve" and answer["approved_by"] == ["token:approver"]
    run = served.wait_run(run_id, "succeeded")
    gate = {s["name"]: s for s in run["steps"]}["approve"]
    assert gate["approvals"][0]["by"] == "token:approver"
    assert gate["approvals"][0]["comment"] == "ship it"
    assert gate["approvals"][0]["inputs"] == {"version": "1.2"}
    logs = served.client("reader").get(f"/api/v1/runs/{run_id}/logs", params={"step": "apply"})
    assert [line["line"] for line in logs.json()["lines"]] == ["applying 1.2"]
    again = served.client("approver").post(path + "/approve", json={"inputs": {"version": "1"}})
    assert again.status_code == 409 and "already ended" in again.json()["detail"]
    assert "was already approved by token:approver at " in again.json()["detail"]


def test_a_rejection_carries_its_comment(served: Served) -> None:
    run_id = served.start("gated")
    served.wait_step(run_id, "approve", "held")
    path = f"/api/v1/runs/{run_id}/steps/approve/reject"
    with_inputs = served.client("approver").post(path, json={"inputs": {"version": "1"}})
    assert with_inputs.status_code == 400 and "unknown key(s) inputs" in with_inputs.text
    answer = served.client("approver").post(path, json={"comment": "not today"})
    assert answer.status_code == 200 and answer.json()["status"] == "rejected", answer.text
    run = served.wait_run(run_id, "failed")
    gate = {s["name"]: s for s in run["steps"]}["approve"]
    assert gate["approvals"][0] == {
        **gate["approvals"][0],
        "approved": False,
        "by": "token:approver",
        "comment": "not today",
    }


def test_cancel_and_rerun(served: Served) -> None:
    runner = served.client("runner")
    slow = served.start("slow")
    served.wait_step(slow, "wait", "running")
    answer = runner.post(f"/api/v1/runs/{slow}/cancel")
    assert answer.status_code == 202 and answer.json() == {"id": slow, "status": "cancelling"}
    cancelled = served.wait_run(slow, "cancelled")
    assert "token:runner" in cancelled["message"], cancelled["message"]  # who cancelled it
    again = runner.post(f"/api/v1/runs/{slow}/cancel")
    assert again.status_code == 409 and "already ended" in again.json()["detail"]

    failed = served.start("failing")
    served.wait_run(failed, "failed")
    no_step = runner.post(f"/api/v1/runs/{failed}/rerun", json={"from": "nope"})
    assert no_step.status_code == 422 and "no step 'nope'" in no_step.json()["detail"]
    rerun = runner.post(f"/api/v1/runs/{failed}/rerun", json={"from": "failed"})
    assert rerun.status_code == 202, rerun.text
    new = served.wait_run(rerun.json()["id"], "failed")
    assert new["parent_run_id"] == failed and new["triggered_by"] == "token:runner"
    assert {s["name"]: s["status"] for s in new["steps"]}["first"] == "reused"
    from_step = runner.post(f"/api/v1/runs/{failed}/rerun", json={"from": "second"}).json()
    served.wait_run(from_step["id"], "failed")
    from_start = runner.post(f"/api/v1/runs/{failed}/rerun", json={"from": "start"}).json()
    run = served.wait_run(from_start["id"], "failed")
    assert {s["name"]: s["status"] for s in run["steps"]}["first"] == "succeeded"


def parse_sse(text: str) -> list[dict[str, str]]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if not line.startswith(":")
        )
        events.append(fields)
    return events


def test_events_stream_as_sse_and_resume_from_last_event_id(served: Served) -> None:
    run_id = served.start("quick")
    reader = served.client("reader")
    with reader.stream("GET", f"/api/v1/runs/{run_id}/events") as answer:
        assert answer.headers["Content-Type"].startswith("text/event-stream")
        events = parse_sse(answer.read().decode())  # it ends once the run has ended
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "end" and "log" in kinds and "step" in kinds
    assert '"status": "succeeded"' in [e for e in events if e["event"] == "run"][-1]["data"]
    assert next(e["data"] for e in events if e["event"] == "log").count("hello world") == 1
    assert all(re.fullmatch(r"\d+-\d+", e["id"]) for e in events)
    middle = events[len(events) // 2]
    resumed = reader.get(f"/api/v1/runs/{run_id}/events", headers={"Last-Event-ID": middle["id"]})
    assert parse_sse(resumed.text) == events[len(events) // 2 + 1 :]
    bad = reader.get(f"/api/v1/runs/{run_id}/events", headers={"Last-Event-ID": "x"})
    assert bad.status_code == 400 and bad.json()["error"] == "bad_request"


def test_tokens_are_made_listed_and_revoked_from_the_cli(served: Served) -> None:
    def flowtui(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "flowtui", "token", *args, "--db", str(served.db)],
            capture_output=True,
            text=True,
            env=serve_env(),
            timeout=60,
        )

    made = flowtui("create", "temp", "--scope", "read")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("ftk_") and "shown once" in made.stderr
    headers = {"Authorization": f"Bearer {token}"}
    assert served.client(None).get("/api/v1/runs", headers=headers).status_code == 200
    listed = flowtui("list")
    assert re.search(r"^temp\s+read\s+created", listed.stdout, re.M), listed.stdout
    assert token not in listed.stdout
    assert flowtui("revoke", "temp").returncode == 0
    assert served.client(None).get("/api/v1/runs", headers=headers).status_code == 401
    gone = flowtui("revoke", "temp")
    assert gone.returncode == 1 and "no token named 'temp'" in gone.stderr


def held_run(served: Served) -> int:
    run_id = served.start("gated")
    served.wait_step(run_id, "approve", "held")
    return run_id


def test_an_open_stream_ends_once_its_token_is_revoked(served: Served) -> None:
    token = asyncio.run(make_token(served.db, "watcher"))
    run_id = held_run(served)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with (
            httpx.Client(base_url=served.url, headers=headers, timeout=30) as client,
            client.stream("GET", f"/api/v1/runs/{run_id}/events") as answer,
        ):
            assert answer.status_code == 200
            seen = ""
            lines = answer.iter_lines()
            while "event: step" not in seen:  # the held run's story so far has come
                seen += next(lines) + "\n"
            asyncio.run(revoke_token(served.db, "watcher"))
            rest = "\n".join(lines)  # ends: the server closes the stream
        last = parse_sse(rest)[-1]
        assert last["event"] == "error" and '"error": "unauthorized"' in last["data"]
    finally:
        assert served.client("runner").post(f"/api/v1/runs/{run_id}/cancel").status_code == 202


def test_event_streams_are_capped_and_a_closed_one_frees_its_place(served: Served) -> None:
    run_id = held_run(served)
    path = f"/api/v1/runs/{run_id}/events"
    headers = {"Authorization": f"Bearer {served.tokens['reader']}"}
    limits = httpx.Limits(max_connections=MAX_STREAMS + 4)
    try:
        with (
            httpx.Client(base_url=served.url, headers=headers, timeout=30, limits=limits) as c,
            contextlib.ExitStack() as streams,
        ):
            opened = [streams.enter_context(c.stream("GET", path)) for _ in range(MAX_STREAMS)]
            assert all(s.status_code == 200 for s in opened)
            refused = c.get(path)
            assert refused.status_code == 429, refused.text
            assert refused.json()["error"] == "too_many_streams"
            assert refused.headers["Retry-After"] == "1"
            # webhooks and the rest of the API still answer
            assert c.get("/api/v1/runs").status_code == 200
            assert c.get("/healthz").status_code == 200
            opened[0].close()
            deadline = time.monotonic() + 20
            while True:  # the server notices the closed stream at its next poll
                with c.stream("GET", path) as again:
                    if again.status_code == 200:
                        break
                assert time.monotonic() < deadline, "the closed stream kept its place"
                time.sleep(0.05)
    finally:
        assert served.client("runner").post(f"/api/v1/runs/{run_id}/cancel").status_code == 202


async def make_token(db: Path, name: str) -> str:
    store = await RunStore.open(db)
    try:
        return await TokenStore(store.db).create(name, "read", "test")
    finally:
        await store.close()


async def revoke_token(db: Path, name: str) -> None:
    store = await RunStore.open(db)
    try:
        assert await TokenStore(store.db).revoke(name)
    finally:
        await store.close()
