"""Git triggers on a real repository: a new commit starts a run with its id and message;
a commit made while no service ran fires once, for the newest commit only."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.triggers.helpers import Env, runs_of, wait_final, wait_until

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Ada",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(repo), *args], env=GIT_ENV, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def commit(repo: Path, message: str) -> str:
    (repo / "file.txt").write_text(message)
    git(repo, "add", "file.txt")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    commit(path, "initial")
    return path


def watch(env: Env, repo: Path) -> None:
    env.write(
        "deploy.yaml",
        f"""\
        name: deploy
        triggers:
          - git: {{repo: {repo}, branch: main}}
        steps:
          show: {{run: 'echo "deploying $PARAM_COMMIT: $PARAM_MESSAGE"'}}
        """,
    )


async def test_a_new_commit_starts_a_run_with_its_id(env: Env, repo: Path) -> None:
    watch(env, repo)
    # a long poll: only the file watcher can notice the commit in time
    service = await env.service(git_poll=60)
    state = f"git:deploy:{repo.resolve()}:main"
    await wait_until(lambda: service.triggers.get_state(state))  # watching, nothing fired
    assert await runs_of(service.store, "deploy") == []
    sha = commit(repo, "Add the feature\n\nwith a body")
    runs = await wait_until(lambda: runs_of(service.store, "deploy"))
    run = await wait_final(service.store, runs[0].id)
    assert run.trigger == "git" and run.git_commit == sha and run.branch == "main"
    assert run.params["commit"] == sha
    assert run.params["message"] == "Add the feature\n\nwith a body"
    assert run.params["author"] == "Ada"
    [event] = await service.triggers.list_events("deploy")
    assert event.outcome == "fired" and sha[:12] in event.detail
    # a commit on another branch does not fire
    git(repo, "checkout", "-q", "-b", "other")
    commit(repo, "elsewhere")
    assert await service.git_check("deploy", repo.resolve(), "main") is None
    assert len(await runs_of(service.store, "deploy")) == 1


async def test_commits_made_while_down_fire_once_for_the_newest(env: Env, repo: Path) -> None:
    watch(env, repo)
    first = await env.service(git_poll=60)
    state = f"git:deploy:{repo.resolve()}:main"
    await wait_until(lambda: first.triggers.get_state(state))
    await first.close()
    commit(repo, "one")
    newest = commit(repo, "two")
    git(repo, "pack-refs", "--all")  # the ref now lives in packed-refs only
    second = await env.service(git_poll=60)
    runs = await wait_until(lambda: runs_of(second.store, "deploy"))
    await wait_final(second.store, runs[0].id)
    await second.git_check("deploy", repo.resolve(), "main")
    runs = await runs_of(second.store, "deploy")
    assert [r.git_commit for r in runs] == [newest]
    # and a third service on the same database does not fire it again
    third = await env.service(git_poll=60)
    await third.git_check("deploy", repo.resolve(), "main")
    assert len(await runs_of(third.store, "deploy")) == 1
