"""The REST API on a PostgreSQL history: decisions are recorded as `token:NAME` only when
`flowtui serve`'s role is a member of flowtui_api (else the API refuses them, 501, rather
than record them as serve's role), nobody else can write a command in a token's name, and
the roles of docs/team.md (workers, people) cannot make or alter a token."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from psycopg import sql

from flowtui.store import RunStore
from flowtui.store.pglocal import LocalServer
from flowtui.store.tokens import API_ROLE, TokenStore, digest
from tests.api.conftest import serve_env
from tests.processes import Lines

FLOWTUI = (sys.executable, "-m", "flowtui")
GATED = """\
name: gated
steps:
  approve:
    type: approval
    approvers: ["token:approver"]
  apply: {requires: [approve], run: echo applied}
"""
_numbers = itertools.count(1)

# docs/team.md, "Identity and roles" (the parts that need no procrastinate tables)
PEOPLE = """
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role};
REVOKE INSERT, UPDATE ON api_tokens FROM {role};
"""
WORKER = """
GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role};
GRANT INSERT ON logs, events, attempts, outputs, steps, workspace_deltas, flowtui_workers,
  flowtui_batches TO {role};
GRANT UPDATE ON steps, attempts, outputs, flowtui_workers TO {role};
GRANT DELETE ON outputs, flowtui_batches TO {role};
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role};
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {role};
"""


def grant(admin_url: str, text: str, role: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        for statement in text.format(role=role).split(";"):
            if statement.strip():
                admin.execute(statement)


async def make_tokens(url: str) -> dict[str, str]:
    store = await RunStore.open(url)  # the schema, made by its owner
    try:
        tokens = TokenStore(store.db)
        return {
            "approver": await tokens.create("approver", "approve", "test"),
            "approver2": await tokens.create("approver2", "approve", "test"),
        }
    finally:
        await store.close()


@pytest.fixture
def history(pg_server: LocalServer, pg_url: str) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(the database's name, its owner's URL, the tokens)."""
    tokens = asyncio.run(make_tokens(pg_url))
    with psycopg.connect(pg_url, autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (API_ROLE,)).fetchone():
            admin.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(API_ROLE)))
    yield urlsplit(pg_url).path.lstrip("/"), pg_url, tokens


def role(pg_server: LocalServer, database: str, name: str) -> tuple[str, str]:
    full = f"{name}_{next(_numbers)}"
    pg_server.create_role(full)
    return full, pg_server.url_for(full, database=database)


def test_workers_and_people_cannot_make_or_alter_a_token(
    pg_server: LocalServer, history: tuple[str, str, dict[str, str]]
) -> None:
    database, owner_url, _tokens = history
    worker, worker_url = role(pg_server, database, "worker")
    grant(owner_url, WORKER, worker)
    person, person_url = role(pg_server, database, "person")
    grant(owner_url, PEOPLE, person)
    for url in (worker_url, person_url):
        with psycopg.connect(url, autocommit=True) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(
                    "INSERT INTO api_tokens (name, hash, scope, created_at)"
                    " VALUES ('evil', %s, 'admin', 0)",
                    (digest("ftk_known"),),
                )
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("UPDATE api_tokens SET scope = 'admin'")
    made = subprocess.run(
        [*FLOWTUI, "token", "create", "mine", "--scope", "admin", "--db", person_url],
        capture_output=True,
        text=True,
        env=serve_env(),
        timeout=60,
    )
    assert made.returncode == 1 and "may not create tokens" in made.stderr, made.stderr
    assert "Traceback" not in made.stderr


def test_api_decisions_are_recorded_as_the_token_only_for_a_flowtui_api_member(
    pg_server: LocalServer, history: tuple[str, str, dict[str, str]], tmp_path: Path
) -> None:
    database, owner_url, tokens = history
    serve_role, serve_url = role(pg_server, database, "serve")
    grant(owner_url, PEOPLE, serve_role)
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "gated.yaml").write_text(GATED)
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowtui", "serve", str(folder), "--db", serve_url, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=serve_env(),
        cwd=tmp_path,
    )
    lines = Lines(proc)
    try:
        port = int(lines.wait_for(r"webhooks on http://127\.0\.0\.1:(\d+)").group(1))
        url = f"http://127.0.0.1:{port}"
        with (
            httpx.Client(base_url=url, headers=_bearer(tokens["approver"]), timeout=20) as c,
            httpx.Client(base_url=url, headers=_bearer(tokens["approver2"]), timeout=20) as c2,
        ):
            started = c.post("/api/v1/workflows/gated/runs")
            assert started.status_code == 202, started.text
            run_id = int(started.json()["id"])
            until_status(c, run_id, "approve", "held")
            path = f"/api/v1/runs/{run_id}/steps/approve/approve"
            # serve's role is no member of flowtui_api: the history would record the
            # decision as that role, so the API refuses it and says what to grant
            refused = c.post(path, json={})
            assert refused.status_code == 501, refused.text
            assert refused.json()["error"] == "not_configured"
            assert f"GRANT {API_ROLE} TO {serve_role}" in refused.json()["detail"]
            assert c.post(f"/api/v1/runs/{run_id}/cancel").status_code == 501
            # a person may write commands, but not in a token's name: the server stamps
            # their role on it (and the runner refuses them: not an approver)
            person, person_url = role(pg_server, database, "person")
            grant(owner_url, PEOPLE, person)
            with psycopg.connect(person_url, autocommit=True) as conn:
                conn.execute(
                    "INSERT INTO commands (run_id, kind, step, by_user, comment, created_at)"
                    " VALUES (%s, 'approve', 'approve', 'token:approver', 'forged', 0)",
                    (run_id,),
                )
            with psycopg.connect(owner_url, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("GRANT {} TO {}").format(
                        sql.Identifier(API_ROLE), sql.Identifier(serve_role)
                    )
                )
            assert c2.post(path, json={}).status_code == 403  # not on the approver list
            with psycopg.connect(serve_url, autocommit=True) as conn:
                # even a member cannot name a token that does not exist
                conn.execute(
                    "INSERT INTO commands (run_id, kind, step, by_user, comment, created_at)"
                    " VALUES (%s, 'approve', 'approve', 'token:ghost', 'x', 0)",
                    (run_id,),
                )
            done = c.post(path, json={"comment": "ok"})
            assert done.status_code in (200, 202), done.text
            until_status(c, run_id, "apply", "succeeded")
        with psycopg.connect(owner_url, autocommit=True) as admin:
            commands = admin.execute(
                "SELECT by_user FROM commands WHERE run_id = %s ORDER BY id", (run_id,)
            ).fetchall()
            approvals = admin.execute(
                "SELECT by_user FROM approvals WHERE run_id = %s", (run_id,)
            ).fetchall()
        assert [r[0] for r in commands] == [person, serve_role, "token:approver"]
        assert [r[0] for r in approvals] == ["token:approver"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def until_status(client: httpx.Client, run_id: int, step: str, wanted: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        run = client.get(f"/api/v1/runs/{run_id}").json()
        if {s["name"]: s["status"] for s in run["steps"]}.get(step) == wanted:
            return
        assert run["status"] not in ("failed", "cancelled", "interrupted"), run
        assert time.monotonic() < deadline, f"step {step} of run {run_id} is not {wanted}"
        time.sleep(0.05)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
