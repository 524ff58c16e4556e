"""Identity in team mode is the database's word: commands carry the session's role, approver
lists name roles (`team:ROLE`), and a worker's role cannot write decisions."""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from flowtui.store.pglocal import LocalServer
from tests.team.teamkit import FLOWTUI, Team, _env, until

_numbers = itertools.count(1)


class Roles:
    """Roles for one test (roles are per server: names carry a number)."""

    def __init__(self, server: LocalServer, database: str) -> None:
        self.server = server
        self.database = database
        self.n = next(_numbers)

    def name(self, role: str) -> str:
        return f"{role}_{self.n}"

    def create(self, role: str, *, login: bool = True, member_of: tuple[str, ...] = ()) -> str:
        name = self.name(role)
        self.server.create_role(name, login=login, member_of=[self.name(m) for m in member_of])
        return self.server.url_for(name, database=self.database)

    def person(self, role: str, admin_url: str, member_of: tuple[str, ...] = ()) -> str:
        """A person's role: what runners, dashboards and the CLI of people may do."""
        url = self.create(role, member_of=member_of)
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "
                f"{self.name(role)}"
            )
            admin.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {self.name(role)}")
        return url


@pytest.fixture
def roles(pg_server: LocalServer, pg_url: str) -> Iterator[Roles]:
    yield Roles(pg_server, urlsplit(pg_url).path.lstrip("/"))


def cli(url: str, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FLOWTUI, *args, "--db", url],
        cwd=folder,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )


GATED = """
name: gated
steps:
  gate:
    type: approval
    approvers: [team:{team}]
  after: {{requires: [gate], run: echo shipped}}
"""


def start_gated(team: Team, roles: Roles) -> None:
    path = team.workflow("gated", GATED.format(team=roles.name("platform")))
    _, lines = team.start("run", str(path))
    lines.wait_for(r"gate .*held", timeout=30)


def test_approvers_are_database_roles_and_the_decider_is_the_session(
    team: Team, roles: Roles
) -> None:
    roles.create("platform", login=False)
    start_gated(team, roles)  # the schema exists before people are granted their part
    alice = roles.person("alice", team.url, member_of=("platform",))
    bob = roles.person("bob", team.url)
    refused = cli(bob, team.folder, "approve", "last")
    assert refused.returncode == 1
    assert f"{roles.name('bob')} may not approve gate" in refused.stderr
    assert f"team:{roles.name('platform')}" in refused.stderr
    # claiming to be someone else is refused: the role of the connection is who acts
    pretending = cli(bob, team.folder, "approve", "last", "--as", roles.name("alice"))
    assert pretending.returncode == 1 and "you act as your database role" in pretending.stderr
    done = cli(alice, team.folder, "approve", "last", "-m", "ok")
    assert done.returncode == 0, done.stderr
    assert f"approved gate of run 1 (gated) as {roles.name('alice')}" in done.stdout
    until(lambda: "shipped" in team.cli("logs", "last"), what="the run to go on")
    assert f"approved by {roles.name('alice')}: ok" in team.cli("show", "last")


def test_a_command_written_in_someone_elses_name_is_stamped_with_the_writer(
    team: Team, roles: Roles
) -> None:
    roles.create("platform", login=False)
    roles.create("alice", member_of=("platform",))
    start_gated(team, roles)
    bob = roles.person("bob", team.url)  # a person: may write commands
    with psycopg.connect(bob, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO commands (run_id, kind, step, by_user, comment, created_at)"
            " VALUES (1, 'approve', 'gate', %s, 'forged', 0)",
            (roles.name("alice"),),
        )
        row = conn.execute("SELECT by_user FROM commands ORDER BY id DESC LIMIT 1").fetchone()
    assert row is not None and row[0] == roles.name("bob")  # the server's word, not bob's
    until(
        lambda: f"approve by {roles.name('bob')} ignored" in team.cli("logs", "last"),
        what="the runner to refuse bob",
    )
    assert "held" in team.cli("show", "last")


