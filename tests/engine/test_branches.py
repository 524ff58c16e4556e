"""Branch filters: matching rules, and steps skipped by the runner for other branches."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flowtui.engine.gitinfo import current_branch
from flowtui.engine.runner import RunnerOptions
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.model.branches import branch_matches, describe_mismatch, normalize_filter
from tests.harness import Harness

ONLY_MAIN = {"only": ("main",), "ignore": ()}
RELEASES = {"only": ("main", "/release-[0-9]+/"), "ignore": ("release-0",)}


# -- matching -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("branch_filter", "branch", "expected"),
    [
        (None, "anything", True),
        (None, None, True),
        (ONLY_MAIN, "main", True),
        (ONLY_MAIN, "main2", False),
        (ONLY_MAIN, "feature/x", False),
        (RELEASES, "release-12", True),
        (RELEASES, "release-x", False),
        (RELEASES, "release-0", False),  # ignore wins over only
        (RELEASES, "xrelease-1", False),  # fullmatch, not search
        ({"only": (), "ignore": ("/feature\\/.*/",)}, "feature/a", False),
        ({"only": (), "ignore": ("/feature\\/.*/",)}, "main", True),
        ({"ignore": ["dev"]}, "main", True),
        ({"only": "main"}, "main", True),  # a bare string is one entry, not characters
        ({"only": "main"}, "m", False),
        ({"only": ("a.b",)}, "axb", False),  # a plain name is exact: no glob, no regex
        ({"only": ("/[/",)}, "[", False),  # a broken regex (not from the loader) matches nothing
    ],
)
def test_branch_matches(
    branch_filter: dict[str, tuple[str, ...]] | None, branch: str | None, expected: bool
) -> None:
    assert branch_matches(branch_filter, branch) is expected


def test_unknown_branch_fails_only_but_passes_ignore() -> None:
    assert branch_matches(ONLY_MAIN, None) is False
    assert branch_matches({"only": (), "ignore": ("dev",)}, None) is True
    assert "no branch known" in describe_mismatch(ONLY_MAIN, None)


def test_describe_mismatch() -> None:
    assert describe_mismatch(ONLY_MAIN, "feature/x") == "branch feature/x not in only: [main]"
    assert (
        describe_mismatch(RELEASES, "release-0") == "branch release-0 matches ignore: [release-0]"
    )
    assert describe_mismatch(ONLY_MAIN, "main") == ""
    assert describe_mismatch(None, "main") == ""


def test_normalize_filter() -> None:
    assert normalize_filter("main") == ONLY_MAIN
    assert normalize_filter(["a", "b"]) == {"only": ("a", "b"), "ignore": ()}
    assert normalize_filter({"ignore": "x"}) == {"only": (), "ignore": ("x",)}
    assert normalize_filter({"bogus": []}) is None
    assert normalize_filter(3) is None


# -- the runner ---------------------------------------------------------------------------
class Env(Harness):
    async def steps(self, run_id: int) -> dict[str, tuple[StepStatus, str]]:
        await self.sink.flush()
        return {s.name: (s.status, s.message) for s in await self.store.get_steps(run_id)}


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with Env.open(tmp_path, RunnerOptions(parallel=4, poll_interval=0.05)) as env:
        yield env


PIPELINE = """
    name: pipeline
    steps:
      build: {run: echo built}
      deploy_prod: {requires: [build], run: echo prod, branches: main}
      smoke: {requires: [deploy_prod], run: echo smoke}
      preview: {requires: [build], run: echo preview, branches: {ignore: [main]}}
      report: {requires: [deploy_prod, preview], run: echo report}
    """


async def test_steps_for_other_branches_are_skipped(env: Env) -> None:
    wf = env.workflow(PIPELINE)
    run_id, status = await env.run(wf, branch="feature/x")
    assert status == RunStatus.SUCCEEDED
    steps = await env.steps(run_id)
    assert steps["deploy_prod"] == (StepStatus.SKIPPED, "branch feature/x not in only: [main]")
    # the same rules as `when: false`: every require skipped -> skipped; one taken -> runs
    assert steps["smoke"][0] == StepStatus.SKIPPED
    assert steps["preview"][0] == StepStatus.SUCCEEDED
    assert steps["report"][0] == StepStatus.SUCCEEDED
    run = await env.store.get_run(run_id)
    assert run is not None and run.branch == "feature/x"


async def test_matching_branch_runs_the_filtered_steps(env: Env) -> None:
    run_id, status = await env.run(env.workflow(PIPELINE), branch="main")
    assert status == RunStatus.SUCCEEDED
    steps = await env.steps(run_id)
    assert steps["deploy_prod"][0] == StepStatus.SUCCEEDED
    assert steps["smoke"][0] == StepStatus.SUCCEEDED
    assert steps["preview"] == (StepStatus.SKIPPED, "branch main matches ignore: [main]")


async def test_branch_param_is_the_default_branch(env: Env) -> None:
    wf = env.workflow(
        """
        name: by-param
        params: {branch: develop}
        steps:
          only_main: {run: echo, branches: main}
          only_dev: {run: echo, branches: develop}
        """
    )
    run_id, _ = await env.run(wf)
    steps = await env.steps(run_id)
    assert steps["only_main"][0] == StepStatus.SKIPPED
    assert steps["only_dev"][0] == StepStatus.SUCCEEDED
    run_id, _ = await env.run(wf, params={"branch": "main"})
    assert (await env.steps(run_id))["only_main"][0] == StepStatus.SUCCEEDED
    run = await env.store.get_run(run_id)
    assert run is not None and run.branch == "main"


async def test_no_branch_known_skips_only_filters(env: Env) -> None:
    # tmp_path is not inside a git repository, and nothing names a branch
    wf = env.workflow(
        """
        name: unknown
        steps:
          only_main: {run: echo, branches: main}
          not_wip: {run: echo, branches: {ignore: [wip]}}
        """
    )
    run_id, status = await env.run(wf)
    assert status == RunStatus.SUCCEEDED
    steps = await env.steps(run_id)
    assert steps["only_main"][0] == StepStatus.SKIPPED
    assert "no branch known" in steps["only_main"][1]
    assert steps["not_wip"][0] == StepStatus.SUCCEEDED
    run = await env.store.get_run(run_id)
    assert run is not None and run.branch is None


def _git(folder: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(folder), *args],
        check=True,
        capture_output=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.invalid",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.invalid",
            "HOME": str(folder),
            "PATH": "/usr/bin:/bin:/usr/local/bin",
        },
    )


async def test_branch_comes_from_the_workflow_files_git_checkout(env: Env) -> None:
    _git(env.folder, "init", "-q", "-b", "release-7")
    wf = env.workflow(
        """
        name: from-git
        steps:
          rel: {run: echo, branches: "/release-[0-9]+/"}
          dev: {run: echo, branches: develop}
        """
    )
    _git(env.folder, "add", "wf.yaml")
    _git(env.folder, "commit", "-q", "-m", "init")
    assert await current_branch(env.folder) == "release-7"
    run_id, _ = await env.run(wf)
    steps = await env.steps(run_id)
    assert steps["rel"][0] == StepStatus.SUCCEEDED
    assert steps["dev"][0] == StepStatus.SKIPPED
    run = await env.store.get_run(run_id)
    assert run is not None and run.branch == "release-7" and run.git_commit

    # an explicit branch wins over the checkout; a rerun keeps the run's branch
    run_id, _ = await env.run(wf, branch="develop")
    assert (await env.steps(run_id))["dev"][0] == StepStatus.SUCCEEDED
    again = await env.runner.rerun(run_id, from_failed=False)
    await again.wait()
    rerun = await env.store.get_run(again.run_id)
    assert rerun is not None and rerun.branch == "develop"


async def test_detached_head_has_no_branch(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "f").write_text("x")
    _git(tmp_path, "add", "f")
    _git(tmp_path, "commit", "-q", "-m", "one")
    _git(tmp_path, "checkout", "-q", "--detach")
    assert await current_branch(tmp_path) is None
    assert await current_branch(tmp_path.parent / "not-a-repo-anywhere") is None