WORKER_GRANTS = """
GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role};
GRANT INSERT ON logs, events, attempts, outputs, steps, workspace_deltas, flowtui_workers,
  flowtui_batches TO {role};
GRANT UPDATE ON steps, attempts, outputs, flowtui_workers TO {role};
GRANT DELETE ON outputs, flowtui_batches TO {role};
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role};
GRANT ALL ON procrastinate_jobs, procrastinate_events, procrastinate_periodic_defers,
  procrastinate_workers TO {role};
GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role};
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {role};
"""


def test_a_worker_role_runs_steps_but_cannot_decide(team: Team, roles: Roles) -> None:
    # the schema exists (a runner opened it) before the worker role is granted its part
    assert cli(team.url, team.folder, "history").returncode == 0
    warm = team.workflow("warm", "name: warm\nsteps:\n  s: {runs_on: q, run: 'true'}\n")
    runner, _ = team.start("run", str(warm))  # queues a job: procrastinate's tables exist

    def queued() -> bool:
        with psycopg.connect(team.url, autocommit=True) as conn:
            found = conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()
            if not (found and found[0]):
                return False
            return conn.execute("SELECT 1 FROM procrastinate_jobs").fetchone() is not None

    until(queued, what="the job to be queued")
    worker_url = roles.create("worker")
    with psycopg.connect(team.url, autocommit=True) as admin:
        for statement in WORKER_GRANTS.format(role=roles.name("worker")).split(";"):
            if statement.strip():
                admin.execute(statement)
    proc, lines = team.start_as(worker_url, "worker", "-Q", "q", "--name", "w-limited")
    lines.wait_for("worker w-limited on queue", timeout=30)
    assert runner.wait(timeout=60) == 0, team.cli("show", "last")
    with psycopg.connect(worker_url, autocommit=True) as conn:
        for table, columns, values in (
            ("commands", "run_id, kind, step, created_at", "1, 'approve', 's', 0"),
            ("approvals", "run_id, step, approved, at", "1, 's', 1, 0"),
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({values})")
    assert proc.poll() is None


def test_sqlite_keeps_os_users(tmp_path: Path) -> None:
    done = subprocess.run(
        [*FLOWTUI, "approve", "last", "--db", str(tmp_path / "h.db"), "--as", "someone"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert done.returncode == 1 and "FLOWTUI_TRUST_AS" in done.stderr


def test_team_membership_is_granted_membership_not_superuser_power(
    team: Team, roles: Roles
) -> None:
    roles.create("platform", login=False)
    roles.create("devs", login=False, member_of=("platform",))
    start_gated(team, roles)
    # the test server's superuser passes pg_has_role for every role, but is in no team
    refused = cli(team.url, team.folder, "approve", "last")
    assert refused.returncode == 1
    assert "may not approve gate" in refused.stderr, refused.stderr
    # membership through another role counts
    carol = roles.person("carol", team.url, member_of=("devs",))
    done = cli(carol, team.folder, "approve", "last")
    assert done.returncode == 0, done.stderr
    until(lambda: "shipped" in team.cli("logs", "last"), what="the run to go on")


SELF_GATED = """
name: selfgated
steps:
  gate:
    type: approval
    allow_self_approval: false
  after: {requires: [gate], run: echo shipped}
"""


def test_who_started_a_run_is_its_database_role_and_may_not_approve_it(
    team: Team, roles: Roles
) -> None:
    starter = urlsplit(team.url).username
    path = team.workflow("selfgated", SELF_GATED)
    _, lines = team.start("run", str(path))
    lines.wait_for(r"gate .*held", timeout=30)
    # the run is the role's, as its decisions will be (not the OS user of the runner)
    assert f"manual ({starter})" in team.cli("show", "last")
    refused = cli(team.url, team.folder, "approve", "last")
    assert refused.returncode == 1
    assert f"{starter} started this run" in refused.stderr
    alice = roles.person("alice", team.url)
    done = cli(alice, team.folder, "approve", "last")
    assert done.returncode == 0, done.stderr
    until(lambda: "shipped" in team.cli("logs", "last"), what="the run to go on")
